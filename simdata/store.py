"""The result store: JSON-lines shards, one per writer, read as one table and compacted.

Layout of a results folder::

    results.parquet          compacted table (``results.base.jsonl`` without pyarrow)
    results.index.json       job id -> last status of the compacted table
    results/<writer>.jsonl   one append-only shard per writer (host, pid, token)
    results.jsonl            the journal of simdata <= 0.1, read as one more shard

Every write appends whole lines to the writer's own shard under an exclusive ``flock`` and
``fsync``s them, so writers never interleave, and each row carries a unique ``row_id`` and a
``recorded_ns`` time stamp. Reading merges the compacted table and every shard, drops
duplicate ``row_id`` (a compaction interrupted after it wrote the table), and orders rows by
time. A polymer's state is its last row: rows are never rewritten, so failures and retries
stay on record.

A writer killed mid-write leaves a torn last line in its shard. Readers ignore it; before
anything is appended to a shard, and when the store is compacted or repaired, the torn tail
is cut off under the shard's lock, kept in ``<shard>.torn-<time>`` and logged. A corrupt line
in the middle of a shard (not a crash: an edit) raises :class:`~simdata.errors.StoreError`
naming the file and line.

:meth:`ResultStore.compact` folds the shards into the table atomically (temporary file and
``os.replace``); shards are sealed (renamed under their lock) before they are read, so a
writer racing the compaction reopens a fresh shard and loses nothing.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import StoreError

__all__ = ["JOURNAL", "ResultStore", "atomic_write", "load_results"]

logger = logging.getLogger(__name__)

#: File name of the single journal of earlier versions (still read, and written to when a
#: store is opened on a ``.jsonl`` file).
JOURNAL = "results.jsonl"
SHARDS = "results"
TABLE = "results.parquet"
TABLE_JSONL = "results.base.jsonl"
INDEX = "results.index.json"
_SEALED = ".sealed"


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write a file through a temporary file in the same folder and ``os.replace``.

    A reader sees the old content or the new one, never a part; the data is ``fsync``'d
    before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _writer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        return _clean(value.item())
    return value


def _repair_locked(fh, path: Path) -> int:
    """Cut a torn last line off an open, locked shard; return the bytes cut (0 if none)."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    if size == 0:
        return 0
    fh.seek(max(0, size - 1))
    if fh.read(1) == b"\n":
        return 0
    # find the last newline: everything after it is an unfinished write
    step, pos, keep = 65536, size, 0
    while pos > 0:
        start = max(0, pos - step)
        fh.seek(start)
        chunk = fh.read(pos - start)
        idx = chunk.rfind(b"\n")
        if idx >= 0:
            keep = start + idx + 1
            break
        pos = start
    fh.seek(keep)
    torn = fh.read()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    copy = path.with_name(f"{path.name}.torn-{stamp}-{secrets.token_hex(2)}")
    atomic_write(copy, torn)
    fh.truncate(keep)
    fh.flush()
    os.fsync(fh.fileno())
    logger.warning(
        "%s: cut a torn last line of %d bytes (an interrupted write); kept in %s",
        path,
        len(torn),
        copy.name,
    )
    return len(torn)


def _parse_lines(text: str, path: Path) -> list[dict[str, Any]]:
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if i == len(lines) - 1:  # torn last line: the write never finished
                break
            raise StoreError(
                f"{path}: corrupt row on line {i + 1} (not a torn last line: the file was "
                "edited or damaged; fix or remove that line)"
            ) from exc
    return out


class ResultStore:
    """Sharded store of job rows in a results folder.

    Parameters
    ----------
    path : str or Path
        Results folder (created on first write), or a ``.jsonl`` file: then that one file is
        the only shard (the layout of earlier versions; no compaction).

    Examples
    --------
    >>> import tempfile
    >>> store = ResultStore(tempfile.mkdtemp())
    >>> store.append({"job_id": "a", "status": "done", "density": 0.9})
    >>> store.finished_ids()
    {'a'}
    >>> store.compact()["rows"]
    1
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        self.single = path.suffix == ".jsonl"
        self.root = path.parent if self.single else path
        self.path = path if self.single else path / JOURNAL
        self._writer = _writer_name()
        self._pid = os.getpid()
        self._ino: int | None = None
        self._end = 0
        self._state: dict[str, tuple[str, int]] = {}
        self._offsets: dict[Path, tuple[int, int]] = {}
        self._index_key: tuple | None = None

    # ------------------------------------------------------------------ writing
    @property
    def shard(self) -> Path:
        """The shard this process appends to."""
        if self.single:
            return self.path
        if self._pid != os.getpid():  # forked: a new writer
            self._writer, self._ino, self._end = _writer_name(), None, 0
            self._pid = os.getpid()
        return self.root / SHARDS / f"{self._writer}.jsonl"

    def append(self, row: dict[str, Any]) -> None:
        """Append one row (needs ``job_id`` and ``status``) durably."""
        self.extend([row])

    def extend(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append several rows in one locked, fsync'd write to this writer's shard."""
        lines = []
        for row in rows:
            if "job_id" not in row or "status" not in row:
                raise ValueError("a result row needs 'job_id' and 'status'")
            row = {k: _clean(v) for k, v in row.items()}
            now = time.time_ns()
            row.setdefault("recorded_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            row.setdefault("recorded_ns", now)
            row.setdefault("row_id", secrets.token_hex(8))
            lines.append(json.dumps(row, sort_keys=True, allow_nan=False) + "\n")
        if not lines:
            return
        data = "".join(lines).encode("utf-8")
        while True:
            shard = self.shard
            shard.parent.mkdir(parents=True, exist_ok=True)
            with open(shard, "ab+") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    # a compaction may have sealed (renamed) the shard, before the open or
                    # while we waited for the lock: then the file is not the one we wrote
                    st = os.fstat(fh.fileno())
                    try:
                        same = st.st_ino == os.stat(shard).st_ino
                    except FileNotFoundError:
                        same = False
                    if self._end and (st.st_ino != self._ino or st.st_size < self._end):
                        same = False
                    if not same:
                        # sealed by a compaction: never reuse a sealed shard's name (a
                        # reader's offset into it would be wrong); drop the empty file
                        if not self.single and os.fstat(fh.fileno()).st_size == 0:
                            try:
                                shard.unlink()
                            except FileNotFoundError:
                                pass
                        self._writer, self._ino, self._end = _writer_name(), None, 0
                        continue
                    _repair_locked(fh, shard)
                    fh.seek(0, os.SEEK_END)
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                    if not self.single:
                        self._ino, self._end = st.st_ino, fh.tell()
                    return
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ reading
    def shards(self) -> list[Path]:
        """Every shard file (sealed ones of an interrupted compaction included)."""
        if self.single:
            return [self.path] if self.path.exists() else []
        legacy = [self.path, self.path.with_name(self.path.name + _SEALED)]
        out = [p for p in legacy if p.exists()]
        folder = self.root / SHARDS
        if folder.is_dir():
            out += sorted(
                p
                for p in folder.iterdir()
                if p.name.endswith(".jsonl") or p.name.endswith(".jsonl" + _SEALED)
            )
        return out

    def _table_rows(self) -> list[dict[str, Any]]:
        if self.single:
            return []
        parquet, jsonl = self.root / TABLE, self.root / TABLE_JSONL
        if parquet.exists():
            import pandas as pd

            df = pd.read_parquet(parquet)
            rows = json.loads(df.to_json(orient="records"))
            return [{k: v for k, v in r.items() if v is not None} for r in rows]
        if jsonl.exists():
            return _parse_lines(jsonl.read_text(encoding="utf-8"), jsonl)
        return []

    def _shard_rows(self) -> list[dict[str, Any]]:
        return [r for s in self.shards() for r in _parse_lines(_read(s), s)]

    def rows(self) -> list[dict[str, Any]]:
        """Every row (compacted table and shards), oldest first."""
        # shards before the table: a compaction in between has put their rows in the table
        shard_rows = self._shard_rows()
        return _merge(shard_rows, self._table_rows())

    def latest(self) -> dict[str, dict[str, Any]]:
        """Replay: the last row of each job id."""
        state: dict[str, dict[str, Any]] = {}
        for row in self.rows():
            state[row["job_id"]] = row
        return state

    def state(self) -> dict[str, tuple[str, int]]:
        """Job id -> (status, ``recorded_ns``) of its last row.

        Incremental: the compacted table enters through its index (``results.index.json``),
        and each shard is read from where the previous call stopped, so a driver can ask
        before every job without replaying 10^5 rows.
        """
        # shards before the index: a compaction in between has put their rows in the index
        updates: list[dict[str, Any]] = []
        for shard in self.shards():
            updates += self._new_rows(shard)
        if not self.single:
            index_path = self.root / INDEX
            try:
                st = index_path.stat()
                key: tuple | None = (st.st_ino, st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                key = None
            if key is not None and key != self._index_key:
                index = json.loads(index_path.read_text(encoding="utf-8"))
                for jid, (status, ns) in index["status"].items():
                    self._merge_state(jid, status, int(ns))
                self._index_key = key
            elif key is None and self._index_key is None and self._table_key() is not None:
                # a table without index (written by hand): read it once
                for row in self._table_rows():
                    updates.insert(0, row)
                self._index_key = ("table", self._table_key())
        for row in updates:
            self._merge_state(row["job_id"], row.get("status", ""), row.get("recorded_ns"))
        return dict(self._state)

    def _merge_state(self, jid: str, status: str, ns: int | None) -> None:
        ns = int(ns or 0)
        old = self._state.get(jid)
        if old is None or ns >= old[1]:
            self._state[jid] = (status, ns)

    def _table_key(self) -> tuple | None:
        for name in (TABLE, TABLE_JSONL):
            path = self.root / name
            if path.exists():
                st = path.stat()
                return (name, st.st_ino, st.st_mtime_ns)
        return None

    def _new_rows(self, shard: Path) -> list[dict[str, Any]]:
        """Complete rows appended to a shard since the last call."""
        try:
            fh = open(shard, "rb")
        except FileNotFoundError:
            return []
        with fh:
            ino = os.fstat(fh.fileno()).st_ino
            old_ino, offset = self._offsets.get(shard, (ino, 0))
            if old_ino != ino:
                offset = 0
            fh.seek(offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a torn last line is read once it is complete
        self._offsets[shard] = (ino, offset + end)
        if not end:
            return []
        return _parse_lines(data[:end].decode("utf-8") + "\n", shard)

    def status(self) -> dict[str, str]:
        """Job id -> status of its last row (from :meth:`state`)."""
        return {k: v[0] for k, v in self.state().items()}

    def finished_ids(self) -> set[str]:
        """Job ids whose last row has ``status == "done"``."""
        return {k for k, s in self.status().items() if s == "done"}

    def failed_ids(self) -> set[str]:
        """Job ids whose last row is not ``done`` (failed, incomplete)."""
        return {k for k, s in self.status().items() if s != "done"}

    # ------------------------------------------------------------------ maintenance
    def repair(self) -> list[Path]:
        """Cut torn last lines off every shard whose writer is not mid-write.

        Returns the shards that were repaired (each keeps a ``.torn-<time>`` copy of what
        was cut).
        """
        fixed = []
        for shard in self.shards():
            with open(shard, "rb+") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    if _repair_locked(fh, shard):
                        fixed.append(shard)
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        return fixed

    def compact(self, fmt: str = "auto") -> dict[str, Any]:
        """Fold every shard into the one compacted table, atomically.

        Parameters
        ----------
        fmt : {"auto", "parquet", "jsonl"}
            Table format: Parquet when pyarrow is installed (``"auto"``), else JSON lines.

        Returns
        -------
        dict
            ``rows`` (in the table), ``shards`` (folded in), ``path`` (the table).
        """
        if self.single:
            raise StoreError(f"{self.path}: a single-file journal cannot be compacted")
        if fmt == "auto":
            try:
                import pyarrow  # noqa: F401

                fmt = "parquet"
            except ImportError:
                fmt = "jsonl"
        if fmt not in ("parquet", "jsonl"):
            raise ValueError(f"fmt must be 'auto', 'parquet' or 'jsonl', got {fmt!r}")
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".compact.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                # sealed shards are renamed under their lock: rows written from now on go
                # to fresh shards, which this compaction leaves alone
                sealed = self._seal()
                rows = _merge(
                    [r for s in sealed for r in _parse_lines(_read(s), s)], self._table_rows()
                )
                path = self._write_table(rows, fmt)
                for s in sealed:
                    s.unlink()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        logger.info("compacted %d shard(s) into %s (%d rows)", len(sealed), path, len(rows))
        return {"rows": len(rows), "shards": len(sealed), "path": str(path)}

    def _seal(self) -> list[Path]:
        """Rename every shard to ``*.sealed`` under its lock (writers then open new ones)."""
        sealed = []
        for shard in self.shards():
            if shard.name.endswith(_SEALED):
                sealed.append(shard)
                continue
            with open(shard, "rb+") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    _repair_locked(fh, shard)
                    target = shard.with_name(shard.name + _SEALED)
                    os.replace(shard, target)
                    sealed.append(target)
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        return sealed

    def _write_table(self, rows: list[dict[str, Any]], fmt: str) -> Path:
        parquet, jsonl = self.root / TABLE, self.root / TABLE_JSONL
        if fmt == "parquet":
            import pandas as pd

            tmp = parquet.with_name(f".{parquet.name}.tmp-{os.getpid()}")
            try:
                pd.DataFrame(rows).to_parquet(tmp, index=False)
            except (ValueError, TypeError, ImportError) as exc:  # pyarrow: mixed column types
                logger.warning("cannot write Parquet (%s); the table is JSON lines", exc)
                if tmp.exists():
                    tmp.unlink()
                fmt = "jsonl"
        if fmt == "parquet":
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, parquet)
            path, other = parquet, jsonl
        else:
            text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
            atomic_write(jsonl, text)
            path, other = jsonl, parquet
        state: dict[str, tuple[str, int]] = {}
        for r in rows:
            state[r["job_id"]] = (r.get("status", ""), int(r.get("recorded_ns") or 0))
        atomic_write(self.root / INDEX, json.dumps({"table": path.name, "status": state}))
        if other.exists():  # the table changed format: the old one is folded in
            other.unlink()
        return path


def _merge(*parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of several sources without duplicate ``row_id``, oldest first."""
    seen: set[str] = set()
    out = []
    for part in parts:
        for row in part:
            rid = row.get("row_id")
            if rid is not None:
                if rid in seen:
                    continue
                seen.add(rid)
            out.append(row)
    # rows of the single journal of earlier versions have no time stamp: they are older
    out.sort(key=lambda r: r.get("recorded_ns") or 0)
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:  # sealed by a compaction between listing and reading
        sealed = path.with_name(path.name + _SEALED)
        return sealed.read_text(encoding="utf-8") if sealed.exists() else ""


def load_results(path: str | Path, *, all_rows: bool = False):
    """Results as a DataFrame, one row per polymer (its latest row).

    Parameters
    ----------
    path : str or Path
        Results folder or journal file.
    all_rows : bool
        Return every row (history, retries, failures) instead.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    store = ResultStore(path)
    rows = store.rows() if all_rows else list(store.latest().values())
    return pd.DataFrame(rows)
