"""Which OpenMM device a process simulates on: platform, device index, CPU threads.

A Dask worker that owns one GPU learns its device from its environment, set when the
worker is started (:func:`simdata.cluster.local_cluster`, the job scripts of
:func:`simdata.cluster.make_cluster`):

* ``SIMDATA_DEVICE_INDEX``: the device index handed to OpenMM (``DeviceIndex``);
* ``SIMDATA_GPUS_PER_JOB``: with several GPU workers in one batch job (dask-jobqueue
  ``processes > 1``), the index is the worker's rank within the job (the ``-<i>`` suffix
  dask-jobqueue gives its worker names) modulo this count;
* ``SIMDATA_PLATFORM``: the OpenMM platform name (default: the preset's, ``"auto"``);
* ``OPENMM_CPU_THREADS``: the CPU platform's threads (also passed as ``Threads``).

With none of them set (one GPU per batch job, the scheduler setting
``CUDA_VISIBLE_DEVICES``), OpenMM's default device is used.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

__all__ = [
    "Device",
    "GPU_PLATFORMS",
    "device_from_env",
    "current_device",
    "worker_name",
    "context_device",
]

#: OpenMM platforms that run on an accelerator.
GPU_PLATFORMS = ("CUDA", "OpenCL", "HIP")


@dataclass(frozen=True)
class Device:
    """An OpenMM device.

    Parameters
    ----------
    platform : str
        ``"auto"`` (CUDA, then OpenCL, then CPU) or an OpenMM platform name.
    index : int or None
        Device index on GPU platforms (None: OpenMM's default).
    threads : int or None
        Threads of the CPU platform (None: OpenMM's default).
    precision : str
        ``"mixed"``, ``"single"`` or ``"double"`` on GPU platforms.

    Examples
    --------
    >>> Device("CUDA", index=1).properties("CUDA")
    {'Precision': 'mixed', 'DeviceIndex': '1'}
    >>> Device("CPU", threads=4).properties("CPU")
    {'Threads': '4'}
    """

    platform: str = "auto"
    index: int | None = None
    threads: int | None = None
    precision: str = "mixed"

    def __post_init__(self) -> None:
        if self.index is not None and int(self.index) < 0:
            raise ValueError(f"device index must be >= 0, got {self.index}")
        if self.threads is not None and int(self.threads) < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.precision not in ("mixed", "single", "double"):
            raise ValueError(f"precision must be mixed, single or double, not {self.precision!r}")

    def properties(self, platform_name: str) -> dict[str, str]:
        """OpenMM platform properties for a context on ``platform_name``."""
        props: dict[str, str] = {}
        if platform_name in GPU_PLATFORMS:
            props["Precision"] = self.precision
            if self.index is not None:
                props["DeviceIndex"] = str(int(self.index))
        elif platform_name == "CPU" and self.threads is not None:
            props["Threads"] = str(int(self.threads))
        return props

    def resolve(self, default_platform: str = "auto"):
        """The ``openmm.Platform`` (``"auto"`` here means ``default_platform``)."""
        from .protocol import select_platform

        name = default_platform if self.platform == "auto" else self.platform
        return select_platform(name)


def worker_name() -> str | None:
    """Name of the Dask worker running this code (None outside a worker)."""
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return None


def _int_env(env: dict, key: str) -> int | None:
    value = env.get(key, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {value!r}") from None


def device_from_env(
    env: dict[str, str] | None = None, *, name: str | None = None, threads: int | None = None
) -> Device:
    """The device described by environment variables (see the module docstring).

    Parameters
    ----------
    env : dict, optional
        Environment (default ``os.environ``).
    name : str, optional
        Worker name, for the rank within a multi-GPU batch job.
    threads : int, optional
        CPU threads when ``OPENMM_CPU_THREADS`` is not set (e.g. the worker's threads).

    Examples
    --------
    >>> device_from_env({"SIMDATA_DEVICE_INDEX": "1", "SIMDATA_PLATFORM": "CUDA"})
    Device(platform='CUDA', index=1, threads=None, precision='mixed')
    >>> device_from_env({"SIMDATA_GPUS_PER_JOB": "4"}, name="SLURMCluster-3-6").index
    2
    """
    env = dict(os.environ) if env is None else env
    index = _int_env(env, "SIMDATA_DEVICE_INDEX")
    per_job = _int_env(env, "SIMDATA_GPUS_PER_JOB")
    if index is None and per_job and name:
        m = re.search(r"-(\d+)$", str(name))
        if m:
            index = int(m.group(1)) % per_job
    n_threads = _int_env(env, "OPENMM_CPU_THREADS") or threads
    return Device(
        platform=env.get("SIMDATA_PLATFORM", "auto") or "auto",
        index=index,
        threads=n_threads,
        precision=env.get("SIMDATA_PRECISION", "mixed") or "mixed",
    )


def current_device() -> Device:
    """The device of this process or Dask worker (threads default to the worker's)."""
    threads = None
    try:
        from distributed import get_worker

        threads = int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        pass
    return device_from_env(name=worker_name(), threads=threads)


def context_device(context) -> dict[str, str]:
    """Platform and device properties an OpenMM context actually runs with.

    ``{"platform": ..., "DeviceIndex": ..., "DeviceName": ..., "Precision": ..., "Threads": ...}``
    where the platform has them, plus ``SIMDATA_DEVICE_INDEX`` and ``CUDA_VISIBLE_DEVICES``
    from the environment when set.
    """
    platform = context.getPlatform()
    out = {"platform": platform.getName()}
    for key in ("DeviceIndex", "DeviceName", "Precision", "Threads", "OpenCLPlatformName"):
        if key in platform.getPropertyNames():
            try:
                out[key] = str(platform.getPropertyValue(context, key))
            except Exception:  # noqa: BLE001 (OpenMM raises a bare Exception)
                continue
    for key in ("SIMDATA_DEVICE_INDEX", "CUDA_VISIBLE_DEVICES"):
        if os.environ.get(key):
            out[key] = os.environ[key]
    return out
