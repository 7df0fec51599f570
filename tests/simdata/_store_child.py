"""Child process for the store fault tests: append rows, then die mid-write (SIGKILL).

Usage: python _store_child.py RESULTS N_ROWS
Appends N_ROWS complete rows through ResultStore, then starts one more append and is
killed by SIGKILL from inside its write, after half of the line reached the file (the
kill point is forced, not timed).
"""

from __future__ import annotations

import builtins
import os
import signal
import sys

from simdata.store import ResultStore


def main() -> None:
    path, n = sys.argv[1], int(sys.argv[2])
    store = ResultStore(path)
    for i in range(n):
        store.append({"job_id": f"ok{i}", "status": "done", "density": 1.0 + i})
    real_open = builtins.open

    class Tearing:
        def __init__(self, fh):
            self._fh = fh

        def write(self, data):
            self._fh.write(data[: len(data) // 2])
            self._fh.flush()
            os.fsync(self._fh.fileno())
            os.kill(os.getpid(), signal.SIGKILL)

        def __getattr__(self, name):
            return getattr(self._fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self._fh.__exit__(*exc)

    def tearing_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        return Tearing(fh) if "a" in mode else fh

    builtins.open = tearing_open
    store.append({"job_id": "torn", "status": "done", "density": 9.0})
    raise SystemExit("not reached: the append above kills this process")


if __name__ == "__main__":
    main()
