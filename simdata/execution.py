"""A campaign on Dask: preparation on CPU workers feeding simulations on GPU workers.

Each job is two tasks. :func:`prepare_task` (RDKit chain, AM1-BCC charges with
antechamber/sqm, packmol, tleap) needs the ``PREP`` resource; :func:`simulate_task`
(OpenMM only) needs ``MD`` and runs on the device its worker owns
(:func:`simdata.devices.current_device`). A worker that owns a GPU declares
``{"MD": 1, "GPU": 1}`` (one simulation at a time: several contexts on one GPU add no
throughput); a worker that prepares declares ``{"PREP": n}`` (n preparations at once); a
GPU node's worker can declare both, to prepare on the node's spare cores. The driver keeps
at most ``n_md + queue_depth`` jobs in flight, so preparation runs ``queue_depth`` jobs
ahead of the simulations (a bounded queue: a GPU does not wait for antechamber or packmol,
and prepared cells do not pile up). Rows are handed to ``record`` as they complete.

Both tasks share the results folder (a shared file system on a cluster): the preparation
writes ``<out>/jobs/<job_id>/pack``, the simulation reads it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .checkpoint import RunOptions
from .devices import current_device, worker_name
from .errors import SimdataError
from .job import Job, _base_row, _record_failure, _StageTracker, prepare_job, simulate_job

__all__ = [
    "MD_RESOURCE",
    "GPU_RESOURCE",
    "PREP_RESOURCE",
    "prepare_task",
    "simulate_task",
    "failure_row",
    "cluster_resources",
    "run_campaign",
]

logger = logging.getLogger(__name__)

#: Resource of a simulation slot (one per MD worker).
MD_RESOURCE = "MD"
#: Resource of a GPU (declared by GPU workers beside ``MD``).
GPU_RESOURCE = "GPU"
#: Resource of a preparation slot (RDKit, AmberTools, packmol).
PREP_RESOURCE = "PREP"


def _where() -> dict[str, Any]:
    return {"worker": worker_name() or "", "pid": os.getpid(), "host": socket.gethostname()}


def prepare_task(job: Job, out: str, cache_dir: str | None = None) -> dict[str, Any]:
    """Preparation half of a job (a CPU worker's task).

    Returns ``{"ok": True, "work": folder, "timings": {...}, "prep_worker": ...}`` or, when
    the polymer cannot be prepared (:class:`~simdata.errors.SimdataError`),
    ``{"ok": False, "row": failed row}``.
    """
    t0 = time.perf_counter()
    where = _where()
    tracker = _StageTracker(None)
    try:
        work, timings = prepare_job(job, out, cache_dir=cache_dir, callback=tracker)
    except SimdataError as exc:
        row = _base_row(job)
        _record_failure(row, exc, tracker.stage or "prepare", None)
        row.update(prep_worker=where["worker"], prep_pid=where["pid"])
        row["wall_s"] = time.perf_counter() - t0
        return {"ok": False, "row": row}
    return {
        "ok": True,
        "work": str(work),
        "timings": timings,
        "prep_worker": where["worker"],
        "prep_pid": where["pid"],
        "prep_host": where["host"],
    }


def simulate_task(
    job: Job, prepared: dict[str, Any], options: RunOptions | None = None
) -> dict[str, Any]:
    """Simulation half of a job on this worker's device (a GPU worker's task).

    The row records where it ran: ``sim_worker``, ``sim_pid``, ``device_index``, the
    preparation's ``prep_worker``/``prep_pid``, and the MD's wall-clock interval
    ``md_start``/``md_end`` (Unix seconds).
    """
    if not prepared["ok"]:
        return prepared["row"]
    device = current_device()
    where = _where()
    start = time.time()
    row = simulate_job(
        job,
        prepared["work"],
        prepare_timings=prepared["timings"],
        device=device,
        options=options,
    )
    row.update(
        sim_worker=where["worker"],
        sim_pid=where["pid"],
        device_index=-1 if device.index is None else device.index,
        prep_worker=prepared["prep_worker"],
        prep_pid=prepared["prep_pid"],
        md_start=start,
        md_end=time.time(),
    )
    return row


def failure_row(job: Job, exc: BaseException) -> dict[str, Any]:
    """Row of a job whose task raised (after Dask's retries), with the exception's last line."""
    last = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]
    return {
        "job_id": job.job_id,
        "name": job.name,
        "smiles": job.smiles,
        "preset": job.preset.name,
        "seed": job.seed,
        "status": "failed",
        "failed_stage": "",
        "reason": last[:500],
    }


def cluster_resources(client) -> dict[str, float]:
    """Total of each resource over the workers connected to ``client`` now."""
    total: dict[str, float] = {}
    for info in client.scheduler_info(n_workers=-1)["workers"].values():
        for key, value in (info.get("resources") or {}).items():
            total[key] = total.get(key, 0.0) + float(value)
    return total


def _restriction(value, name: str, available: dict[str, float]) -> dict[str, float] | None:
    if value == "auto":
        return {name: 1} if available.get(name, 0) > 0 else None
    return value


def run_campaign(
    jobs: Iterable[Job],
    out: str | Path,
    client,
    *,
    record: Callable[[dict[str, Any]], None],
    cache_dir: str | Path | None = None,
    options: RunOptions | None = None,
    queue_depth: int | None = None,
    md_resources: dict[str, float] | str | None = "auto",
    prep_resources: dict[str, float] | str | None = "auto",
    retries: int = 2,
    claim: Callable[[Job], bool] | None = None,
    prepare: Callable[..., dict[str, Any]] = prepare_task,
    simulate: Callable[..., dict[str, Any]] = simulate_task,
) -> int:
    """Run jobs on a Dask cluster as preparation and simulation tasks (module docstring).

    Parameters
    ----------
    jobs : iterable of Job
        Jobs to run (already filtered: finished ones left out).
    out : str or Path
        Results folder (shared by all workers).
    client : distributed.Client
        The cluster.
    record : callable
        Receives each row as its job completes (the store's ``append``).
    cache_dir : str or Path, optional
        Parameterisation cache (shared).
    options : RunOptions, optional
        Checkpoint interval and MD time limit of every job.
    queue_depth : int, optional
        How many jobs preparation may run ahead of the simulation slots (default: the
        number of simulation slots, at least 2).
    md_resources, prep_resources : dict, "auto" or None
        Worker resources each task needs. ``"auto"``: ``{"MD": 1}`` / ``{"PREP": 1}`` when
        some connected worker declares that resource, otherwise no restriction (a plain
        LocalCluster runs both kinds anywhere).
    retries : int
        Dask retries of a task that raised or whose worker died.
    claim : callable, optional
        ``claim(job) -> bool`` called just before a job is submitted; False skips it (a
        lease held by another driver).
    prepare, simulate : callable
        The two tasks, :func:`prepare_task` and :func:`simulate_task` (same signatures;
        tests pass toy ones).

    Returns
    -------
    int
        Number of jobs submitted.
    """
    from distributed import as_completed

    out = str(Path(out).resolve())
    cache = None if cache_dir is None else str(Path(cache_dir).resolve())
    available = cluster_resources(client)
    md_res = _restriction(md_resources, MD_RESOURCE, available)
    prep_res = _restriction(prep_resources, PREP_RESOURCE, available)
    n_md = int(available.get(MD_RESOURCE, 0)) or len(client.scheduler_info()["workers"]) or 1
    depth = max(2, n_md) if queue_depth is None else int(queue_depth)
    if depth < 0:
        raise ValueError(f"queue_depth must be >= 0, got {queue_depth}")
    window = n_md + depth
    logger.info("campaign: %d simulation slots, queue depth %d", n_md, depth)
    pending = iter(jobs)
    futures: dict[Any, Job] = {}
    ac = as_completed()
    submitted = 0

    def submit_next() -> bool:
        nonlocal submitted
        for job in pending:
            if claim is not None and not claim(job):
                continue
            jid = job.job_id
            prep = client.submit(
                prepare,
                job,
                out,
                cache,
                key=f"simdata-prep-{jid}",
                resources=prep_res,
                retries=retries,
                pure=False,
            )
            sim = client.submit(
                simulate,
                job,
                prep,
                options,
                key=f"simdata-md-{jid}",
                resources=md_res,
                retries=retries,
                pure=False,
            )
            futures[sim] = job
            ac.add(sim)
            submitted += 1
            return True
        return False

    while len(futures) < window and submit_next():
        pass
    for fut in ac:
        job = futures.pop(fut)
        try:
            row = fut.result()
        except Exception as exc:  # noqa: BLE001 (exhausted retries: recorded, never dropped)
            row = failure_row(job, exc)
        record(row)
        while len(futures) < window and submit_next():
            pass
    return submitted
