"""Fault injection for ``affinetl tune`` and the data loader (issue 19, items 1, 3 and 7).

Each test damages a real run the way a crash does: a real child process is killed with SIGKILL at
a point it reaches deterministically (it kills itself there, so no sleep decides the timing), or
a file is left the way such a kill leaves it. The tests then check that nothing that had finished
is lost and that the next ``affinetl tune`` run succeeds. ``docs/reliability.md`` lists the faults.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from affinetl.datasets import _fetch
from affinetl.tuning import open_storage
from affinetl.tuning._cli import main as tune_main

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: The first eight bytes of a *hot* SQLite rollback journal (a valid header that must be replayed).
_HOT_JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")


def _python(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _args(storage: Path, trials: int, *extra: str) -> list[str]:
    """Options of ``affinetl tune`` on the built-in synthetic case (DirectRegressor, study s1)."""
    args = ["--case", "synthetic", "--model", "direct", "--cv", "3", "--no-progress"]
    return [*args, "--storage", str(storage), "--study", "s1", "--trials", str(trials), *extra]


@pytest.fixture
def tune(capsys, caplog, monkeypatch, tmp_path):
    """Run ``affinetl tune`` (in this process: the same command without an interpreter start).

    Returns ``(exit status, stderr and log text)``; the default output file goes to ``tmp_path``.
    """
    caplog.set_level(logging.WARNING)
    monkeypatch.chdir(tmp_path)

    def run(storage: Path, trials: int, *extra: str) -> tuple[int, str]:
        caplog.clear()
        code = tune_main(_args(storage, trials, *extra))
        return code, capsys.readouterr().err + caplog.text

    return run


def _ok(result: tuple[int, str]) -> str:
    code, err = result
    assert code == 0, err[-3000:]
    return err


def _finished(storage: Path) -> dict[int, tuple]:
    """Trial number -> (params, value) of every complete trial of study ``s1``."""
    study = optuna.load_study(study_name="s1", storage=open_storage(storage))
    return {
        t.number: (t.params, t.value)
        for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    }


def _killed(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-2000:])


# item 1 ------------------------------------------------------------------------------------------

#: A process that dies inside a write transaction on the study file. ``synchronous=OFF`` writes the
#: journal header at once (as a normal commit does once it has synced the journal), so the kill
#: leaves a *hot* journal: the state of a worker killed in the middle of a commit.
_KILL_IN_TRANSACTION = """
import os, signal, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA synchronous=OFF")
con.execute("BEGIN IMMEDIATE")
con.execute("UPDATE studies SET study_name = study_name")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_sqlite_study_resumes_after_a_kill_inside_a_transaction(tmp_path, tune):
    db = tmp_path / "t.db"
    _ok(tune(db, 3))
    before = _finished(db)
    assert len(before) == 3

    _killed(_python("-c", _KILL_IN_TRANSACTION, str(db), cwd=tmp_path))
    journal = tmp_path / "t.db-journal"
    assert journal.read_bytes()[:8] == _HOT_JOURNAL_MAGIC
    with pytest.raises(sqlite3.OperationalError, match="readonly"):  # the old read-only check
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            con.execute("SELECT name FROM sqlite_master").fetchall()
        finally:
            con.close()

    _ok(tune(db, 5))  # resumes: the journal is rolled back on open
    assert not journal.exists()
    after = _finished(db)
    assert len(after) == 5
    assert {k: after[k] for k in before} == before  # nothing finished is lost or re-run
    _ok(tune(db, 6))  # and the study stays usable
    assert len(_finished(db)) == 6


# item 3 ------------------------------------------------------------------------------------------

#: A writer killed in the middle of appending a record to the journal: it writes the first half
#: of a record (a copy of the journal's last one), syncs it, and kills itself.
_TEAR_JOURNAL = """
import os, signal, sys
path = sys.argv[1]
with open(path, "rb") as fh:
    last = fh.read().splitlines()[-1]
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
os.write(fd, last[: len(last) // 2])
os.fsync(fd)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_torn_journal_record_is_cut_kept_and_the_study_resumes(tmp_path, tune):
    log = tmp_path / "t.log"
    _ok(tune(log, 3))
    before = _finished(log)
    intact = log.read_bytes()

    _killed(_python("-c", _TEAR_JOURNAL, str(log), cwd=tmp_path))
    torn = log.read_bytes()[len(intact) :]
    assert torn and not torn.endswith(b"\n")

    err = _ok(tune(log, 5))
    assert "cut a torn last record" in err
    (copy,) = tmp_path.glob("t.log.torn-*")
    assert copy.read_bytes() == torn  # what was cut is kept
    assert log.read_bytes().startswith(intact)  # every complete record is kept
    after = _finished(log)
    assert len(after) == 5 and {k: after[k] for k in before} == before
    _ok(tune(log, 6))  # later runs read the journal too
    assert len(_finished(log)) == 6
    assert len(list(tmp_path.glob("t.log.torn-*"))) == 1  # nothing more was cut


def test_journal_damaged_in_the_middle_is_refused_and_left_unchanged(tmp_path, tune):
    log = tmp_path / "t.log"
    _ok(tune(log, 2))
    lines = log.read_bytes().splitlines(keepends=True)
    lines[3] = lines[3][:20] + b"\n"  # not what a crash leaves: refuse, do not "repair"
    log.write_bytes(b"".join(lines))
    damaged = log.read_bytes()
    code, err = tune(log, 4)
    assert code == 2 and "line 4 is not JSON" in err
    assert len(err.strip().splitlines()) == 1
    assert log.read_bytes() == damaged and not list(tmp_path.glob("t.log.torn-*"))


@pytest.mark.slow
def test_writer_killed_holding_the_journal_lock(tmp_path, tune):
    """A writer killed inside Optuna's locked append leaves its lock; Optuna breaks it (30 s)."""
    log = tmp_path / "t.log"
    _ok(tune(log, 3))
    before = _finished(log)
    lock = "from optuna.storages.journal import JournalFileSymlinkLock\n"
    lock += "JournalFileSymlinkLock(sys.argv[1]).acquire()\n"  # as JournalFileBackend does
    tear = _TEAR_JOURNAL.replace("path = sys.argv[1]\n", "path = sys.argv[1]\n" + lock, 1)
    _killed(_python("-c", tear, str(log), cwd=tmp_path))
    assert os.path.lexists(f"{log}.lock")
    err = _ok(tune(log, 5))
    assert "waiting for the journal's lock" in err and "cut a torn last record" in err
    after = _finished(log)
    assert len(after) == 5 and {k: after[k] for k in before} == before


# item 7 ------------------------------------------------------------------------------------------


def test_out_folder_is_created_and_checked_before_any_trial(tmp_path, tune):
    db, out = tmp_path / "t.db", tmp_path / "results" / "deeper" / "x.json"
    _ok(tune(db, 2, "--out", str(out)))
    assert json.loads(out.read_text())["n_trials"] == 2

    (tmp_path / "plain").write_text("a file, not a folder\n")
    code, err = tune(tmp_path / "u.db", 2, "--out", str(tmp_path / "plain" / "x.json"))
    assert code == 2 and "cannot create its folder" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "u.db").exists()  # checked before the storage or a trial was touched


#: ``affinetl tune`` killed while it writes its output file, after the new content is complete
#: in the temporary file and before the rename that publishes it.
_KILL_WHILE_WRITING = """
import os, signal, sys
from affinetl.tuning import _cli
replace, target = os.replace, os.path.abspath(sys.argv[1])


def die_before_publishing(src, dst):
    if os.path.abspath(dst) == target:
        os.kill(os.getpid(), signal.SIGKILL)
    replace(src, dst)


os.replace = die_before_publishing
sys.exit(_cli.main(sys.argv[2:]))
"""


def test_kill_while_writing_the_output_keeps_the_old_file(tmp_path, tune):
    db, out = tmp_path / "t.db", tmp_path / "best.json"
    _ok(tune(db, 2, "--out", str(out)))
    old = out.read_text()
    args = _args(db, 4, "--out", str(out))
    _killed(_python("-c", _KILL_WHILE_WRITING, str(out), *args, cwd=tmp_path))
    assert out.read_text() == old  # the previous result, whole, not half of the new one
    assert len(_finished(db)) == 4  # the trials of the killed run are kept
    _ok(tune(db, 4, "--out", str(out)))  # nothing to re-run: just the file
    assert json.loads(out.read_text())["n_trials"] == 4


def test_offline_loader_refuses_a_corrupt_cache_file_without_downloading(tmp_path, monkeypatch):
    name = "radonpy/PI1070.csv"
    entry = _fetch.registry()[name]
    assert entry.algorithm == "sha256"
    cached = tmp_path / name
    cached.parent.mkdir(parents=True)
    cached.write_text("smiles,density\n*CC*,0.9\n")  # e.g. a download cut short long ago
    monkeypatch.delenv(_fetch.MIRROR_ENV, raising=False)
    monkeypatch.setenv(_fetch.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv(_fetch.OFFLINE_ENV, "1")

    def no_download(*args, **kwargs):
        raise AssertionError("offline: nothing may be downloaded")

    monkeypatch.setattr(_fetch.pooch, "retrieve", no_download)
    with pytest.raises(_fetch.CorruptDataError) as info:
        _fetch.fetch(name)
    message = str(info.value)
    assert str(cached) in message and entry.digest in message and "AFFINETL_OFFLINE" in message
    assert cached.read_text() == "smiles,density\n*CC*,0.9\n"  # left for the user to inspect
