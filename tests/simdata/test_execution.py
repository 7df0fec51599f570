"""Campaign execution on Dask: device per worker, preparation on CPU workers, bounded queue,
and the dask-jobqueue recipes (job scripts checked without submitting anything)."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

pytest.importorskip("distributed")
pytest.importorskip("openmm")
import cloudpickle  # noqa: E402

from simdata import Job, get_preset  # noqa: E402
from simdata.cluster import local_cluster, make_cluster  # noqa: E402
from simdata.devices import Device, context_device, current_device, device_from_env  # noqa: E402
from simdata.execution import cluster_resources, run_campaign  # noqa: E402


def _toy_prepare(job, out, cache_dir=None):
    """Stands in for prepare_task: records where and when it ran."""
    from simdata.devices import worker_name

    start = time.time()
    time.sleep(0.2)
    return {
        "ok": True,
        "work": out,
        "timings": {},
        "prep_worker": worker_name(),
        "prep_pid": os.getpid(),
        "prep_start": start,
    }


def _toy_simulate(job, prepared, options=None):
    """Stands in for simulate_task: a one-particle OpenMM context on this worker's device."""
    import openmm

    from simdata.devices import context_device, current_device, worker_name

    device = current_device()
    platform = device.resolve("Reference")
    system = openmm.System()
    system.addParticle(1.0)
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(0.001), platform, device.properties(platform.getName())
    )
    start = time.time()
    time.sleep(0.5)
    return {
        "job_id": job.job_id,
        "name": job.name,
        "status": "done",
        "device_index": device.index,
        "device": json.dumps(context_device(ctx)),
        "sim_worker": worker_name(),
        "sim_pid": os.getpid(),
        "prep_worker": prepared["prep_worker"],
        "prep_start": prepared["prep_start"],
        "md_start": start,
        "md_end": time.time(),
    }


# test modules are not importable on the workers: make Dask ship the functions by value
for _f in (_toy_prepare, _toy_simulate):
    _f.__module__ = "__main__"
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def test_campaign_binds_one_device_per_worker_and_prepares_on_cpu(tmp_path):
    from distributed import Client

    jobs = [Job("*CC*", f"P{i}", get_preset("fast"), i) for i in range(6)]
    rows = []
    with local_cluster(2, 1, platform="Reference", device_indices=[0, 1]) as cluster:
        with Client(cluster) as client:
            client.wait_for_workers(3)
            assert cluster_resources(client) == {"MD": 2.0, "GPU": 2.0, "PREP": 1.0}
            # each GPU worker sees its own device in its environment
            seen = client.run(lambda: (current_device().index, os.environ["OPENMM_CPU_THREADS"]))
            by_name = {client.scheduler_info()["workers"][a]["name"]: v for a, v in seen.items()}
            assert by_name["gpu-0"] == (0, "1") and by_name["gpu-1"] == (1, "1")
            assert by_name["cpu-0"][0] is None
            n = run_campaign(
                jobs,
                tmp_path,
                client,
                record=rows.append,
                queue_depth=1,
                prepare=_toy_prepare,
                simulate=_toy_simulate,
            )
    assert n == len(jobs) and sorted(r["name"] for r in rows) == [j.name for j in jobs]
    for row in rows:
        # preparation on the CPU worker, simulation on a GPU worker with that worker's device
        assert row["prep_worker"] == "cpu-0"
        assert row["sim_worker"] in ("gpu-0", "gpu-1")
        assert row["device_index"] == int(row["sim_worker"][-1])
        assert json.loads(row["device"])["SIMDATA_DEVICE_INDEX"] == str(row["device_index"])
    # one simulation at a time per device
    for dev in (0, 1):
        spans = sorted((r["md_start"], r["md_end"]) for r in rows if r["device_index"] == dev)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    # bounded queue: at most 2 simulation slots + queue depth 1 = 3 jobs in flight, so the
    # preparation of job k starts after k - 2 simulations have ended
    ends = sorted(r["md_end"] for r in rows)
    starts = sorted(r["prep_start"] for r in rows)
    for k in range(3, len(rows)):
        assert starts[k] >= ends[k - 3]


def test_devices_from_environment():
    assert device_from_env({}) == Device()
    d = device_from_env({"SIMDATA_DEVICE_INDEX": "3", "SIMDATA_PLATFORM": "CUDA"})
    assert d.properties("CUDA") == {"Precision": "mixed", "DeviceIndex": "3"}
    assert device_from_env({"OPENMM_CPU_THREADS": "4"}).properties("CPU") == {"Threads": "4"}
    assert device_from_env({"SIMDATA_GPUS_PER_JOB": "2"}, name="SLURMCluster-0-3").index == 1
    with pytest.raises(ValueError, match="SIMDATA_DEVICE_INDEX"):
        device_from_env({"SIMDATA_DEVICE_INDEX": "x"})
    with pytest.raises(ValueError, match="device index"):
        Device(index=-1)


def test_cpu_threads_reach_the_cpu_context():
    import openmm

    device = Device("CPU", threads=2)
    platform = device.resolve()
    system = openmm.System()
    system.addParticle(1.0)
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(0.001), platform, device.properties(platform.getName())
    )
    assert context_device(ctx)["Threads"] == "2"


@pytest.mark.parametrize("kind", ["slurm", "pbs"])
def test_jobqueue_recipes_request_one_gpu_per_worker(kind):
    pytest.importorskip("dask_jobqueue")
    cluster = make_cluster(kind, gpus_per_job=1, prep_threads=3, memory="8GB", queue="gpu")
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "--resources MD=1,PREP=3,GPU=1" in script
    assert "--nthreads 4" in script and "export OPENMM_CPU_THREADS=1" in script
    if kind == "slurm":
        assert "#SBATCH --gres=gpu:1" in script and "#SBATCH --cpus-per-task=4" in script
    else:
        assert "#PBS -l select=1:ncpus=4:mem=8GB:ngpus=1" in script


def test_jobqueue_recipe_with_several_gpus_per_job():
    pytest.importorskip("dask_jobqueue")
    cluster = make_cluster("slurm", gpus_per_job=4, prep_threads=1)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH --gres=gpu:4" in script and "--nworkers 4" in script
    assert "export SIMDATA_GPUS_PER_JOB=4" in script


def test_cpu_only_recipe_sets_openmm_threads():
    pytest.importorskip("dask_jobqueue")
    cluster = make_cluster("slurm", gpus_per_job=0, prep_threads=7)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "gres" not in script and "export OPENMM_CPU_THREADS=8" in script
    with pytest.raises(ValueError, match="kind"):
        make_cluster("lsf")
