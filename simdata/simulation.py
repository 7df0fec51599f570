"""OpenMM set-up of a cell: platform choice, integration step, seeds and the ``Simulation``."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .constants import (
    BAROSTAT_SEED_OFFSET,
    EWALD_TOLERANCE,
    INTEGRATOR_SEED_OFFSET,
    VELOCITY_SEED_BASE,
    VELOCITY_SEED_STRIDE,
)
from .presets import Preset

__all__ = [
    "select_platform",
    "stage_seeds",
    "AROMATIC_GAFF2_TYPES",
    "prmtop_atom_types",
    "integration_step_fs",
    "create_simulation",
]

logger = logging.getLogger(__name__)


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
    box_nm: float | tuple[float, float, float],
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
    box_nm : float or tuple of 3 floats
        Cubic box edge, or the three edges of a rectangular box (also made the System's
        default box, which sizes the PME grid), nm.
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
    if np.ndim(box_nm):  # a rectangular box (e.g. a stacked cell): PME sized for it
        vectors = [openmm.Vec3(*(float(e) * np.eye(3)[i])) for i, e in enumerate(box_nm)]
        system.setDefaultPeriodicBoxVectors(*vectors)
    else:
        vectors = [openmm.Vec3(*(float(box_nm) * np.eye(3)[i])) for i in range(3)]
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
    sim.context.setPeriodicBoxVectors(*vectors)
    sim.context.setPositions(np.asarray(positions_nm) * unit.nanometer)
    return sim
