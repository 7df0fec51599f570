from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rdkit")
pytest.importorskip("openmm")
if shutil.which("tleap") is None and not (Path(sys.executable).parent / "tleap").exists():
    pytest.skip("AmberTools not installed", allow_module_level=True)

from simdata import Job, load_results, run_table  # noqa: E402
from simdata.errors import SimulationBlowUp  # noqa: E402
from simdata.job import prepare_job, simulate  # noqa: E402
from simdata.pack import read_pdb_positions  # noqa: E402
from simdata.protocol import MDRunner, create_simulation, minimise, scale_cell  # noqa: E402


@pytest.fixture
def tiny_cell(tmp_path, tiny_preset, cache_dir):
    job = Job("*CC*", "PE", tiny_preset, 0)
    work, _ = prepare_job(job, tmp_path, cache_dir=cache_dir)
    return job, work


def _runner(work, preset, tmp_path):
    from openmm import unit

    meta = json.loads((work / "pack" / "pack.json").read_text())
    pos = read_pdb_positions(work / "pack" / "box.pdb") / 10
    sim = create_simulation(work / "pack" / "system.prmtop", pos, meta["box_nm"], preset)
    masses = np.array([a.element.mass.value_in_unit(unit.dalton) for a in sim.topology.atoms()])
    return MDRunner(sim, preset, tmp_path / "md", masses)


def _positions(runner) -> np.ndarray:
    from openmm import unit

    state = runner.sim.context.getState(getPositions=True)
    return state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)


def test_minimise_and_direct_compression(tiny_cell, tiny_preset, tmp_path):
    job, work = tiny_cell
    runner = _runner(work, tiny_preset, tmp_path)
    res = minimise(runner)
    assert res.state.exists() and not res.skipped
    rho0 = runner.density()
    box = json.loads((work / "pack" / "pack.json").read_text())["box_nm"]
    assert rho0 == pytest.approx(runner.masses.sum() / 6.02214076e23 / (box**3 * 1e-21), rel=1e-6)
    assert rho0 <= tiny_preset.pack_density * 1.001  # lower when the chain is longer than the box
    x0 = _positions(runner)
    scale_cell(runner, 0.9)
    assert runner.density() == pytest.approx(rho0 / 0.9**3, rel=1e-6)
    # affine scaling: every distance shrinks by the factor (up to the H-bond constraints, which
    # move the carbons by a few pm), so no atom is pushed onto another one, even for a chain
    # longer than the box; rigid-molecule scaling would leave intra-chain distances unscaled
    x1 = _positions(runner)
    heavy = runner.masses > 2.0
    d0 = np.linalg.norm(x0[heavy][:, None] - x0[heavy][None], axis=-1)
    d1 = np.linalg.norm(x1[heavy][:, None] - x1[heavy][None], axis=-1)
    np.testing.assert_allclose(d1, 0.9 * d0, atol=0.012)
    assert d0.max() > 1.0  # pairs far enough apart for the check to tell the two apart
    again = minimise(runner)  # stage files exist: loaded, not rerun
    assert again.skipped


def test_blow_up_is_recovered_or_raised(tiny_cell, tiny_preset, tmp_path):
    job, work = tiny_cell
    preset = tiny_preset.replace(timestep_fs=80.0, max_restarts=1, chunk_ps=0.4)
    runner = _runner(work, preset, tmp_path)
    runner.sim.minimizeEnergy(maxIterations=50)
    events = []
    runner.callback = events.append
    with pytest.raises(SimulationBlowUp, match="restarts"):
        runner.run_ps(2.0, stage="test")
    assert [e.kind for e in events] == ["restart"]
    assert events[0].info["timestep_fs"] == 40.0


@pytest.mark.md
def test_tiny_job_end_to_end(tmp_path, tiny_preset, cache_dir):
    """A few short *CC* chains through every stage (about a minute on 2 cores)."""
    preset = tiny_preset.replace(cp_delta_t=20.0, cp_run_ps=1.0, compress_target_density=0.75)
    events = []
    store = run_table(
        [Job("*CC*", "PE", preset, 0)],
        tmp_path,
        n_workers=0,
        cache_dir=cache_dir,
        callback=events.append,
    )
    df = load_results(tmp_path)
    row = df.iloc[0]
    assert row.status == "done", row.reason
    assert 0.6 < row.density < 1.0
    assert row.Cp > 0 and np.isfinite(row.Cp_fd) and row.Rg > 0
    assert row.n_atoms == 4 * 104
    # a rerun skips the finished polymer
    run_table([Job("*CC*", "PE", preset, 0)], tmp_path, n_workers=0, callback=events.append)
    assert events[-1].kind == "skip"
    assert store.finished_ids() == {row.job_id}


@pytest.mark.md
def test_simulate_resumes_from_checkpoints(tiny_cell, tiny_preset):
    job, work = tiny_cell
    first = simulate(work, tiny_preset, job_id=job.job_id)
    for stage in ("minimise", "compress", "anneal", "equilibrate", "production"):
        assert (work / "md" / f"{stage}.xml").exists()
    events = []
    second = simulate(work, tiny_preset, job_id=job.job_id, callback=events.append)
    assert second["density"] == pytest.approx(first["density"])
    assert not [e for e in events if e.kind == "start"]  # every stage was reused


def test_restarts_of_finished_stages_survive_a_resume(tiny_cell, tiny_preset, tmp_path):
    """A job resumed from its checkpoints still counts the NaN restarts of its finished stages."""
    job, work = tiny_cell
    runner = _runner(work, tiny_preset, tmp_path)
    runner.restarts = 2  # as if run_ps had recovered two blow-ups in this stage
    res = runner.finish("minimise", {"density": runner.density()})
    assert res.summary["restarts"] == 2
    runner.restarts += 1  # one more in the next stage
    assert runner.finish("compress", {}).summary["restarts"] == 1
    assert json.loads((tmp_path / "md" / "compress.json").read_text())["restarts"] == 1
    resumed = _runner(work, tiny_preset, tmp_path)
    resumed.load(resumed.done("minimise"))
    resumed.load(resumed.done("compress"))
    assert resumed.restarts == 3
    assert resumed.finish("anneal", {}).summary["restarts"] == 0  # none since the resume


def test_minimisation_in_a_cpu_context_lowers_the_energy(tiny_cell, tiny_preset, tmp_path):
    """The path GPU platforms take (fixed-point forces overflow on overlapping atoms)."""
    from openmm import unit

    job, work = tiny_cell
    runner = _runner(work, tiny_preset, tmp_path)

    def energy() -> float:
        state = runner.sim.context.getState(getEnergy=True)
        return state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)

    e0 = energy()
    runner.minimize(200, on_cpu=True)
    e1 = energy()
    assert e1 < e0
    runner.minimize(200, on_cpu=False)
    assert energy() <= e1 + 1e-6 * abs(e1) + 1.0


def test_run_ps_smaller_step_for_one_call(tiny_cell, tiny_preset, tmp_path):
    """A stage may integrate with a smaller step (the compression cycles); the preset's returns."""
    from openmm import unit

    job, work = tiny_cell
    runner = _runner(work, tiny_preset, tmp_path)
    runner.sim.minimizeEnergy(maxIterations=50)
    integ = runner.sim.integrator
    dt = integ.getStepSize().value_in_unit(unit.femtosecond)
    step0 = runner.sim.currentStep
    runner.run_ps(0.1, stage="test", timestep_fs=dt / 2)
    assert runner.sim.currentStep - step0 == round(0.1 * 1000 / (dt / 2))
    assert integ.getStepSize().value_in_unit(unit.femtosecond) == pytest.approx(dt)


def test_aromatic_cells_get_the_smaller_step(tiny_cell, tiny_preset, tmp_path):
    """GAFF2 aromatic types (polystyrene's ``ca``) switch the step to ``aromatic_timestep_fs``."""
    from simdata.protocol import integration_step_fs, prmtop_atom_types

    job, work = tiny_cell
    prmtop = work / "pack" / "system.prmtop"
    types = prmtop_atom_types(prmtop)
    assert set(types) == {"c3", "hc"}  # polyethylene: sp3 carbon and its hydrogens
    preset = tiny_preset.replace(timestep_fs=4.0, aromatic_timestep_fs=2.0)
    assert integration_step_fs(prmtop, preset) == 4.0
    lines = prmtop.read_text().splitlines()
    at = [line.rstrip() for line in lines].index("%FLAG AMBER_ATOM_TYPE") + 2
    lines[at] = lines[at].replace("c3", "ca", 1)  # the same cell with its first carbon "ca"
    aromatic = tmp_path / "aromatic.prmtop"
    aromatic.write_text("\n".join(lines) + "\n")
    assert prmtop_atom_types(aromatic).count("ca") == 1
    assert integration_step_fs(aromatic, preset) == 2.0
    assert integration_step_fs(aromatic, preset.replace(aromatic_timestep_fs=None)) == 4.0
    with pytest.raises(ValueError, match="AMBER_ATOM_TYPE"):
        prmtop_atom_types(_no_types(tmp_path))


def _no_types(tmp_path):
    path = tmp_path / "empty.prmtop"
    path.write_text("%VERSION\n%FLAG TITLE\n%FORMAT(20a4)\nX\n")
    return path


def test_cell_packed_from_an_older_chain_is_repacked(tiny_cell, tiny_preset, cache_dir):
    job, work = tiny_cell
    meta_path = work / "pack" / "pack.json"
    meta = json.loads(meta_path.read_text())
    assert len(meta["chain_sha"]) == 16
    again, _ = prepare_job(job, work.parents[1], cache_dir=cache_dir)  # same chain: reused
    assert again == work and json.loads(meta_path.read_text()) == meta
    # a cell (and its MD checkpoints) made from a chain the builder has since changed
    (work / "md").mkdir(exist_ok=True)
    (work / "md" / "minimise.xml").write_text("stale")
    meta_path.write_text(json.dumps({**meta, "chain_sha": "0" * 16}))
    prepare_job(job, work.parents[1], cache_dir=cache_dir)
    assert json.loads(meta_path.read_text())["chain_sha"] == meta["chain_sha"]
    assert not (work / "md").exists()
    # a cell packed before the check cannot be verified: kept (with its checkpoints)
    (work / "md").mkdir()
    legacy = {k: v for k, v in meta.items() if k != "chain_sha"}
    meta_path.write_text(json.dumps(legacy))
    prepare_job(job, work.parents[1], cache_dir=cache_dir)
    assert json.loads(meta_path.read_text()) == legacy and (work / "md").exists()


def test_compression_stops_at_the_target_despite_rounding(monkeypatch, tiny_preset):
    """The last cycle scales onto the target; a density a rounding error short of it must not
    start another (factor 1.0) cycle, up to 200 of them."""
    from types import SimpleNamespace

    import simdata.protocol as protocol

    class FakeRunner:
        preset = tiny_preset.replace(compress_target_density=0.8)
        rho = 0.056
        sim = SimpleNamespace(context=SimpleNamespace(setVelocitiesToTemperature=lambda *a: None))

        def density(self):
            return self.rho

        seeds = protocol.stage_seeds(0)
        progress = protocol.Progress()

        def resume(self, stage):
            return None

        def resumed(self):
            return None

        def skip_segment(self, segment):
            return False

        def fresh_segment(self, segment):
            return True

        def resuming(self, segment):
            return False

        def finish(self, stage, info):
            return info

        def emit(self, *a, **k):
            pass

        def set_conditions(self, *a):
            pass

        def minimize(self, *a):
            pass

        def run_ps(self, *a, **k):
            return 0.0

    def scale(runner, factor):  # the box determinant lands just below the exact target
        runner.rho = runner.rho / factor**3 * (1.0 - 1e-15)

    monkeypatch.setattr(protocol, "scale_cell", scale)
    info = protocol.compress(FakeRunner())
    assert info["density"] == pytest.approx(0.8, rel=1e-6)
    assert info["cycles"] == 30  # 0.97 per cycle from 0.056, then one exact step


def test_reverse_nemd_on_a_constrained_polymer_cell(tiny_cell, tiny_preset, tmp_path):
    """CH2/CH3 groups (H-bond constraints, heavier hydrogens) exchange as rigid clusters."""
    from simdata.conductivity import constraint_clusters, reverse_nemd

    job, work = tiny_cell
    runner = _runner(work, tiny_preset, tmp_path)
    minimise(runner)
    scale_cell(runner, 0.6)  # a denser cell
    minimise(runner.__class__(runner.sim, tiny_preset, tmp_path / "dense", runner.masses))
    clusters = constraint_clusters(runner.sim.system)
    carbons = sum(a.element.symbol == "C" for a in runner.sim.topology.atoms())
    assert clusters.n_clusters == carbons  # a carbon with its hydrogens: CH2 and CH3 groups
    s = reverse_nemd(runner, run_ps=3.0, swap_ps=0.1, n_slabs=6).summary
    assert s["restarts"] == 0 and s["swaps"] > 20
    assert s["T_hot"] > s["T_cold"]
    assert s["timestep_fs"] == 2.0  # NVE at conductivity_timestep_fs, not the cell's 4 fs


def test_reverse_nemd_on_a_flexible_copy_of_the_cell(tiny_cell, tiny_preset, tmp_path, monkeypatch):
    """conductivity_flexible: all bonds flexible, real H masses, 1 fs; the runner is untouched."""
    import simdata.conductivity as cond

    monkeypatch.setattr(cond, "FLEXIBLE_THERMALISE_PS", 0.2)
    job, work = tiny_cell
    preset = tiny_preset.replace(conductivity_flexible=True)
    runner = _runner(work, preset, tmp_path)
    minimise(runner)
    with pytest.raises(ValueError, match="prmtop"):
        cond.reverse_nemd(runner, run_ps=1.0, swap_ps=0.05, n_slabs=6)
    x0 = _positions(runner)
    prmtop = work / "pack" / "system.prmtop"
    s = cond.reverse_nemd(runner, run_ps=1.0, swap_ps=0.05, n_slabs=6, prmtop=prmtop).summary
    assert s["flexible"] and s["timestep_fs"] == 1.0 and s["swaps"] > 0
    np.testing.assert_allclose(_positions(runner), x0)
    assert runner.sim.system.getNumConstraints() > 0  # the production system keeps its constraints


def test_bad_conductivity_settings_fail_before_any_dynamics(tiny_cell, tiny_preset):
    job, work = tiny_cell
    with pytest.raises(ValueError, match="conductivity_slabs must be even"):
        simulate(work, tiny_preset.replace(conductivity_ps=10.0, conductivity_slabs=7))
    with pytest.raises(ValueError, match="conductivity_swap_ps"):
        simulate(work, tiny_preset.replace(conductivity_ps=1.0, conductivity_swap_ps=0.5))
    assert not (work / "md" / "minimise.xml").exists()
