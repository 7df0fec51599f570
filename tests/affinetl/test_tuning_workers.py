"""Multi-process tests: resume after a killed worker, two workers sharing one study."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from affinetl.tuning import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: A worker: tunes DirectRegressor on fixed data; every validation fold sleeps DELAY seconds so
#: that a trial takes long enough to be interrupted.
WORKER = """
import sys, time
import numpy as np, optuna
from affinetl import DirectRegressor
from affinetl.tuning import tune

optuna.logging.set_verbosity(optuna.logging.WARNING)
storage, study, n_trials, delay, heartbeat = sys.argv[1:6]


def slow_neg_mse(estimator, X, y):
    time.sleep(float(delay))
    return -float(np.mean((estimator.predict(X) - y) ** 2))


rng = np.random.default_rng(0)
X = rng.uniform(-2, 2, size=(40, 3))
y = np.sin(3 * X[:, 0]) + 0.1 * rng.standard_normal(40)
tune(DirectRegressor(), X, y, n_trials=int(n_trials), storage=storage, study_name=study,
     scoring=slow_neg_mse, refit=False, heartbeat_interval=int(heartbeat) or None)
"""


def _start(script: Path, *args: object) -> subprocess.Popen:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(
        [sys.executable, str(script), *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states)


def _wait(proc: subprocess.Popen, timeout: float) -> None:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, err[-3000:]


@pytest.fixture
def worker(tmp_path: Path) -> Path:
    path = tmp_path / "worker.py"
    path.write_text(WORKER)
    return path


def test_resume_after_kill_continues_the_same_study(tmp_path, worker):
    db = tmp_path / "tune.db"
    # Create the schema before the worker starts: two processes initialising one new SQLite
    # file at the same moment race on the schema-version row.
    storage = open_storage(db)
    first = _start(worker, db, "s", 1000, 0.05, 1)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(1.0)
        assert first.poll() is None, first.communicate()[1][-3000:]
        try:
            study = optuna.load_study(study_name="s", storage=storage)
        except KeyError:  # the study is not created yet
            continue
        if len(_finished(study)) >= 4:
            break
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL
    time.sleep(3.0)  # the killed trial's heartbeat (1 s, grace 2 s) is now stale
    study = optuna.load_study(study_name="s", storage=open_storage(db))
    before = {t.number: (t.state, t.params, t.value) for t in _finished(study)}
    interrupted = [t.number for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    attrs = study.user_attrs
    target = len(before) + 4

    second = _start(worker, db, "s", target, 0.05, 1)
    _wait(second, 180)
    study = optuna.load_study(study_name="s", storage=open_storage(db))
    done = _finished(study)
    assert len(done) == target
    after = {t.number: (t.state, t.params, t.value) for t in done}
    assert {k: after[k] for k in before} == before  # finished trials kept, not re-run
    new = sorted(set(after) - set(before))
    assert len(new) == 4 and min(new) > max(before)
    params = [tuple(sorted(t.params.items())) for t in done]
    assert len(set(params)) == len(params)  # the resumed sampler did not replay old draws
    assert study.user_attrs == attrs
    workers = {t.user_attrs["worker"] for t in done}
    assert len(workers) == 2
    # a trial cut off by the kill is failed by the heartbeat check and retried once
    for number in interrupted:
        assert study.trials[number].state == optuna.trial.TrialState.FAIL
        retried = [t for t in study.trials if t.system_attrs.get("failed_trial") == number]
        assert retried
        # killed before its first suggestion, a trial has no parameters to retry with
        if study.trials[number].params:
            assert retried[0].params == study.trials[number].params


@pytest.mark.parametrize("kind", ["journal", pytest.param("sqlite", marks=pytest.mark.slow)])
def test_two_workers_share_one_study(tmp_path, worker, kind):
    storage = tmp_path / ("tune.log" if kind == "journal" else "tune.db")
    target = 12
    if kind == "sqlite":  # create the study first; concurrent creation is covered by journal
        _wait(_start(worker, storage, "shared", 1, 0.0, 0), 120)
    procs = [_start(worker, storage, "shared", target, 0.02, 0) for _ in range(2)]
    for proc in procs:
        _wait(proc, 180)
    study = optuna.load_study(study_name="shared", storage=open_storage(storage))
    done = _finished(study)
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
