"""Campaign benchmark: how busy the simulation workers are, and polymers per hour.

    python benchmarks/simdata/campaign.py --n 4 --platform CPU --device-indices 0
    python benchmarks/simdata/campaign.py --n 20 --platform CUDA --device-indices 0 1 2 3 \
        --prep-workers 2 --prep-threads 8 --preset fast

Runs ``--n`` polymers of a small table through :func:`simdata.run_table` on a
:func:`simdata.cluster.local_cluster` (one simulation worker per device index, CPU workers
that prepare) and reports, from the rows: the campaign wall time, the fraction of it each
simulation worker spent inside its simulation tasks (busy fraction), the MD seconds per job,
polymers per hour, and an estimate of polymers per device-hour for each shipped preset
(measured MD seconds per simulated ps and atom, scaled to each preset's protocol length and
cell size; equilibration assumed to pass after two windows). A fresh results folder is
used each time; the parameterisation cache is kept unless ``--fresh-cache``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform as _platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "out" / "simdata"
sys.path.insert(0, str(ROOT))

SMILES = [
    "*CC*",
    "*CC(*)C",
    "*CC(*)Cl",
    "*CC(*)C#N",
    "*CC(*)OC(C)=O",
    "*CC(*)(C)C(=O)OC",
    "*C(F)C*",
    "*CC(*)CC",
    "*CCO*",
    "*CC(*)F",
    "*CC(*)O",
    "*CC(*)CCC",
    "*C(Cl)(Cl)C*",
    "*CCCO*",
    "*CC(*)C(C)C",
    "*CC(C)(C)C*",
    "*CCOC*",
    "*CC(*)OC",
    "*CC(*)C(=O)OC",
    "*CCC(*)C",
]

#: The short protocol of the CPU campaign (``--short``): the ``fast`` cell (4 x ~300 atoms)
#: with every MD stage cut, so that the measurement ends in minutes on a laptop core.
SHORT = {
    "compress_ps": 4.0,
    "anneal_scale": 0.02,
    "npt_ps": 6.0,
    "max_npt_extensions": 0,
    "production_ps": 6.0,
    "cp_delta_t": 0.0,
    "chunk_ps": 2.0,
}


def _stats(x) -> dict[str, float]:
    x = np.asarray(x, dtype=float)
    se = float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")
    return {"mean": float(x.mean()), "se": se, "p90": float(np.percentile(x, 90))}


def _protocol_ps(p, cycles: float = 25.0, windows: int = 2) -> float:
    """Simulated ps of a job of preset ``p`` (compression cycles and NPT windows assumed)."""
    from simdata.protocol import LARSEN_STEPS

    anneal = sum(max(1.0, length * p.anneal_scale) for *_, length in LARSEN_STEPS)
    compress = 0.5 * cycles + p.compress_ps + min(5.0, p.compress_ps)
    scan = 2 * p.cp_run_ps if p.cp_delta_t > 0 else 0.0
    return compress + anneal + windows * p.npt_ps + p.production_ps + scan


def _job_ps(md: Path) -> float:
    """Simulated ps of a finished job, from its stage summaries."""
    total = 0.0
    for stage in ("compress", "anneal", "equilibrate", "production"):
        total += float(json.loads((md / f"{stage}.json").read_text()).get("ps", 0.0))
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="polymers (at most 20)")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--short", action="store_true", help="the short CPU protocol (SHORT)")
    parser.add_argument("--platform", default="CUDA", help="OpenMM platform of the MD workers")
    parser.add_argument("--device-indices", type=int, nargs="+", default=[0])
    parser.add_argument("--prep-workers", type=int, default=1)
    parser.add_argument("--prep-threads", type=int, default=1)
    parser.add_argument("--md-threads", type=int, default=1, help="OPENMM_CPU_THREADS")
    parser.add_argument("--queue-depth", type=int, default=None)
    parser.add_argument("--scratch", default="/tmp/simdata_campaign")
    parser.add_argument("--fresh-cache", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from distributed import Client

    from simdata import Job, get_preset, load_results, run_table
    from simdata.cluster import local_cluster
    from simdata.presets import PRESETS

    preset = get_preset(args.preset, **(SHORT if args.short else {}))
    scratch = Path(args.scratch)
    shutil.rmtree(scratch / "results", ignore_errors=True)
    if args.fresh_cache:
        shutil.rmtree(scratch / "cache", ignore_errors=True)
    jobs = [Job(s, f"P{i}", preset, 0) for i, s in enumerate(SMILES[: args.n])]
    with local_cluster(
        len(args.device_indices),
        args.prep_workers,
        device_indices=args.device_indices,
        platform=args.platform,
        prep_threads=args.prep_threads,
        md_threads=args.md_threads,
    ) as cluster:
        with Client(cluster) as client:
            client.wait_for_workers(len(args.device_indices) + args.prep_workers)
            t0 = time.time()
            run_table(
                jobs,
                scratch / "results",
                scheduler=client,
                cache_dir=scratch / "cache",
                queue_depth=args.queue_depth,
            )
            t1 = time.time()
    df = load_results(scratch / "results")
    done = df[df.status == "done"]
    wall = t1 - t0
    busy = {}
    for worker, g in done.groupby("sim_worker"):
        busy[worker] = float((g.md_end - g.md_start).sum() / wall)
    # the MD alone: from the first chunk of the first stage to the last result
    md_s = done.md_end - done.md_start
    atoms = done.n_atoms.astype(float)
    ps = np.array([_job_ps(scratch / "results" / "jobs" / jid / "md") for jid in done.job_id])
    s_per_ps_atom = md_s / ps / atoms
    estimate = {}
    for name, p in PRESETS.items():
        n_atoms = p.n_chains * p.atoms_per_chain
        sec = float(s_per_ps_atom.mean()) * _protocol_ps(p) * n_atoms
        estimate[name] = {"atoms": n_atoms, "md_s_per_polymer": sec, "per_device_hour": 3600 / sec}
    result = {
        "machine": f"{_platform.node()} {_platform.machine()}",
        "platform": args.platform,
        "device_indices": args.device_indices,
        "preset": preset.name,
        "short": args.short,
        "n_jobs": len(jobs),
        "n_done": int(len(done)),
        "failed": df[df.status != "done"][["name", "reason"]].to_dict("records"),
        "wall_s": wall,
        "busy_fraction": busy,
        "md_s_per_job": _stats(md_s),
        "md_ps_per_job": _stats(ps),
        "prep_s_per_job": _stats(
            [
                sum(json.loads(t).get(k, 0.0) for k in ("build_s", "parameterise_s", "pack_s"))
                for t in done.timings
            ]
        ),
        "production_ns_per_day": _stats(done.ns_per_day),
        "atoms": _stats(atoms),
        "polymers_per_hour": len(done) / wall * 3600,
        "estimate_per_device_hour": estimate,
    }
    text = json.dumps(result, indent=1)
    print(text)
    out = Path(args.out or OUT / f"campaign_{args.platform.lower()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
