"""MD protocol on OpenMM: minimise, compress, 21-step anneal, NPT check, production.

Every stage is resumable: it ends by writing its state (OpenMM XML) and a JSON
summary into the work folder, and a stage whose files exist is skipped. NaN
blow-ups restart the failing chunk from the last good state with half the step.

The OpenMM set-up (:func:`create_simulation` and its helpers) lives in
:mod:`simdata.simulation`, the runner with its stage-skip / checkpoint logic
(:class:`MDRunner`) in :mod:`simdata.runner`; both are re-exported here.
"""

from __future__ import annotations

import json
import logging
import os
import time

import numpy as np

from .checkpoint import Progress, StageResult  # noqa: F401  (Progress: re-export)
from .constants import BAR_NM3_KJ_MOL
from .reporters import ObservableReporter, equilibrated
from .runner import MDRunner
from .simulation import (
    AROMATIC_GAFF2_TYPES,
    create_simulation,
    integration_step_fs,
    prmtop_atom_types,
    select_platform,
    stage_seeds,
)

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
