from __future__ import annotations

import os
import signal
import sys
import time

import pytest

pytest.importorskip("distributed")
pytest.importorskip("rdkit")
import cloudpickle  # noqa: E402

from simdata import Job, get_preset, load_results, run_table  # noqa: E402


def _slow_job(job, out, cache_dir=None):
    time.sleep(1.5)
    return {"job_id": job.job_id, "name": job.name, "status": "done", "pid": os.getpid()}


# test modules are not importable on the workers: make Dask ship the function by value
_slow_job.__module__ = "__main__"
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.mark.slow
def test_worker_killed_mid_run_loses_nothing(tmp_path):
    """Kill one LocalCluster worker while jobs run: every job still ends up stored once done."""
    from distributed import Client, LocalCluster

    p = get_preset("fast")
    smiles = [
        "*CC*",
        "*CC(*)C",
        "*CC(*)CC",
        "*CC(*)CCC",
        "*CC(*)Cl",
        "*CC(*)F",
        "*CC(*)O",
        "*CC(*)C#N",
    ]
    jobs = [Job(s, f"P{i}", p, 0) for i, s in enumerate(smiles)]
    killed = []

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        with Client(cluster) as client:
            client.wait_for_workers(2)
            pids = list(client.run(os.getpid).values())

            def kill_after_first(event):
                if event.kind == "end" and not killed:
                    # a worker's process dies mid-run (it is busy with its next job)
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(event.job_id)

            run_table(
                jobs,
                tmp_path,
                scheduler=client,
                retries=2,
                job_fn=_slow_job,
                callback=kill_after_first,
            )
    assert killed
    df = load_results(tmp_path)
    assert len(df) == len(jobs)
    assert set(df.status) == {"done"}
    assert set(df.job_id) == {j.job_id for j in jobs}
    assert pids[0] not in set(df.pid[df.job_id != killed[0]]) or len(set(df.pid)) >= 2
