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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SimulationBlowUp
from .presets import Preset
from .reporters import HealthReporter, JobEvent, ObservableReporter, equilibrated

__all__ = [
    "LARSEN_STEPS",
    "StageResult",
    "MDRunner",
    "select_platform",
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


def create_simulation(
    prmtop: Path,
    positions_nm: np.ndarray,
    box_nm: float,
    preset: Preset,
    *,
    seed: int = 0,
    platform=None,
    constraints: str | None = "hbonds",
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
        ewaldErrorTolerance=5e-4,
        **kwargs,
    )
    barostat = openmm.MonteCarloBarostat(
        preset.pressure_bar * unit.bar, preset.temperature * unit.kelvin, 0
    )
    barostat.setRandomNumberSeed(int(seed) + 7)
    system.addForce(barostat)
    integrator = openmm.LangevinMiddleIntegrator(
        preset.temperature * unit.kelvin,
        preset.friction_per_ps / unit.picosecond,
        preset.timestep_fs * unit.femtosecond,
    )
    integrator.setRandomNumberSeed(int(seed) + 1)
    if platform is None:
        platform = select_platform(preset.platform)
    props = {}
    if platform.getName() in ("CUDA", "OpenCL"):
        props["Precision"] = "mixed"
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
        Folder for stage states and summaries.
    masses : ndarray of shape (n_atoms,)
        Real atomic masses, amu (for densities).
    job_id : str
        Identifier used in events.
    callback : callable, optional
        Receives :class:`~simdata.reporters.JobEvent`.
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
    ) -> None:
        self.sim = simulation
        self.preset = preset
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.masses = np.asarray(masses, dtype=float)
        self.job_id = job_id
        self.callback = callback
        self.restarts = 0
        self._restarts_mark = 0  # ``restarts`` at the end of the last stage
        self._npt = False
        self._barostat = next(
            f for f in simulation.system.getForces() if f.__class__.__name__ == "MonteCarloBarostat"
        )
        self.sim.reporters.append(HealthReporter(max(1, preset.steps_per_ps)))

    # -- events and files -------------------------------------------------
    def emit(self, stage: str, kind: str, **info: Any) -> None:
        """Send an event to the callback (if any) and the log."""
        logger.debug("%s %s %s %s", self.job_id, stage, kind, info)
        if self.callback is not None:
            self.callback(JobEvent(self.job_id, stage, kind, info))

    def state_path(self, stage: str) -> Path:
        """Where the state after ``stage`` is stored."""
        return self.workdir / f"{stage}.xml"

    def done(self, stage: str) -> StageResult | None:
        """The stored result of ``stage`` if it finished earlier."""
        summ = self.workdir / f"{stage}.json"
        if summ.exists() and self.state_path(stage).exists():
            return StageResult(stage, self.state_path(stage), json.loads(summ.read_text()), True)
        return None

    def load(self, result: StageResult) -> None:
        """Load a finished stage's state into the context (and count its restarts)."""
        self.sim.loadState(str(result.state))
        self.restarts += int(result.summary.get("restarts", 0))
        self._restarts_mark = self.restarts

    def finish(self, stage: str, summary: dict[str, Any]) -> StageResult:
        """Store state and summary atomically and return the stage result.

        The summary records the NaN restarts of the stage (``restarts``), so that a job resumed
        from its checkpoints still reports every restart of its finished stages.
        """
        summary = {**summary, "restarts": self.restarts - self._restarts_mark}
        self._restarts_mark = self.restarts
        path = self.state_path(stage)
        tmp = path.with_suffix(".xml.tmp")
        self.sim.saveState(str(tmp))
        os.replace(tmp, path)
        summ = self.workdir / f"{stage}.json"
        tmpj = summ.with_suffix(".json.tmp")
        tmpj.write_text(json.dumps(summary, indent=1, default=float))
        os.replace(tmpj, summ)
        self.emit(stage, "end", **summary)
        return StageResult(stage, path, summary)

    # -- minimisation -------------------------------------------------------
    def minimize(self, max_iterations: int, *, on_cpu: bool | None = None) -> None:
        """Local energy minimisation of the current state.

        On GPU platforms the minimisation runs in a CPU context of the same System and
        the result is copied back: CUDA and OpenCL accumulate forces in fixed point, which
        overflows for the enormous forces of nearly overlapping atoms (a freshly packed or
        compressed cell) and turns the minimised coordinates into garbage. CPU forces are
        floating point.

        Parameters
        ----------
        max_iterations : int
            L-BFGS iteration limit.
        on_cpu : bool, optional
            Force (True) or skip (False) the CPU context; by default used on CUDA,
            OpenCL and HIP.

        Raises
        ------
        SimulationBlowUp
            If the minimised coordinates are not finite.
        """
        import openmm
        from openmm import unit

        ctx = self.sim.context
        if on_cpu is None:
            on_cpu = ctx.getPlatform().getName() in ("CUDA", "OpenCL", "HIP")
        if on_cpu:
            state = ctx.getState(getPositions=True)
            cpu = openmm.Context(
                self.sim.system,
                openmm.VerletIntegrator(0.001),
                openmm.Platform.getPlatformByName("CPU"),
            )
            cpu.setPeriodicBoxVectors(*state.getPeriodicBoxVectors())
            cpu.setPositions(state.getPositions())
            openmm.LocalEnergyMinimizer.minimize(cpu, 10.0, max_iterations)
            pos = cpu.getState(getPositions=True).getPositions(asNumpy=True)
            del cpu
            ctx.setPositions(pos)
        else:
            self.sim.minimizeEnergy(maxIterations=max_iterations)
        x = ctx.getState(getPositions=True).getPositions(asNumpy=True)
        if not np.isfinite(x.value_in_unit(unit.nanometer)).all():
            raise SimulationBlowUp("energy minimisation produced non-finite coordinates")

    # -- thermodynamic state ----------------------------------------------
    def density(self) -> float:
        """Current density, g/cm3."""
        from openmm import unit

        box = self.sim.context.getState().getPeriodicBoxVectors(asNumpy=True)
        vol = abs(np.linalg.det(box.value_in_unit(unit.nanometer)))
        return float(self.masses.sum() / 6.02214076e23 / (vol * 1e-21))

    def set_conditions(self, temperature: float, pressure_bar: float | None) -> None:
        """Set the thermostat temperature and the barostat (None: NVT)."""
        from openmm import MonteCarloBarostat, unit

        self.sim.integrator.setTemperature(temperature * unit.kelvin)
        npt = pressure_bar is not None
        if npt != self._npt:
            self._barostat.setFrequency(25 if npt else 0)
            self.sim.context.reinitialize(preserveState=True)
            self._npt = npt
        self.sim.context.setParameter(MonteCarloBarostat.Temperature(), temperature)
        if npt:
            self.sim.context.setParameter(MonteCarloBarostat.Pressure(), pressure_bar)

    def run_ps(self, ps: float, *, stage: str, timestep_fs: float | None = None) -> float:
        """Integrate ``ps`` picoseconds in chunks, recovering from blow-ups.

        ``timestep_fs`` sets a smaller step for this call only (default: the preset's).
        Returns the wall time in seconds. Raises ``SimulationBlowUp`` after
        ``preset.max_restarts`` failed recoveries in this call.
        """
        from openmm import OpenMMException, unit

        integ = self.sim.integrator
        dt0 = integ.getStepSize()
        dt_fs = dt0.value_in_unit(unit.femtosecond)
        if timestep_fs is not None and timestep_fs < dt_fs:
            dt_fs = float(timestep_fs)
            integ.setStepSize(dt_fs * unit.femtosecond)
        remaining = float(ps)
        restarts = 0
        t0 = time.perf_counter()
        try:
            while remaining > 1e-9:
                chunk = min(self.preset.chunk_ps, remaining)
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
                remaining -= n * dt_fs / 1000.0
        finally:
            integ.setStepSize(dt0)
        return time.perf_counter() - t0


# -- stages ---------------------------------------------------------------
def minimise(runner: MDRunner, *, max_iterations: int = 2000) -> StageResult:
    """Energy minimisation, then velocities at the target temperature."""
    from openmm import unit

    if (res := runner.done("minimise")) is not None:
        runner.load(res)
        return res
    runner.emit("minimise", "start")
    t0 = time.perf_counter()
    runner.minimize(max_iterations)
    runner.sim.context.setVelocitiesToTemperature(runner.preset.temperature * unit.kelvin, 11)
    e = runner.sim.context.getState(getEnergy=True).getPotentialEnergy()
    return runner.finish(
        "minimise",
        {
            "potential_kj_mol": e.value_in_unit(unit.kilojoule_per_mole),
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


def compress(runner: MDRunner) -> StageResult:
    """Direct compression to ``compress_target_density`` at ``compress_temperature``.

    The cell and all coordinates are scaled by at most 3% in length per cycle,
    each cycle followed by a short minimisation and 0.5 ps of NVT dynamics (at
    ``compress_timestep_fs``); then
    ``compress_ps`` of NPT at ``compress_pressure_bar`` and a short NPT at the target
    state. A barostat alone is far too slow from a packing density of ~0.15 g/cm3.
    """
    from openmm import unit

    if (res := runner.done("compress")) is not None:
        runner.load(res)
        return res
    p = runner.preset
    runner.emit("compress", "start", density=runner.density())
    runner.set_conditions(p.compress_temperature, None)
    wall, t, cycles = 0.0, 0.0, 0
    t0 = time.perf_counter()
    # the last cycle scales exactly onto the target; the tolerance keeps a density a rounding
    # error short of it from running up to 200 cycles of factor 1.0
    while runner.density() < p.compress_target_density * (1.0 - 1e-6) and cycles < 200:
        factor = max(0.97, (runner.density() / p.compress_target_density) ** (1.0 / 3.0))
        scale_cell(runner, factor)
        runner.minimize(100)
        runner.sim.context.setVelocitiesToTemperature(p.compress_temperature * unit.kelvin, cycles)
        runner.run_ps(0.5, stage="compress", timestep_fs=p.compress_timestep_fs)
        t += 0.5
        cycles += 1
    wall += time.perf_counter() - t0
    runner.set_conditions(p.compress_temperature, p.compress_pressure_bar)
    wall += runner.run_ps(p.compress_ps, stage="compress")
    runner.set_conditions(p.temperature, p.pressure_bar)
    wall += runner.run_ps(min(5.0, p.compress_ps), stage="compress")
    t += p.compress_ps + min(5.0, p.compress_ps)
    return runner.finish(
        "compress", {"density": runner.density(), "ps": t, "cycles": cycles, "wall_s": wall}
    )


def anneal(runner: MDRunner) -> StageResult:
    """The first 20 steps of the Larsen scheme, lengths scaled by ``preset.anneal_scale``."""
    if (res := runner.done("anneal")) is not None:
        runner.load(res)
        return res
    p = runner.preset
    runner.emit("anneal", "start", density=runner.density())
    wall, total = 0.0, 0.0
    densities = []
    for ens, tkey, pfrac, length in LARSEN_STEPS:
        temp = p.anneal_tmax if tkey == "tmax" else p.temperature
        runner.set_conditions(temp, pfrac * p.anneal_pmax_bar if ens == "npt" else None)
        ps = max(1.0, length * p.anneal_scale)
        wall += runner.run_ps(ps, stage="anneal")
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
    if (res := runner.done("equilibrate")) is not None:
        runner.load(res)
        return res
    p = runner.preset
    runner.set_conditions(p.temperature, p.pressure_bar)
    rep = ObservableReporter(
        max(1, round(p.report_ps * p.steps_per_ps)), runner.masses, positions=False
    )
    runner.sim.reporters.append(rep)
    wall, windows, ok, info = 0.0, 0, False, {}
    try:
        while True:
            rep.clear()
            runner.emit("equilibrate", "start" if windows == 0 else "extend", window=windows)
            wall += runner.run_ps(p.npt_ps, stage="equilibrate")
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
    frames (saved to ``production.npz``).
    """
    npz = runner.workdir / "production.npz"
    if (res := runner.done("production")) is not None and npz.exists():
        runner.load(res)
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
    runner.sim.reporters.append(rep)
    runner.emit("production", "start")
    try:
        wall = runner.run_ps(p.production_ps, stage="production")
    finally:
        runner.sim.reporters.remove(rep)
    arrays = rep.arrays()
    tmp = runner.workdir / "production.tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, npz)
    ns_day = p.production_ps / 1000.0 / (wall / 86400.0)
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
    pv = p.pressure_bar * 0.0602214076  # kJ/mol per nm3
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
