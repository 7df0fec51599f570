"""The MD runner: drives one ``Simulation`` through the protocol stages.

:class:`MDRunner` holds the stage-skip / mid-stage checkpoint logic (a stage whose files
exist is skipped, a stage with a checkpoint resumes from it), the MD time limit, the
minimisation (CPU fallback on GPU platforms) and the NaN recovery of :meth:`MDRunner.run_ps`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import MDTimeLimit, Progress, RunOptions, StageFiles, StageResult, TimeBudget
from .constants import (
    AVOGADRO,
    BAROSTAT_FREQUENCY,
    GPU_MINIMISE_FORCE_CAP,
    MINIMISE_TOLERANCE,
)
from .errors import SimulationBlowUp
from .presets import Preset
from .reporters import HealthReporter, JobEvent, ObservableReporter
from .simulation import stage_seeds

__all__ = ["MDRunner"]

logger = logging.getLogger(__name__)


class MDRunner:
    """Drives one ``Simulation`` through the stages, with checkpoints and NaN recovery.

    Parameters
    ----------
    simulation : openmm.app.Simulation
        From :func:`create_simulation`.
    preset : Preset
        Settings.
    workdir : Path
        Folder for stage states, summaries and mid-stage checkpoints.
    masses : ndarray of shape (n_atoms,)
        Real atomic masses, amu (for densities).
    job_id : str
        Identifier used in events.
    callback : callable, optional
        Receives :class:`~simdata.reporters.JobEvent`.
    seed : int
        The job's seed (velocity seeds derive from it, see :func:`stage_seeds`).
    options : RunOptions, optional
        Mid-stage checkpoint interval and MD time limit.
    """

    def __init__(
        self,
        simulation,
        preset: Preset,
        workdir: Path,
        masses: np.ndarray,
        *,
        job_id: str = "",
        callback: Callable[[JobEvent], None] | None = None,
        seed: int = 0,
        options: RunOptions | None = None,
    ) -> None:
        self.sim = simulation
        self.preset = preset
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.masses = np.asarray(masses, dtype=float)
        self.job_id = job_id
        self.callback = callback
        self.seed = int(seed)
        self.seeds = stage_seeds(self.seed)
        self.options = options if options is not None else RunOptions()
        self.budget = TimeBudget(self.options)
        self.restarts = 0
        self._restarts_mark = 0  # ``restarts`` at the end of the last stage
        self._npt = False
        self._barostat = next(
            f for f in simulation.system.getForces() if f.__class__.__name__ == "MonteCarloBarostat"
        )
        self.sim.reporters.append(HealthReporter(max(1, preset.steps_per_ps)))
        self._stage: str | None = None  # stage being run (between resume and finish)
        self.progress = Progress()  # where that stage is (what a checkpoint records)
        self._resume: Progress | None = None  # loaded checkpoint, until its segment runs
        self._resume_frames: dict[str, np.ndarray] = {}
        self._frames: ObservableReporter | None = None  # reporter saved with checkpoints
        self._cpu_context = None  # reused CPU context for minimisations on GPU platforms
        self._minimised = 0

    # -- events and files -------------------------------------------------
    def emit(self, stage: str, kind: str, **info: Any) -> None:
        """Send an event to the callback (if any) and the log."""
        logger.debug("%s %s %s %s", self.job_id, stage, kind, info)
        if self.callback is not None:
            self.callback(JobEvent(self.job_id, stage, kind, info))

    def files(self, stage: str) -> StageFiles:
        """The stage's files in the work folder."""
        return StageFiles(self.workdir, stage)

    def state_path(self, stage: str) -> Path:
        """Where the state after ``stage`` is stored."""
        return self.files(stage).state

    def done(self, stage: str, *extra: str) -> StageResult | None:
        """The stored result of ``stage`` if it finished earlier."""
        return self.files(stage).done(*extra)

    def load(self, result: StageResult) -> None:
        """Load a finished stage's state into the context (and count its restarts)."""
        self.sim.loadState(str(result.state))
        self.restarts += int(result.summary.get("restarts", 0))
        self._restarts_mark = self.restarts

    def resume(self, stage: str, *extra: str) -> StageResult | None:
        """The stage-skip / checkpoint helper: every stage starts with it.

        Returns the stored result (its state loaded) when ``stage`` finished earlier (and
        the ``extra`` files exist); the stage then returns it at once. Otherwise the stage
        starts, from its mid-stage checkpoint if there is one: the checkpoint is loaded into
        the context and :meth:`resumed` returns its position, which the stage uses to skip
        what it had done (:meth:`skip_segment`, :meth:`fresh_segment`); reporters handed to
        :meth:`track` get their frames back.
        """
        res = self.done(stage, *extra)
        if res is not None:
            self.load(res)
            self.emit(stage, "skip")
            return res
        self._stage = stage
        self.progress = Progress()
        self._resume, self._resume_frames = None, {}
        part = self.files(stage).load_part(self.sim, self._set_barostat)
        if part is not None:
            prog, self._resume_frames = part
            self._resume = prog
            self.progress = Progress(
                prog.segment, prog.ps, dict(prog.data), prog.timestep_fs, prog.npt
            )
            self.emit(stage, "resume", segment=prog.segment, ps=prog.ps)
            logger.info(
                "%s: %s resumes at segment %d, %.1f ps", self.job_id, stage, prog.segment, prog.ps
            )
        return None

    def resumed(self) -> Progress | None:
        """Position of the loaded mid-stage checkpoint (None when the stage starts afresh)."""
        return self._resume

    def skip_segment(self, segment: int) -> bool:
        """Whether ``segment`` was finished before the loaded checkpoint."""
        return self._resume is not None and segment < self._resume.segment

    def resuming(self, segment: int) -> bool:
        """Whether the loaded checkpoint is inside ``segment`` (until that segment runs)."""
        return self._resume is not None and segment == self._resume.segment

    def fresh_segment(self, segment: int) -> bool:
        """Whether ``segment`` starts from its beginning (its set-up steps must run)."""
        return self._resume is None or segment > self._resume.segment

    def track(self, reporter: ObservableReporter | None) -> None:
        """Save ``reporter``'s frames with each checkpoint (and restore them on resume)."""
        self._frames = reporter
        if reporter is not None and self._resume_frames:
            reporter.clear()
            for key, values in self._resume_frames.items():
                reporter.frames[key].extend(list(values))
            self._resume_frames = {}

    def checkpoint(self) -> None:
        """Write a mid-stage checkpoint of the running stage now.

        With the barostat on, the context is reinitialised first (state preserved): OpenMM's
        checkpoint does not hold the Monte Carlo barostat's adaptive move size and counters,
        so the barostat restarts from the same point whether the run goes on or is resumed
        from this checkpoint (an identical continuation on the same platform).
        """
        if self._stage is None:
            return
        if self._npt:
            self.sim.context.reinitialize(preserveState=True)
        frames = self._frames.arrays() if self._frames is not None else None
        self.files(self._stage).save_part(self.sim, self.progress, frames)
        self.budget.checkpointed()
        self.emit(self._stage, "checkpoint", segment=self.progress.segment, ps=self.progress.ps)

    def finish(self, stage: str, summary: dict[str, Any]) -> StageResult:
        """Store state and summary atomically and return the stage result.

        The summary records the NaN restarts of the stage (``restarts``), so that a job resumed
        from its checkpoints still reports every restart of its finished stages. The mid-stage
        checkpoint of the stage is removed.
        """
        summary = {**summary, "restarts": self.restarts - self._restarts_mark}
        self._restarts_mark = self.restarts
        res = self.files(stage).finish(self.sim, summary)
        self._stage, self._resume, self._frames = None, None, None
        self.progress = Progress()
        self.emit(stage, "end", **summary)
        return res

    # -- minimisation -------------------------------------------------------
    def minimize(self, max_iterations: int, *, on_cpu: bool | None = None) -> None:
        """Local energy minimisation of the current state.

        CUDA and OpenCL accumulate forces in fixed point, which overflows for the enormous
        forces of nearly overlapping atoms (a freshly packed cell) and turns the minimised
        coordinates into garbage; CPU forces are floating point. On GPU platforms the first
        minimisation of a runner therefore runs in a CPU context of the same System (created
        once and reused), and later ones (the small, affine compression steps) in the GPU
        context itself unless its largest force exceeds
        :data:`~simdata.constants.GPU_MINIMISE_FORCE_CAP` or is not finite, or the result is
        not finite; then the CPU context takes over. This keeps the compression cycles on the
        GPU instead of creating a CPU context per cycle.

        Parameters
        ----------
        max_iterations : int
            L-BFGS iteration limit.
        on_cpu : bool, optional
            Force (True) or forbid (False) the CPU context; by default decided as above.

        Raises
        ------
        SimulationBlowUp
            If the minimised coordinates are not finite.
        """
        import openmm

        ctx = self.sim.context
        gpu = ctx.getPlatform().getName() in ("CUDA", "OpenCL", "HIP")
        first = self._minimised == 0
        self._minimised += 1
        start = ctx.getState(getPositions=True)
        if on_cpu is None:
            on_cpu = gpu and (first or not self._forces_below_cap())
        if not on_cpu:
            openmm.LocalEnergyMinimizer.minimize(ctx, MINIMISE_TOLERANCE, max_iterations)
            if gpu and not self._finite_positions():
                logger.info("%s: GPU minimisation not finite; redone on the CPU", self.job_id)
                ctx.setState(start)
                on_cpu = True
        if on_cpu and gpu:
            cpu = self._cpu()
            cpu.setPeriodicBoxVectors(*start.getPeriodicBoxVectors())
            cpu.setPositions(start.getPositions())
            openmm.LocalEnergyMinimizer.minimize(cpu, MINIMISE_TOLERANCE, max_iterations)
            ctx.setPositions(cpu.getState(getPositions=True).getPositions(asNumpy=True))
        elif on_cpu:
            openmm.LocalEnergyMinimizer.minimize(ctx, MINIMISE_TOLERANCE, max_iterations)
        if not self._finite_positions():
            raise SimulationBlowUp("energy minimisation produced non-finite coordinates")

    def _finite_positions(self) -> bool:
        from openmm import unit

        x = self.sim.context.getState(getPositions=True).getPositions(asNumpy=True)
        return bool(np.isfinite(x.value_in_unit(unit.nanometer)).all())

    def _forces_below_cap(self) -> bool:
        from openmm import unit

        f = self.sim.context.getState(getForces=True).getForces(asNumpy=True)
        f = f.value_in_unit(unit.kilojoule_per_mole / unit.nanometer)
        return bool(np.isfinite(f).all() and np.abs(f).max() < GPU_MINIMISE_FORCE_CAP)

    def _cpu(self):
        """The runner's CPU context for minimisations (created on first use)."""
        import openmm

        if self._cpu_context is None:
            self._cpu_context = openmm.Context(
                self.sim.system,
                openmm.VerletIntegrator(0.001),
                openmm.Platform.getPlatformByName("CPU"),
            )
        return self._cpu_context

    # -- thermodynamic state ----------------------------------------------
    def density(self) -> float:
        """Current density, g/cm3."""
        from openmm import unit

        box = self.sim.context.getState().getPeriodicBoxVectors(asNumpy=True)
        vol = abs(np.linalg.det(box.value_in_unit(unit.nanometer)))
        return float(self.masses.sum() / AVOGADRO / (vol * 1e-21))

    def set_conditions(self, temperature: float, pressure_bar: float | None) -> None:
        """Set the thermostat temperature and the barostat (None: NVT)."""
        from openmm import MonteCarloBarostat, unit

        self.sim.integrator.setTemperature(temperature * unit.kelvin)
        npt = pressure_bar is not None
        if npt != self._npt:
            self._set_barostat(Progress(npt=npt))
        self.sim.context.setParameter(MonteCarloBarostat.Temperature(), temperature)
        if npt:
            self.sim.context.setParameter(MonteCarloBarostat.Pressure(), pressure_bar)

    def _set_barostat(self, progress: Progress) -> None:
        """Switch the barostat on or off (``progress.npt``; None: leave it)."""
        if progress.npt is None or progress.npt == self._npt:
            return
        self._barostat.setFrequency(BAROSTAT_FREQUENCY if progress.npt else 0)
        self.sim.context.reinitialize(preserveState=True)
        self._npt = progress.npt

    def run_ps(
        self,
        ps: float,
        *,
        stage: str,
        timestep_fs: float | None = None,
        segment: int | None = None,
    ) -> float:
        """Integrate ``ps`` picoseconds in chunks, recovering from blow-ups.

        ``timestep_fs`` sets a smaller step for this call only (default: the preset's).
        With ``segment`` (a number that increases through the stage) the call is
        resumable: mid-stage checkpoints record how far it got, a segment finished before
        the loaded checkpoint is skipped and the checkpoint's own segment runs only its
        remaining picoseconds. Returns the wall time in seconds.

        Raises
        ------
        SimulationBlowUp
            After ``preset.max_restarts`` failed recoveries in this call.
        MDTimeLimit
            When the job's MD time limit is reached (after a checkpoint of a resumable call).
        """
        from openmm import OpenMMException, unit

        integ = self.sim.integrator
        dt0 = integ.getStepSize()
        dt_fs = dt0.value_in_unit(unit.femtosecond)
        if timestep_fs is not None and timestep_fs < dt_fs:
            dt_fs = float(timestep_fs)
        done_ps = 0.0
        if segment is not None and self._resume is not None:
            if segment < self._resume.segment:
                return 0.0
            if segment == self._resume.segment:
                done_ps = self._resume.ps
                if self._resume.timestep_fs and self._resume.timestep_fs < dt_fs:
                    dt_fs = float(self._resume.timestep_fs)
                self._resume = None
        integ.setStepSize(dt_fs * unit.femtosecond)
        restarts = 0
        t0 = time.perf_counter()
        try:
            while ps - done_ps > 1e-9:
                chunk = min(self.preset.chunk_ps, ps - done_ps)
                good = self.sim.context.getState(
                    getPositions=True, getVelocities=True, getParameters=True
                )
                n = max(1, round(chunk * 1000.0 / dt_fs))
                try:
                    self.sim.step(n)
                    e = self.sim.context.getState(getEnergy=True).getPotentialEnergy()
                    if not math.isfinite(e.value_in_unit(unit.kilojoule_per_mole)):
                        raise SimulationBlowUp("potential energy is not finite")
                except (OpenMMException, SimulationBlowUp) as exc:
                    restarts += 1
                    self.restarts += 1
                    if restarts > self.preset.max_restarts:
                        raise SimulationBlowUp(
                            f"stage {stage}: blow-up not recovered after "
                            f"{self.preset.max_restarts} restarts ({exc})"
                        ) from exc
                    self.sim.context.setState(good)
                    dt_fs /= 2
                    integ.setStepSize(dt_fs * unit.femtosecond)
                    self.emit(stage, "restart", reason=str(exc)[:200], timestep_fs=dt_fs)
                    logger.warning("%s: %s; restart with %.2f fs", stage, exc, dt_fs)
                    continue
                step_ps = n * dt_fs / 1000.0
                done_ps += step_ps
                self._after_chunk(stage, segment, done_ps, dt_fs, step_ps)
        finally:
            integ.setStepSize(dt0)
        return time.perf_counter() - t0

    def _after_chunk(
        self, stage: str, segment: int | None, done_ps: float, dt_fs: float, step_ps: float
    ) -> None:
        """Checkpoint when due and stop at the time limit."""
        self.budget.advance(step_ps)
        resumable = segment is not None and self._stage is not None
        if resumable:
            self.progress.segment = segment
            self.progress.ps = done_ps
            self.progress.timestep_fs = dt_fs
            self.progress.npt = self._npt
        expired = self.budget.expired()
        if resumable and (expired or self.budget.checkpoint_due()):
            self.checkpoint()
        if expired:
            where = f"segment {segment}, {done_ps:.1f} ps" if resumable else "not resumable"
            raise MDTimeLimit(
                stage,
                f"MD time limit of {self.options.max_md_s:g} s reached in stage {stage} "
                f"({where}); the next run resumes from the last checkpoint",
            )
