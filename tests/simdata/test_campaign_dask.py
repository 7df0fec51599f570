"""Two Dask drivers on one results folder share its jobs: each job is leased just before it
is submitted (``run_table(..., campaign=...)``), so neither driver takes the whole plan.

The drivers are real processes (this file run as a script), each with its own in-process
``LocalCluster``; the jobs are fakes (a short sleep, no MD).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("distributed")

N_JOBS = 8


def _jobs():
    from simdata import Job, get_preset

    return [Job("*CC*", f"P{i}", get_preset("fast"), i) for i in range(N_JOBS)]


def _toy_prepare(job, out, cache_dir=None):
    time.sleep(0.2)
    return {"ok": True, "work": out, "timings": {}, "prep_worker": "", "prep_pid": os.getpid()}


def _toy_simulate(job, prepared, options=None):
    time.sleep(0.2)
    return {"job_id": job.job_id, "name": job.name, "status": "done", "driver": os.getpid()}


def _drive(out: str, go: str) -> None:
    from distributed import Client, LocalCluster

    from simdata.campaign import Campaign
    from simdata.cluster import run_table

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster, Client(cluster) as client:  # fmt: skip
        Path(f"{go}.{os.getpid()}").touch()
        deadline = time.time() + 60
        while len(list(Path(go).parent.glob(Path(go).name + ".*"))) < 2:
            if time.time() > deadline:
                raise SystemExit("the other driver never started")
            time.sleep(0.05)
        with Campaign(out) as camp:
            todo, _ = camp.plan(_jobs())
            run_table(
                todo,
                out,
                scheduler=client,
                campaign=camp,
                prepare=_toy_prepare,
                simulate=_toy_simulate,
            )


def test_two_dask_drivers_share_one_folder(tmp_path):
    from simdata.store import load_results

    out, go = tmp_path / "campaign", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, str(out), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        errs = [p.communicate(timeout=180)[1].decode() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, err in zip(procs, errs):
        assert p.returncode == 0, err[-2000:]
    rows = load_results(out, all_rows=True)
    # every job done exactly once, and both drivers ran some
    assert sorted(rows.job_id) == sorted(j.job_id for j in _jobs())
    assert (rows.status == "done").all()
    by_driver = Counter(rows.driver)
    assert set(by_driver) == {p.pid for p in procs}, by_driver
    assert not list((out / "leases").glob("*.lease"))


if __name__ == "__main__":
    _drive(sys.argv[1], sys.argv[2])
