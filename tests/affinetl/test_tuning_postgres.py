"""Tuning on a PostgreSQL Optuna RDB storage: a real, throwaway server, not a mock.

The module fixture ``pg_server`` runs ``initdb`` into a temporary directory, starts the server
with ``pg_ctl`` on a free localhost port (trust authentication, ``fsync=off``) and removes it
afterwards. The module is skipped, with the reason, when the PostgreSQL binaries or the
``psycopg2`` driver are missing or the server does not start. PostgreSQL refuses to run as root:
under root the server runs as ``$AFFINETL_PG_USER`` (default ``nobody``) through ``runuser``.
The binaries are found through ``$AFFINETL_PG_BIN``, ``PATH`` or ``/usr/lib/postgresql/*/bin``.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import io
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pytest
from _tuning_workers import WORKER, check_resume_after_kill, finished, start, wait
from sqlalchemy import event
from sqlalchemy.engine import Engine

import affinetl
from affinetl import DirectRegressor
from affinetl.tuning import StorageError, StudyMismatchError, open_storage, tune
from affinetl.tuning._cli import main as tune_main
from affinetl.tuning._study import data_hash, estimator_config

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _pg_bin() -> Path | None:
    env = os.environ.get("AFFINETL_PG_BIN")
    if env:
        return Path(env) if (Path(env) / "initdb").exists() else None
    found = shutil.which("initdb")
    if found and (Path(found).resolve().parent / "pg_ctl").exists():
        return Path(found).resolve().parent
    dirs = glob.glob("/usr/lib/postgresql/*/bin")
    dirs.sort(key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0)
    for d in reversed(dirs):
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    """A running throwaway server; :meth:`new_database` returns the URL of a fresh database."""

    bindir: Path
    prefix: list[str]
    port: int
    n_databases: int = 0

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.prefix, str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
        )

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg2  # noqa: PLC0415

        self.n_databases += 1
        name = f"affinetl_test_{self.n_databases}"
        con = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        try:
            con.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with con.cursor() as cur:
                cur.execute(f"CREATE DATABASE {name}")
        finally:
            con.close()
        return self.url(name)


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PgServer]:
    try:
        import psycopg2  # noqa: F401, PLC0415
    except ImportError:
        pytest.skip("psycopg2 is not installed (pip install psycopg2-binary)")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found")
    prefix: list[str] = []
    user = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root and `runuser` is missing: PostgreSQL refuses root")
        user = os.environ.get("AFFINETL_PG_USER", "nobody")
        prefix = [runuser, "-u", user, "--"]
    # not under pytest's tmp_path: its parents are private to root, the server user must enter
    root = Path(tempfile.mkdtemp(prefix="affinetl-pg-"))
    server = None
    try:
        if user is not None:
            shutil.chown(root, user=user)
        data = root / "data"
        server = PgServer(bindir, prefix, _free_port())
        done = server._run(
            "initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        if done.returncode != 0:
            pytest.skip(f"initdb failed: {done.stderr.strip()[-500:]}")
        options = (
            f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        done = server._run(
            "pg_ctl", "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60",
            "-o", options, "start",
        )  # fmt: skip
        if done.returncode != 0:
            log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
            server = None
            pytest.skip(f"PostgreSQL did not start: {done.stderr.strip()[-300:]} {log[-500:]}")
        yield server
    finally:
        if server is not None:
            server._run("pg_ctl", "-D", str(root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, empty database (no Optuna schema yet) for one test."""
    return pg_server.new_database()


def _data(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 3))
    y = np.sin(3 * X[:, 0]) + 0.1 * rng.standard_normal(n)
    return X, y


def test_tune_records_trials_attrs_and_best_params(pg_url, tmp_path):
    X, y = _data()
    result = tune(DirectRegressor(), X, y, n_trials=6, storage=pg_url, study_name="a")
    # read back through a new connection: everything is in the server, not in this process
    study = optuna.load_study(study_name="a", storage=open_storage(pg_url))
    done = finished(study)
    assert len(done) == 6 and len(study.trials) == 6
    attrs = study.user_attrs
    assert attrs["affinetl_version"] == affinetl.__version__
    assert attrs["optuna_version"] == optuna.__version__
    assert attrs["data_hash"] == data_hash(X, y)
    assert attrs["estimator"] == estimator_config(DirectRegressor())
    assert attrs["n_samples"] == 40
    best = max(
        (t for t in done if t.state == optuna.trial.TrialState.COMPLETE), key=lambda t: t.value
    )
    assert study.best_trial.number == best.number
    assert result.best_params == best.params
    assert result.best_score == pytest.approx(best.value)
    assert result.best_estimator.get_params()["alpha"] == best.params["alpha"]
    assert all(t.user_attrs["n_fits"] >= 1 and "worker" in t.user_attrs for t in done)
    assert result.n_fits == sum(t.user_attrs["n_fits"] for t in done) + 1  # + the refit

    # oracle: the storage backend does not change a seeded single-process search
    ref = tune(DirectRegressor(), X, y, n_trials=6, storage=tmp_path / "ref.db", study_name="a")
    assert [t.params for t in ref.study.trials] == [t.params for t in study.trials]
    assert [t.state for t in ref.study.trials] == [t.state for t in study.trials]
    np.testing.assert_allclose(
        [t.value for t in ref.study.trials], [t.value for t in study.trials], rtol=1e-12
    )

    # resuming in process runs only the missing trials; finished ones are kept as they were
    before = {t.number: (t.params, t.value) for t in done}
    tune(DirectRegressor(), X, y, n_trials=8, storage=pg_url, study_name="a", refit=False)
    study = optuna.load_study(study_name="a", storage=open_storage(pg_url))
    after = {t.number: (t.params, t.value) for t in finished(study)}
    assert len(after) == 8 and {k: after[k] for k in before} == before

    # other data on the same study: a clear error, the study is left unchanged
    with pytest.raises(StudyMismatchError, match="data_hash"):
        tune(DirectRegressor(), X, y + 1.0, n_trials=10, storage=pg_url, study_name="a")
    study = optuna.load_study(study_name="a", storage=open_storage(pg_url))
    assert len(study.trials) == 8 and study.user_attrs == attrs


def test_two_cli_workers_share_one_study(pg_url, tmp_path):
    # the schema exists (concurrent schema creation is tested below); both workers race to
    # create the study, as two jobs submitted at once would
    open_storage(pg_url)
    target = 10
    args = ["-m", "affinetl.tuning", "--case", "synthetic", "--model", "direct"]
    args += ["--trials", target, "--storage", pg_url, "--study", "shared", "--no-progress"]
    procs = [start(*args, "--out", tmp_path / f"best{i}.json") for i in range(2)]
    outs = [wait(proc, 240) for proc in procs]
    study = optuna.load_study(study_name="shared", storage=open_storage(pg_url))
    done = finished(study)
    # each worker stops once the study holds `target` trials; the other may finish one more
    assert target <= len(done) <= target + 1
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(len(numbers)))  # one numbering, no duplicates
    params = [tuple(sorted(t.params.items())) for t in done]
    assert len(set(params)) == len(params)  # the second worker did not replay the first's draws
    by_worker: dict[str, int] = {}
    for t in done:
        by_worker[t.user_attrs["worker"]] = by_worker.get(t.user_attrs["worker"], 0) + 1
    assert len(by_worker) == 2, by_worker  # both processes contributed trials
    assert len(optuna.get_all_study_summaries(open_storage(pg_url))) == 1
    for out, i in zip(outs, range(2), strict=True):
        assert "best parameters written to" in out
        record = (tmp_path / f"best{i}.json").read_text()
        assert '"study": "shared"' in record
        assert "postgresql+psycopg2://postgres@127.0.0.1" in record


def test_concurrent_schema_creation_is_retried(pg_url):
    # Deterministic interleaving of two workers opening one new database: just before this
    # worker creates the first enum type, another worker creates the whole Optuna schema and
    # commits. This worker's existence checks ran before, so its CREATE TYPE collides.
    me = threading.get_ident()
    interleaved: list[str] = []

    def other_worker_first(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() != me or interleaved:
            return
        if statement.lstrip().upper().startswith("CREATE TYPE"):
            interleaved.append(statement.split("(")[0].strip())
            other = threading.Thread(target=lambda: optuna.storages.RDBStorage(pg_url))
            other.start()
            other.join()

    event.listen(Engine, "before_cursor_execute", other_worker_first)
    try:
        storage = open_storage(pg_url)
    finally:
        event.remove(Engine, "before_cursor_execute", other_worker_first)
    assert interleaved == ["CREATE TYPE studydirection AS ENUM"]
    study = optuna.create_study(study_name="after-race", storage=storage)
    assert optuna.load_study(study_name="after-race", storage=open_storage(pg_url)) is not None
    assert study.study_name == "after-race"


@pytest.mark.slow
def test_resume_after_kill_continues_the_same_study(pg_url, tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    check_resume_after_kill(worker, pg_url, open_storage)


def test_unusable_postgres_urls_raise_storage_error(pg_server):
    dead_port = _free_port()  # nothing listens there
    bad = {
        "refused": f"postgresql+psycopg2://postgres@127.0.0.1:{dead_port}/affinetl_test",
        "no such database": pg_server.url("no_such_database"),
        "password": f"postgresql+psycopg2://postgres:s3cr3t@127.0.0.1:{dead_port}/x",
    }
    for url in bad.values():
        with pytest.raises(StorageError, match="cannot open storage") as info:
            open_storage(url)
        assert "s3cr3t" not in str(info.value)  # the password is masked
    with pytest.raises(StorageError, match='database "no_such_database" does not exist'):
        open_storage(bad["no such database"])
    with pytest.raises(StorageError, match="Connection refused|could not connect"):
        open_storage(bad["refused"])
    # a driver that is not installed: the message names the fix
    if importlib.util.find_spec("pg8000") is None:
        with pytest.raises(StorageError, match="driver is missing"):
            open_storage(pg_server.url("x").replace("+psycopg2", "+pg8000"))

    # tune fails before anything runs; the CLI prints one error line and exits with status 2
    X, y = _data()
    with pytest.raises(StorageError):
        tune(DirectRegressor(), X, y, n_trials=2, storage=bad["no such database"])
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = tune_main(
            ["--case", "synthetic", "--model", "direct", "--trials", "2", "--no-progress"]
            + ["--storage", bad["password"], "--study", "x"]
        )
    assert status == 2
    lines = err.getvalue().strip().splitlines()
    assert lines[0].startswith("affinetl tune: error: cannot open storage")
    assert "Traceback" not in err.getvalue() and "s3cr3t" not in err.getvalue()
