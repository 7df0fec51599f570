"""Mid-stage checkpoints: a stage interrupted part-way resumes where it stopped, identically."""

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

from simdata import Job  # noqa: E402
from simdata.checkpoint import MDTimeLimit, RunOptions, TimeBudget  # noqa: E402
from simdata.job import prepare_job, simulate_job  # noqa: E402
from simdata.pack import read_pdb_positions  # noqa: E402
from simdata.protocol import (  # noqa: E402
    MDRunner,
    anneal,
    create_simulation,
    minimise,
    production,
)


@pytest.fixture
def tiny_cell(tmp_path, tiny_preset, cache_dir):
    job = Job("*CC*", "PE", tiny_preset, 0)
    work, _ = prepare_job(job, tmp_path, cache_dir=cache_dir)
    return job, work


def _runner(work, preset, md_dir, options=None, callback=None):
    from openmm import unit

    meta = json.loads((work / "pack" / "pack.json").read_text())
    pos = read_pdb_positions(work / "pack" / "box.pdb") / 10
    # the Reference platform is bitwise reproducible (the CPU platform is not, run to run)
    sim = create_simulation(
        work / "pack" / "system.prmtop", pos, meta["box_nm"], preset.replace(platform="Reference")
    )
    masses = np.array([a.element.mass.value_in_unit(unit.dalton) for a in sim.topology.atoms()])
    return MDRunner(sim, preset, md_dir, masses, options=options, callback=callback)


def _state(runner) -> tuple[np.ndarray, np.ndarray]:
    from openmm import unit

    s = runner.sim.context.getState(getPositions=True, getVelocities=True)
    return (
        s.getPositions(asNumpy=True).value_in_unit(unit.nanometer),
        s.getVelocities(asNumpy=True).value_in_unit(unit.nanometer / unit.picosecond),
    )


def _minimised_copy(work, preset, tmp_path) -> tuple[Path, Path]:
    """Two MD folders starting from the same minimised state."""
    a, b = tmp_path / "a", tmp_path / "b"
    minimise(_runner(work, preset, a))
    shutil.copytree(a, b)
    return a, b


class _Limit:
    """A clock that reads 0 until the test moves it: the time limit hits at a chosen chunk."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_production_resumes_mid_stage_identically(tiny_cell, tiny_preset, tmp_path):
    job, work = tiny_cell
    preset = tiny_preset.replace(production_ps=3.0, chunk_ps=0.5)
    a, b = _minimised_copy(work, preset, tmp_path)
    ends = (0, 1)

    # the reference runs uninterrupted with the same checkpoint schedule
    ref = _runner(work, preset, a, RunOptions(checkpoint_ps=0.5))
    minimise(ref)
    _, frames_ref = production(ref, np.zeros(len(ref.masses)), n_chains=4, ends=ends)
    x_ref, v_ref = _state(ref)

    # the MD time limit stops the stage after its third chunk (1.5 ps), with a checkpoint
    clock = _Limit()
    events = []
    cut = _runner(work, preset, b, RunOptions(checkpoint_ps=0.5, max_md_s=100.0), events.append)
    cut.budget = TimeBudget(cut.options, clock=clock)
    minimise(cut)
    chunks = []

    def tick(event):
        events.append(event)
        if event.stage == "production" and event.kind == "start":
            chunks.append(0)

    cut.callback = tick
    orig = cut._after_chunk

    def after_chunk(*args):
        chunks.append(1)
        if len(chunks) == 4:  # "start" + 3 chunks
            clock.now = 1e6
        orig(*args)

    cut._after_chunk = after_chunk
    with pytest.raises(MDTimeLimit, match="stage production") as info:
        production(cut, np.zeros(len(cut.masses)), n_chains=4, ends=ends)
    assert info.value.stage == "production"
    part = json.loads((b / "production.part.json").read_text())
    assert part["segment"] == 0 and part["ps"] == pytest.approx(1.5)
    assert not (b / "production.json").exists()

    # a new process: a fresh Simulation on the same folder continues from the checkpoint
    again_events = []
    again = _runner(work, preset, b, RunOptions(checkpoint_ps=0.5), again_events.append)
    minimise(again)
    _, frames = production(again, np.zeros(len(again.masses)), n_chains=4, ends=ends)
    assert any(e.kind == "resume" and e.stage == "production" for e in again_events)
    assert not (b / "production.part.json").exists()  # removed when the stage finished
    assert set(frames) == set(frames_ref)
    for key in frames_ref:
        np.testing.assert_array_equal(frames[key], frames_ref[key], err_msg=key)
    x, v = _state(again)
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(v, v_ref)


@pytest.mark.md
def test_anneal_resumes_at_its_segment(tiny_cell, tiny_preset, tmp_path):
    """Larsen steps finished before the checkpoint are skipped; the rest match exactly."""
    job, work = tiny_cell
    preset = tiny_preset.replace(anneal_scale=0.01, chunk_ps=0.5)
    a, b = _minimised_copy(work, preset, tmp_path)

    ref = _runner(work, preset, a, RunOptions(checkpoint_ps=0.5))
    minimise(ref)
    res_ref = anneal(ref)
    x_ref, _ = _state(ref)

    clock = _Limit()
    cut = _runner(work, preset, b, RunOptions(checkpoint_ps=0.5, max_md_s=100.0))
    cut.budget = TimeBudget(cut.options, clock=clock)
    minimise(cut)
    seen = []
    orig = cut._after_chunk

    def after_chunk(stage, segment, *rest):
        seen.append(segment)
        if segment == 7 and len([s for s in seen if s == 7]) == 1:
            clock.now = 1e6  # stop after the first chunk of Larsen step 8
        orig(stage, segment, *rest)

    cut._after_chunk = after_chunk
    with pytest.raises(MDTimeLimit):
        anneal(cut)
    assert json.loads((b / "anneal.part.json").read_text())["segment"] == 7

    again = _runner(work, preset, b, RunOptions(checkpoint_ps=0.5))
    minimise(again)
    steps = []
    orig2 = again._after_chunk
    again._after_chunk = lambda stage, segment, *r: (
        steps.append(segment),
        orig2(stage, segment, *r),
    )
    res = anneal(again)
    assert min(steps) == 7  # steps 0-6 were not run again
    assert res.summary["ps"] == pytest.approx(res_ref.summary["ps"])
    np.testing.assert_allclose(res.summary["trace"], res_ref.summary["trace"], rtol=0, atol=0)
    x, _ = _state(again)
    np.testing.assert_array_equal(x, x_ref)


@pytest.mark.md
def test_time_limit_row_is_incomplete_then_resumes(tiny_cell, tiny_preset):
    """``max_md_s``: the row says incomplete, names the stage and the reason; the next run
    finishes the job from the checkpoint."""
    job, work = tiny_cell
    row = simulate_job(job, work, options=RunOptions(max_md_s=1e-9))
    assert row["status"] == "incomplete"
    assert row["failed_stage"] == "compress"
    assert "MD time limit" in row["reason"] and "compress" in row["reason"]
    assert (work / "md" / "compress.part.json").exists()
    row = simulate_job(job, work)
    assert row["status"] == "done", row["reason"]
    seeds = json.loads(row["seeds"])
    assert seeds["velocities_minimise"] == 11 and seeds["integrator"] == 1
    assert json.loads(row["device"])["platform"] == "CPU"


def test_run_options_are_checked():
    with pytest.raises(ValueError, match="max_md_s"):
        RunOptions(max_md_s=0)
    with pytest.raises(ValueError, match="checkpoint_ps"):
        RunOptions(checkpoint_ps=-1)


def test_compression_resumed_in_its_npt_part_runs_no_cycle(tiny_preset):
    """A checkpoint inside the NPT part of the compression: no scaling cycle runs again, the
    NPT segment runs its remaining picoseconds, the counters come from the checkpoint."""
    from types import SimpleNamespace

    import simdata.protocol as protocol
    from simdata.checkpoint import Progress

    calls = []

    class Resumed:
        preset = tiny_preset.replace(compress_ps=4.0)
        seeds = protocol.stage_seeds(0)
        progress = Progress()
        sim = SimpleNamespace(context=None)
        _resume = Progress(1000, 1.5, {"wall": 2.0, "t": 12.5, "cycles": 25}, 4.0, True)

        def resume(self, stage):
            return None

        def resumed(self):
            return self._resume

        def resuming(self, segment):
            return self._resume is not None and segment == self._resume.segment

        def density(self):
            return 0.8

        def emit(self, *a, **k):
            calls.append(("emit", a))

        def set_conditions(self, *a):
            calls.append(("set", a))

        def minimize(self, *a):
            raise AssertionError("no cycle may run again")

        def run_ps(self, ps, *, stage, segment, timestep_fs=None):
            calls.append(("run", segment, ps))
            if self._resume is not None and segment == self._resume.segment:
                self._resume = None
            return 1.0

        def finish(self, stage, info):
            return info

    info = protocol.compress(Resumed())
    runs = [c[1:] for c in calls if c[0] == "run"]
    assert runs == [(1000, 4.0), (1001, 4.0)]
    assert ("set", (tiny_preset.compress_temperature, None)) not in calls  # stays NPT
    assert info["cycles"] == 25 and info["ps"] == pytest.approx(12.5 + 4.0 + 4.0)
