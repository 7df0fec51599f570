"""Run one external program and end its whole process group when simdata's process dies.

Started by :func:`simdata.processes.run_process` as
``python -I -S _supervisor.py PARENT_PID PROGRAM [ARGS...]`` in a new session, so that this
process leads a process group holding the program and everything the program starts
(antechamber's sqm, for example). It ends the group with SIGKILL when

* it receives SIGTERM, SIGINT or SIGHUP (on Linux the kernel sends SIGTERM when the
  parent dies, ``prctl(PR_SET_PDEATHSIG)``: a SIGKILL of the parent included), or
* it sees that its parent is gone (checked every second: the portable fallback).

The program inherits the working folder, standard streams and environment; its exit
status is passed on. Standard library only (the file runs without ``site``).
"""

import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1


def _end(signum=None, frame=None):
    try:
        os.killpg(0, signal.SIGKILL)  # the program, its children and this process
    finally:
        os._exit(137)


def main(argv):
    parent, cmd = int(argv[1]), argv[2:]
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _end)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the death signal was armed
        _end()
    try:
        proc = subprocess.Popen(cmd)
    except OSError as exc:
        sys.stderr.write(f"cannot start {cmd[0]}: {exc}\n")
        return 127
    while True:
        try:
            rc = proc.wait(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            if os.getppid() != parent:
                _end()
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
