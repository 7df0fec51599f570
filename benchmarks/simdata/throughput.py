"""Production throughput of simdata vs a bare OpenMM loop on the same system.

    python benchmarks/simdata/throughput.py prepare            # PE cells of ~1,000 and ~3,000 atoms
    python benchmarks/simdata/throughput.py run --ps 20 [--platform CPU] [--threads 1]
    python benchmarks/simdata/throughput.py run --ps 100 --platform CUDA --device-index 0
    python benchmarks/simdata/throughput.py report             # CSV + PNG from the run files

Minimised and compressed cells found in the scratch folder are reused. Both loops integrate the same ``fast``-preset System (PME, 4 fs with hydrogen mass
repartitioning, H-bond constraints, Langevin middle integrator, Monte Carlo barostat)
after the compression stage: the bare loop calls ``integrator.step`` once; simdata
runs its production stage (chunked integration with NaN checks, observable and
health reporters). The two alternate (bare, simdata, bare, ...); each simdata run is paired
with the bare run after it, and the table gives means with standard errors and 90th
percentiles over the repeats (ratio: mean of the paired ratios).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform as _platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "out" / "simdata"
sys.path.insert(0, str(ROOT))

SIZES = {
    "1k": {"n_chains": 4, "atoms_per_chain": 250},
    "3k": {"n_chains": 6, "atoms_per_chain": 500},
}


def prepare(args: argparse.Namespace) -> int:
    from simdata import Job, get_preset
    from simdata.job import prepare_job

    manifest = []
    for label, kw in SIZES.items():
        job = Job("*CC*", f"PE-{label}", get_preset("fast", **kw), 0)
        work, _ = prepare_job(job, OUT / "throughput", cache_dir=OUT / "cache")
        manifest.append(
            {"label": label, "work": str(work.relative_to(ROOT)), "preset": job.preset.to_dict()}
        )
    (OUT / "throughput_manifest.json").write_text(json.dumps(manifest, indent=1))
    return 0


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(args: argparse.Namespace) -> int:
    import shutil

    import numpy as np
    from openmm import unit

    from simdata.devices import Device, context_device
    from simdata.pack import read_pdb_positions
    from simdata.presets import Preset
    from simdata.protocol import MDRunner, compress, create_simulation, minimise, production

    device = Device(args.platform, index=args.device_index, threads=args.threads)

    results = []
    for item in json.loads((OUT / "throughput_manifest.json").read_text()):
        preset = Preset(
            **{
                **_known(item["preset"]),
                "platform": args.platform,
                "compress_ps": 5.0,
                "production_ps": args.ps,
            }
        )
        work = ROOT / item["work"]
        meta = json.loads((work / "pack" / "pack.json").read_text())
        pos = read_pdb_positions(work / "pack" / "box.pdb") / 10.0
        platform = device.resolve()
        sim = create_simulation(
            work / "pack" / "system.prmtop",
            pos,
            meta["box_nm"],
            preset,
            platform=platform,
            platform_properties=device.properties(platform.getName()),
        )
        masses = np.array([a.element.mass.value_in_unit(unit.dalton) for a in sim.topology.atoms()])
        nb = next(f for f in sim.system.getForces() if f.__class__.__name__ == "NonbondedForce")
        charges = np.array(
            [
                nb.getParticleParameters(i)[0].value_in_unit(unit.elementary_charge)
                for i in range(nb.getNumParticles())
            ]
        )
        md = Path(args.scratch) / f"tp_{item['label']}"
        if args.fresh:
            shutil.rmtree(md, ignore_errors=True)
        runner = MDRunner(sim, preset, md, masses)
        minimise(runner)
        compress(runner)
        runner.set_conditions(preset.temperature, preset.pressure_bar)
        n = round(args.ps * 1000 / preset.timestep_fs)
        integ = sim.integrator

        def bare(integ=integ, n=n, ctx=sim.context) -> None:
            integ.step(n)
            ctx.getState(getEnergy=True)

        integ.step(max(1, n // 10))  # warm-up
        t_bare = [_timed(bare)]
        t_ours = []
        for _ in range(args.repeats):
            for f in md.glob("production*"):
                f.unlink()
            res, frames = production(
                runner, charges, n_chains=preset.n_chains, ends=tuple(meta["ends"])
            )
            t_ours.append(res.summary["wall_s"])
            t_bare.append(_timed(bare))
        ns = args.ps / 1000.0
        bare_nsd = ns / (np.array(t_bare[1:]) / 86400)
        ours_nsd = ns / (np.array(t_ours) / 86400)
        row = {
            "system": f"PE {item['label']}",
            "n_atoms": int(meta["n_atoms"]),
            "platform": sim.context.getPlatform().getName(),
            "device": context_device(sim.context),
            "timestep_fs": preset.timestep_fs,
            "ps": args.ps,
            "repeats": args.repeats,
            "bare_ns_per_day": _stats(bare_nsd),
            "simdata_ns_per_day": _stats(ours_nsd),
            "ratio": _stats(ours_nsd / bare_nsd),
            "frames": int(len(frames["time"])),
            "machine": f"{_platform.node()} {_platform.processor() or _platform.machine()}",
        }
        results.append(row)
        print(json.dumps(row))
        sys.stdout.flush()
    out = Path(args.out or OUT / "throughput.json")
    out.write_text(json.dumps(results, indent=1))
    return 0


def report(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    rows = []
    for path in args.files or [str(OUT / "throughput.json")]:
        for r in json.loads(Path(path).read_text()):
            dev = r.get("device", Path(path).stem)
            r["device"] = dev.get("DeviceName", dev["platform"]) if isinstance(dev, dict) else dev
            for key in ("bare_ns_per_day", "simdata_ns_per_day", "ratio"):
                if isinstance(r.get(key), dict):  # mean, se, p90
                    stats = r.pop(key)
                    r[key], r[f"{key}_se"] = stats["mean"], stats["se"]
            rows.append(r)
    df = pd.DataFrame(rows)
    df.to_csv(OUT / "throughput.csv", index=False)
    with pd.option_context("display.width", 200):
        print(df.round(3).to_string(index=False))
    fig, ax = plt.subplots(figsize=(6, 4))
    labels = [f"{r.system}\n{r.platform}" for r in df.itertuples()]
    x = range(len(df))
    ax.bar([i - 0.2 for i in x], df.bare_ns_per_day, 0.4, label="bare OpenMM loop")
    ax.bar([i + 0.2 for i in x], df.simdata_ns_per_day, 0.4, label="simdata production")
    ax.set_xticks(list(x), labels)
    ax.set_yscale("log")
    ax.set_ylabel("ns/day")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "throughput.png", dpi=120)
    return 0


def _stats(x) -> dict[str, float]:
    """Mean, standard error and 90th percentile."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    se = float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")
    return {"mean": float(x.mean()), "se": se, "p90": float(np.percentile(x, 90))}


def _known(settings: dict) -> dict:
    """Preset fields only (manifests written by older versions may hold others)."""
    import dataclasses

    from simdata.presets import Preset

    names = {f.name for f in dataclasses.fields(Preset)}
    return {k: v for k, v in settings.items() if k in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare").set_defaults(func=prepare)
    p = sub.add_parser("run")
    p.add_argument("--ps", type=float, default=20.0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--platform", default="auto")
    p.add_argument("--device-index", type=int, default=None, help="GPU index (DeviceIndex)")
    p.add_argument("--threads", type=int, default=None, help="CPU platform threads")
    p.add_argument("--scratch", default="/tmp/simdata_tp")
    p.add_argument("--out", default=None)
    p.add_argument("--fresh", action="store_true", help="redo minimisation and compression")
    p.set_defaults(func=run)
    p = sub.add_parser("report")
    p.add_argument("--files", nargs="*", default=None)
    p.set_defaults(func=report)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    OUT.mkdir(parents=True, exist_ok=True)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
