"""Optuna journal files: check every record, repair a torn last one before a study resumes.

An Optuna journal (:class:`optuna.storages.journal.JournalFileBackend`) is a file of JSON lines,
one operation per line, appended under a lock and ``fsync``-ed. A writer killed in the middle of
an append (or a power cut) can leave a *torn* last record: bytes without their closing newline.
Optuna's reader skips such a tail, but the next append is glued onto it, which turns the tail
into a corrupt record in the middle of the file, and from then on every read of the study fails.
:func:`repair_journal` cuts the torn tail off (under the journal's lock, so a live writer is never
cut), keeps a copy of the cut bytes beside the journal and logs it. A record that is corrupt
anywhere else is not something a crash produces: it is reported, and nothing is changed.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

__all__ = ["JournalDamagedError", "repair_journal"]

logger = logging.getLogger(__name__)

#: How every record of an Optuna journal starts (``json.dumps`` of a dict whose first key is the
#: operation code, written with compact separators).
_RECORD_START = b'{"op_code":'


class JournalDamagedError(ValueError):
    """A journal file with a corrupt record before its end, or a file that is not a journal."""


def _torn_tail(path: Path) -> tuple[int, bytes]:
    """Offset just after the last complete record, and the bytes after it.

    Raises
    ------
    JournalDamagedError
        If a complete line is not an Optuna journal record.
    """
    end = 0
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.endswith(b"\n"):
                break
            try:
                record = json.loads(line)
            except ValueError as err:
                what = "first line" if number == 1 else f"line {number}"
                raise JournalDamagedError(
                    f"it is not an Optuna journal ({what} is not JSON: {err}); "
                    + (
                        "it was not written by Optuna"
                        if number == 1
                        else "the file was damaged by something other than an interrupted "
                        "write, so nothing was repaired; restore it from a copy or start a new "
                        "study"
                    )
                ) from err
            if not isinstance(record, dict) or "op_code" not in record:
                raise JournalDamagedError(
                    f"it is not an Optuna journal (line {number} is not an operation record)"
                )
            end += len(line)
        fh.seek(end)
        return end, fh.read()


def _looks_torn(tail: bytes) -> bool:
    """Whether ``tail`` (no newline) is the beginning of a journal record."""
    return tail.startswith(_RECORD_START) or _RECORD_START.startswith(tail)


def repair_journal(path: str | os.PathLike[str]) -> Path | None:
    """Cut a torn last record off an Optuna journal file, keeping a copy of what was cut.

    Every complete line must be an Optuna operation record. Bytes after the last newline that
    begin like a record are the remains of an interrupted append: under the journal's lock (the
    one :class:`~optuna.storages.journal.JournalFileBackend` takes, so a writer that is still
    appending is waited for, not cut), they are copied to ``<path>.torn-<UTC time>``, the file is
    truncated to its last complete record and ``fsync``-ed, and a warning is logged.

    Parameters
    ----------
    path : path-like
        Journal file; a missing or empty file is left alone.

    Returns
    -------
    Path or None
        The copy of the cut bytes, or ``None`` when nothing was cut.

    Raises
    ------
    JournalDamagedError
        If a complete line is not a journal record (the file is not a journal, or it is damaged
        in a way a crash does not explain); the file is left unchanged.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "study.log"
    >>> _ = path.write_bytes(b'{"op_code":0,"worker_id":"w"}\\n{"op_code":4,"wor')
    >>> repair_journal(path).read_bytes()
    b'{"op_code":4,"wor'
    >>> path.read_bytes()
    b'{"op_code":0,"worker_id":"w"}\\n'
    """
    from optuna.storages.journal import JournalFileSymlinkLock  # noqa: PLC0415

    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    end, tail = _torn_tail(path)
    if not tail:
        return None
    if not _looks_torn(tail):
        raise JournalDamagedError(
            f"it is not an Optuna journal (the text after byte {end} is no journal record)"
        )
    lock = JournalFileSymlinkLock(str(path))  # JournalFileBackend's default lock
    if os.path.lexists(str(path) + ".lock"):
        logger.warning(
            "%s: waiting for the journal's lock; a writer that was killed leaves it behind and "
            "Optuna breaks it after %s s",
            path,
            lock.grace_period,
        )
    lock.acquire()
    try:
        end, tail = _torn_tail(path)  # a writer may have finished its record meanwhile
        if not tail:
            return None
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        copy = path.with_name(f"{path.name}.torn-{stamp}")
        suffix = 1
        while copy.exists():
            copy = path.with_name(f"{path.name}.torn-{stamp}-{suffix}")
            suffix += 1
        tmp = copy.with_name(copy.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(tail)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, copy)
        with open(path, "r+b") as fh:
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        lock.release()
    logger.warning(
        "%s: cut a torn last record (%d bytes, an interrupted write) after byte %d; "
        "the cut bytes are kept in %s",
        path,
        len(tail),
        end,
        copy,
    )
    return copy
