"""Thermal conductivity by reverse non-equilibrium MD (Muller-Plathe).

The cell is cut into ``n_slabs`` slabs along one axis. Every ``swap_ps`` the hottest
unit of the *cold* slab (slab 0) and the coldest unit of the *hot* slab (slab
``n_slabs / 2``) exchange momentum in an elastic collision, which moves kinetic energy
against the temperature gradient while conserving total energy and momentum
(Muller-Plathe, J. Chem. Phys. 106, 6082 (1997); for unequal masses Nieto-Draghi and
Avalos, Mol. Phys. 101, 2303 (2003)). In the steady state the imposed heat flux
``J = Q / (2 A t)`` (heat flows both ways round the periodic cell) balances the
conduction down the measured gradient, ``kappa = J / |dT/dz|``.

A unit is a *constraint cluster*: an atom with the atoms it is joined to by
constraints (a heavy atom and its hydrogens under H-bond constraints). Only the
cluster's centre-of-mass velocity changes, by the same vector for all of its atoms,
so the constraints stay satisfied exactly and the internal kinetic energy is untouched.

The dynamics are NVE: the thermostat friction is set to zero and the barostat is off
(box fixed at the starting state) for the stage, and restored after it; the step is
``conductivity_timestep_fs`` where that is smaller than the cell's.

RadonPy runs the exchange on the equilibrated cell replicated three times along the heat
flux (LAMMPS ``replicate``): a longer cell carries the long-wavelength vibrations that a
small cubic cell cuts off. ``conductivity_replicas = k`` does the same
(:func:`replicate_cell`): the exchange runs on a copy of the cell with ``k x n_chains``
chains (a topology written by :func:`simdata.job.prepare_job`), the equilibrated
coordinates stacked ``k`` times along the slab axis, new velocities and a short NVT
thermalisation, and the slabs cut along the long axis.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checkpoint import StageResult
from .constants import KJ_MOL_J, R_KJ
from .protocol import MDRunner

__all__ = [
    "ConstraintClusters",
    "constraint_clusters",
    "exchange_momenta",
    "slab_index",
    "replicate_cell",
    "cell_geometry",
    "slab_temperatures",
    "conductivity_from_profile",
    "nemd_step_fs",
    "check_settings",
    "reverse_nemd",
]

KJ_MOL = KJ_MOL_J  # J per kJ/mol


@dataclass(frozen=True)
class ConstraintClusters:
    """Atoms grouped by constraints.

    Attributes
    ----------
    label : ndarray of shape (n_atoms,)
        Cluster index of every atom (0 .. n_clusters - 1).
    mass : ndarray of shape (n_clusters,)
        Cluster masses (the System's masses, repartitioned ones included), amu.
    anchor : ndarray of shape (n_clusters,)
        The heaviest atom of each cluster; its position decides the cluster's slab.
    dof : ndarray of shape (n_atoms,)
        Degrees of freedom per atom, ``3 - (constraints on the atom) / 2``.
    """

    label: np.ndarray
    mass: np.ndarray
    anchor: np.ndarray
    dof: np.ndarray

    @property
    def n_clusters(self) -> int:
        """Number of clusters."""
        return len(self.mass)


def constraint_clusters(system) -> ConstraintClusters:
    """Group the atoms of an OpenMM ``System`` into constraint clusters.

    Parameters
    ----------
    system : openmm.System

    Returns
    -------
    ConstraintClusters
    """
    from openmm import unit

    n = system.getNumParticles()
    masses = np.array([system.getParticleMass(i).value_in_unit(unit.dalton) for i in range(n)])
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    n_con = np.zeros(n)
    for k in range(system.getNumConstraints()):
        i, j, _ = system.getConstraintParameters(k)
        n_con[i] += 1
        n_con[j] += 1
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    roots = np.array([root(i) for i in range(n)])
    _, label = np.unique(roots, return_inverse=True)
    n_clusters = int(label.max()) + 1
    mass = np.bincount(label, weights=masses, minlength=n_clusters)
    # heaviest atom of each cluster (ties: the first)
    order = np.lexsort((np.arange(n), -masses, label))
    first = np.r_[True, label[order][1:] != label[order][:-1]]
    anchor = order[first]
    return ConstraintClusters(label, mass, anchor, 3.0 - n_con / 2.0)


def slab_index(z: np.ndarray, length: float, n_slabs: int) -> np.ndarray:
    """Slab (0 .. n_slabs - 1) of coordinates ``z`` in a periodic cell of ``length``."""
    frac = np.mod(np.asarray(z, float) / length, 1.0)
    return np.minimum((frac * n_slabs).astype(int), n_slabs - 1)


def replicate_cell(
    positions: np.ndarray, box: np.ndarray, replicas: int, axis: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Stack ``replicas`` copies of a periodic cell along one axis (a supercell).

    Parameters
    ----------
    positions : ndarray of shape (n_atoms, 3)
        Coordinates (any length unit; unwrapped or not).
    box : ndarray of shape (3, 3)
        Box vectors (rows) of a rectangular cell, same unit.
    replicas : int
        Copies, >= 1.
    axis : int
        Axis along which they are stacked.

    Returns
    -------
    positions : ndarray of shape (replicas * n_atoms, 3)
        Copy 0 first, then copy 1 shifted by one box vector, ...: the atom order of a
        topology of ``replicas`` times the cell's molecules.
    box : ndarray of shape (3, 3)
        The box vector along ``axis`` multiplied by ``replicas``.

    Examples
    --------
    >>> x, b = replicate_cell(np.zeros((2, 3)), np.eye(3) * 2.0, 3)
    >>> x[:, 2].tolist(), np.diag(b).tolist()
    ([0.0, 0.0, 2.0, 2.0, 4.0, 4.0], [2.0, 2.0, 6.0])
    """
    if int(replicas) < 1:
        raise ValueError(f"replicas must be >= 1, got {replicas}")
    box = np.asarray(box, float)
    x = np.asarray(positions, float)
    out = np.concatenate([x + r * box[axis] for r in range(int(replicas))])
    new_box = box.copy()
    new_box[axis] = box[axis] * int(replicas)
    return out, new_box


def cell_geometry(box: np.ndarray, axis: int) -> tuple[float, float]:
    """Length along ``axis`` and cross-section normal to it of a rectangular cell.

    Examples
    --------
    >>> cell_geometry(np.diag([2.0, 3.0, 12.0]), 2)
    (12.0, 6.0)
    """
    box = np.asarray(box, float)
    length = float(box[axis, axis])
    return length, float(abs(np.linalg.det(box)) / length)


def slab_temperatures(
    velocities: np.ndarray, masses: np.ndarray, dof: np.ndarray, slabs: np.ndarray, n_slabs: int
) -> np.ndarray:
    """Kinetic temperature of every slab, K.

    Parameters
    ----------
    velocities : ndarray of shape (n_atoms, 3)
        nm/ps.
    masses : ndarray of shape (n_atoms,)
        amu (the dynamical masses).
    dof : ndarray of shape (n_atoms,)
        Degrees of freedom per atom.
    slabs : ndarray of shape (n_atoms,)
        Slab of every atom.
    n_slabs : int

    Returns
    -------
    ndarray of shape (n_slabs,)
        NaN for an empty slab.
    """
    ke2 = masses * np.einsum("ij,ij->i", velocities, velocities)  # 2 KE, kJ/mol
    num = np.bincount(slabs, weights=ke2, minlength=n_slabs)
    den = np.bincount(slabs, weights=dof, minlength=n_slabs) * R_KJ
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def exchange_momenta(
    velocities: np.ndarray,
    masses: np.ndarray,
    clusters: ConstraintClusters,
    cluster_slab: np.ndarray,
    cold_slab: int,
    hot_slab: int,
) -> tuple[np.ndarray, float]:
    """One Muller-Plathe exchange between the cold and the hot slab.

    The cluster of the cold slab with the largest centre-of-mass kinetic energy and the
    cluster of the hot slab with the smallest collide elastically (their centre-of-mass
    velocities are reflected in their common centre-of-mass frame; for equal masses
    they swap). Total momentum and energy are conserved.

    Parameters
    ----------
    velocities : ndarray of shape (n_atoms, 3)
        nm/ps.
    masses : ndarray of shape (n_atoms,)
        amu.
    clusters : ConstraintClusters
    cluster_slab : ndarray of shape (n_clusters,)
        Slab of every cluster.
    cold_slab, hot_slab : int

    Returns
    -------
    velocities : ndarray of shape (n_atoms, 3)
        A new array (the input is not changed).
    moved : float
        Kinetic energy moved from the cold to the hot slab, kJ/mol (0 when no exchange
        would move energy that way, or a slab holds no cluster).
    """
    lab = clusters.label
    p = np.zeros((clusters.n_clusters, 3))
    np.add.at(p, lab, masses[:, None] * velocities)
    vcom = p / clusters.mass[:, None]
    ke = 0.5 * clusters.mass * np.einsum("ij,ij->i", vcom, vcom)
    cold = np.flatnonzero(cluster_slab == cold_slab)
    hot = np.flatnonzero(cluster_slab == hot_slab)
    if not len(cold) or not len(hot):
        return velocities.copy(), 0.0
    c = cold[np.argmax(ke[cold])]
    h = hot[np.argmin(ke[hot])]
    mc, mh = clusters.mass[c], clusters.mass[h]
    v_cm = (mc * vcom[c] + mh * vcom[h]) / (mc + mh)
    new_c = 2.0 * v_cm - vcom[c]
    new_h = 2.0 * v_cm - vcom[h]
    moved = float(ke[c] - 0.5 * mc * new_c @ new_c)
    if moved <= 0.0:
        return velocities.copy(), 0.0
    out = velocities.copy()
    out[lab == c] += new_c - vcom[c]
    out[lab == h] += new_h - vcom[h]
    return out, moved


def conductivity_from_profile(
    profile: np.ndarray, heat_kj_mol: float, duration_ps: float, area_nm2: float, length_nm: float
) -> tuple[float, float]:
    """Thermal conductivity from a mean slab temperature profile.

    Slab 0 is the cold (exchange) slab, slab ``n / 2`` the hot one; both branches
    between them are folded onto the distance from the cold slab and fitted by one
    straight line (the exchange slabs themselves are left out).

    Parameters
    ----------
    profile : ndarray of shape (n_slabs,)
        Mean temperature of each slab, K.
    heat_kj_mol : float
        Kinetic energy moved from the cold to the hot slab over ``duration_ps``, kJ/mol.
    duration_ps : float
        ps.
    area_nm2 : float
        Cross-section of the cell normal to the slabs, nm2.
    length_nm : float
        Cell length along the slabs, nm.

    Returns
    -------
    kappa : float
        W/(m K).
    gradient : float
        Fitted temperature gradient, K/nm (positive: rising from the cold slab).

    Examples
    --------
    >>> import numpy as np
    >>> prof = 300 + 10 * np.minimum(np.arange(10), 10 - np.arange(10)) * 0.4
    >>> kappa, grad = conductivity_from_profile(prof, 602.214076, 1000.0, 4.0, 4.0)
    >>> round(grad, 6), round(kappa, 6)
    (10.0, 0.0125)
    """
    profile = np.asarray(profile, float)
    n = len(profile)
    if n < 6 or n % 2:
        raise ValueError(f"the profile needs an even number of slabs >= 6, got {n}")
    idx = np.array([i for i in range(1, n) if i != n // 2])
    dist = np.minimum(idx, n - idx) * length_nm / n
    ok = np.isfinite(profile[idx])
    if ok.sum() < 2:
        return float("nan"), float("nan")
    grad = float(np.polyfit(dist[ok], profile[idx][ok], 1)[0])
    flux = heat_kj_mol * KJ_MOL / (duration_ps * 1e-12) / (2.0 * area_nm2 * 1e-18)  # W/m2
    kappa = flux / (grad * 1e9) if grad > 0 else float("nan")
    return float(kappa), grad


#: Largest step of a flexible-bond run, fs.
FLEXIBLE_MAX_STEP_FS = 1.0


def nemd_step_fs(preset, cell_step_fs: float) -> float:
    """Step of the reverse-NEMD run, fs: the cell's, capped by ``conductivity_timestep_fs``
    and, for a flexible run, by ``FLEXIBLE_MAX_STEP_FS``."""
    cap = FLEXIBLE_MAX_STEP_FS if preset.conductivity_flexible else float("inf")
    return float(min(cell_step_fs, preset.conductivity_timestep_fs, cap))


def check_settings(run_ps: float, swap_ps: float, n_slabs: int, timestep_fs: float) -> None:
    """Reject reverse-NEMD settings that cannot work, before any dynamics is run.

    Raises
    ------
    ValueError
        On an odd number of slabs or fewer than 6, or a swap interval shorter than one step
        or longer than a tenth of the run.
    """
    if n_slabs < 6 or n_slabs % 2:
        raise ValueError(f"conductivity_slabs must be even and >= 6, got {n_slabs}")
    if not timestep_fs / 1000.0 <= swap_ps <= run_ps / 10:
        raise ValueError(
            f"conductivity_swap_ps ({swap_ps}) must lie between one step ({timestep_fs} fs) "
            f"and a tenth of conductivity_ps ({run_ps})"
        )


def reverse_nemd(
    runner: MDRunner,
    *,
    run_ps: float | None = None,
    swap_ps: float | None = None,
    n_slabs: int | None = None,
    axis: int = 2,
    stage: str | None = None,
    prmtop: str | Path | None = None,
) -> StageResult:
    """Reverse non-equilibrium MD stage: thermal conductivity of the current cell.

    Starts from the runner's current state (normally the end of production), runs
    ``run_ps`` of NVE dynamics with an exchange every ``swap_ps``, discards the first
    fifth (the profile building up), and fits the mean profile of the rest. The
    standard error comes from ``n_blocks`` contiguous blocks of the sampled part (one
    kappa per block). Afterwards the runner is back at the starting state, NPT. Resumable
    like every stage (``<stage>.json`` / ``.xml``).

    With the preset's ``conductivity_flexible`` the run uses a copy of the cell with every
    bond flexible and real hydrogen masses (built from ``prmtop``), thermalised for
    ``FLEXIBLE_THERMALISE_PS`` at the target temperature, with a step of at most 1 fs: the
    model RadonPy's values come from. Rigid bonds to hydrogen remove degrees of freedom
    that carry heat in classical MD. With ``conductivity_replicas = k > 1`` the copy is
    the cell stacked ``k`` times along ``axis`` (:func:`replicate_cell`; ``prmtop`` then
    holds ``k`` times the cell's chains), thermalised the same way.

    Parameters
    ----------
    runner : MDRunner
    run_ps, swap_ps, n_slabs : optional
        Default to the preset's ``conductivity_ps``, ``conductivity_swap_ps`` and
        ``conductivity_slabs``.
    axis : int
        Axis normal to the slabs (0, 1 or 2).
    stage : str, optional
        Stage name (file names of the checkpoint); ``"conductivity"``, or
        ``"conductivity_flexible"`` for a flexible run.
    prmtop : str or Path, optional
        Amber topology of the cell, or with ``conductivity_replicas > 1`` of the stacked
        cell; needed with either option.

    Returns
    -------
    StageResult
        Summary: ``thermal_conductivity`` and ``thermal_conductivity_sem`` (W/(m K)),
        ``gradient_K_per_nm``, ``heat_flux_W_m2``, ``profile_K`` (mean slab temperatures),
        ``T_mean``, ``swaps``, ``skipped_swaps``, ``energy_drift_kj_mol_ps``, ``flexible``,
        ``replicas``, ``cell_length_nm``, ``cross_section_nm2``, ``timestep_fs``,
        ``wall_s``.

    Raises
    ------
    ValueError
        On an odd or too small number of slabs, a swap interval shorter than one step or
        longer than a tenth of the run, an axis other than 0, 1, 2, a flexible or
        replicated run without ``prmtop``, or a ``prmtop`` whose atom count is not
        ``conductivity_replicas`` times the cell's.
    """
    from openmm import unit

    p = runner.preset
    run_ps = float(p.conductivity_ps if run_ps is None else run_ps)
    swap_ps = float(p.conductivity_swap_ps if swap_ps is None else swap_ps)
    n_slabs = int(p.conductivity_slabs if n_slabs is None else n_slabs)
    flexible = bool(p.conductivity_flexible)
    replicas = int(p.conductivity_replicas)
    stage = stage or ("conductivity_flexible" if flexible else "conductivity")
    cell_fs = runner.sim.integrator.getStepSize().value_in_unit(unit.femtosecond)
    dt_ps = nemd_step_fs(p, cell_fs) / 1000.0
    check_settings(run_ps, swap_ps, n_slabs, dt_ps * 1000.0)
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    if replicas < 1:
        raise ValueError(f"conductivity_replicas must be >= 1, got {replicas}")
    if (flexible or replicas > 1) and prmtop is None:
        raise ValueError(
            "conductivity_flexible and conductivity_replicas > 1 need a prmtop (the copy)"
        )
    if (res := runner.done(stage)) is not None:
        return res
    runner.emit(stage, "start")
    t_start = time.perf_counter()
    start = runner.sim.context.getState(getPositions=True, getVelocities=True, getParameters=True)
    if flexible or replicas > 1:
        nemd = _nemd_copy(runner, Path(prmtop), start, dt_ps * 1000.0, replicas, axis)
    else:
        nemd = runner
    friction = nemd.sim.integrator.getFriction()
    try:
        nemd.set_conditions(p.temperature, None)  # barostat off
        nemd.sim.integrator.setFriction(0.0)  # NVE
        run = _exchange_run(nemd, run_ps, swap_ps, n_slabs, axis, dt_ps, stage)
    finally:  # back to the equilibrium state and the NPT ensemble
        if nemd is runner:
            runner.sim.integrator.setFriction(friction)
            runner.sim.context.setState(start)
            runner.set_conditions(p.temperature, p.pressure_bar)
    summary = {
        **_analyse(run, swap_ps, n_slabs, p.n_blocks),
        "run_ps": run_ps,
        "swap_ps": swap_ps,
        "slabs": n_slabs,
        "flexible": flexible,
        "replicas": replicas,
        "timestep_fs": dt_ps * 1000.0,
        "cell_length_nm": run["length"],
        "cross_section_nm2": run["area"],
        "wall_s": time.perf_counter() - t_start,
    }
    return runner.finish(stage, summary)


#: NVT time (Langevin, target temperature) that a flexible or stacked copy runs before the
#: exchanges, ps.
FLEXIBLE_THERMALISE_PS = 5.0


def _nemd_copy(
    runner: MDRunner, prmtop: Path, start, dt_fs: float, replicas: int, axis: int
) -> MDRunner:
    """A copy of the cell for the exchange run, thermalised (NVT) with new velocities.

    Flexible bonds and real hydrogen masses with ``conductivity_flexible``; the cell
    stacked ``replicas`` times along ``axis`` (topology ``prmtop``) otherwise as is.
    """
    from openmm import unit

    from .protocol import create_simulation

    flexible = bool(runner.preset.conductivity_flexible)
    p = runner.preset.replace(timestep_fs=dt_fs)
    if flexible:
        p = p.replace(hydrogen_mass=None)
    box = start.getPeriodicBoxVectors(asNumpy=True).value_in_unit(unit.nanometer)
    x = start.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    x, box = replicate_cell(x, box, replicas, axis)
    sim = create_simulation(
        prmtop,
        x,
        tuple(np.diag(box)),
        p,
        platform=runner.sim.context.getPlatform(),
        constraints=None if flexible else "hbonds",
    )
    if sim.system.getNumParticles() != len(x):
        raise ValueError(
            f"{prmtop} holds {sim.system.getNumParticles()} atoms, not {replicas} x "
            f"{len(x) // replicas} (conductivity_replicas copies of the cell)"
        )
    sim.context.setVelocitiesToTemperature(p.temperature * unit.kelvin, 17)
    masses = np.tile(runner.masses, replicas)
    copy = MDRunner(sim, p, runner.workdir, masses, job_id=runner.job_id, callback=runner.callback)
    copy.set_conditions(p.temperature, None)
    copy.run_ps(FLEXIBLE_THERMALISE_PS, stage="conductivity_thermalise")
    return copy


def _exchange_run(
    runner: MDRunner, run_ps: float, swap_ps: float, n_slabs: int, axis: int, dt_ps: float, stage
) -> dict:
    """The exchange loop: slab temperatures, moved energies and total energies per swap."""
    from openmm import unit

    ctx = runner.sim.context
    system = runner.sim.system
    clusters = constraint_clusters(system)
    dyn_mass = np.array(
        [system.getParticleMass(i).value_in_unit(unit.dalton) for i in range(len(clusters.label))]
    )
    box = ctx.getState().getPeriodicBoxVectors(asNumpy=True).value_in_unit(unit.nanometer)
    length, area = cell_geometry(box, axis)
    cold, hot = 0, n_slabs // 2
    n_swaps = max(10, round(run_ps / swap_ps))
    n_discard = n_swaps // 5
    profiles, moved, energies = [], [], []
    skipped = 0
    for k in range(n_swaps):
        runner.run_ps(swap_ps, stage=stage, timestep_fs=dt_ps * 1000.0)
        st = ctx.getState(getPositions=True, getVelocities=True, getEnergy=True)
        x = st.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        v = st.getVelocities(asNumpy=True).value_in_unit(unit.nanometer / unit.picosecond)
        atom_slab = slab_index(x[:, axis], length, n_slabs)
        if k >= n_discard:
            profiles.append(slab_temperatures(v, dyn_mass, clusters.dof, atom_slab, n_slabs))
            e = st.getPotentialEnergy() + st.getKineticEnergy()
            energies.append(e.value_in_unit(unit.kilojoule_per_mole))
        v_new, q = exchange_momenta(v, dyn_mass, clusters, atom_slab[clusters.anchor], cold, hot)
        if q > 0.0:
            ctx.setVelocities(v_new * (unit.nanometer / unit.picosecond))
        else:
            skipped += 1
        if k >= n_discard:
            moved.append(q)
        if (k + 1) % max(1, n_swaps // 10) == 0:
            runner.emit(stage, "progress", done=(k + 1) / n_swaps)
    return {
        "profiles": np.array(profiles),
        "moved": np.array(moved),
        "energies": np.array(energies),
        "skipped": skipped,
        "n_swaps": n_swaps,
        "length": length,
        "area": area,
    }


def _analyse(run: dict, swap_ps: float, n_slabs: int, n_blocks: int) -> dict:
    """Conductivity, block standard error and diagnostics of an exchange run."""
    profiles, moved, length, area = run["profiles"], run["moved"], run["length"], run["area"]
    sampled_ps = len(moved) * swap_ps
    with warnings.catch_warnings():  # a slab that stayed empty has a NaN temperature
        warnings.simplefilter("ignore", RuntimeWarning)
        profile = np.nanmean(profiles, axis=0)
        block_profiles = [
            (np.nanmean(profiles[s], axis=0), s)
            for s in np.array_split(np.arange(len(moved)), n_blocks)
            if len(s) >= 2
        ]
    kappa, grad = conductivity_from_profile(profile, moved.sum(), sampled_ps, area, length)
    blocks = [
        conductivity_from_profile(prof, moved[s].sum(), len(s) * swap_ps, area, length)[0]
        for prof, s in block_profiles
    ]
    blocks_a = np.array(blocks)
    sem = (
        float(np.std(blocks_a, ddof=1) / np.sqrt(len(blocks_a)))
        if len(blocks_a) >= 2 and np.isfinite(blocks_a).all()
        else float("nan")
    )
    e = run["energies"]
    drift = float(np.polyfit(np.arange(len(e)) * swap_ps, e, 1)[0]) if len(e) >= 2 else 0.0
    hot = n_slabs // 2
    return {
        "thermal_conductivity": kappa,
        "thermal_conductivity_sem": sem,
        "gradient_K_per_nm": grad,
        "heat_flux_W_m2": float(moved.sum() * KJ_MOL / (sampled_ps * 1e-12) / (2 * area * 1e-18)),
        "profile_K": [float(t) for t in profile],
        "T_mean": float(np.nanmean(profile)),
        "T_hot": float(profile[hot]),
        "T_cold": float(profile[0]),
        "swaps": int(run["n_swaps"] - run["skipped"]),
        "skipped_swaps": int(run["skipped"]),
        "energy_drift_kj_mol_ps": drift,
    }
