"""Validation benchmark of simdata against RadonPy (PI1070) and experiment.

Three steps, one command each (run from the repository root):

    python benchmarks/simdata/validate.py prepare   # chains, GAFF2, packed cells (needs AmberTools)
    python benchmarks/simdata/validate.py simulate --procs 8 [--platform CUDA]  # MD only
    python benchmarks/simdata/validate.py report    # table, MAPE, bias, CSV, PNG

Thermal conductivity (optional reverse-NEMD stage) on the finished cells:

    python benchmarks/simdata/validate.py simulate --override conductivity_ps=150 --rows R
    python benchmarks/simdata/validate.py conductivity

``simulate`` needs only OpenMM and NumPy, so the packed cells can be simulated on a
GPU node; its rows go to ``benchmarks/out/simdata/rows.jsonl`` and ``report`` puts
them into the result store ``benchmarks/out/simdata/results`` with the job ids of
``prepare``. Reference data are read from ``$AFFINETL_DATA_MIRROR`` (default
``../shared/data``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "out" / "simdata"
sys.path.insert(0, str(ROOT))

logger = logging.getLogger("validate")

#: Validation polymers (PI1070 ids and repeat units as written there).
POLYMERS = [
    ("PI1", "*CC*", "polyethylene"),
    ("PI2", "*C(C*)C", "polypropylene"),
    ("PI82", "*C(C*)c1ccccc1", "polystyrene"),
    ("PI437", "*C(C*)(C(=O)OC)C", "PMMA"),
    ("PI249", "*C(C*)C#N", "polyacrylonitrile"),
    ("PI259", "*C(C*)OC(=O)C", "poly(vinyl acetate)"),
    ("PI511", "*CC(*)(Cl)Cl", "poly(vinylidene chloride)"),
    ("PI317", "*C(C*)SC", "poly(vinyl methyl sulfide)"),
    ("PI411", "*C(C*)C(=O)OC", "poly(methyl acrylate)"),
    ("PI524", "*OCC*", "poly(ethylene oxide)"),
]
#: Polymers also run with the ``standard`` preset.
STANDARD = ["PI1", "PI2", "PI82", "PI437"]
#: Experimental amorphous densities (g/cm3) where the Afzal et al. table holds an
#: obvious error (polystyrene listed at 1.92): Brandrup & Immergut, Polymer Handbook.
EXP_OVERRIDES = {"PI82": 1.05}


def _jobs(presets: list[str], only: list[str] | None = None):
    from simdata import Job, get_preset

    jobs = []
    for preset in presets:
        for pid, smi, _name in POLYMERS:
            if preset == "standard" and pid not in STANDARD:
                continue
            if only and pid not in only:
                continue
            jobs.append(Job(smi, pid, get_preset(preset), 0))
    return jobs


def prepare(args: argparse.Namespace) -> int:
    """Parameterise and pack every validation polymer; write the manifest."""
    from simdata.job import prepare_job

    path = OUT / "manifest.json"
    manifest = []
    for job in _jobs(args.presets, args.only):
        t0 = time.perf_counter()
        work, timings = prepare_job(job, OUT / "results", cache_dir=OUT / "cache")
        manifest.append(
            {
                "job_id": job.job_id,
                "name": job.name,
                "smiles": job.smiles,
                "preset": job.preset.to_dict(),
                "work": str(work.relative_to(ROOT)),
                "prepare_s": time.perf_counter() - t0,
                **timings,
            }
        )
        logger.info("%s %s prepared in %.1f s", job.preset.name, job.name, time.perf_counter() - t0)
    # jobs not prepared now keep their entries; a job prepared again (new settings, new id)
    # replaces the entry of the same polymer and preset
    # (read now, not at the start: another prepare may have written it meanwhile)
    old = json.loads(path.read_text()) if path.exists() else []
    ids = {(m["name"], m["preset"]["name"]) for m in manifest}
    keep = [m for m in old if (m["name"], m["preset"]["name"]) not in ids]
    path.write_text(json.dumps(keep + manifest, indent=1))
    return 0


def _failure_stage(exc: BaseException, default: str) -> str:
    """The preparation step an exception came from, by the tool its message names."""
    text = f"{type(exc).__name__}: {exc}".lower()
    for tool in ("sqm", "antechamber", "parmchk2", "tleap", "packmol"):
        if tool in text:
            return tool
    return default


def _prepare_one(smiles: str, name: str, preset_name: str, queue) -> None:
    """Child process of :func:`prepare_set`: one polymer, steps reported on ``queue``."""
    from simdata import Job, get_preset
    from simdata.build import parse_repeat_unit
    from simdata.forcefield import parameterise_chain
    from simdata.job import prepare_job

    preset = get_preset(preset_name)
    job = Job(smiles, name, preset, 0)
    row: dict = {"status": "done"}
    step = "rdkit_spec"
    queue.put(("step", step))
    t0 = time.perf_counter()
    try:
        ru = parse_repeat_unit(smiles, name)
        step = "rdkit_build"  # chain, coordinates, then sqm, antechamber, parmchk2
        queue.put(("step", step))
        params = parameterise_chain(
            ru,
            atoms_per_chain=preset.atoms_per_chain,
            min_dp=preset.min_dp,
            charge_method=preset.charge_method,
            charge_oligomer_atoms=preset.charge_oligomer_atoms,
            tacticity=preset.tacticity,
            seed=0,
            cache_dir=OUT / "cache",
        )
        row.update(n_atoms_chain=params.n_atoms, dp=params.dp)
        row["chain_s"] = time.perf_counter() - t0  # chain, charges, types (not cached)
        step = "packmol"  # then tleap
        queue.put(("step", step))
        work, timings = prepare_job(job, OUT / "results", cache_dir=OUT / "cache")
        row.update(timings, job_id=job.job_id, work=str(work.relative_to(ROOT)))
    except Exception as exc:  # every failure is a row with its step and cause
        row.update(
            status="failed",
            stage=_failure_stage(exc, step),
            reason=f"{type(exc).__name__}: {exc}"[:400],
        )
    queue.put(("row", row))


def prepare_set(args: argparse.Namespace) -> int:
    """Prepare the random validation set (issue 23), recording the failures per stage.

    Steps per polymer, each polymer in its own process with a wall-time limit
    (``--timeout``): ``rdkit_spec`` (repeat-unit validation), the chain step (RDKit chain
    and coordinates, sqm AM1-BCC charges, antechamber GAFF2 types, parmchk2), then
    packing (packmol) and the cell topology (tleap). A failure is attributed to the tool
    its message names (``rdkit_build`` when it names none during the chain step); a
    polymer past the limit fails with ``<step>_timeout``. Rows go to
    ``benchmarks/out/simdata/set_prepare_<preset>.jsonl``; the jobs that pass are added to
    the manifest (``simulate --only``).
    """
    import multiprocessing as mp
    import queue as queue_mod

    from validation_set import load_validation_set

    from simdata import Job, get_preset

    vset = load_validation_set()
    if args.only:
        vset = vset[vset.monomer_ID.isin(args.only)]
    # smallest repeat units first: the most polymers measured in a limited time
    vset = vset.assign(size=vset.smiles.str.len()).sort_values("size", kind="stable")
    preset = get_preset(args.preset)
    log_path = OUT / f"set_prepare_{preset.name}.jsonl"
    done = set()
    if log_path.exists():
        logged = [json.loads(x) for x in log_path.read_text().splitlines() if x.strip()]
        # a polymer's latest row counts: --retry-failed attempts failed ones again
        latest = {row["name"]: row["status"] for row in logged}
        done = {k for k, v in latest.items() if v == "done" or not args.retry_failed}
    ctx = mp.get_context("spawn")
    for r in vset.to_dict("records"):
        name = r["monomer_ID"]
        if name in done:
            continue
        q = ctx.Queue()
        proc = ctx.Process(target=_prepare_one, args=(r["smiles"], name, preset.name, q))
        t0 = time.perf_counter()
        proc.start()
        step, row = "start", None
        while row is None:
            left = args.timeout - (time.perf_counter() - t0)
            if left <= 0:
                break
            try:
                kind, value = q.get(timeout=min(left, 5.0))
            except queue_mod.Empty:
                if not proc.is_alive() and q.empty():
                    break
                continue
            if kind == "step":
                step = value
            else:
                row = value
        if row is None:
            proc.terminate()
            reason = f"no result within {args.timeout:.0f} s (killed)"
            if proc.exitcode not in (None, 0, -15):
                reason = f"process died with exit code {proc.exitcode}"
            row = {"status": "failed", "stage": f"{step}_timeout", "reason": reason}
        proc.join()
        row = {"name": name, "class": r["class"], "preset": preset.name, **row}
        row["prepare_s"] = time.perf_counter() - t0
        with open(log_path, "a") as fh:
            fh.write(json.dumps(row, default=float) + "\n")
        logger.info(
            "%s %s %s in %.0f s", name, row["status"], row.get("stage", ""), row["prepare_s"]
        )
        if row["status"] == "done":
            job = Job(r["smiles"], name, preset, 0)
            entry = {
                "job_id": job.job_id,
                "name": name,
                "smiles": r["smiles"],
                "preset": preset.to_dict(),
                "work": row["work"],
                "prepare_s": row["prepare_s"],
            }
            path = OUT / "manifest.json"
            old = json.loads(path.read_text()) if path.exists() else []
            keep = [m for m in old if (m["name"], m["preset"]["name"]) != (name, preset.name)]
            path.write_text(json.dumps(keep + [entry], indent=1))
    return 0


def build_check(args: argparse.Namespace) -> int:
    """Repeat-unit validation and chain assembly (a 3-mer, no coordinates) on the whole set.

    Seconds for all 42 polymers: the RDKit failures of ``prepare-set`` without its cost.
    """
    from collections import Counter

    from rdkit import RDLogger
    from validation_set import load_validation_set

    from simdata.build import build_chain, parse_repeat_unit

    RDLogger.DisableLog("rdApp.*")
    vset = load_validation_set()
    failed = {}
    for r in vset.to_dict("records"):
        step = "rdkit_spec"
        try:
            ru = parse_repeat_unit(r["smiles"], r["monomer_ID"])
            step = "rdkit_build"
            build_chain(ru, 3)
        except Exception as exc:  # every failure reported
            failed[r["monomer_ID"]] = (r["class"], step, f"{type(exc).__name__}: {exc}"[:90])
    print(f"{len(vset)} checked, {len(failed)} failed ({100 * len(failed) / len(vset):.0f}%)")
    for name, (cls, step, reason) in failed.items():
        print(f"  {name} {cls} {step}: {reason}")
    print(Counter(v[0] for v in failed.values()))
    return 0


def set_report(args: argparse.Namespace) -> int:
    """Failure rate per preparation stage on the validation set, with causes and classes.

    A polymer counts with its latest attempt (``prepare-set --retry-failed`` appends
    new rows); polymers of the set never attempted are listed as ``not_attempted``. With
    ``--csv`` the rows (latest attempt per polymer, then the ones not attempted) are
    written there, e.g. ``simdata/examples/validation_set_prepare_standard.csv``.
    """
    import numpy as np
    import pandas as pd
    from validation_set import load_validation_set

    path = OUT / f"set_prepare_{args.preset}.jsonl"
    log = pd.DataFrame([json.loads(x) for x in path.read_text().splitlines() if x.strip()])
    log["attempts"] = log.groupby("name").cumcount() + 1
    rows = log.drop_duplicates("name", keep="last")  # a retried polymer's latest attempt
    vset = load_validation_set()
    left = vset[~vset.monomer_ID.isin(rows.name)]
    n = len(rows)
    print(f"{n} of {len(vset)} polymers attempted; {int((rows.status == 'done').sum())} prepared")
    failed = rows[rows.status == "failed"]
    for stage, g in failed.groupby("stage", sort=False):
        causes = g.reason.str.replace(r"polymer '[^']*': ", "", regex=True)
        causes = causes.str.replace(r"[0-9][0-9 ]*", "#", regex=True).str[:90]
        print(
            f"{stage}: {len(g)} ({100 * len(g) / n:.0f}%) [{', '.join(g.name)}] "
            + "; ".join(causes.unique()[:3])
        )
    by_class = pd.crosstab(rows["class"], rows["status"])
    by_class["not_attempted"] = left["class"].value_counts().reindex(by_class.index).fillna(0)
    print(by_class.astype(int).to_string())
    done = rows[rows.status == "done"]
    for what, d in (("all prepared", done), ("prepared on a retry", done[done.attempts > 1])):
        if len(d) >= 2:
            t = d.prepare_s.to_numpy() / 60
            print(
                f"minutes per polymer ({what}, n={len(t)}): mean {t.mean():.1f} +- "
                f"{t.std(ddof=1) / np.sqrt(len(t)):.1f} (90th percentile "
                f"{np.quantile(t, 0.9):.1f})"
            )
    if args.csv:
        table = pd.concat(
            [
                rows.drop(columns=["attempts"]),
                pd.DataFrame(
                    {
                        "name": left.monomer_ID,
                        "class": left["class"],
                        "preset": args.preset,
                        "status": "not_attempted",
                    }
                ),
            ],
            ignore_index=True,
        )
        keep = ["name", "class", "preset", "status", "stage", "reason", "prepare_s", "chain_s"]
        keep += ["pack_s", "n_atoms_chain", "dp"]
        table[[c for c in keep if c in table]].to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0


def _simulate_one(
    item: dict, platform: str, rows_path: str, scratch: str | None, overrides: dict
) -> dict:
    import shutil

    from simdata.job import simulate, software_versions
    from simdata.presets import Preset

    preset = Preset(**{**_known(item["preset"]), "platform": platform, **overrides})
    work = ROOT / item["work"]
    if scratch:
        dest = Path(scratch) / item["job_id"]
        if not dest.exists():
            shutil.copytree(work / "pack", dest / "pack")
        work = dest
    t0 = time.perf_counter()
    row = {"job_id": item["job_id"], "name": item["name"], "preset": preset.name}
    # versions on the machine that ran the MD (``report`` adds those of the preparing one)
    row["md_versions"] = software_versions()
    try:
        row.update(simulate(work, preset, seed=0, job_id=item["job_id"]))
        row["status"] = "done"
        row["reason"] = ""
    except Exception as exc:  # recorded as a failed row, never dropped
        row["status"] = "failed"
        row["reason"] = f"{type(exc).__name__}: {exc}"[:500]
    row["md_wall_s"] = time.perf_counter() - t0
    with open(rows_path, "a") as fh:
        fh.write(json.dumps(row, default=float) + "\n")
        fh.flush()
    logger.info("%s %s %s in %.0f s", preset.name, item["name"], row["status"], row["md_wall_s"])
    return row


def simulate_all(args: argparse.Namespace) -> int:
    """Run the MD of every prepared job (process pool); rows appended as they finish."""
    from concurrent.futures import ProcessPoolExecutor

    manifest = json.loads((OUT / "manifest.json").read_text())
    if args.only:
        manifest = [m for m in manifest if m["name"] in args.only]
    if args.presets:
        manifest = [m for m in manifest if m["preset"]["name"] in args.presets]
    if args.skip_rows:  # jobs that already have a finished row elsewhere
        done = set()
        for path in args.skip_rows:
            for line in Path(path).read_text().splitlines():
                if line.strip() and json.loads(line).get("status") == "done":
                    done.add(json.loads(line)["job_id"])
        manifest = [m for m in manifest if m["job_id"] not in done]
    rows_path = args.rows or str(OUT / "rows.jsonl")
    from simdata.cli import parse_overrides

    overrides = parse_overrides(args.override)
    # biggest jobs first; among equal sizes, in the order of --only (put the slow ones first)
    order = {pid: i for i, pid in enumerate(args.only or [])}
    manifest.sort(
        key=lambda m: (
            -m["preset"]["n_chains"] * m["preset"]["atoms_per_chain"],
            order.get(m["name"], len(order)),
        )
    )
    with ProcessPoolExecutor(max_workers=args.procs) as pool:
        futs = [
            pool.submit(_simulate_one, m, args.platform, rows_path, args.scratch, overrides)
            for m in manifest
        ]
        for f in futs:
            f.result()
    return 0


def report(args: argparse.Namespace) -> int:
    """Store the rows, compare with RadonPy and experiment, write CSV + PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    from _data import experimental_densities, match_key, radonpy_table

    from simdata import ResultStore, load_results
    from simdata.job import software_versions

    rows_files = [Path(p) for p in (args.rows or [str(OUT / "rows.jsonl")])]
    manifest = {m["job_id"]: m for m in json.loads((OUT / "manifest.json").read_text())}
    store = ResultStore(OUT / "results")
    # a row is stored once: finished jobs, and failures already recorded, are skipped
    finished = store.finished_ids()
    stored = {(r["job_id"], r["status"]) for r in store.rows()}
    new = []
    for path in rows_files:
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if row["job_id"] in finished or (row["job_id"], row["status"]) in stored:
                continue
            if row["job_id"] not in manifest:
                logger.warning("%s: job %s is not in the manifest; skipped", path, row["job_id"])
                continue
            m = manifest[row["job_id"]]
            row.update(
                smiles=m["smiles"],
                seed=0,
                settings=json.dumps(m["preset"], sort_keys=True),
                versions=json.dumps(
                    {**software_versions(), **_md_versions(row.pop("md_versions", None))},
                    sort_keys=True,
                ),
                prepare_s=m["prepare_s"],
                source=str(path.name),
            )
            new.append(row)
    store.extend(new)
    res = load_results(OUT / "results")
    # the store is append-only: a polymer run again (e.g. after a builder fix, under a new
    # job id) keeps its old row; the table uses the latest finished row per polymer and preset
    res = _current(_latest_done(res))
    ref = radonpy_table()[["monomer_ID", "density", "Cp"]].rename(
        columns={"monomer_ID": "name", "density": "density_radonpy", "Cp": "Cp_radonpy"}
    )
    exp = experimental_densities()
    exp["key"] = [match_key(s) for s in exp.exp_smiles]
    keys = {pid: match_key(smi) for pid, smi, _ in POLYMERS}
    res = res.merge(ref, on="name", how="left")
    res["key"] = res.name.map(keys)
    res = res.merge(exp.dropna(subset=["key"]).drop_duplicates("key"), on="key", how="left")
    for pid, val in EXP_OVERRIDES.items():
        res.loc[res.name == pid, "density_exp"] = val
    res["polymer"] = res.name.map({pid: n for pid, _, n in POLYMERS})
    res["err_radonpy_%"] = 100 * (res.density - res.density_radonpy) / res.density_radonpy
    res["err_exp_%"] = 100 * (res.density - res.density_exp) / res.density_exp
    res["Cp_err_radonpy_%"] = 100 * (res.Cp - res.Cp_radonpy) / res.Cp_radonpy
    res["Cp_fd_err_radonpy_%"] = 100 * (res.Cp_fd - res.Cp_radonpy) / res.Cp_radonpy
    res["minutes"] = (res.get("prepare_s", 0) + res.get("md_wall_s", res.get("wall_s"))) / 60
    cols = [
        "preset", "name", "polymer", "n_atoms", "platform", "density", "density_sem",
        "density_radonpy", "density_exp", "err_radonpy_%", "err_exp_%", "Cp", "Cp_fd",
        "Cp_radonpy", "Cp_err_radonpy_%", "Cp_fd_err_radonpy_%", "equilibrated", "ns_per_day",
        "minutes",
    ]  # fmt: skip
    table = res[[c for c in cols if c in res.columns]].sort_values(["preset", "name"])
    table.to_csv(OUT / "validation.csv", index=False)
    summary = []
    for preset, g in table.groupby("preset"):
        e = g["err_radonpy_%"].dropna()
        x = g["err_exp_%"].dropna()
        summary.append(
            {
                "preset": preset,
                "n": len(g),
                "MAPE_vs_RadonPy_%": e.abs().mean(),
                "bias_vs_RadonPy_%": e.mean(),
                "MAPE_vs_exp_%": x.abs().mean(),
                "bias_vs_exp_%": x.mean(),
                "MAPE_Cp_vs_RadonPy_%": g["Cp_err_radonpy_%"].abs().mean(),
                "bias_Cp_vs_RadonPy_%": g["Cp_err_radonpy_%"].mean(),
                "MAPE_Cp_fd_vs_RadonPy_%": g["Cp_fd_err_radonpy_%"].abs().mean(),
                "bias_Cp_fd_vs_RadonPy_%": g["Cp_fd_err_radonpy_%"].mean(),
            }
        )
    summary = pd.DataFrame(summary)
    summary.to_csv(OUT / "validation_summary.csv", index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.round(3).to_string(index=False))
        print(summary.round(2).to_string(index=False))
    fig, ax = plt.subplots(figsize=(5, 5))
    for preset, g in table.groupby("preset"):
        ax.errorbar(
            g.density_radonpy, g.density, yerr=g.density_sem, fmt="o", label=f"simdata {preset}"
        )
    lim = [0.75, max(1.8, float(np.nanmax(table[["density", "density_radonpy"]].values)) + 0.05)]
    ax.plot(lim, lim, "k--", lw=1)
    ax.set_xlabel("RadonPy density (g/cm3)")
    ax.set_ylabel("simdata density (g/cm3)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "validation_density.png", dpi=120)
    if args.example:
        keep = [
            "job_id", "name", "smiles", "canonical_smiles", "preset", "seed", "status", "density",
            "density_sem", "Cp", "Cp_sem", "Cp_fd", "Cp_fd_sem", "Cv", "compressibility",
            "bulk_modulus", "isentropic_compressibility", "isentropic_bulk_modulus",
            "volume_expansion", "volume_expansion_fd", "linear_expansion",
            "static_dielectric_const", "Rg", "Rg_mass", "end_to_end", "r2",
            "nematic_order_parameter", "self-diffusion", "self_diffusion_chain",
            "cohesive_energy_density", "solubility_parameter", "Tg", "DP", "n_mol",
            "n_atoms", "charge_method", "equilibrated", "platform", "ns_per_day", "settings",
            "versions",
        ]  # fmt: skip
        full = _current(_latest_done(load_results(OUT / "results")))
        full = full[full.preset == args.example_preset]
        keep += [c for c in full.columns if c.endswith(("_sem", "_quality")) and c not in keep]
        full[[c for c in keep if c in full.columns]].to_csv(args.example, index=False)
        from simdata.columns import write_sidecar

        write_sidecar(args.example, [c for c in keep if c in full.columns])
    return 0


def conductivity(args: argparse.Namespace) -> int:
    """Thermal conductivity (reverse NEMD) of the finished cells against RadonPy.

    Reads the stage summaries (``md/conductivity.json``: rigid H bonds, and
    ``md/conductivity_flexible.json``) of every prepared job, written by ``simulate
    --override conductivity_ps=... [conductivity_flexible=True]`` on finished jobs; writes
    ``conductivity.csv`` and ``validation_conductivity.png``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from _data import radonpy_table

    current = _current_ids()
    rows = []
    for m in json.loads((OUT / "manifest.json").read_text()):
        if m["job_id"] not in current:
            continue
        for stage, bonds in (("conductivity", "rigid H"), ("conductivity_flexible", "flexible")):
            path = ROOT / m["work"] / "md" / f"{stage}.json"
            if path.exists():
                tc = json.loads(path.read_text())
                rows.append(
                    {"preset": m["preset"]["name"], "name": m["name"], "bonds": bonds, **tc}
                )
    if not rows:
        logger.error("no conductivity stage found; run simulate --override conductivity_ps=...")
        return 1
    df = pd.DataFrame(rows)
    ref = radonpy_table()[["monomer_ID", "thermal_conductivity", "thermal_conductivity_std"]]
    df = df.merge(
        ref.rename(
            columns={
                "monomer_ID": "name",
                "thermal_conductivity": "tc_radonpy",
                "thermal_conductivity_std": "tc_radonpy_std",
            }
        ),
        on="name",
        how="left",
    )
    df["polymer"] = df.name.map({pid: n for pid, _, n in POLYMERS})
    df["err_radonpy_%"] = 100 * (df.thermal_conductivity - df.tc_radonpy) / df.tc_radonpy
    df["minutes"] = df.wall_s / 60
    cols = [
        "preset", "name", "polymer", "bonds", "timestep_fs", "run_ps", "thermal_conductivity",
        "thermal_conductivity_sem", "tc_radonpy", "tc_radonpy_std", "err_radonpy_%", "T_cold",
        "T_hot", "T_mean", "energy_drift_kj_mol_ps", "cell_length_nm", "minutes",
    ]  # fmt: skip
    table = df[cols].sort_values(["preset", "name", "bonds"])
    table.to_csv(OUT / "conductivity.csv", index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.round(4).to_string(index=False))
    for bonds, g in table.groupby("bonds"):
        e = g["err_radonpy_%"]
        print(f"{bonds}: MAPE vs RadonPy {e.abs().mean():.1f}%, bias {e.mean():+.1f}% ({len(e)})")
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for bonds, g in table.groupby("bonds"):
        ax.errorbar(
            g.tc_radonpy,
            g.thermal_conductivity,
            xerr=g.tc_radonpy_std,
            yerr=g.thermal_conductivity_sem,
            fmt="o",
            label=f"simdata, {bonds}",
        )
    for _, r in table.iterrows():
        ax.annotate(r.polymer, (r.tc_radonpy, r.thermal_conductivity), fontsize=7)
    lim = [0.0, 0.05 + max(table.tc_radonpy.max(), table.thermal_conductivity.max())]
    ax.plot(lim, lim, "k--", lw=1)
    ax.set_xlabel("RadonPy thermal conductivity (W/m/K)")
    ax.set_ylabel("simdata reverse NEMD (W/m/K)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "validation_conductivity.png", dpi=120)
    return 0


#: simdata column -> PI1070 column it is compared with (same meaning unless noted in
#: :data:`MEANING_DIFFERS`).
PI1070_COLUMNS = {
    "density": "density",
    "Cp": "Cp",
    "Cp_fd": "Cp",
    "Cv": "Cv",
    "compressibility": "compressibility",
    "bulk_modulus": "bulk_modulus",
    "isentropic_compressibility": "isentropic_compressibility",
    "isentropic_bulk_modulus": "isentropic_bulk_modulus",
    "volume_expansion": "volume_expansion",
    "volume_expansion_fd": "volume_expansion",
    "linear_expansion": "linear_expansion",
    "static_dielectric_const": "static_dielectric_const",
    "Rg": "Rg",
    "Rg_mass": "Rg",
    "r2": "r2",
    "self-diffusion": "self-diffusion",
    "self_diffusion_chain": "self-diffusion",
    "nematic_order_parameter": "nematic_order_parameter",
    "refractive_index": "refractive_index",
    "thermal_conductivity": "thermal_conductivity",
    "thermal_diffusivity": "thermal_diffusivity",
    "linear_expansion_fd": "linear_expansion",
}
#: Columns compared with a PI1070 column of another meaning (shown for scale only).
MEANING_DIFFERS = {
    "Rg_mass": "mass-weighted, shorter chains",
    "self_diffusion_chain": "chain centre of mass, not all atoms",
}


def _md_cell(x: float, fmt: str = "{:.1f}") -> str:
    return fmt.format(x) if x == x else ""


def property_errors(args: argparse.Namespace) -> int:
    """Error of every property against PI1070, with quality-flag rates, per preset.

    Reads the shipped example tables (``simdata/examples/validation_<preset>.csv``) and,
    with ``--rows``, rows of further runs (JSON lines). Rows without a refractive index
    (older than the column) get it from their MD density, its standard error and the
    DFT-D4 repeat-unit polarisability (:func:`simdata.optics.refractive_index_row`), as
    ``run_job`` computes it now. Flags are recomputed with :mod:`simdata.quality`. Every
    property column of :data:`simdata.quality.REL_SEM` gets a line for every preset of
    :data:`simdata.presets.PRESETS`: compared with PI1070, ``no PI1070 column``, or
    ``not run`` (no finished row of the preset) or ``not in these rows`` (the preset's
    rows are older than the column). Writes ``property_errors.csv``
    and prints one Markdown table per preset (MAPE, signed bias, Spearman rank
    correlation, share of rows flagged other than ``ok`` and the flags seen).
    """
    import numpy as np
    import pandas as pd
    from _data import radonpy_table
    from scipy.stats import spearmanr

    from simdata.optics import refractive_index_row, unit_polarizability
    from simdata.presets import PRESETS
    from simdata.quality import REL_SEM, quality_flags

    frames = [
        pd.read_csv(ROOT / "simdata" / "examples" / f"validation_{p}.csv")
        for p in ("fast", "standard")
    ]
    for path in args.rows or []:
        rows = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
        frames.append(pd.DataFrame([r for r in rows if r.get("status") == "done"]))
    res = pd.concat(frames, ignore_index=True)
    res = res[res.status == "done"].drop_duplicates(["name", "preset"], keep="last")
    if "smiles" not in res or res.smiles.isna().any():
        smiles = radonpy_table().set_index("monomer_ID").smiles
        res["smiles"] = res.name.map(smiles)
    records = res.to_dict("records")
    units = {s: unit_polarizability(s) for s in res.smiles.unique()}
    for r in records:
        if not np.isfinite(float(r.get("refractive_index", np.nan))):
            alpha, mass = units[r["smiles"]]
            r.update(refractive_index_row({"polarizability_unit": alpha, "mass_unit": mass}, r))
    res = pd.DataFrame(records, index=res.index)
    ref = radonpy_table().set_index("monomer_ID")
    out = []
    for preset in PRESETS:
        g = res[res.preset == preset]
        flags = pd.DataFrame([quality_flags(r) for r in g.to_dict("records")], index=g.index)
        for col in REL_SEM:
            refcol = PI1070_COLUMNS.get(col)
            line = {"preset": preset, "property": col, "vs PI1070": refcol or "", "n": 0}
            if refcol and col in MEANING_DIFFERS:
                line["vs PI1070"] += f" ({MEANING_DIFFERS[col]})"
            if col not in g or g[col].isna().all():  # no run, or rows older than the column
                out.append({**line, "status": "not in these rows" if len(g) else "not run"})
                continue
            fq = flags[f"{col}_quality"]
            line.update(
                {
                    "flagged_%": float(100 * np.mean(fq != "ok")),
                    "flags": ", ".join(f"{k} {v}" for k, v in fq.value_counts().items()),
                }
            )
            if refcol is None:
                out.append({**line, "n": int(g[col].notna().sum()), "status": "no PI1070 column"})
                continue
            sim = g[col].astype(float).to_numpy()
            rv = ref.loc[g.name, refcol].to_numpy(dtype=float)
            ok = np.isfinite(sim) & np.isfinite(rv)
            err = 100 * (sim[ok] - rv[ok]) / rv[ok]
            line.update(
                {
                    "n": int(ok.sum()),
                    "MAPE_%": float(np.mean(np.abs(err))) if ok.any() else np.nan,
                    "bias_%": float(np.mean(err)) if ok.any() else np.nan,
                    "spearman": float(spearmanr(sim[ok], rv[ok])[0]) if ok.sum() > 2 else np.nan,
                }
            )
            out.append({**line, "status": "compared"})
    table = pd.DataFrame(out)
    table.to_csv(OUT / "property_errors.csv", index=False)
    from simdata.columns import write_sidecar

    write_sidecar(OUT / "property_errors.csv", table.columns)
    for preset, g in table.groupby("preset", sort=False):
        n_rows = int((res.preset == preset).sum())
        print(f"== {preset}: {n_rows} finished rows" if n_rows else f"== {preset}: not run")
        print("| property | vs PI1070 | n | MAPE | bias | Spearman | flagged | flags |")
        print("|---|---|---|---|---|---|---|---|")
        for r in g.to_dict("records"):
            if r["status"] != "compared" and not r["n"]:
                vs = r["vs PI1070"] or "no PI1070 column"
                print(f"| `{r['property']}` | {vs} | 0 | {r['status']} | | | | |")
                continue
            print(
                f"| `{r['property']}` | {r['vs PI1070'] or 'no PI1070 column'} | {r['n']} "
                f"| {_md_cell(r.get('MAPE_%', np.nan))} | {_md_cell(r.get('bias_%', np.nan), '{:+.1f}')} "
                f"| {_md_cell(r.get('spearman', np.nan), '{:.2f}')} "
                f"| {r['flagged_%']:.0f}% | {r['flags']} |"
            )
    return 0


def refractive(args: argparse.Namespace) -> int:
    """The DFT-D4 refractive index against PI1070 with PI1070's own densities.

    ``--n`` polymers drawn at random (``--seed``) from PI1070; only the polarisability
    source differs from RadonPy's. Writes ``refractive.csv`` and prints MAPE, bias and
    Spearman (all, and units with and without aromatic rings).
    """
    import numpy as np
    import pandas as pd
    from _data import radonpy_table
    from rdkit import RDLogger
    from scipy.stats import spearmanr

    from simdata.optics import lorentz_lorenz, unit_polarizability

    RDLogger.DisableLog("rdApp.*")
    ref = radonpy_table()
    ref = ref[ref.smiles.str.count(r"\*") == 2].sample(args.n, random_state=args.seed)
    rows = []
    for r in ref.itertuples():
        try:
            alpha, mass = unit_polarizability(r.smiles)
        except Exception as exc:  # recorded, not dropped
            rows.append({"name": r.monomer_ID, "error": f"{type(exc).__name__}: {exc}"[:200]})
            continue
        rows.append(
            {
                "name": r.monomer_ID,
                "alpha": alpha,
                "alpha_radonpy": r.qm_polarizability_monomer,
                "n": lorentz_lorenz(alpha, r.density, mass),
                "n_radonpy": r.refractive_index,
                "aromatic": "c" in r.smiles,
            }
        )
    df = pd.DataFrame(rows)
    df.to_csv(OUT / "refractive.csv", index=False)
    ok = df.dropna(subset=["alpha"])
    print(f"{len(ok)} of {len(df)} computed")
    for label, g in (("all", ok), ("aromatic", ok[ok.aromatic]), ("other", ok[~ok.aromatic])):
        e = 100 * (g.n - g.n_radonpy) / g.n_radonpy
        print(
            f"{label}: n = {len(g)}, MAPE {e.abs().mean():.2f} +- "
            f"{e.abs().std(ddof=1) / np.sqrt(len(e)):.2f}%, bias {e.mean():+.2f}%, "
            f"p90 {np.percentile(e.abs(), 90):.2f}%, Spearman {spearmanr(g.n, g.n_radonpy)[0]:.2f}"
        )
    return 0


def _md_versions(md: dict | None) -> dict:
    """The MD machine's versions of the programs the MD used, as ``md_<name>`` entries."""
    if not md:
        return {}
    return {f"md_{k}": v for k, v in md.items() if k in ("python", "openmm", "numpy") and v}


def _latest_done(res):
    """Finished rows, the most recent one per polymer and preset."""
    res = res[res.status == "done"]
    return res.sort_values("recorded_at", kind="stable").drop_duplicates(
        ["name", "preset"], keep="last"
    )


def _current_ids() -> set[str]:
    """Job ids of the validation polymers under the presets as shipped now (seed 0)."""
    from simdata import PRESETS, Job

    return {
        Job(smi, pid, preset, 0).job_id for preset in PRESETS.values() for pid, smi, _ in POLYMERS
    }


def _current(res):
    """Rows of jobs as the shipped presets define them now (earlier protocols are left out)."""
    ids = _current_ids()
    old = res[~res.job_id.isin(ids)]
    if len(old):
        logger.info(
            "left out %d rows of earlier preset settings: %s",
            len(old),
            ", ".join(f"{r.name}/{r.preset}" for r in old.itertuples()),
        )
    return res[res.job_id.isin(ids)]


def _known(settings: dict) -> dict:
    """Preset fields only (manifests written by older versions may hold others)."""
    import dataclasses

    from simdata.presets import Preset

    names = {f.name for f in dataclasses.fields(Preset)}
    return {k: v for k, v in settings.items() if k in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--presets", nargs="+", default=["fast", "standard"])
    p.add_argument("--only", nargs="*", default=None, help="PI1070 ids to prepare (default all)")
    p.set_defaults(func=prepare)
    p = sub.add_parser("prepare-set", help="prepare the random validation set (issue 23)")
    p.add_argument("--preset", default="standard")
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per polymer")
    p.add_argument("--retry-failed", action="store_true", help="attempt failed polymers again")
    p.set_defaults(func=prepare_set)
    p = sub.add_parser("build-check", help="RDKit chain assembly on the whole set (seconds)")
    p.set_defaults(func=build_check)
    p = sub.add_parser("set-report", help="failure rates of prepare-set")
    p.add_argument("--preset", default="standard")
    p.add_argument("--csv", default=None, help="write the rows (latest attempt) here")
    p.set_defaults(func=set_report)
    p = sub.add_parser("simulate")
    p.add_argument("--procs", type=int, default=1)
    p.add_argument("--platform", default="auto")
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--presets", nargs="*", default=None)
    p.add_argument("--rows", default=None)
    p.add_argument("--skip-rows", nargs="*", default=[], help="skip jobs done in these rows files")
    p.add_argument("--scratch", default=None, help="run in copies of the packed cells here")
    p.add_argument("--override", nargs="*", default=[], metavar="FIELD=VALUE")
    p.set_defaults(func=simulate_all)
    p = sub.add_parser("report")
    p.add_argument("--rows", nargs="*", default=None)
    p.add_argument("--example", default=None, help="also write the example dataset CSV here")
    p.add_argument("--example-preset", default="fast", help="preset of the example dataset")
    p.set_defaults(func=report)
    p = sub.add_parser("properties", help="every property against PI1070, with flag rates")
    p.add_argument("--rows", nargs="*", default=None)
    p.set_defaults(func=property_errors)
    p = sub.add_parser("refractive", help="DFT-D4 refractive index vs PI1070")
    p.add_argument("--n", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=refractive)
    p = sub.add_parser("conductivity")
    p.set_defaults(func=conductivity)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    OUT.mkdir(parents=True, exist_ok=True)
    os.chdir(ROOT)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
