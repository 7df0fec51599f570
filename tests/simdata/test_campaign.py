"""A campaign of 20 tiny jobs, two drivers on one folder, one driver SIGKILLed mid-job.

The drivers are real processes (``_campaign_driver.py``) with fake jobs (a short
computation, no MD); the kill is a real SIGKILL from inside the killed driver's fifth job,
after its lease was taken and before its row was written. Every job must be done exactly
once, nothing lost, no job run by two live drivers, and the store compacted to one table.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from simdata.campaign import Campaign, Lease, drive
from simdata.store import SHARDS, ResultStore, load_results

DRIVER = Path(__file__).with_name("_campaign_driver.py")


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(DRIVER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_two_drivers_one_killed_every_job_done_exactly_once(tmp_path):
    out = tmp_path / "campaign"
    n = 20
    b_started, a_killed = tmp_path / "b-started", tmp_path / "a-killed"
    # A runs two jobs, waits in its third until B runs; B waits in its second job until A
    # was killed in its fifth: the two overlap, and A is killed with a job leased
    a = _start(
        str(out), str(n), "--wait-for", str(b_started), "--wait-at", "3",
        "--kill-at", "5", "--kill-mark", str(a_killed),
    )  # fmt: skip
    b = _start(
        str(out), str(n), "--mark", str(b_started), "--wait-for", str(a_killed), "--wait-at", "2"
    )
    try:
        a_err = a.communicate(timeout=300)[1].decode()
        b_err = b.communicate(timeout=300)[1].decode()
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                proc.kill()
    assert a.returncode == -signal.SIGKILL, a_err[-2000:]
    assert b.returncode == 0, b_err[-2000:]
    rows = load_results(out, all_rows=True)
    # every job done exactly once, nothing lost
    assert sorted(rows.job_id) == [f"job{i:02d}" for i in range(n)]
    assert (rows.status == "done").all()
    # both drivers did work; the killed driver's job was taken over from its dead lease
    assert rows.driver.nunique() == 2
    assert Counter(rows.driver)[a.pid] == 4
    starts = Counter(p.name.split(".")[0] for p in (out / "starts").iterdir())
    twice = [job for job, k in starts.items() if k > 1]
    assert len(twice) == 1  # only the job A was killed in was started again
    assert rows.set_index("job_id").loc[twice[0], "driver"] == b.pid
    assert not list((out / "leases").glob("*.lease"))
    # compacted to one table
    info = ResultStore(out).compact()
    assert info["rows"] == n
    assert not list((out / SHARDS).glob("*.jsonl*"))
    assert len(load_results(out)) == n


def test_resume_skips_done_and_failed_and_retries_on_request(tmp_path):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class J:
        job_id: str
        name: str = ""

    jobs = [J(f"j{i}") for i in range(4)]
    calls: list[str] = []

    def job_fn(job):
        calls.append(job.job_id)
        if job.job_id == "j2":
            raise RuntimeError("boom")
        return {"job_id": job.job_id, "status": "done"}

    def on_error(job, exc):
        return {"job_id": job.job_id, "status": "failed", "reason": str(exc)}

    with Campaign(tmp_path) as camp:
        assert drive(jobs + jobs[:1], camp, job_fn, on_error=on_error) == 4
    ResultStore(tmp_path).compact()
    with Campaign(tmp_path) as camp:
        todo, skipped = camp.plan(jobs)
        assert todo == [] and skipped == {"done": 3, "failed": 1, "duplicate": 0}
        assert drive(jobs, camp, job_fn, on_error=on_error) == 0
    with Campaign(tmp_path, retry_failed=True) as camp:
        assert drive(jobs, camp, job_fn, on_error=on_error) == 1
    assert calls == ["j0", "j1", "j2", "j3", "j2"]
    rows = load_results(tmp_path, all_rows=True)
    assert rows.job_id.tolist() == ["j0", "j1", "j2", "j3", "j2"]
    assert rows.reason.iloc[-1] == "boom"


def test_lease_is_exclusive_and_stale_leases_are_reclaimed(tmp_path):
    first = Lease(tmp_path, "job", ttl=60)
    assert first.acquire()
    assert not Lease(tmp_path, "job", ttl=60).acquire()
    assert first.heartbeat()
    # a lease whose owner's process is gone is taken over at once
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    info = first.path.read_text().replace(f'"pid": {os.getpid()}', f'"pid": {int(dead.stdout)}')
    first.path.write_text(info)
    second = Lease(tmp_path, "job", ttl=60)
    assert second.acquire()
    assert not first.heartbeat()  # the old holder learns it lost the lease
    first.release()
    assert second.path.exists()  # releasing a lost lease leaves the new holder's alone
    second.release()
    assert not second.path.exists()
    # a lease without heartbeat for longer than its ttl is stale (another host's driver)
    third = Lease(tmp_path, "job", ttl=0.2)
    assert third.acquire()
    text = third.path.read_text().replace(
        f'"host": "{socket.gethostname()}"', '"host": "elsewhere"'
    )
    third.path.write_text(text)
    assert not Lease(tmp_path, "job", ttl=0.2).acquire()
    time.sleep(0.3)
    assert Lease(tmp_path, "job", ttl=0.2).acquire()


@pytest.mark.parametrize("keep", ["all", "final", "none"])
def test_finished_job_folder_pruned_and_archived(tmp_path, keep):
    import tarfile

    work = tmp_path / "jobs" / "j1"
    (work / "md").mkdir(parents=True)
    (work / "pack").mkdir()
    for name in ("pack/system.prmtop", "pack/pack.json", "pack/box.pdb", "md/compress.json"):
        (work / name).write_text(name)
    for i, name in enumerate(("md/compress.xml", "md/production.xml")):
        (work / name).write_text(name)
        stamp = 1_700_000_000 + i  # the production state is the newer one
        os.utime(work / name, (stamp, stamp))
    with Campaign(tmp_path, keep=keep, archive=True) as camp:
        assert camp.claim("j1")
        camp.record({"job_id": "j1", "status": "done"})
    left = (
        sorted(str(p.relative_to(work)) for p in work.rglob("*") if p.is_file())
        if work.exists()
        else []
    )
    expected = {
        "all": [
            "md/compress.json",
            "md/compress.xml",
            "md/production.xml",
            "pack/box.pdb",
            "pack/pack.json",
            "pack/system.prmtop",
        ],
        "final": ["md/compress.json", "md/production.xml", "pack/pack.json", "pack/system.prmtop"],
        "none": [],
    }[keep]
    assert left == expected
    with tarfile.open(tmp_path / "archive" / "j1.tar.gz") as tar:
        assert len([m for m in tar.getmembers() if m.isfile()]) == 6
    with pytest.raises(ValueError, match="keep must be one of"):
        Campaign(tmp_path, keep="some")
