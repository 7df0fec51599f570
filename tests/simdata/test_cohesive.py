from __future__ import annotations

import numpy as np
import pytest

openmm = pytest.importorskip("openmm")
from openmm import unit  # noqa: E402

from simdata.analysis import structure_properties_from  # noqa: E402
from simdata.cohesive import ChainEnergies, chain_system, cohesive_properties  # noqa: E402

SIGMA, EPS, CUT = 0.34, 0.99, 1.0  # nm, kJ/mol, nm


def _lj_trimers(n_mol: int, box: float, seed: int = 0):
    """Bent LJ trimers (bonds, an angle, 1-2 and 1-3 exclusions) in a periodic box."""
    rng = np.random.default_rng(seed)
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(
        openmm.Vec3(box, 0, 0), openmm.Vec3(0, box, 0), openmm.Vec3(0, 0, box)
    )
    bonds, angles = openmm.HarmonicBondForce(), openmm.HarmonicAngleForce()
    nb = openmm.NonbondedForce()
    nb.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
    nb.setCutoffDistance(CUT)
    nb.setUseDispersionCorrection(False)
    nb.setReactionFieldDielectric(1.0)
    unit_x = np.array([[0.0, 0.0, 0.0], [0.15, 0.0, 0.0], [0.2, 0.14, 0.0]])
    side = int(np.ceil(n_mol ** (1 / 3)))
    pos = []
    for m in range(n_mol):
        i0 = 3 * m
        for _ in range(3):
            system.addParticle(12.0)
            nb.addParticle(0.0, SIGMA, EPS)
        bonds.addBond(i0, i0 + 1, 0.15, 2e5)
        bonds.addBond(i0 + 1, i0 + 2, 0.15, 2e5)
        angles.addAngle(i0, i0 + 1, i0 + 2, 1.9, 400.0)
        for a, b in ((0, 1), (1, 2), (0, 2)):
            nb.addException(i0 + a, i0 + b, 0.0, 1.0, 0.0)
        cell = np.array(np.unravel_index(m, (side,) * 3), float) * box / side
        pos.append(unit_x + cell + rng.uniform(0, 0.05, 3))
    for f in (bonds, angles, nb):
        system.addForce(f)
    return system, np.concatenate(pos)


def _lj_inter_by_hand(x: np.ndarray, box: float) -> float:
    mol = np.arange(len(x)) // 3
    e = 0.0
    for i in range(len(x)):
        d = x[i + 1 :] - x[i]
        d -= box * np.round(d / box)
        r = np.linalg.norm(d, axis=1)
        keep = (mol[i + 1 :] != mol[i]) & (r < CUT)
        sr6 = (SIGMA / r[keep]) ** 6
        e += float(np.sum(4 * EPS * (sr6**2 - sr6)))
    return e


def _cell_energy(system, x) -> float:
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference")
    )
    ctx.setPositions(x * unit.nanometer)
    return ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)


def test_intermolecular_energy_of_lj_fluid_matches_pair_sum():
    box = 2.0
    system, x = _lj_trimers(27, box)
    chains = ChainEnergies(system, 27, platform="Reference")
    e_inter = _cell_energy(system, x) - chains.terms(x)["intra"]
    expected = _lj_inter_by_hand(x, box)
    assert expected < 0
    assert e_inter == pytest.approx(expected, rel=1e-6)


def test_dilute_gas_has_no_cohesion():
    box = 30.0  # molecules 10 nm apart: beyond the cutoff
    system, x = _lj_trimers(27, box)
    chains = ChainEnergies(system, 27, platform="Reference")
    e_inter = _cell_energy(system, x) - chains.terms(x)["intra"]
    assert abs(e_inter) < 1e-9
    out = cohesive_properties([e_inter] * 5, [box**3] * 5)
    assert abs(out["cohesive_energy_density"]) < 1e-9


def test_chain_system_rejects_unknown_forces():
    system, _ = _lj_trimers(2, 3.0)
    system.addForce(openmm.CustomExternalForce("x"))
    with pytest.raises(ValueError, match="CustomExternalForce"):
        chain_system(system, range(3))


def test_structure_properties_of_lj_trimers():
    box = 2.0
    system, x0 = _lj_trimers(27, box)
    rng = np.random.default_rng(1)
    frames = x0 + np.cumsum(rng.normal(0, 0.01, (30, 27, 1, 3)), axis=0).repeat(3, 2).reshape(
        30, -1, 3
    )  # rigid molecules random-walking
    potential = np.array([_cell_energy(system, f) for f in frames])
    out, series = structure_properties_from(
        np.arange(30) * 1.0,
        frames,
        np.full(30, box**3),
        potential,
        system=system,
        bonds=[(0, 1), (1, 2)],
        masses=np.full(len(x0), 12.0),
        n_chains=27,
        ends=(0, 2),
        platform="Reference",
    )
    d02 = np.sum((x0[2] - x0[0]) ** 2)
    assert out["r2"] == pytest.approx(d02)
    assert out["Rg"] == pytest.approx(
        10 * np.sqrt(np.mean(np.sum((x0[:3] - x0[:3].mean(0)) ** 2, 1)))
    )
    assert out["cohesive_energy_density"] > 0 and out["solubility_parameter"] > 0
    assert series["e_inter"][0] == pytest.approx(_lj_inter_by_hand(frames[0], box), rel=1e-6)
    # molecules step by N(0, 0.01 nm) per ps and coordinate: D = 0.01^2 / 2 nm2/ps
    assert out["self-diffusion"] == pytest.approx(0.5e-4 * 1e-6, rel=0.5)
    assert 0 < out["nematic_order_parameter"] <= 1
