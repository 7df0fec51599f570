"""MD protocol on OpenMM: minimise, compress, 21-step anneal, NPT check, production.

Every stage is resumable: it ends by writing its state (OpenMM XML) and a JSON
summary into the work folder, and a stage whose files exist is skipped. NaN
blow-ups restart the failing chunk from the last good state with half the step.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import MDTimeLimit, Progress, RunOptions, StageFiles, StageResult, TimeBudget
from .constants import (
    AVOGADRO,
    BAR_NM3_KJ_MOL,
    BAROSTAT_FREQUENCY,
    BAROSTAT_SEED_OFFSET,
    EWALD_TOLERANCE,
    GPU_MINIMISE_FORCE_CAP,
    INTEGRATOR_SEED_OFFSET,
    MINIMISE_TOLERANCE,
    VELOCITY_SEED_BASE,
    VELOCITY_SEED_STRIDE,
)
from .errors import SimulationBlowUp
from .presets import Preset
from .reporters import HealthReporter, JobEvent, ObservableReporter, equilibrated

__all__ = [
    "LARSEN_STEPS",
    "StageResult",
    "MDRunner",
    "select_platform",
    "stage_seeds",
    "AROMATIC_GAFF2_TYPES",
    "prmtop_atom_types",
    "integration_step_fs",
    "create_simulation",
    "minimise",
    "scale_cell",
    "compress",
    "anneal",
    "equilibrate",
    "production",
    "temperature_scan",
]

logger = logging.getLogger(__name__)

#: Larsen et al. 21-step compression/relaxation scheme as used by RadonPy:
#: (ensemble, temperature key, pressure as a fraction of pmax, length in ps).
#: The 21st step (NPT at the target state) is :func:`equilibrate`.
LARSEN_STEPS: tuple[tuple[str, str, float, float], ...] = (
    ("nvt", "tmax", 0.0, 50),
    ("nvt", "t", 0.0, 50),
    ("npt", "t", 0.02, 50),
    ("nvt", "tmax", 0.0, 50),
    ("nvt", "t", 0.0, 100),
    ("npt", "t", 0.6, 50),
    ("nvt", "tmax", 0.0, 50),
    ("nvt", "t", 0.0, 100),
    ("npt", "t", 1.0, 50),
    ("nvt", "tmax", 0.0, 50),
    ("nvt", "t", 0.0, 100),
    ("npt", "t", 0.5, 5),
    ("nvt", "tmax", 0.0, 5),
    ("nvt", "t", 0.0, 10),
    ("npt", "t", 0.1, 5),
    ("nvt", "tmax", 0.0, 5),
    ("nvt", "t", 0.0, 10),
    ("npt", "t", 0.01, 5),
    ("nvt", "tmax", 0.0, 5),
    ("nvt", "t", 0.0, 10),
)


def select_platform(name: str = "auto"):
    """OpenMM platform by name; ``"auto"`` picks CUDA, then OpenCL, then CPU."""
    import openmm

    names = [
        openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())
    ]
    if name != "auto":
        if name not in names:
            raise ValueError(f"OpenMM platform {name!r} not available; available: {names}")
        return openmm.Platform.getPlatformByName(name)
    for cand in ("CUDA", "OpenCL", "CPU", "Reference"):
        if cand in names:
            try:
                platform = openmm.Platform.getPlatformByName(cand)
                _probe(platform)
                return platform
            except Exception as exc:  # a listed GPU platform can still fail to start
                logger.info("platform %s unusable (%s)", cand, exc)
    raise RuntimeError("no usable OpenMM platform")


def _probe(platform) -> None:
    import openmm

    system = openmm.System()
    system.addParticle(1.0)
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), platform)
    del ctx


#: GAFF2 atom types of aromatic rings (pure and non-pure aromatic C, N, P).
AROMATIC_GAFF2_TYPES = frozenset({"ca", "cp", "cq", "cc", "cd", "nb", "nc", "nd", "pb", "pc", "pd"})


def prmtop_atom_types(prmtop: Path) -> list[str]:
    """Atom types (``%FLAG AMBER_ATOM_TYPE``) of an Amber topology, in atom order."""
    lines = Path(prmtop).read_text().splitlines()
    try:  # tleap pads the flag lines with blanks to 80 columns
        start = [line.rstrip() for line in lines].index("%FLAG AMBER_ATOM_TYPE") + 2
    except ValueError as err:
        raise ValueError(f"{prmtop} has no AMBER_ATOM_TYPE section") from err
    types: list[str] = []
    for line in lines[start:]:
        if line.startswith("%"):
            break
        types += [line[i : i + 4].strip() for i in range(0, len(line), 4)]
    return [t for t in types if t]


def integration_step_fs(prmtop: Path, preset: Preset) -> float:
    """The step for this cell: ``aromatic_timestep_fs`` if it has aromatic atoms and is smaller."""
    dt = preset.timestep_fs
    if preset.aromatic_timestep_fs and preset.aromatic_timestep_fs < dt:
        if AROMATIC_GAFF2_TYPES.intersection(prmtop_atom_types(prmtop)):
            return float(preset.aromatic_timestep_fs)
    return float(dt)


def stage_seeds(seed: int) -> dict[str, int]:
    """The random seeds a job of seed ``seed`` uses (recorded in the job's row).

    ``integrator`` and ``barostat`` seed the Langevin integrator and the Monte Carlo
    barostat; ``velocities_minimise`` draws the velocities after the minimisation;
    compression cycle ``i`` draws its velocities with ``velocities_compress + i``.

    Examples
    --------
    >>> stage_seeds(0)["velocities_minimise"]
    11
    """
    s = int(seed)
    return {
        "integrator": s + INTEGRATOR_SEED_OFFSET,
        "barostat": s + BAROSTAT_SEED_OFFSET,
        "velocities_minimise": VELOCITY_SEED_BASE + VELOCITY_SEED_STRIDE * s,
        "velocities_compress": VELOCITY_SEED_STRIDE * s,
    }


def create_simulation(
    prmtop: Path,
    positions_nm: np.ndarray,
    box_nm: float,
    preset: Preset,
    *,
    seed: int = 0,
    platform=None,
    constraints: str | None = "hbonds",
    platform_properties: dict[str, str] | None = None,
):
    """OpenMM ``Simulation`` of a prmtop system: PME, H-bond constraints, Langevin
    middle integrator, Monte Carlo barostat (switched on and off by the stages).

    Parameters
    ----------
    prmtop : Path
        Amber topology of the whole cell.
    positions_nm : ndarray of shape (n_atoms, 3)
        Coordinates, nm.
    box_nm : float
        Cubic box edge, nm.
    preset : Preset
        Settings (cutoff, step, hydrogen mass, temperature, pressure, platform).
    seed : int
        Seed of the integrator and barostat.
    platform : openmm.Platform, optional
        Overrides ``preset.platform``.
    constraints : {"hbonds", None}
        Bonds to hydrogen rigid (the default), or every bond flexible.
    platform_properties : dict, optional
        OpenMM platform properties (``DeviceIndex``, ``Precision``, ``Threads``); see
        :meth:`simdata.devices.Device.properties`. Default: mixed precision on GPUs.

    Returns
    -------
    openmm.app.Simulation
    """
    import openmm
    from openmm import app, unit

    if constraints not in ("hbonds", None):
        raise ValueError(f"constraints must be 'hbonds' or None, got {constraints!r}")
    top = app.AmberPrmtopFile(str(prmtop))
    kwargs = {}
    if preset.hydrogen_mass:
        kwargs["hydrogenMass"] = preset.hydrogen_mass * unit.amu
    system = top.createSystem(
        nonbondedMethod=app.PME,
        nonbondedCutoff=preset.cutoff_nm * unit.nanometer,
        constraints={"hbonds": app.HBonds, None: None}[constraints],
        ewaldErrorTolerance=EWALD_TOLERANCE,
        **kwargs,
    )
    barostat = openmm.MonteCarloBarostat(
        preset.pressure_bar * unit.bar, preset.temperature * unit.kelvin, 0
    )
    barostat.setRandomNumberSeed(int(seed) + BAROSTAT_SEED_OFFSET)
    system.addForce(barostat)
    integrator = openmm.LangevinMiddleIntegrator(
        preset.temperature * unit.kelvin,
        preset.friction_per_ps / unit.picosecond,
        preset.timestep_fs * unit.femtosecond,
    )
    integrator.setRandomNumberSeed(int(seed) + INTEGRATOR_SEED_OFFSET)
    if platform is None:
        platform = select_platform(preset.platform)
    if platform_properties is not None:
        props = dict(platform_properties)
    else:
        props = {"Precision": "mixed"} if platform.getName() in ("CUDA", "OpenCL", "HIP") else {}
    sim = app.Simulation(top.topology, system, integrator, platform, props)
    sim.context.setPeriodicBoxVectors(
        openmm.Vec3(box_nm, 0, 0), openmm.Vec3(0, box_nm, 0), openmm.Vec3(0, 0, box_nm)
    )
    sim.context.setPositions(np.asarray(positions_nm) * unit.nanometer)
    return sim


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


# -- stages ---------------------------------------------------------------
def minimise(runner: MDRunner, *, max_iterations: int = 2000) -> StageResult:
    """Energy minimisation, then velocities at the target temperature."""
    from openmm import unit

    if (res := runner.resume("minimise")) is not None:
        return res
    runner.emit("minimise", "start")
    t0 = time.perf_counter()
    runner.minimize(max_iterations)
    vseed = runner.seeds["velocities_minimise"]
    runner.sim.context.setVelocitiesToTemperature(runner.preset.temperature * unit.kelvin, vseed)
    e = runner.sim.context.getState(getEnergy=True).getPotentialEnergy()
    return runner.finish(
        "minimise",
        {
            "potential_kj_mol": e.value_in_unit(unit.kilojoule_per_mole),
            "velocity_seed": vseed,
            "wall_s": time.perf_counter() - t0,
        },
    )


def scale_cell(runner: MDRunner, factor: float) -> None:
    """Scale the box and every atom coordinate by ``factor`` (affine), then restore constraints.

    Scaling all coordinates shortens every distance by the same factor, so no two
    atoms can be pushed onto each other. Scaling molecule centres instead (rigid
    molecules) fails for chains longer than the box: the chain overlaps its own
    periodic image more at every cycle, and the dynamics blow up. The few-percent bond
    and angle strain that affine scaling leaves is removed by the next minimisation.
    """
    import openmm
    from openmm import unit

    ctx = runner.sim.context
    state = ctx.getState(getPositions=True)
    x = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    box = state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(unit.nanometer)
    ctx.setPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box * factor))
    ctx.setPositions(x * factor * unit.nanometer)
    ctx.applyConstraints(1e-5)


#: Segment numbers of the compression stage after its scaling cycles (0, 1, ...).
_COMPRESS_NPT, _COMPRESS_SETTLE = 1000, 1001


def compress(runner: MDRunner) -> StageResult:
    """Direct compression to ``compress_target_density`` at ``compress_temperature``.

    The cell and all coordinates are scaled by at most 3% in length per cycle,
    each cycle followed by a short minimisation and 0.5 ps of NVT dynamics (at
    ``compress_timestep_fs``); then
    ``compress_ps`` of NPT at ``compress_pressure_bar`` and a short NPT at the target
    state. A barostat alone is far too slow from a packing density of ~0.15 g/cm3.
    Cycle ``i`` draws velocities with seed ``stage_seeds(seed)["velocities_compress"] + i``.
    """
    from openmm import unit

    if (res := runner.resume("compress")) is not None:
        return res
    p = runner.preset
    vbase = runner.seeds["velocities_compress"]
    prog = runner.resumed()
    d = prog.data if prog is not None else {}
    wall, t, cycles = d.get("wall", 0.0), d.get("t", 0.0), d.get("cycles", 0)
    if prog is None:
        runner.emit("compress", "start", density=runner.density())
    t0 = time.perf_counter()
    # the last cycle scales exactly onto the target; the tolerance keeps a density a rounding
    # error short of it from running up to 200 cycles of factor 1.0
    target = p.compress_target_density * (1.0 - 1e-6)
    if prog is None or prog.segment < _COMPRESS_NPT:
        runner.set_conditions(p.compress_temperature, None)
        while cycles < 200:
            if not runner.resuming(cycles):  # a new cycle: scale, minimise, new velocities
                if runner.density() >= target:
                    break
                factor = max(0.97, (runner.density() / p.compress_target_density) ** (1.0 / 3.0))
                scale_cell(runner, factor)
                runner.minimize(100)
                runner.sim.context.setVelocitiesToTemperature(
                    p.compress_temperature * unit.kelvin, vbase + cycles
                )
            runner.progress.data = {"wall": wall, "t": t, "cycles": cycles}
            runner.run_ps(0.5, stage="compress", timestep_fs=p.compress_timestep_fs, segment=cycles)
            t += 0.5
            cycles += 1
    wall += time.perf_counter() - t0
    runner.progress.data = {"wall": wall, "t": t, "cycles": cycles}
    runner.set_conditions(p.compress_temperature, p.compress_pressure_bar)
    wall += runner.run_ps(p.compress_ps, stage="compress", segment=_COMPRESS_NPT)
    runner.set_conditions(p.temperature, p.pressure_bar)
    runner.progress.data = {"wall": wall, "t": t, "cycles": cycles}
    wall += runner.run_ps(min(5.0, p.compress_ps), stage="compress", segment=_COMPRESS_SETTLE)
    t += p.compress_ps + min(5.0, p.compress_ps)
    return runner.finish(
        "compress",
        {
            "density": runner.density(),
            "ps": t,
            "cycles": cycles,
            "velocity_seeds": [vbase, vbase + max(cycles - 1, 0)],
            "wall_s": wall,
        },
    )


def anneal(runner: MDRunner) -> StageResult:
    """The first 20 steps of the Larsen scheme, lengths scaled by ``preset.anneal_scale``."""
    if (res := runner.resume("anneal")) is not None:
        return res
    p = runner.preset
    prog = runner.resumed()
    d = prog.data if prog is not None else {}
    wall, total, densities = d.get("wall", 0.0), d.get("ps", 0.0), list(d.get("trace", []))
    if prog is None:
        runner.emit("anneal", "start", density=runner.density())
    for i, (ens, tkey, pfrac, length) in enumerate(LARSEN_STEPS):
        if runner.skip_segment(i):
            continue
        temp = p.anneal_tmax if tkey == "tmax" else p.temperature
        runner.set_conditions(temp, pfrac * p.anneal_pmax_bar if ens == "npt" else None)
        ps = max(1.0, length * p.anneal_scale)
        runner.progress.data = {"wall": wall, "ps": total, "trace": densities}
        wall += runner.run_ps(ps, stage="anneal", segment=i)
        total += ps
        densities.append(runner.density())
    runner.set_conditions(p.temperature, p.pressure_bar)
    return runner.finish(
        "anneal", {"density": runner.density(), "ps": total, "wall_s": wall, "trace": densities}
    )


def equilibrate(runner: MDRunner) -> StageResult:
    """NPT at the target state in windows of ``npt_ps`` until the equilibrium check passes.

    Up to ``max_npt_extensions`` extra windows are run; the summary records
    whether the last window passed (``equilibrated``) and its statistics.
    """
    if (res := runner.resume("equilibrate")) is not None:
        return res
    p = runner.preset
    runner.set_conditions(p.temperature, p.pressure_bar)
    rep = ObservableReporter(
        max(1, round(p.report_ps * p.steps_per_ps)), runner.masses, positions=False
    )
    prog = runner.resumed()
    d = prog.data if prog is not None else {}
    wall, windows = d.get("wall", 0.0), d.get("windows", 0)
    ok, info = False, {}
    runner.sim.reporters.append(rep)
    runner.track(rep)
    try:
        while True:
            if runner.fresh_segment(windows):
                rep.clear()
                runner.emit("equilibrate", "start" if windows == 0 else "extend", window=windows)
            runner.progress.data = {"wall": wall, "windows": windows}
            wall += runner.run_ps(p.npt_ps, stage="equilibrate", segment=windows)
            windows += 1
            a = rep.arrays()
            ok, info = equilibrated(
                a["density"],
                a["potential"],
                density_tol=p.equil_density_tol,
                energy_tol=p.equil_energy_tol,
            )
            if ok or windows > p.max_npt_extensions:
                break
    finally:
        runner.sim.reporters.remove(rep)
    if not ok:
        logger.warning(
            "%s: equilibrium check failed after %d windows: %s", runner.job_id, windows, info
        )
    return runner.finish(
        "equilibrate",
        {
            "density": float(a["density"][len(a["density"]) // 2 :].mean()),
            "equilibrated": ok,
            "windows": windows,
            "ps": windows * p.npt_ps,
            "wall_s": wall,
            **info,
        },
    )


def production(
    runner: MDRunner, charges: np.ndarray, *, n_chains: int, ends: tuple[int, int] | None
) -> tuple[StageResult, dict[str, np.ndarray]]:
    """NPT production at the target state, sampling every ``report_ps``.

    Returns the stage result (with ``ns_per_day`` of the sampled run) and the
    frames (saved to ``production.npz``). Mid-stage checkpoints carry the frames
    sampled so far, so a resumed production continues the same series.
    """
    npz = runner.workdir / "production.npz"
    if (res := runner.resume("production", npz.name)) is not None:
        return res, dict(np.load(npz))
    p = runner.preset
    runner.set_conditions(p.temperature, p.pressure_bar)
    rep = ObservableReporter(
        max(1, round(p.report_ps * p.steps_per_ps)),
        runner.masses,
        charges,
        n_chains=n_chains,
        ends=ends,
    )
    prog = runner.resumed()
    d = prog.data if prog is not None else {}
    runner.sim.reporters.append(rep)
    runner.track(rep)
    if prog is None:
        runner.emit("production", "start")
    try:
        runner.progress.data = {"wall": d.get("wall", 0.0)}
        wall = runner.run_ps(p.production_ps, stage="production", segment=0)
    finally:
        runner.sim.reporters.remove(rep)
    arrays = rep.arrays()
    tmp = runner.workdir / "production.tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, npz)
    run_ps = p.production_ps - (prog.ps if prog is not None else 0.0)
    ns_day = run_ps / 1000.0 / (wall / 86400.0) if wall > 0 else float("nan")
    res = runner.finish("production", {"ps": p.production_ps, "wall_s": wall, "ns_per_day": ns_day})
    return res, arrays


def temperature_scan(runner: MDRunner, temperatures: list[float]) -> dict[float, dict[str, float]]:
    """Short NPT runs at other temperatures for finite-difference Cp and expansion.

    Each run starts from the production end state, lasts ``cp_run_ps`` and discards
    its first fifth. Returns ``{T: {"enthalpy": kJ/mol, "enthalpy_sem", "volume": nm3,
    "volume_sem"}}``. Results are stored in ``scan_<T>.json`` and reused.
    """
    from .properties import block_average

    p = runner.preset
    out: dict[float, dict[str, float]] = {}
    start = runner.sim.context.getState(getPositions=True, getVelocities=True, getParameters=True)
    pv = p.pressure_bar * BAR_NM3_KJ_MOL  # kJ/mol per nm3
    for temp in temperatures:
        path = runner.workdir / f"scan_{temp:.1f}.json"
        if path.exists():
            out[temp] = json.loads(path.read_text())
            continue
        runner.sim.context.setState(start)
        runner.set_conditions(temp, p.pressure_bar)
        runner.run_ps(p.cp_run_ps / 5, stage=f"scan_{temp:.0f}")
        rep = ObservableReporter(
            max(1, round(p.report_ps * p.steps_per_ps)), runner.masses, positions=False
        )
        runner.sim.reporters.append(rep)
        try:
            runner.run_ps(p.cp_run_ps * 4 / 5, stage=f"scan_{temp:.0f}")
        finally:
            runner.sim.reporters.remove(rep)
        a = rep.arrays()
        h = a["potential"] + a["kinetic"] + pv * a["volume"]
        hm, hs = block_average(h, p.n_blocks)
        vm, vs = block_average(a["volume"], p.n_blocks)
        out[temp] = {"enthalpy": hm, "enthalpy_sem": hs, "volume": vm, "volume_sem": vs}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(out[temp]))
        os.replace(tmp, path)
    runner.sim.context.setState(start)
    runner.set_conditions(p.temperature, p.pressure_bar)
    return out
