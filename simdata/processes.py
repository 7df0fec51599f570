"""External programs (antechamber, sqm, parmchk2, tleap, packmol) run as supervised children.

Every program runs in its own session and process group under a small supervisor
(``simdata/_supervisor.py``), so that nothing it started outlives the job:

* an exception in the waiting thread (a timeout, ``KeyboardInterrupt`` from SIGINT,
  ``SystemExit``) kills the whole group before it propagates;
* when the Python process dies (SIGTERM, or SIGKILL, which nothing can catch), the
  supervisor gets SIGTERM from the kernel (Linux ``PR_SET_PDEATHSIG``), or notices within
  a second that its parent is gone, and kills the group.

Every path is made absolute before it is handed over (working folders, input files).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["run_process"]

_SUPERVISOR = Path(__file__).with_name("_supervisor.py")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        pass


def run_process(
    args: list[str],
    cwd: str | Path,
    *,
    stdin: str | Path | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    """Run ``args`` in ``cwd`` under the supervisor and capture its output (text).

    Parameters
    ----------
    args : list of str
        Program (a path or a name on ``PATH``) and arguments.
    cwd : str or Path
        Working folder (made absolute).
    stdin : str or Path, optional
        File fed to the program's standard input.
    timeout : float, optional
        Seconds; on expiry the process group is killed and
        ``subprocess.TimeoutExpired`` raised.

    Returns
    -------
    subprocess.CompletedProcess
        ``returncode``, ``stdout``, ``stderr``; a non-zero status is not raised.
    """
    cwd = Path(cwd).resolve()
    cmd = [sys.executable, "-I", "-S", str(_SUPERVISOR), str(os.getpid()), *map(str, args)]
    fh = open(Path(stdin).resolve()) if stdin is not None else None  # noqa: SIM115
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=fh if fh is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:  # timeout, KeyboardInterrupt, SystemExit: end the whole group
            _kill_group(proc)
            raise
    finally:
        if fh is not None:
            fh.close()
    return subprocess.CompletedProcess(args, proc.returncode, out, err)
