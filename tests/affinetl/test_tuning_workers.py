"""Multi-process tests: resume after a killed worker, two workers sharing one study."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from _tuning_workers import WORKER, check_resume_after_kill, finished, start, wait

from affinetl.tuning import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def worker(tmp_path: Path) -> Path:
    path = tmp_path / "worker.py"
    path.write_text(WORKER)
    return path


def test_resume_after_kill_continues_the_same_study(tmp_path, worker):
    # the schema is created here first: two processes initialising one new SQLite file at the
    # same moment race on the schema-version row
    check_resume_after_kill(worker, tmp_path / "tune.db", open_storage)


@pytest.mark.parametrize("kind", ["journal", pytest.param("sqlite", marks=pytest.mark.slow)])
def test_two_workers_share_one_study(tmp_path, worker, kind):
    storage = tmp_path / ("tune.log" if kind == "journal" else "tune.db")
    target = 12
    if kind == "sqlite":  # create the study first; concurrent creation is covered by journal
        wait(start(worker, storage, "shared", 1, 0.0, 0), 120)
    procs = [start(worker, storage, "shared", target, 0.02, 0) for _ in range(2)]
    for proc in procs:
        wait(proc, 180)
    study = optuna.load_study(study_name="shared", storage=open_storage(storage))
    done = finished(study)
    # each worker stops once the study holds `target` trials; the other may finish one more
    assert target <= len(done) <= target + 1
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    numbers = [t.number for t in study.trials]
    assert len(set(numbers)) == len(numbers)
    by_worker: dict[str, int] = {}
    for t in done:
        by_worker[t.user_attrs["worker"]] = by_worker.get(t.user_attrs["worker"], 0) + 1
    assert len(by_worker) >= 2, by_worker  # both processes contributed trials
    params = [tuple(sorted(t.params.items())) for t in done]
    assert len(set(params)) == len(params)
