"""Fault injection for job execution (issue 19, items 4-5): external tools never outlive the
job, and relative paths reach them as absolute ones.

Kills are real signals to real processes, at a point forced deterministically: a fake
``antechamber`` on ``PATH`` starts a grandchild (as antechamber starts sqm), writes both pids
and blocks; the test waits for the pid file, then signals the Python process running it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FAKE_ANTECHAMBER = """#!/bin/sh
sleep 300 &
echo $! > "$FAULT_DIR/grandchild.pid"
echo $$ > "$FAULT_DIR/child.tmp" && mv "$FAULT_DIR/child.tmp" "$FAULT_DIR/child.pid"
wait
"""

RUN_TOOL = """
import sys
from pathlib import Path
from simdata.forcefield import run_tool
run_tool(["antechamber", "-i", "x.mol2"], Path(sys.argv[1]), what="fault test", timeout=600)
"""

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and prctl")


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"parent exited early: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


def _all_gone(pids: list[int], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def blocked_tool(tmp_path):
    """Start a Python process whose run_tool call is blocked in a fake antechamber."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "antechamber"
    tool.write_text(FAKE_ANTECHAMBER)
    tool.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "FAULT_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    procs: list[subprocess.Popen] = []

    def start() -> tuple[subprocess.Popen, list[int]]:
        proc = subprocess.Popen(
            [sys.executable, "-c", RUN_TOOL, str(work)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        _wait_for(tmp_path / "child.pid", proc)
        child = int((tmp_path / "child.pid").read_text())
        grandchild = int((tmp_path / "grandchild.pid").read_text())
        supervisor = _ppid(child)
        assert supervisor != proc.pid and _ppid(supervisor) == proc.pid
        return proc, [supervisor, child, grandchild]

    yield start
    for proc in procs:  # never leave anything behind, even when an assertion failed
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for name in ("child.pid", "grandchild.pid"):
        path = tmp_path / name
        if path.exists():
            pid = int(path.read_text())
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_sigkill_of_the_job_ends_the_tool_and_its_children(blocked_tool):
    proc, pids = blocked_tool()
    assert all(_alive(p) for p in pids)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _all_gone(pids), [p for p in pids if _alive(p)]


def test_sigterm_of_the_job_ends_the_tool_and_its_children(blocked_tool):
    proc, pids = blocked_tool()
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait()
    assert _all_gone(pids), [p for p in pids if _alive(p)]


def test_ctrl_c_of_the_job_ends_the_tool_and_its_children(blocked_tool):
    proc, pids = blocked_tool()
    os.kill(proc.pid, signal.SIGINT)  # KeyboardInterrupt in the waiting thread
    _, err = proc.communicate(timeout=60)
    assert "KeyboardInterrupt" in err
    assert _all_gone(pids, timeout=5.0), [p for p in pids if _alive(p)]


def test_tool_timeout_kills_the_whole_group(tmp_path, monkeypatch):
    from simdata.errors import ParameterisationError
    from simdata.forcefield import run_tool

    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "antechamber").write_text(FAKE_ANTECHAMBER)
    (bindir / "antechamber").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAULT_DIR", str(tmp_path))
    with pytest.raises(ParameterisationError, match="timed out"):
        run_tool(["antechamber"], tmp_path, what="fault test", timeout=3)
    pids = [int((tmp_path / n).read_text()) for n in ("child.pid", "grandchild.pid")]
    assert _all_gone(pids), [p for p in pids if _alive(p)]


def test_failing_tool_quotes_its_output(tmp_path, monkeypatch):
    from simdata.errors import ParameterisationError
    from simdata.forcefield import run_tool

    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "antechamber").write_text("#!/bin/sh\necho 'bad atom type' >&2\nexit 3\n")
    (bindir / "antechamber").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ParameterisationError, match=r"exit 3.*bad atom type"):
        run_tool(["antechamber"], tmp_path, what="fault test")


def test_relative_cache_and_results_paths(tmp_path, monkeypatch):
    """``simdata run --cache <relative path>``: tleap runs in the job folder and must get
    absolute paths to the cached chain files."""
    pytest.importorskip("rdkit")
    pytest.importorskip("openmm")
    from simdata import Job, get_preset
    from simdata.forcefield import _tool
    from simdata.job import prepare_job

    try:
        _tool("tleap")
    except Exception:  # noqa: BLE001
        pytest.skip("AmberTools not installed")
    monkeypatch.chdir(tmp_path)
    preset = get_preset("fast", n_chains=2, atoms_per_chain=40, charge_method="gasteiger")
    work, _ = prepare_job(Job("*CC*", "PE", preset, 0), "out", cache_dir="cache")
    assert work.is_absolute() and (work / "pack" / "system.prmtop").exists()
    assert (tmp_path / "cache" / "built").is_dir()  # the chain step's own cache
    text = (work / "pack" / "tleap.in").read_text()
    assert str(tmp_path / "cache") in text


KILL_IN_STAGE = """
import sys, time
from pathlib import Path
from simdata import Job, get_preset
from simdata.checkpoint import RunOptions
from simdata.job import simulate_job
preset = get_preset(**{"name": "fast", **eval(sys.argv[2])})
marker = Path(sys.argv[3])

def stop_at_checkpoint(event):
    if event.stage == "anneal" and event.kind == "checkpoint" and event.info["segment"] >= 3:
        marker.write_text(str(event.info["segment"]))
        time.sleep(600)  # blocked here until the test kills the process

simulate_job(Job("*CC*", "PE", preset, 0), Path(sys.argv[1]),
             options=RunOptions(checkpoint_ps=0.5), callback=stop_at_checkpoint)
"""


@pytest.mark.md
def test_sigkill_mid_stage_resumes_from_the_checkpoint(tmp_path, tiny_preset, cache_dir):
    """SIGKILL a job inside the anneal (right after a mid-stage checkpoint); the next run
    resumes the anneal at that Larsen step and finishes."""
    pytest.importorskip("rdkit")
    from simdata import Job
    from simdata.checkpoint import RunOptions
    from simdata.job import prepare_job, simulate_job

    preset = tiny_preset.replace(chunk_ps=0.5)
    job = Job("*CC*", "PE", preset, 0)
    work, _ = prepare_job(job, tmp_path, cache_dir=cache_dir)
    overrides = {k: v for k, v in preset.to_dict().items() if k != "name"}
    marker = tmp_path / "killed_at"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_IN_STAGE, str(work), repr(overrides), str(marker)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(marker, proc, timeout=1200)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    segment = int(marker.read_text())
    assert not (work / "md" / "anneal.json").exists()
    events = []
    row = simulate_job(job, work, options=RunOptions(checkpoint_ps=0.5), callback=events.append)
    assert row["status"] == "done", row["reason"]
    resumed = [e for e in events if e.kind == "resume"]
    assert resumed and resumed[0].stage == "anneal" and resumed[0].info["segment"] == segment
    skipped = {e.stage for e in events if e.kind == "skip"}
    assert {"minimise", "compress"} <= skipped  # finished stages were not run again
