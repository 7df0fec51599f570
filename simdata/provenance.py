"""What a result row depends on besides its settings: protocol and code versions, the machine.

:data:`PROTOCOL_VERSION` enters every job id (:func:`simdata.job.make_job_id`): raise it
whenever the simulation protocol changes in a way that changes results (a new stage, a
fixed bug, another equilibrium check), so that a campaign never reuses rows of the old
protocol. Rows record it, with the code version and the host's accelerator
(:func:`machine_info`).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from typing import Any

__all__ = ["PROTOCOL_VERSION", "code_version", "machine_info", "provenance"]

#: Version of the simulation protocol (part of every job id). History:
#: 1 - protocol of simdata 0.1 as validated in docs/simdata.md (GAFF2, AM1-BCC, Larsen's
#: 21-step scheme, tetramer-template chain builder); ids from the canonical repeat unit.
PROTOCOL_VERSION = 1


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Version of the installed package (``affinetl`` distribution), with the git commit.

    ``"0.1.0+g<sha>"`` when run from a git checkout, ``"0.1.0"`` otherwise.
    """
    from importlib.metadata import PackageNotFoundError, version
    from pathlib import Path

    try:
        base = version("affinetl")
    except PackageNotFoundError:
        base = "unknown"
    root = Path(__file__).resolve().parents[1]
    if (root / ".git").exists() and shutil.which("git"):
        try:
            sha = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "--short=10", "HEAD"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
            if sha:
                return f"{base}+g{sha}"
        except (OSError, subprocess.SubprocessError):
            pass
    return base


@functools.lru_cache(maxsize=1)
def machine_info() -> dict[str, Any]:
    """GPU model, driver and CUDA version of this host from ``nvidia-smi`` (None without).

    Returns
    -------
    dict
        ``gpu_model`` (all GPUs, ``"; "``-separated), ``gpu_driver``, ``cuda_version``; each
        None when ``nvidia-smi`` is missing or fails. The device a job actually ran on is in
        its ``device`` column (OpenMM's platform properties).
    """
    out: dict[str, Any] = {"gpu_model": None, "gpu_driver": None, "cuda_version": None}
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return out
    try:
        query = subprocess.run(
            [exe, "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
        rows = [[c.strip() for c in line.split(",")] for line in query.splitlines() if line]
        if rows:
            out["gpu_model"] = "; ".join(r[0] for r in rows)
            out["gpu_driver"] = rows[0][1] if len(rows[0]) > 1 else None
        header = subprocess.run(
            [exe], capture_output=True, text=True, timeout=20, check=True
        ).stdout
        match = re.search(r"CUDA Version:\s*([\d.]+)", header)
        out["cuda_version"] = match.group(1) if match else None
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def provenance() -> dict[str, Any]:
    """Columns every row records: ``protocol_version``, ``code_version`` and the machine."""
    return {
        "protocol_version": PROTOCOL_VERSION,
        "code_version": code_version(),
        **machine_info(),
    }
