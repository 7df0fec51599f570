"""The structure stage: a short NPT run after production that keeps coordinates.

Production keeps scalars only; this stage runs ``structure_ps`` more of NPT at the
target state (from the production end state, which it restores afterwards, so later
stages start where they would without it) and records every ``structure_report_ps``
the unwrapped coordinates and, per frame, the intermolecular energy and the energy
terms. From them:

* ``Rg`` (Angstrom): unweighted radius of gyration per chain, averaged (RadonPy's
  ``mdtraj.compute_rg``);
* ``r2`` (nm2): mean square end-to-end distance of the chains, between the two backbone
  end atoms (RadonPy: the closest distance between the two terminal units, squared);
* ``nematic_order_parameter``: largest eigenvalue of the Q tensor of the backbone bond
  vectors of all chains (RadonPy: of the repeat units' long axes);
* ``self-diffusion`` (m2/s): all-atom mean square displacement (RadonPy's meaning);
* ``cohesive_energy_density`` (J/cm3) and ``solubility_parameter`` (MPa^0.5), see
  :mod:`simdata.cohesive`;
* ``energy_terms``: per-frame bond, angle, dihedral and nonbonded energies for the strict
  equilibrium check (:func:`simdata.quality.strict_equilibrium`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "PositionReporter",
    "structure_stage",
    "structure_properties_from",
    "post_production",
    "finish_row",
]


class PositionReporter:
    """OpenMM reporter keeping unwrapped positions, volume and potential energy."""

    def __init__(self, interval: int) -> None:
        self.interval = int(interval)
        self.time: list[float] = []
        self.positions: list[np.ndarray] = []
        self.volume: list[float] = []
        self.potential: list[float] = []

    def describeNextReport(self, simulation) -> dict:  # noqa: N802 (OpenMM protocol)
        steps = self.interval - simulation.currentStep % self.interval
        return {"steps": steps, "periodic": False, "include": ["positions", "energy"]}

    def report(self, simulation, state) -> None:
        """Store one frame."""
        from openmm import unit

        box = state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(unit.nanometer)
        self.time.append(state.getTime().value_in_unit(unit.picosecond))
        self.positions.append(state.getPositions(asNumpy=True).value_in_unit(unit.nanometer))
        self.volume.append(float(abs(np.linalg.det(box))))
        self.potential.append(state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))


def structure_properties_from(
    time_ps: np.ndarray,
    positions: np.ndarray,
    volume: np.ndarray,
    potential: np.ndarray,
    *,
    system,
    bonds: list[tuple[int, int]],
    masses: np.ndarray,
    n_chains: int,
    ends: tuple[int, int],
    platform: str = "CPU",
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Properties of recorded frames (see the module docstring).

    Returns
    -------
    props : dict
        Columns with ``_sem``.
    series : dict
        Per-frame ``e_inter``, ``bond``, ``angle``, ``dihedral``, ``nonbonded`` (kJ/mol).
    """
    from .cohesive import ChainEnergies, cohesive_properties
    from .structure import (
        backbone_path,
        bond_vectors,
        end_to_end_sq,
        msd_diffusion,
        nematic_order,
        radius_of_gyration,
    )
    from .uncertainty import mean_sem

    per = len(masses) // n_chains
    path = backbone_path([(a, b) for a, b in bonds if a < per and b < per], ends[0], ends[1])
    chains = ChainEnergies(system, n_chains, platform)
    rg, r2, nop, series = [], [], [], {k: [] for k in ("e_inter", "bond", "angle", "dihedral")}
    series["nonbonded"] = []
    for x, u in zip(positions, potential, strict=True):
        rg.append(10.0 * radius_of_gyration(x, n_chains))
        r2.append(end_to_end_sq(x, n_chains, ends))
        nop.append(nematic_order(bond_vectors(x, n_chains, path)))
        terms = chains.terms(x)
        series["e_inter"].append(u - terms["intra"])
        for k in ("bond", "angle", "dihedral"):
            series[k].append(terms[k])
        series["nonbonded"].append(u - terms["bond"] - terms["angle"] - terms["dihedral"])
    out: dict[str, float] = {}
    for name, values in (("Rg", rg), ("r2", r2), ("nematic_order_parameter", nop)):
        out[name], out[f"{name}_sem"], _ = mean_sem(values)
    out["self-diffusion"], out["self-diffusion_sem"] = msd_diffusion(time_ps, positions, masses)
    out.update(cohesive_properties(series["e_inter"], volume))
    return out, {k: np.asarray(v) for k, v in series.items()}


def structure_stage(
    runner, *, n_chains: int, ends: tuple[int, int], bonds: list[tuple[int, int]]
) -> dict[str, float]:
    """Run the structure stage on an :class:`~simdata.protocol.MDRunner`.

    The result is stored in ``structure.json`` (and reused when present); the per-frame
    energy terms in ``structure.npz``.
    """
    p = runner.preset
    path = Path(runner.workdir) / "structure.json"
    if path.exists():
        return json.loads(path.read_text())
    sim = runner.sim
    start = sim.context.getState(getPositions=True, getVelocities=True, getParameters=True)
    runner.set_conditions(p.temperature, p.pressure_bar)
    rep = PositionReporter(max(1, round(p.structure_report_ps * p.steps_per_ps)))
    sim.reporters.append(rep)
    runner.emit("structure", "start")
    try:
        wall = runner.run_ps(p.structure_ps, stage="structure")
    finally:
        sim.reporters.remove(rep)
        sim.context.setState(start)  # later stages start from the production end state
    props, series = structure_properties_from(
        np.asarray(rep.time),
        np.asarray(rep.positions),
        np.asarray(rep.volume),
        np.asarray(rep.potential),
        system=sim.system,
        bonds=bonds,
        masses=runner.masses,
        n_chains=n_chains,
        ends=ends,
    )
    props["structure_wall_s"] = wall
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, time=np.asarray(rep.time), volume=np.asarray(rep.volume), **series)
    os.replace(tmp, path.with_suffix(".npz"))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(props, default=float))
    os.replace(tmp, path)
    runner.emit("structure", "end", **{k: props[k] for k in ("Rg", "r2")})
    return props


def post_production(
    runner, frames: dict[str, np.ndarray], *, n_chains: int, ends: tuple[int, int], timings: dict
) -> dict:
    """The stages after production that issue 23 added, as one call for ``simulate``.

    Runs the structure stage (``structure_ps > 0``) and the Tg cooling scan
    (``tg_step_ps > 0``), each restoring the production end state, and the strict
    equilibrium check (:func:`simdata.quality.strict_equilibrium`) on the production
    frames (density, total and kinetic energy) and the structure-stage energy terms.
    Adds ``<stage>_s`` wall times to ``timings``.

    Returns
    -------
    dict
        Columns to add to the row.
    """
    import time

    from .quality import strict_equilibrium

    p = runner.preset
    out: dict = {}
    series = {
        "density": frames["density"],
        "total_energy": frames["potential"] + frames["kinetic"],
        "kinetic": frames["kinetic"],
    }
    if p.structure_ps > 0:
        t0 = time.perf_counter()
        bonds = [(a.index, b.index) for a, b in runner.sim.topology.bonds()]
        try:
            props = structure_stage(runner, n_chains=n_chains, ends=ends, bonds=bonds)
        except ValueError as exc:  # an analysis the cell does not allow: columns left missing
            logger.warning("%s: structure stage skipped: %s", runner.job_id, exc)
            props = {"structure_error": str(exc)[:300]}
        out.update({k: v for k, v in props.items() if k != "structure_wall_s"})
        timings["structure_s"] = time.perf_counter() - t0
        npz = Path(runner.workdir) / "structure.npz"
        if npz.exists():
            with np.load(npz) as terms:
                series.update({k: terms[k] for k in ("bond", "angle", "dihedral", "nonbonded")})
    if p.tg_step_ps > 0:
        from .tg import cooling_scan

        t0 = time.perf_counter()
        out.update(
            cooling_scan(
                runner, tmax=p.tg_tmax, tmin=p.tg_tmin, step=p.tg_step, step_ps=p.tg_step_ps
            )
        )
        timings["tg_s"] = time.perf_counter() - t0
    ok, spread = strict_equilibrium(series)
    out["equilibrated_strict"] = ok
    out["equilibrium_spread"] = json.dumps(spread, sort_keys=True)
    return out


def finish_row(row: dict, preset) -> dict:
    """Add the quality flags (:func:`simdata.quality.quality_flags`) to a result row."""
    from .quality import quality_flags

    row.update(quality_flags(row, strict=bool(preset.strict_equilibrium)))
    return row
