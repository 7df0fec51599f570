"""Run a table of polymers on Dask (LocalCluster by default), results to the store."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .job import Job, run_job
from .presets import Preset, get_preset
from .reporters import JobEvent
from .store import ResultStore

__all__ = ["read_table", "make_jobs", "run_table"]

logger = logging.getLogger(__name__)


def read_table(path: str | Path):
    """Read a polymer table (CSV or Parquet) with a ``smiles`` column.

    An id column (``name``, ``monomer_ID``, ``PID`` or ``id``) becomes ``name``.
    """
    import pandas as pd

    path = Path(path)
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    if "smiles" not in df.columns:
        raise ValueError(f"{path}: the table needs a 'smiles' column (found {list(df.columns)})")
    if "name" not in df.columns:
        for col in ("monomer_ID", "PID", "id"):
            if col in df.columns:
                df = df.assign(name=df[col].astype(str))
                break
        else:
            df = df.assign(name=[f"polymer_{i}" for i in range(len(df))])
    return df


def make_jobs(
    table, preset: str | Preset = "fast", *, seed: int = 0, **overrides: Any
) -> list[Job]:
    """One :class:`~simdata.job.Job` per table row (``smiles``, ``name``)."""
    p = get_preset(preset, **overrides)
    return [Job(str(r.smiles), str(r.name), p, seed) for r in table.itertuples()]


def _run_one(job: Job, out: str, cache_dir: str | None, job_fn: Callable) -> dict[str, Any]:
    return job_fn(job, out, cache_dir=cache_dir)


def run_table(
    jobs: Iterable[Job],
    out: str | Path,
    *,
    scheduler: str | Any | None = None,
    n_workers: int | None = None,
    threads_per_worker: int = 1,
    retries: int = 2,
    cache_dir: str | Path | None = None,
    callback: Callable[[JobEvent], None] | None = None,
    job_fn: Callable[..., dict[str, Any]] = run_job,
) -> ResultStore:
    """Run jobs, skipping finished ones, and append every result to the store.

    With ``scheduler=None`` and ``n_workers=0`` the jobs run in this process;
    otherwise on a Dask cluster: a ``distributed.Client``, a scheduler address
    (``"tcp://host:8786"``), or a new ``LocalCluster`` of ``n_workers`` processes.
    Results are stored as they complete (``as_completed``), so a worker lost
    mid-run loses no finished result; its running job is retried on another worker
    (``retries`` times for exceptions too), and a job that still fails is recorded
    as ``status="failed"`` with the traceback's last line.

    Parameters
    ----------
    jobs : iterable of Job
        Polymers to run.
    out : str or Path
        Results folder (journal ``results.jsonl`` and ``jobs/<job_id>/`` work folders).
    scheduler : str or distributed.Client, optional
        Where to run.
    n_workers : int, optional
        Workers of the LocalCluster (default: number of jobs, at most the CPU count).
    threads_per_worker : int
        Threads per LocalCluster worker.
    retries : int
        Dask retries of a job that raised.
    cache_dir : str or Path, optional
        Shared parameterisation cache.
    callback : callable, optional
        Receives a :class:`~simdata.reporters.JobEvent` per finished job
        (``stage="job"``, ``kind="end"|"skip"|"fail"``).
    job_fn : callable
        ``job_fn(job, out, cache_dir=...) -> row``; :func:`simdata.job.run_job` by default.

    Returns
    -------
    ResultStore
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = ResultStore(out)
    done = store.finished_ids()
    todo: dict[str, Job] = {}
    for job in jobs:
        jid = job.job_id
        if jid in done:
            if callback is not None:
                callback(JobEvent(jid, "job", "skip", {"name": job.name}))
            continue
        todo.setdefault(jid, job)
    logger.info("%d jobs to run, %d already finished", len(todo), len(done))
    if not todo:
        return store
    cache = None if cache_dir is None else str(cache_dir)

    def record(row: dict[str, Any]) -> None:
        store.append(row)
        if callback is not None:
            kind = "end" if row.get("status") == "done" else "fail"
            callback(JobEvent(row["job_id"], "job", kind, {"name": row.get("name", "")}))

    if scheduler is None and n_workers == 0:
        for job in todo.values():
            try:
                row = job_fn(job, str(out), cache_dir=cache)
            except Exception as exc:  # recorded, never dropped
                row = _failure_row(job, exc)
            record(row)
        return store

    from distributed import Client, LocalCluster, as_completed

    own_cluster = None
    if isinstance(scheduler, Client):
        client = scheduler
    elif scheduler is not None:
        client = Client(scheduler)
    else:
        import os

        n = n_workers or min(len(todo), os.cpu_count() or 1)
        own_cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=threads_per_worker,
            processes=True,
            dashboard_address=None,
        )
        client = Client(own_cluster)
    try:
        futures = {
            client.submit(
                _run_one,
                job,
                str(out),
                cache,
                job_fn,
                key=f"simdata-{jid}",
                retries=retries,
                pure=False,
            ): job
            for jid, job in todo.items()
        }
        for fut in as_completed(futures):
            job = futures[fut]
            try:
                row = fut.result()
            except Exception as exc:  # exhausted retries or lost too many workers
                row = _failure_row(job, exc)
            record(row)
    finally:
        if client is not scheduler:
            client.close()
        if own_cluster is not None:
            own_cluster.close()
    return store


def _failure_row(job: Job, exc: BaseException) -> dict[str, Any]:
    last = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]
    return {
        "job_id": job.job_id,
        "name": job.name,
        "smiles": job.smiles,
        "preset": job.preset.name,
        "seed": job.seed,
        "status": "failed",
        "reason": last[:500],
    }
