"""Run a table of polymers on Dask, results to the store; cluster recipes.

:func:`run_table` is the driver (skip finished jobs, run the rest, store rows as they
complete); :func:`local_cluster` starts GPU and CPU workers on one machine, and
:func:`make_cluster` builds dask-jobqueue SLURM or PBS clusters whose workers own one GPU
each (see ``docs/simdata-cluster.md``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .checkpoint import RunOptions
from .execution import (
    GPU_RESOURCE,
    MD_RESOURCE,
    PREP_RESOURCE,
    failure_row,
    prepare_task,
    run_campaign,
    simulate_task,
)
from .job import Job, run_job
from .presets import Preset, get_preset
from .reporters import JobEvent
from .store import ResultStore

__all__ = ["read_table", "make_jobs", "run_table", "local_cluster", "make_cluster"]

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
    options: RunOptions | None = None,
    queue_depth: int | None = None,
    campaign: Any | None = None,
    prepare: Callable[..., dict[str, Any]] = prepare_task,
    simulate: Callable[..., dict[str, Any]] = simulate_task,
) -> ResultStore:
    """Run jobs, skipping finished ones, and append every result to the store.

    With ``scheduler=None`` and ``n_workers=0`` the jobs run in this process;
    otherwise on a Dask cluster: a ``distributed.Client``, a scheduler address
    (``"tcp://host:8786"``), or a new ``LocalCluster`` of ``n_workers`` processes.
    On a cluster each job is a preparation task and a simulation task
    (:func:`simdata.execution.run_campaign`: preparation on workers with the ``PREP``
    resource, simulation on workers with ``MD``/``GPU``, a bounded queue between them).
    Results are stored as they complete, so a worker lost mid-run loses no finished
    result; its running task is retried on another worker (``retries`` times for
    exceptions too), and a job that still fails is recorded as ``status="failed"``
    with the traceback's last line.

    Parameters
    ----------
    jobs : iterable of Job
        Polymers to run.
    out : str or Path
        Results folder (journal and ``jobs/<job_id>/`` work folders).
    scheduler : str or distributed.Client, optional
        Where to run.
    n_workers : int, optional
        Workers of the LocalCluster (default: number of jobs, at most the CPU count).
    threads_per_worker : int
        Threads per LocalCluster worker.
    retries : int
        Dask retries of a task that raised.
    cache_dir : str or Path, optional
        Shared parameterisation cache.
    callback : callable, optional
        Receives a :class:`~simdata.reporters.JobEvent` per finished job
        (``stage="job"``, ``kind="end"|"skip"|"fail"``).
    job_fn : callable
        ``job_fn(job, out, cache_dir=...) -> row``; with anything but
        :func:`simdata.job.run_job` each job is one task running ``job_fn``.
    options : RunOptions, optional
        Mid-stage checkpoint interval and MD time limit of every job.
    queue_depth : int, optional
        Jobs preparation may run ahead of the simulations (see ``run_campaign``).
    campaign : simdata.campaign.Campaign, optional
        On Dask, lease each job just before it is submitted (``campaign.claim``, skipping
        jobs another driver holds) and store each row with ``campaign.record`` (prune,
        release): several drivers on one folder share the work. With a custom ``job_fn``
        every job is leased as it is submitted, all at once. The in-process path
        (``n_workers=0``) ignores it (lease there with :func:`simdata.campaign.drive`).
    prepare, simulate : callable
        The two tasks of :func:`~simdata.execution.run_campaign` (tests pass toy ones).

    Returns
    -------
    ResultStore
    """
    if n_workers is not None and n_workers < 0:
        raise ValueError(f"n_workers must be >= 0 (0: run in this process), got {n_workers}")
    if threads_per_worker < 1:
        raise ValueError(f"threads_per_worker must be >= 1, got {threads_per_worker}")
    out = Path(out).resolve()
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
    cache = None if cache_dir is None else str(Path(cache_dir).resolve())
    local = scheduler is None and n_workers == 0
    claim = None if campaign is None or local else campaign.claim

    def record(row: dict[str, Any]) -> None:
        if campaign is not None and not local:
            campaign.record(row)  # append, prune, release the lease
        else:
            store.append(row)
        if callback is not None:
            kind = "end" if row.get("status") == "done" else "fail"
            callback(JobEvent(row["job_id"], "job", kind, {"name": row.get("name", "")}))

    if local:
        for job in todo.values():
            try:
                if job_fn is run_job:
                    row = run_job(job, str(out), cache_dir=cache, options=options)
                else:
                    row = job_fn(job, str(out), cache_dir=cache)
            except Exception as exc:  # noqa: BLE001 (recorded, never dropped)
                row = failure_row(job, exc)
            record(row)
        return store

    from distributed import Client, LocalCluster, as_completed

    own_cluster = None
    if isinstance(scheduler, Client):
        client = scheduler
    elif scheduler is not None:
        client = Client(scheduler)
    else:
        n = n_workers or min(len(todo), os.cpu_count() or 1)
        own_cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=threads_per_worker,
            processes=True,
            dashboard_address=None,
        )
        client = Client(own_cluster)
    try:
        if job_fn is run_job:
            run_campaign(
                todo.values(),
                out,
                client,
                record=record,
                cache_dir=cache,
                options=options,
                queue_depth=queue_depth,
                retries=retries,
                claim=claim,
                prepare=prepare,
                simulate=simulate,
            )
            return store
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
            if claim is None or claim(job)
        }
        for fut in as_completed(futures):
            job = futures[fut]
            try:
                row = fut.result()
            except Exception as exc:  # noqa: BLE001 (exhausted retries or lost workers)
                row = failure_row(job, exc)
            record(row)
    finally:
        if client is not scheduler:
            client.close()
        if own_cluster is not None:
            own_cluster.close()
    return store


def local_cluster(
    n_gpu_workers: int = 0,
    n_cpu_workers: int = 1,
    *,
    device_indices: Iterable[int] | None = None,
    platform: str | None = None,
    prep_threads: int = 1,
    md_threads: int = 1,
    cpu_md: bool = False,
    **kwargs: Any,
):
    """A ``SpecCluster`` on this machine: one worker per GPU and CPU workers that prepare.

    GPU worker ``gpu-<i>`` declares ``{"MD": 1, "GPU": 1}`` and gets
    ``SIMDATA_DEVICE_INDEX=<device_indices[i]>`` (default ``i``) and, with ``platform``,
    ``SIMDATA_PLATFORM`` in its environment; CPU worker ``cpu-<i>`` declares
    ``{"PREP": prep_threads}`` (plus ``{"MD": 1}`` with ``cpu_md``) and runs with
    ``OPENMM_CPU_THREADS=md_threads``.

    Parameters
    ----------
    n_gpu_workers : int
        Workers that simulate, one per device.
    n_cpu_workers : int
        Workers that prepare.
    device_indices : iterable of int, optional
        Device index of each GPU worker.
    platform : str, optional
        OpenMM platform of the GPU workers (e.g. ``"CUDA"``; ``"Reference"`` or ``"CPU"``
        stand in for a device in tests).
    prep_threads : int
        Preparation tasks a CPU worker runs at once.
    md_threads : int
        ``OPENMM_CPU_THREADS`` of every worker (the CPU platform's threads).
    cpu_md : bool
        Let CPU workers simulate too (a machine without GPUs).
    **kwargs
        Passed to ``SpecCluster`` (e.g. ``asynchronous``).

    Returns
    -------
    distributed.SpecCluster
    """
    from distributed import Nanny, Scheduler, SpecCluster

    if n_gpu_workers < 0 or n_cpu_workers < 0 or n_gpu_workers + n_cpu_workers == 0:
        raise ValueError("need at least one worker (n_gpu_workers, n_cpu_workers >= 0)")
    indices = list(range(n_gpu_workers)) if device_indices is None else list(device_indices)
    if len(indices) != n_gpu_workers:
        raise ValueError(f"{n_gpu_workers} GPU workers but device_indices {indices}")
    base_env = {"OPENMM_CPU_THREADS": str(int(md_threads))}
    workers: dict[str, dict] = {}
    for i, index in enumerate(indices):
        env = {**base_env, "SIMDATA_DEVICE_INDEX": str(int(index))}
        if platform:
            env["SIMDATA_PLATFORM"] = platform
        workers[f"gpu-{i}"] = {
            "cls": Nanny,
            "options": {
                "nthreads": 1,
                "resources": {MD_RESOURCE: 1, GPU_RESOURCE: 1},
                "env": env,
                "name": f"gpu-{i}",
            },
        }
    for i in range(n_cpu_workers):
        res = {PREP_RESOURCE: prep_threads, **({MD_RESOURCE: 1} if cpu_md else {})}
        workers[f"cpu-{i}"] = {
            "cls": Nanny,
            "options": {
                "nthreads": prep_threads + (1 if cpu_md else 0),
                "resources": res,
                "env": dict(base_env),
                "name": f"cpu-{i}",
            },
        }
    scheduler = {"cls": Scheduler, "options": {"dashboard_address": None}}
    return SpecCluster(workers=workers, scheduler=scheduler, **kwargs)


def make_cluster(
    kind: str = "slurm",
    *,
    gpus_per_job: int = 1,
    prep_threads: int = 4,
    memory: str = "16GB",
    walltime: str = "04:00:00",
    queue: str | None = None,
    account: str | None = None,
    python: str | None = None,
    job_script_prologue: Iterable[str] = (),
    **kwargs: Any,
):
    """A dask-jobqueue cluster whose batch jobs each own ``gpus_per_job`` GPUs.

    Every job runs one Dask worker per GPU (``processes = gpus_per_job``), each declaring
    ``MD=1,PREP=<prep_threads>,GPU=1`` with ``1 + prep_threads`` threads: it simulates on
    its GPU and prepares the next polymers on the node's spare cores. With
    ``gpus_per_job=0`` the job is one CPU worker (``MD=1,PREP=<prep_threads>``) that
    simulates on the CPU platform with ``OPENMM_CPU_THREADS`` threads. Nothing is
    submitted until the cluster is scaled (``cluster.scale(jobs=n)`` or ``adapt``).

    Parameters
    ----------
    kind : {"slurm", "pbs"}
        Batch system.
    gpus_per_job : int
        GPUs requested per job (SLURM ``--gres=gpu:N``, PBS ``ngpus=N``).
    prep_threads : int
        Preparation slots per worker.
    memory : str
        Memory per job.
    walltime : str
        Wall-time limit of a job (give jobs an MD time limit below it:
        ``RunOptions(max_md_s=...)``).
    queue, account : str, optional
        Partition/queue and account.
    python : str, optional
        Python on the compute nodes.
    job_script_prologue : iterable of str
        Extra shell lines before the worker starts (``module load cuda``, ``source venv``).
    **kwargs
        Passed to ``SLURMCluster`` / ``PBSCluster``.

    Returns
    -------
    dask_jobqueue.SLURMCluster or dask_jobqueue.PBSCluster
    """
    try:
        from dask_jobqueue import PBSCluster, SLURMCluster
    except ImportError as exc:  # pragma: no cover - optional dependency
        raise ImportError("make_cluster needs dask-jobqueue: pip install affinetl[dist]") from exc

    if kind not in ("slurm", "pbs"):
        raise ValueError(f"kind must be 'slurm' or 'pbs', got {kind!r}")
    if gpus_per_job < 0 or prep_threads < 0:
        raise ValueError("gpus_per_job and prep_threads must be >= 0")
    processes = max(1, gpus_per_job)
    threads = 1 + prep_threads
    cores = processes * threads
    # comma-separated: the job script does not quote the argument
    res = f"{MD_RESOURCE}=1,{PREP_RESOURCE}={prep_threads}"
    if gpus_per_job:
        res += f",{GPU_RESOURCE}=1"
    prologue = [f"export OPENMM_CPU_THREADS={threads if not gpus_per_job else 1}"]
    if gpus_per_job > 1:  # several workers in one job: each takes the GPU of its rank
        prologue.append(f"export SIMDATA_GPUS_PER_JOB={gpus_per_job}")
    prologue += list(job_script_prologue)
    common = {
        "cores": cores,
        "processes": processes,
        "memory": memory,
        "walltime": walltime,
        "queue": queue,
        "account": account,
        "python": python,
        "worker_extra_args": ["--resources", res],
        "job_script_prologue": prologue,
        "scheduler_options": {"dashboard_address": None},
    }
    if kind == "slurm":
        directives = [f"--gres=gpu:{gpus_per_job}"] if gpus_per_job else []
        directives += list(kwargs.pop("job_extra_directives", []))
        return SLURMCluster(**common, job_extra_directives=directives, **kwargs)
    select = f"select=1:ncpus={cores}:mem={memory}"
    if gpus_per_job:
        select += f":ngpus={gpus_per_job}"
    return PBSCluster(**common, resource_spec=kwargs.pop("resource_spec", select), **kwargs)
