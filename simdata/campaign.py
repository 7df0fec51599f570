"""A campaign over one results folder: which jobs to run, leases, and clean-up of done jobs.

Several drivers (processes, hosts) may run on one results folder. Each job they run is
leased first: ``<out>/leases/<job_id>.lease`` is written to a private file and hard-linked into
place (atomic and exclusive, also on NFS), holding the owner's host, pid and a random token. The owner refreshes the
file's modification time every ``lease_ttl / 4`` seconds (a heartbeat thread); a lease is
stale when its owner's process is gone (same host) or its heartbeat is older than
``lease_ttl``. A stale lease is reclaimed under a folder lock, so two drivers never run the
same job, and a job whose driver was killed is taken over by the next one.

The plan of a driver comes from the store's status index (:meth:`ResultStore.status`), not
from a replay of every row: finished jobs are skipped, failed ones too unless
``retry_failed``; jobs cut short by their time limit (``incomplete``) resume. After a job is
recorded, its work folder is pruned (``keep``) and optionally archived first.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import secrets
import shutil
import socket
import tarfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .errors import UsageError
from .store import ResultStore

__all__ = [
    "DUPLICATES",
    "KEEP",
    "Campaign",
    "Lease",
    "check_polymer_table",
    "drive",
    "failure_row",
]

logger = logging.getLogger(__name__)

#: Pruning policies of a finished job's folder ``<out>/jobs/<job_id>``.
KEEP = ("all", "final", "none")
LEASES = "leases"
ARCHIVE = "archive"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lease:
    """An exclusive claim on one job id in a results folder.

    Parameters
    ----------
    folder : Path
        The leases folder (``<out>/leases``).
    job_id : str
        The job.
    ttl : float
        Seconds without a heartbeat after which another driver may take the job over.
    """

    def __init__(self, folder: Path, job_id: str, ttl: float) -> None:
        self.path = Path(folder) / f"{job_id}.lease"
        self.job_id = job_id
        self.ttl = float(ttl)
        self.token = secrets.token_hex(8)
        self.held = False

    def _info(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "token": self.token,
            "acquired": time.time(),
            "ttl": self.ttl,
        }

    def acquire(self) -> bool:
        """Take the lease if nobody holds it (or its holder is gone); True on success."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._create():
            return True
        with open(self.path.parent / ".reclaim.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                info = self._read()
                if info is not None and not self._stale(info):
                    return False
                if info is not None or self.path.exists():
                    logger.warning(
                        "job %s: reclaiming the stale lease of %s (pid %s)",
                        self.job_id,
                        (info or {}).get("host", "?"),
                        (info or {}).get("pid", "?"),
                    )
                    try:
                        self.path.unlink()
                    except FileNotFoundError:
                        pass
                return self._create()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _create(self) -> bool:
        # the lease is written whole to a private file, then linked into place: the link
        # fails if the lease exists (atomic, also on NFS), and a reader never sees it empty
        tmp = self.path.with_name(f".{self.path.name}.{self.token}")
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(self._info()))
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, self.path)
        except FileExistsError:
            return False
        finally:
            tmp.unlink()
        self.held = True
        return True

    def _read(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_text()
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        try:
            info = json.loads(text)
        except json.JSONDecodeError:
            info = {}  # a holder killed between create and write: stale by its age
        info["mtime"] = mtime
        return info

    def _stale(self, info: dict[str, Any]) -> bool:
        if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
            if not _alive(info["pid"]):
                return True
        return time.time() - info["mtime"] > float(info.get("ttl", self.ttl))

    def heartbeat(self) -> bool:
        """Refresh the lease; False when it was lost (taken over as stale)."""
        if not self.held:
            return False
        info = self._read()
        if info is None or info.get("token") != self.token:
            self.held = False
            logger.warning("job %s: lease lost (taken over after a missed heartbeat)", self.job_id)
            return False
        os.utime(self.path)
        return True

    def release(self) -> None:
        """Give the lease up (only if still ours)."""
        if not self.held:
            return
        info = self._read()
        if info is not None and info.get("token") == self.token:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
        self.held = False


class Campaign:
    """What one driver does on a results folder: plan, lease, record, prune.

    Parameters
    ----------
    out : str or Path
        Results folder.
    retry_failed : bool, default=False
        Run again jobs whose last row is ``failed``. Without it a failed job stays failed
        (its row holds the stage and the reason) and is skipped.
    keep : {"all", "final", "none"}, default="all"
        What stays of a finished job's folder ``jobs/<job_id>``: everything; the stage
        summaries (``*.json``), the packed system (``pack/system.prmtop``,
        ``pack/pack.json``) and the last MD state; or nothing.
    archive : bool, default=False
        Before pruning, pack the whole job folder into ``archive/<job_id>.tar.gz``.
    lease_ttl : float, default=600
        Seconds without a heartbeat after which another driver may take a job over.

    Examples
    --------
    >>> import tempfile
    >>> camp = Campaign(tempfile.mkdtemp())
    >>> camp.claim("j1"), Campaign(camp.out).claim("j1")
    (True, False)
    >>> camp.record({"job_id": "j1", "status": "done"})
    >>> camp.store.finished_ids()
    {'j1'}
    >>> camp.close()
    """

    def __init__(
        self,
        out: str | Path,
        *,
        retry_failed: bool = False,
        keep: str = "all",
        archive: bool = False,
        lease_ttl: float = 600.0,
    ) -> None:
        if keep not in KEEP:
            raise UsageError(f"keep must be one of {KEEP}, got {keep!r}")
        if not lease_ttl > 0:
            raise UsageError(f"lease_ttl must be > 0 seconds, got {lease_ttl}")
        self.out = Path(out).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.store = ResultStore(self.out)
        self.retry_failed = bool(retry_failed)
        self.keep = keep
        self.archive = bool(archive)
        self.lease_ttl = float(lease_ttl)
        self._leases: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ planning
    def plan(self, jobs: Iterable[Any]) -> tuple[list[Any], dict[str, int]]:
        """Jobs to run, one per job id, and counts of those left out.

        Returns
        -------
        todo : list
            Jobs not finished (and not failed, unless ``retry_failed``), first of each id.
        skipped : dict
            ``{"done": n, "failed": n, "duplicate": n}``.
        """
        status = self.store.status()
        todo, seen = [], set()
        skipped = {"done": 0, "failed": 0, "duplicate": 0}
        for job in jobs:
            jid = job.job_id
            if jid in seen:
                skipped["duplicate"] += 1
                continue
            seen.add(jid)
            state = status.get(jid)
            if state == "done":
                skipped["done"] += 1
            elif state == "failed" and not self.retry_failed:
                skipped["failed"] += 1
            else:
                todo.append(job)
        return todo, skipped

    # ------------------------------------------------------------------ leases
    def claim(self, job: Any) -> bool:
        """Lease a job (a :class:`~simdata.job.Job` or a job id) for this driver.

        False when another live driver holds it, or when it finished (or failed, without
        ``retry_failed``) since the plan was made.
        """
        jid = job if isinstance(job, str) else job.job_id
        lease = Lease(self.out / LEASES, jid, self.lease_ttl)
        if not lease.acquire():
            return False
        # the plan may be old: another driver may have finished the job meanwhile
        state = self.store.status().get(jid)
        if state == "done" or (state == "failed" and not self.retry_failed):
            lease.release()
            return False
        with self._lock:
            self._leases[jid] = lease
        self._start_heartbeat()
        return True

    def release(self, job_id: str) -> None:
        """Give up the lease of a job (it stays to run)."""
        with self._lock:
            lease = self._leases.pop(job_id, None)
        if lease is not None:
            lease.release()

    def _start_heartbeat(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="simdata-leases", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_ttl / 4):
            with self._lock:
                leases = list(self._leases.values())
            for lease in leases:
                try:
                    lease.heartbeat()
                except OSError as exc:  # a shared file system hiccup: try again next beat
                    logger.warning("lease heartbeat of %s failed: %s", lease.job_id, exc)

    # ------------------------------------------------------------------ results
    def record(self, row: dict[str, Any]) -> None:
        """Store a job's row, prune its folder when it is done, then release its lease."""
        self.store.append(row)
        jid = row["job_id"]
        if row.get("status") == "done":
            try:
                self.prune(jid)
            except OSError as exc:  # never lose the row over a clean-up
                logger.warning("job %s: pruning its folder failed: %s", jid, exc)
        self.release(jid)

    def prune(self, job_id: str) -> None:
        """Archive (``archive=True``) and prune (``keep``) a finished job's folder."""
        work = self.out / "jobs" / job_id
        if not work.is_dir():
            return
        if self.archive:
            target = self.out / ARCHIVE / f"{job_id}.tar.gz"
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
            with tarfile.open(tmp, "w:gz") as tar:
                tar.add(work, arcname=job_id)
            os.replace(tmp, target)
        if self.keep == "all":
            return
        if self.keep == "none":
            shutil.rmtree(work)
            return
        states = sorted(
            (p for p in (work / "md").glob("*.xml") if p.is_file()),
            key=lambda p: p.stat().st_mtime,
        )
        keep = {work / "pack" / "system.prmtop", work / "pack" / "pack.json"}
        keep |= set(states[-1:])
        for path in sorted(work.rglob("*"), reverse=True):
            if path.is_dir():
                try:
                    path.rmdir()  # only empty ones
                except OSError as exc:
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise
            elif path not in keep and path.suffix != ".json":
                path.unlink()

    def close(self) -> None:
        """Stop the heartbeat and release every lease still held."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            leases, self._leases = list(self._leases.values()), {}
        for lease in leases:
            lease.release()

    def __enter__(self) -> Campaign:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def drive(
    jobs: Iterable[Any],
    campaign: Campaign,
    job_fn: Callable[[Any], dict[str, Any]],
    *,
    wait: bool = True,
    poll_s: float = 1.0,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    on_error: Callable[[Any, BaseException], dict[str, Any]] | None = None,
) -> int:
    """Run a campaign's jobs in this process, one at a time, each under its lease.

    Parameters
    ----------
    jobs : iterable
        Jobs (with a ``job_id``).
    campaign : Campaign
        Plan, leases and store.
    job_fn : callable
        ``job_fn(job) -> row``.
    wait : bool, default=True
        After the first pass, wait for jobs leased by other drivers: take them over if
        their driver dies, and return when every planned job has a row.
    poll_s : float
        Seconds between checks while waiting.
    on_row : callable, optional
        Called with each row after it is stored.
    on_error : callable, optional
        ``on_error(job, exc) -> row`` for an exception of ``job_fn`` (default: re-raise).

    Returns
    -------
    int
        Number of jobs this driver ran.
    """
    planned = campaign.store.state()
    todo, skipped = campaign.plan(jobs)
    logger.info(
        "%d jobs to run; %d done, %d failed (use retry_failed), %d duplicate ids",
        len(todo),
        skipped["done"],
        skipped["failed"],
        skipped["duplicate"],
    )
    ran = 0
    pending = list(todo)
    while pending:
        left = []
        for job in pending:
            if not campaign.claim(job):
                left.append(job)
                continue
            try:
                row = job_fn(job)
            except Exception as exc:
                if on_error is None:
                    campaign.release(job.job_id)
                    raise
                row = on_error(job, exc)
            campaign.record(row)
            ran += 1
            if on_row is not None:
                on_row(row)
        if not wait:
            break
        # a job leased elsewhere is pending until its driver stores a row for it
        state = campaign.store.state()
        pending = [j for j in left if state.get(j.job_id) == planned.get(j.job_id)]
        if pending:
            time.sleep(poll_s)
    return ran


def failure_row(job: Any, exc: BaseException) -> dict[str, Any]:
    """Row of a job whose function raised an unexpected exception (its last line)."""
    import traceback

    last = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]
    return {
        "job_id": job.job_id,
        "name": getattr(job, "name", ""),
        "smiles": getattr(job, "smiles", ""),
        "status": "failed",
        "failed_stage": "",
        "reason": last[:500],
    }


#: Policies for two rows of a polymer table that are one polymer.
DUPLICATES = ("error", "first")


def check_polymer_table(table, *, duplicates: str = "error"):
    """Check a polymer table before any job is made: names, SMILES, duplicates.

    Parameters
    ----------
    table : pandas.DataFrame
        With ``smiles`` and ``name`` columns (:func:`simdata.cluster.read_table`).
    duplicates : {"error", "first"}, default="error"
        Two rows with the same SMILES, or two spellings of one polymer
        (:func:`affinetl.polymer.polymer_key` with stereochemistry: cyclic shifts,
        multiples), are an error naming both rows; ``"first"`` keeps the first row of each
        polymer and logs the others. Two rows with one name are always an error (the name
        identifies a row in the results).

    Returns
    -------
    pandas.DataFrame
        The table (without the dropped duplicates).

    Raises
    ------
    UsageError
        Empty table, missing SMILES or names, a repeated name, or (``"error"``) one polymer
        in two rows. Invalid repeat units are not rejected here: they become ``failed``
        rows naming the problem.
    """
    from .build import canonical_smiles
    from .errors import PolymerSpecError

    if duplicates not in DUPLICATES:
        raise UsageError(f"duplicates must be one of {DUPLICATES}, got {duplicates!r}")
    if len(table) == 0:
        raise UsageError("the polymer table has no rows")
    missing = table.index[table["smiles"].isna() | (table["smiles"].astype(str).str.strip() == "")]
    if len(missing):
        raise UsageError(
            f"{len(missing)} row(s) have no SMILES (rows {[int(i) + 1 for i in missing[:5]]})"
        )
    names = table["name"].astype(str)
    dup = names[names.duplicated(keep=False)]
    if len(dup):
        first = dup.iloc[0]
        rows = [int(i) + 1 for i in dup.index[dup == first]]
        raise UsageError(
            f"the name {first!r} is used by rows {rows} ({len(dup)} rows share a name); "
            "names identify polymers in the results and must be unique"
        )
    seen: dict[str, tuple[int, str, str]] = {}
    drop = []
    for pos, (idx, smiles, name) in enumerate(zip(table.index, table["smiles"], names)):
        try:
            key = canonical_smiles(str(smiles), name)
        except PolymerSpecError:
            continue  # reported as a failed row
        if key in seen:
            row0, name0, smiles0 = seen[key]
            how = "the same SMILES" if smiles0 == str(smiles) else "the same polymer"
            message = (
                f"rows {row0} ({name0!r}, {smiles0!r}) and {pos + 1} ({name!r}, {smiles!r}) "
                f"are {how} ({key})"
            )
            if duplicates == "error":
                raise UsageError(message + "; remove one, or pass duplicates='first'")
            logger.warning("%s: keeping the first", message)
            drop.append(idx)
            continue
        seen[key] = (pos + 1, name, str(smiles))
    return table.drop(index=drop) if drop else table
