"""Fault injection for the result store: writers SIGKILLed in the middle of a write.

Each child process (``_store_child.py``) appends complete rows, then is killed by SIGKILL
from inside its next write after half of the line reached the disk: the kill point is
forced, not timed. Nothing finished may be lost, and the next reader, writer, ``simdata
show``, ``simdata run`` and ``simdata compact`` must work.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from simdata.store import SHARDS, ResultStore, load_results

CHILD = Path(__file__).with_name("_store_child.py")


def _killed_writer(path: Path, n_rows: int) -> None:
    proc = subprocess.run(
        [sys.executable, str(CHILD), str(path), str(n_rows)], capture_output=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]


def test_killed_writer_leaves_a_torn_shard_that_costs_nothing(tmp_path, capsys):
    from simdata.cli import main

    out = tmp_path / "res"
    _killed_writer(out, 3)
    (shard,) = (out / SHARDS).glob("*.jsonl")
    assert not shard.read_bytes().endswith(b"\n")  # really torn
    # readers ignore the torn line; the three finished rows are all there
    assert ResultStore(out).status() == {"ok0": "done", "ok1": "done", "ok2": "done"}
    assert main(["show", str(out)]) == 0
    assert "3 polymers: {'done': 3}" in capsys.readouterr().out
    # a second killed writer, then a live one: every finished row is kept
    _killed_writer(out, 1)
    ResultStore(out).append({"job_id": "later", "status": "done"})
    assert sorted(load_results(out).job_id) == ["later", "ok0", "ok1", "ok2"]
    assert len(load_results(out, all_rows=True)) == 5
    # compaction cuts the torn tails (a copy of each is kept) and folds all into one table
    assert main(["compact", str(out), "--format", "jsonl"]) == 0
    assert not list((out / SHARDS).glob("*.jsonl"))
    copies = list((out / SHARDS).glob("*.torn-*"))
    assert len(copies) == 2
    assert all(c.read_bytes().startswith(b'{"density": 9.0') for c in copies)
    assert len(load_results(out, all_rows=True)) == 5


def test_torn_single_journal_is_repaired_before_the_next_append(tmp_path, caplog):
    journal = tmp_path / "results.jsonl"
    _killed_writer(journal, 2)
    assert not journal.read_bytes().endswith(b"\n")
    ResultStore(journal).append({"job_id": "next", "status": "done"})
    assert "torn last line" in caplog.text
    lines = journal.read_text().splitlines()
    assert len(lines) == 3  # the next row is on its own line, not glued to the torn one
    assert ResultStore(journal).status() == {"ok0": "done", "ok1": "done", "next": "done"}
    (copy,) = tmp_path.glob("results.jsonl.torn-*")
    assert copy.read_bytes().startswith(b'{"density": 9.0') and b"\n" not in copy.read_bytes()


def test_run_after_a_torn_store_of_the_old_layout(tmp_path, capsys):
    """Issue 19, item 2: a torn last line of ``results.jsonl``, then ``simdata run``."""
    pytest.importorskip("rdkit")
    from simdata.cli import main

    out = tmp_path / "res"
    _killed_writer(out / "results.jsonl", 2)  # the journal of earlier versions, torn
    table = tmp_path / "p.csv"
    table.write_text("smiles,name\n*C[Si]*,bad-si\n")
    assert main(["-q", "run", str(table), "--out", str(out), "--workers", "0"]) == 1
    assert main(["-q", "run", str(table), "--out", str(out), "--workers", "0"]) == 0  # skipped
    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3 polymers: {'done': 2, 'failed': 1}" in text
    assert len(load_results(out, all_rows=True)) == 3
    # the run's compaction folded the old journal in, cutting its torn tail into a copy
    assert not (out / "results.jsonl").exists()
    assert len(list(out.glob("results.jsonl.torn-*"))) == 1
