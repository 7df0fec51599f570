"""A campaign driver for tests/simdata/test_campaign.py: fake jobs, real leases and store.

Usage: python _campaign_driver.py OUT N_JOBS [--mark FILE] [--wait-for FILE --wait-at K]
       [--kill-at K --kill-mark FILE]

Runs N_JOBS fake jobs (a short computation, no MD) with simdata.campaign.drive. Each job
start creates ``OUT/starts/<job_id>.<pid>``. ``--mark FILE`` creates FILE when this
driver starts its first job; ``--wait-for FILE`` makes its K-th job (``--wait-at``) wait
until FILE exists; ``--kill-at K``: the driver creates ``--kill-mark`` and SIGKILLs itself
in the middle of its K-th job (after the lease was taken and the job started, before any
row is written). The kill points and the overlap of two drivers are forced by these
files, not by timing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from simdata.campaign import Campaign, drive


@dataclass(frozen=True)
class FakeJob:
    job_id: str
    name: str


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("n", type=int)
    parser.add_argument("--kill-at", type=int, default=0)
    parser.add_argument("--wait-for", default=None)
    parser.add_argument("--wait-at", type=int, default=0)
    parser.add_argument("--kill-mark", default=None)
    parser.add_argument("--mark", default=None)
    args = parser.parse_args()
    out = Path(args.out)
    (out / "starts").mkdir(parents=True, exist_ok=True)
    jobs = [FakeJob(f"job{i:02d}", f"polymer {i}") for i in range(args.n)]
    count = 0

    def job_fn(job: FakeJob) -> dict:
        nonlocal count
        count += 1
        (out / "starts" / f"{job.job_id}.{os.getpid()}").touch()
        if args.mark and count == 1:
            Path(args.mark).touch()
        if args.wait_for and count == args.wait_at:
            while not Path(args.wait_for).exists():
                time.sleep(0.01)
        if count == args.kill_at:
            if args.kill_mark:
                Path(args.kill_mark).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        digest = job.job_id.encode()
        for _ in range(20000):  # a short computation
            digest = hashlib.sha256(digest).digest()
        return {
            "job_id": job.job_id,
            "name": job.name,
            "status": "done",
            "value": digest.hex()[:8],
            "driver": os.getpid(),
        }

    with Campaign(out, lease_ttl=30.0) as camp:
        drive(jobs, camp, job_fn, poll_s=0.05)


if __name__ == "__main__":
    main()
