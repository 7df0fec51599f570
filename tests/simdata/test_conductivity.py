"""Reverse non-equilibrium MD (Muller-Plathe) thermal conductivity."""

from __future__ import annotations

import numpy as np
import pytest

openmm = pytest.importorskip("openmm")

from simdata.conductivity import (  # noqa: E402
    cell_geometry,
    conductivity_from_profile,
    constraint_clusters,
    exchange_momenta,
    replicate_cell,
    reverse_nemd,
    slab_index,
    slab_temperatures,
)
from simdata.presets import get_preset  # noqa: E402
from simdata.protocol import MDRunner  # noqa: E402

#: Lennard-Jones argon (sigma nm, epsilon kJ/mol, mass amu, epsilon / kB in K).
SIGMA, EPSILON, MASS, EPS_K = 0.3405, 0.99607, 39.948, 119.8


def _lj_argon(ncell: int, preset, seed: int = 0, rho_star: float = 0.8442):
    """An fcc-started LJ argon fluid in a cubic box with a (switched-off) barostat."""
    from openmm import app

    n = 4 * ncell**3
    edge = (n / rho_star) ** (1 / 3) * SIGMA
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    grid = np.array([[i, j, k] for i in range(ncell) for j in range(ncell) for k in range(ncell)])
    x = (grid[:, None, :] + base[None]).reshape(-1, 3) * edge / ncell
    system = openmm.System()
    nb = openmm.NonbondedForce()
    nb.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
    nb.setCutoffDistance(2.5 * SIGMA)
    nb.setUseDispersionCorrection(True)
    top = app.Topology()
    chain = top.addChain()
    for _ in range(n):
        system.addParticle(MASS)
        nb.addParticle(0.0, SIGMA, EPSILON)
        top.addAtom("Ar", app.element.argon, top.addResidue("AR", chain))
    system.addForce(nb)
    vecs = [openmm.Vec3(edge, 0, 0), openmm.Vec3(0, edge, 0), openmm.Vec3(0, 0, edge)]
    system.setDefaultPeriodicBoxVectors(*vecs)
    system.addForce(openmm.MonteCarloBarostat(1.0, preset.temperature, 0))
    integ = openmm.LangevinMiddleIntegrator(preset.temperature, 1.0, preset.timestep_fs / 1000)
    integ.setRandomNumberSeed(seed + 1)
    sim = app.Simulation(
        top, system, integ, openmm.Platform.getPlatformByName("CPU"), {"Threads": "1"}
    )
    sim.context.setPositions(x)
    sim.context.setVelocitiesToTemperature(preset.temperature, seed)
    return sim, np.full(n, MASS)


def _lj_preset(**kw):
    return get_preset(
        "fast",
        temperature=0.722 * EPS_K,
        timestep_fs=5.0,
        conductivity_timestep_fs=5.0,
        hydrogen_mass=None,
        chunk_ps=10.0,
        platform="CPU",
        **kw,
    )


def test_constraint_clusters_group_atoms_and_count_degrees_of_freedom():
    system = openmm.System()
    for m in (12.0, 1.0, 1.0, 35.0):
        system.addParticle(m)
    system.addConstraint(1, 0, 0.1)
    system.addConstraint(0, 2, 0.1)
    cl = constraint_clusters(system)
    assert cl.n_clusters == 2
    assert cl.label[0] == cl.label[1] == cl.label[2] != cl.label[3]
    assert sorted(cl.mass) == [14.0, 35.0]
    assert set(cl.anchor) == {0, 3}  # the carbon and the chlorine
    np.testing.assert_allclose(cl.dof, [2.0, 2.5, 2.5, 3.0])


def test_exchange_conserves_momentum_and_energy_and_keeps_clusters_rigid():
    rng = np.random.default_rng(0)
    system = openmm.System()
    masses = np.array([12.0, 3.0, 3.0, 16.0, 12.0, 3.0, 35.0, 14.0])
    for m in masses:
        system.addParticle(m)
    for i, j in ((0, 1), (0, 2), (4, 5)):
        system.addConstraint(i, j, 0.1)
    cl = constraint_clusters(system)
    slab_of_cluster = np.array([0, 0, 0, 5, 5, 5])[: cl.n_clusters]
    v = rng.normal(size=(len(masses), 3))
    v_new, moved = exchange_momenta(v, masses, cl, slab_of_cluster, 0, 5)
    assert moved > 0
    np.testing.assert_allclose((masses[:, None] * v_new).sum(0), (masses[:, None] * v).sum(0))
    ke = 0.5 * (masses * (v**2).sum(1))
    ke_new = 0.5 * (masses * (v_new**2).sum(1))
    assert ke_new.sum() == pytest.approx(ke.sum(), rel=1e-12)
    cold = np.isin(cl.label, np.flatnonzero(slab_of_cluster == 0))
    assert ke[cold].sum() - ke_new[cold].sum() == pytest.approx(moved, rel=1e-10)
    # every atom of a cluster moves by the same velocity: constraint velocities unchanged
    for c in range(cl.n_clusters):
        d = v_new[cl.label == c] - v[cl.label == c]
        np.testing.assert_allclose(d, np.broadcast_to(d[0], d.shape), atol=1e-12)
    assert not np.shares_memory(v_new, v)


def test_equal_masses_swap_and_no_exchange_against_the_gradient():
    system = openmm.System()
    for _ in range(2):
        system.addParticle(40.0)
    cl = constraint_clusters(system)
    v = np.array([[2.0, 0.0, 0.0], [0.0, 0.5, 0.0]])  # the cold slab holds the fast atom
    v_new, moved = exchange_momenta(v, np.full(2, 40.0), cl, np.array([0, 3]), 0, 3)
    np.testing.assert_allclose(v_new, v[::-1])
    assert moved == pytest.approx(0.5 * 40 * (4 - 0.25))
    # the hot slab already holds the faster atom: nothing is moved
    same, moved = exchange_momenta(v, np.full(2, 40.0), cl, np.array([3, 0]), 0, 3)
    assert moved == 0.0
    np.testing.assert_array_equal(same, v)


def test_slab_index_wraps_periodic_coordinates():
    z = np.array([-0.1, 0.0, 0.05, 0.99, 1.0, 2.35])
    np.testing.assert_array_equal(slab_index(z, 1.0, 10), [9, 0, 0, 9, 0, 3])


def test_slab_temperatures_match_the_kinetic_temperature():
    rng = np.random.default_rng(1)
    kb = 0.00831446261815324  # kJ/(mol K)
    m = np.full(30000, 12.0)
    v = rng.normal(scale=np.sqrt(kb * 300.0 / 12.0), size=(30000, 3))
    t = slab_temperatures(v, m, np.full(30000, 3.0), np.arange(30000) % 3, 4)
    assert t[:3] == pytest.approx([300.0] * 3, rel=0.02)
    assert np.isnan(t[3])  # an empty slab


def test_conductivity_from_profile_recovers_a_known_gradient():
    n, length, area = 12, 3.0, 5.0
    d = np.minimum(np.arange(n), n - np.arange(n)) * length / n
    profile = 290.0 + 7.0 * d
    heat, ps = 1234.0, 200.0
    kappa, grad = conductivity_from_profile(profile, heat, ps, area, length)
    assert grad == pytest.approx(7.0)
    flux = heat * 1000 / 6.02214076e23 / (ps * 1e-12) / (2 * area * 1e-18)
    assert kappa == pytest.approx(flux / 7e9)
    with pytest.raises(ValueError, match="even number of slabs"):
        conductivity_from_profile(profile[:-1], heat, ps, area, length)
    # no gradient from the exchanges: no conductivity
    assert np.isnan(conductivity_from_profile(600.0 - profile, heat, ps, area, length)[0])


def _min_image(d: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    return np.linalg.norm(d - lengths * np.round(d / lengths), axis=-1)


def test_replicated_cell_is_an_exact_supercell_elongated_along_the_flux_axis():
    rng = np.random.default_rng(3)
    box = np.diag([2.0, 2.2, 2.1])
    x = rng.uniform(-0.5, 2.5, size=(30, 3))  # unwrapped: some atoms outside the box
    k = 3
    big, big_box = replicate_cell(x, box, k, axis=2)
    lengths, big_lengths = np.diag(box), np.diag(big_box)
    # the long axis is the flux axis: only its edge is k times longer
    np.testing.assert_allclose(big_lengths, [2.0, 2.2, 3 * 2.1])
    assert np.argmax(big_lengths) == 2
    length, area = cell_geometry(big_box, 2)
    assert length == pytest.approx(6.3) and area == pytest.approx(2.0 * 2.2)
    # copy r is the cell shifted by r box vectors, in the atom order of k x the molecules
    np.testing.assert_allclose(big[30:60] - x, np.tile([0.0, 0.0, 2.1], (30, 1)))
    # exact supercell: the distance of i to the nearest image of j in the small cell is the
    # distance of i to the nearest image of the nearest copy of j in the long cell
    small = _min_image(x[:, None] - x[None], lengths)
    copies = big.reshape(k, 30, 3)
    long = np.min(_min_image(x[None, :, None] - copies[:, None], big_lengths), axis=0)
    np.testing.assert_allclose(long, small, atol=1e-12)
    with pytest.raises(ValueError, match="replicas"):
        replicate_cell(x, box, 0)


def test_slabs_of_the_long_cell_split_the_copies_and_recover_the_gradient():
    # 3 copies of a cell of edge L along z, 12 slabs: copy r fills slabs 4r .. 4r + 3
    edge, k, n = 2.0, 3, 12
    x = np.random.default_rng(0).uniform(0, edge, size=(200, 3))
    big, big_box = replicate_cell(x, np.eye(3) * edge, k)
    length, area = cell_geometry(big_box, 2)
    slabs = slab_index(big[:, 2], length, n).reshape(k, -1)
    for r in range(k):
        assert set(np.unique(slabs[r])) <= set(range(4 * r, 4 * r + 4))
    # a linear profile along the long axis: the gradient and kappa = Q / (2 A t |dT/dz|)
    # with the long cell's slab width and cross-section (A = L^2, not L x 3L)
    d = np.minimum(np.arange(n), n - np.arange(n)) * length / n
    heat, ps = 500.0, 100.0
    kappa, grad = conductivity_from_profile(300.0 + 4.0 * d, heat, ps, area, length)
    assert grad == pytest.approx(4.0)
    flux = heat * 1000 / 6.02214076e23 / (ps * 1e-12) / (2 * edge**2 * 1e-18)
    assert kappa == pytest.approx(flux / 4e9)


def test_reverse_nemd_rejects_bad_settings(tmp_path):
    preset = _lj_preset(conductivity_ps=10.0)
    sim, masses = _lj_argon(3, preset)
    runner = MDRunner(sim, preset, tmp_path, masses)
    with pytest.raises(ValueError, match="even and >= 6"):
        reverse_nemd(runner, n_slabs=7)
    with pytest.raises(ValueError, match="conductivity_swap_ps"):
        reverse_nemd(runner, swap_ps=2.0)
    with pytest.raises(ValueError, match="axis"):
        reverse_nemd(runner, axis=3)
    stacked = MDRunner(sim, preset.replace(conductivity_replicas=3), tmp_path, masses)
    with pytest.raises(ValueError, match="need a prmtop"):
        reverse_nemd(stacked)
    with pytest.raises(ValueError, match="replicas must be >= 1"):
        reverse_nemd(MDRunner(sim, preset.replace(conductivity_replicas=0), tmp_path, masses))


def test_reverse_nemd_builds_a_gradient_restores_the_state_and_resumes(tmp_path):
    preset = _lj_preset(conductivity_ps=20.0, conductivity_swap_ps=0.2, conductivity_slabs=8)
    sim, masses = _lj_argon(3, preset)
    runner = MDRunner(sim, preset, tmp_path, masses)
    runner.set_conditions(preset.temperature, None)
    runner.run_ps(5.0, stage="melt")
    runner.set_conditions(preset.temperature, preset.pressure_bar)
    x0 = sim.context.getState(getPositions=True).getPositions(asNumpy=True)._value
    res = reverse_nemd(runner)
    s = res.summary
    assert s["swaps"] + s["skipped_swaps"] == 100 and s["swaps"] > 90
    assert s["T_hot"] > s["T_cold"] + 5.0
    assert s["thermal_conductivity"] > 0 and s["gradient_K_per_nm"] > 0
    assert len(s["profile_K"]) == 8 and s["timestep_fs"] == 5.0
    # NVE: the exchanges conserve energy, the integrator nearly so
    assert abs(s["energy_drift_kj_mol_ps"]) < 1.0
    # back at the starting state, thermostat and barostat restored
    x1 = sim.context.getState(getPositions=True).getPositions(asNumpy=True)._value
    np.testing.assert_allclose(x1, x0)
    assert sim.integrator.getFriction().value_in_unit(openmm.unit.picosecond**-1) == 1.0
    assert runner._npt
    again = reverse_nemd(runner)
    assert again.skipped and again.summary["thermal_conductivity"] == s["thermal_conductivity"]


@pytest.mark.slow
def test_lennard_jones_argon_conductivity_matches_the_literature(tmp_path):
    """kappa* = kappa sigma tau / kB at rho* = 0.8442, T* = 0.722: about 7 (Muller-Plathe
    1997: 7.0 +- 0.2 by this method; Green-Kubo values 6.3-7.1). 864 atoms, 300 ps."""
    preset = _lj_preset(conductivity_ps=300.0, conductivity_swap_ps=0.3, conductivity_slabs=10)
    sim, masses = _lj_argon(6, preset)
    runner = MDRunner(sim, preset, tmp_path, masses)
    runner.set_conditions(preset.temperature, None)
    runner.run_ps(20.0, stage="melt")
    s = reverse_nemd(runner).summary
    tau = SIGMA * 1e-9 * np.sqrt(MASS * 1e-3 / 6.02214076e23 / (EPS_K * 1.380649e-23))
    kappa_star = s["thermal_conductivity"] * SIGMA * 1e-9 * tau / 1.380649e-23
    assert 5.8 < kappa_star < 7.8, kappa_star
    assert s["thermal_conductivity_sem"] < 0.1 * s["thermal_conductivity"]


def test_optional_stage_settings_do_not_change_job_ids_until_switched_on():
    from simdata.job import make_job_id

    base = get_preset("fast")
    assert make_job_id("CC", base.replace(conductivity_slabs=20), 0) == make_job_id("CC", base, 0)
    on = base.replace(conductivity_ps=200.0)
    assert make_job_id("CC", on, 0) != make_job_id("CC", base, 0)
    assert make_job_id("CC", on.replace(conductivity_slabs=20), 0) != make_job_id("CC", on, 0)
    # the elongated cell: one copy (the default it was added with) keeps stored ids
    assert make_job_id("CC", on.replace(conductivity_replicas=1), 0) == make_job_id("CC", on, 0)
    assert make_job_id("CC", on.replace(conductivity_replicas=3), 0) != make_job_id("CC", on, 0)


def test_radonpy_preset_runs_the_exchange_on_a_cell_elongated_like_radonpys():
    radon = get_preset("radonpy")
    assert radon.conductivity_ps > 0 and radon.conductivity_replicas == 3
    assert radon.conductivity_slabs == 20 and radon.conductivity_flexible


@pytest.mark.md
def test_stacked_cell_conductivity_stage_on_tiny_polyethylene(tmp_path, tiny_preset, cache_dir):
    import json

    from simdata import Job, run_job
    from simdata.job import nemd_prmtop

    preset = tiny_preset.replace(
        structure_ps=0.0,
        conductivity_ps=3.0,
        conductivity_swap_ps=0.1,
        conductivity_slabs=12,
        conductivity_replicas=3,
    )
    job = Job("*CC*", "PE", preset, 0)
    row = run_job(job, tmp_path, cache_dir=cache_dir)
    assert row["status"] == "done", row["reason"]
    work = tmp_path / "jobs" / job.job_id
    assert nemd_prmtop(work).exists()
    s = json.loads((work / "md" / "conductivity.json").read_text())
    # the exchange ran on the cell stacked 3 times along z (the flux axis): 3 x 4 chains,
    # z three times the cubic cell's edge, the cross-section that edge squared
    assert s["replicas"] == 3
    edge = s["cross_section_nm2"] ** 0.5
    assert s["cell_length_nm"] == pytest.approx(3 * edge, rel=1e-6)
    assert len(s["profile_K"]) == 12 and s["swaps"] > 0
    assert np.isfinite(row["thermal_conductivity"]) or s["gradient_K_per_nm"] <= 0
    # known answer: the stacked topology with the stacked coordinates is an exact supercell,
    # so its energy is 3 times the cell's and every copy feels the cell's forces
    from simdata.pack import read_pdb_positions
    from simdata.simulation import create_simulation

    x = read_pdb_positions(work / "pack" / "box.pdb") / 10.0
    edge = json.loads((work / "pack" / "pack.json").read_text())["box_nm"]
    big, big_box = replicate_cell(x, np.eye(3) * edge, 3)
    cpu = openmm.Platform.getPlatformByName("Reference")
    states = [
        create_simulation(top, pos, box, preset, platform=cpu).context.getState(
            getEnergy=True, getForces=True
        )
        for top, pos, box in (
            (work / "pack" / "system.prmtop", x, edge),
            (nemd_prmtop(work), big, tuple(np.diag(big_box))),
        )
    ]
    e1, e3 = (st.getPotentialEnergy()._value for st in states)
    assert e3 == pytest.approx(3 * e1, rel=1e-4)
    f1, f3 = (st.getForces(asNumpy=True)._value for st in states)
    np.testing.assert_allclose(
        f3.reshape(3, len(x), 3), np.broadcast_to(f1, (3, *f1.shape)), atol=1.0
    )
