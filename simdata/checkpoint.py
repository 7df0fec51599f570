"""Stage files, mid-stage checkpoints and the MD time limit of a job.

A protocol stage leaves two kinds of files in the job's ``md/`` folder:

* when it has finished, ``<stage>.xml`` (portable OpenMM state) and ``<stage>.json``
  (its summary): :meth:`StageFiles.done` returns them and the stage is skipped;
* while it runs, every ``checkpoint_ps`` of simulated time (or ``checkpoint_s`` of wall
  time), a mid-stage checkpoint: ``<stage>.part.chk`` (OpenMM binary checkpoint, with the
  integrator's random state: an identical continuation on the same platform),
  ``<stage>.part.xml`` (portable state, used when the checkpoint cannot be loaded, e.g. on
  another platform), ``<stage>.part.json`` (where in the stage: segment, picoseconds done,
  the stage's counters) and ``<stage>.part.npz`` (the frames its reporters had collected).

Every file is written to a temporary name and moved into place with ``os.replace``; the
JSON file is written last, so a checkpoint is used only when all of its files are complete.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SimdataError

__all__ = ["RunOptions", "StageResult", "StageFiles", "Progress", "MDTimeLimit", "TimeBudget"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """How a job is executed (not what it computes: none of these enters the job id).

    Parameters
    ----------
    checkpoint_ps : float
        Simulated time between mid-stage checkpoints, ps (0: only at stage ends).
    checkpoint_s : float or None
        Wall time between mid-stage checkpoints, s (None: by simulated time only).
    max_md_s : float or None
        MD wall-time limit of one job, s. When it is reached the job writes a mid-stage
        checkpoint and stops with :class:`MDTimeLimit`; its row gets
        ``status="incomplete"`` with the stage and the reason, and the next run resumes it.
    """

    checkpoint_ps: float = 50.0
    checkpoint_s: float | None = 900.0
    max_md_s: float | None = None

    def __post_init__(self) -> None:
        if not self.checkpoint_ps >= 0:
            raise ValueError(f"checkpoint_ps must be >= 0, got {self.checkpoint_ps!r}")
        for name in ("checkpoint_s", "max_md_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None, got {value!r}")


class MDTimeLimit(SimdataError):
    """The job reached its MD wall-time limit (``RunOptions.max_md_s``).

    Attributes
    ----------
    stage : str
        Stage that was running.
    """

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


@dataclass(frozen=True)
class StageResult:
    """What a protocol stage leaves behind.

    Attributes
    ----------
    name : str
        Stage name.
    state : Path
        OpenMM state XML at the end of the stage.
    summary : dict
        Scalars (final density, wall seconds, ns/day, restarts, ...).
    skipped : bool
        True when the stage was already done and was loaded from disk.
    """

    name: str
    state: Path
    summary: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False


@dataclass
class Progress:
    """Where a running stage is: the position a mid-stage checkpoint records.

    A stage is a sequence of numbered segments (a compression cycle, a Larsen step, an
    NPT window, the production run), each an integration of some picoseconds.

    Attributes
    ----------
    segment : int
        Segment being integrated.
    ps : float
        Picoseconds of it already integrated.
    data : dict
        The stage's own counters (JSON-serialisable).
    timestep_fs : float or None
        Step in use when the checkpoint was written (smaller after a NaN restart).
    npt : bool or None
        Whether the barostat was on. It is switched to that before the checkpoint is
        loaded: switching it afterwards reinitialises the context, which would reseed the
        integrator's random numbers and break the identical continuation.
    """

    segment: int = 0
    ps: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)
    timestep_fs: float | None = None
    npt: bool | None = None


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class StageFiles:
    """The files of one stage in a work folder (see the module docstring).

    Parameters
    ----------
    workdir : Path
        The job's MD folder.
    stage : str
        Stage name.
    """

    def __init__(self, workdir: Path, stage: str) -> None:
        self.workdir = Path(workdir)
        self.stage = stage

    # -- finished stage ---------------------------------------------------------
    @property
    def state(self) -> Path:
        """State XML of the finished stage."""
        return self.workdir / f"{self.stage}.xml"

    @property
    def summary(self) -> Path:
        """Summary JSON of the finished stage."""
        return self.workdir / f"{self.stage}.json"

    def done(self, *extra: str) -> StageResult | None:
        """The stored result if the stage finished earlier (and the ``extra`` files exist)."""
        if self.summary.exists() and self.state.exists():
            if all((self.workdir / name).exists() for name in extra):
                summary = json.loads(self.summary.read_text())
                return StageResult(self.stage, self.state, summary, True)
        return None

    def finish(self, simulation, summary: dict[str, Any]) -> StageResult:
        """Write the end state and summary atomically; remove the mid-stage checkpoint."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        tmp = self.state.with_name(self.state.name + ".tmp")
        simulation.saveState(str(tmp))
        os.replace(tmp, self.state)
        text = json.dumps(summary, indent=1, default=float)
        _atomic_write_bytes(self.summary, text.encode())
        self.clear_part()
        return StageResult(self.stage, self.state, summary)

    # -- mid-stage checkpoint ----------------------------------------------------
    def _part(self, suffix: str) -> Path:
        return self.workdir / f"{self.stage}.part.{suffix}"

    def save_part(
        self, simulation, progress: Progress, frames: dict[str, np.ndarray] | None = None
    ) -> None:
        """Write a mid-stage checkpoint (the JSON last: it marks the checkpoint complete)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._part("json").unlink(missing_ok=True)
        _atomic_write_bytes(self._part("chk"), simulation.context.createCheckpoint())
        tmp = self._part("xml.tmp")
        simulation.saveState(str(tmp))
        os.replace(tmp, self._part("xml"))
        if frames:
            tmpz = self.workdir / f"{self.stage}.part.tmp.npz"
            np.savez(tmpz, **frames)
            os.replace(tmpz, self._part("npz"))
        else:
            self._part("npz").unlink(missing_ok=True)
        record = {
            "segment": progress.segment,
            "ps": progress.ps,
            "data": progress.data,
            "timestep_fs": progress.timestep_fs,
            "npt": progress.npt,
            "platform": simulation.context.getPlatform().getName(),
            "saved": time.time(),
        }
        _atomic_write_bytes(self._part("json"), json.dumps(record, default=float).encode())

    def load_part(
        self, simulation, before_load=None
    ) -> tuple[Progress, dict[str, np.ndarray]] | None:
        """Load a mid-stage checkpoint into ``simulation``; None when there is none.

        ``before_load(progress)`` runs before the state is loaded (to put the context in
        the checkpoint's ensemble). The binary checkpoint is tried first (identical
        continuation); if OpenMM refuses it (another platform or OpenMM version), the
        portable XML state is loaded.
        """
        if not self._part("json").exists():
            return None
        record = json.loads(self._part("json").read_text())
        progress = Progress(
            int(record["segment"]),
            float(record["ps"]),
            dict(record.get("data", {})),
            record.get("timestep_fs"),
            record.get("npt"),
        )
        if before_load is not None:
            before_load(progress)
        try:
            simulation.context.loadCheckpoint(self._part("chk").read_bytes())
        except Exception as exc:  # noqa: BLE001 (OpenMM raises a bare Exception)
            logger.warning(
                "%s: mid-stage checkpoint not loadable here (%s); using the portable state",
                self.stage,
                exc,
            )
            simulation.loadState(str(self._part("xml")))
        frames: dict[str, np.ndarray] = {}
        if self._part("npz").exists():
            with np.load(self._part("npz")) as z:
                frames = {k: z[k] for k in z.files}
        return progress, frames

    def clear_part(self) -> None:
        """Remove the mid-stage checkpoint files."""
        for suffix in ("json", "chk", "xml", "npz"):
            self._part(suffix).unlink(missing_ok=True)


class TimeBudget:
    """Wall clock of a job's MD against ``RunOptions.max_md_s`` and the checkpoint interval.

    Parameters
    ----------
    options : RunOptions
        Limits.
    clock : callable
        Seconds (``time.monotonic`` by default; tests pass their own).
    """

    def __init__(self, options: RunOptions, clock=time.monotonic) -> None:
        self.options = options
        self.clock = clock
        self.start = clock()
        self.last_checkpoint = self.start
        self.ps_since_checkpoint = 0.0

    @property
    def elapsed(self) -> float:
        """Seconds since the MD of this job started (in this process)."""
        return self.clock() - self.start

    def expired(self) -> bool:
        """Whether the MD time limit is reached."""
        limit = self.options.max_md_s
        return limit is not None and self.elapsed >= limit

    def advance(self, ps: float) -> None:
        """Count simulated time since the last checkpoint."""
        self.ps_since_checkpoint += ps

    def checkpoint_due(self) -> bool:
        """Whether a mid-stage checkpoint is due (by simulated or wall time)."""
        o = self.options
        if o.checkpoint_ps > 0 and self.ps_since_checkpoint >= o.checkpoint_ps - 1e-9:
            return True
        if o.checkpoint_s is not None and self.clock() - self.last_checkpoint >= o.checkpoint_s:
            return self.ps_since_checkpoint > 0
        return False

    def checkpointed(self) -> None:
        """Reset the interval after a checkpoint."""
        self.last_checkpoint = self.clock()
        self.ps_since_checkpoint = 0.0
