"""The one result store: an append-only JSON-lines journal, replayed into a table.

Every write is one line appended under an exclusive file lock and fsync'd; the
reader ignores a torn last line (a crash mid-write) and raises on a corrupt line
elsewhere. A polymer's state is the last row with its ``job_id``; rows are never
rewritten, so failures and retries stay on record.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["JOURNAL", "ResultStore", "load_results"]

#: File name of the journal inside a results folder.
JOURNAL = "results.jsonl"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        return _clean(value.item())
    return value


class ResultStore:
    """Append-only store of job rows in ``<path>/results.jsonl``.

    Parameters
    ----------
    path : str or Path
        Results folder (created) or a ``.jsonl`` file.

    Examples
    --------
    >>> import tempfile
    >>> store = ResultStore(tempfile.mkdtemp())
    >>> store.append({"job_id": "a", "status": "done", "density": 0.9})
    >>> store.finished_ids()
    {'a'}
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        self.path = path if path.suffix == ".jsonl" else path / JOURNAL

    def append(self, row: dict[str, Any]) -> None:
        """Append one row (needs ``job_id`` and ``status``) durably."""
        self.extend([row])

    def extend(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append several rows in one locked write."""
        lines = []
        for row in rows:
            if "job_id" not in row or "status" not in row:
                raise ValueError("a result row needs 'job_id' and 'status'")
            row = {k: _clean(v) for k, v in row.items()}
            row.setdefault("recorded_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            lines.append(json.dumps(row, sort_keys=True, allow_nan=False) + "\n")
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                fh.write("".join(lines))
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def rows(self) -> list[dict[str, Any]]:
        """Every row in order of writing."""
        if not self.path.exists():
            return []
        text = self.path.read_text(encoding="utf-8")
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
                raise ValueError(f"{self.path}: corrupt row on line {i + 1}") from exc
        return out

    def latest(self) -> dict[str, dict[str, Any]]:
        """Replay: the last row of each job id."""
        state: dict[str, dict[str, Any]] = {}
        for row in self.rows():
            state[row["job_id"]] = row
        return state

    def finished_ids(self) -> set[str]:
        """Job ids whose last row has ``status == "done"``."""
        return {k for k, r in self.latest().items() if r.get("status") == "done"}


def load_results(path: str | Path, *, all_rows: bool = False):
    """Results as a DataFrame, one row per polymer (its latest row).

    Parameters
    ----------
    path : str or Path
        Results folder or journal file.
    all_rows : bool
        Return every journal row (history, retries, failures) instead.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    store = ResultStore(path)
    rows = store.rows() if all_rows else list(store.latest().values())
    return pd.DataFrame(rows)
