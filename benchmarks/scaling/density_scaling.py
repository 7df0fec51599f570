"""Sim2Real scaling benchmark: RadonPy MD density (PI1070) -> Afzal 2021 experimental density.

The target is the cleaned experimental density (:func:`affinetl.datasets.load_afzal2021` leaves
the values flagged by its quality rules out). ``--property Tg`` runs the second case: a source
model of Afzal et al.'s OPLS3e MD Tg (``afzal2021-md``) learned from structure, transferred to
the experimental Tg of the same 315 polymers.

Runs the learning curves of :func:`affinetl.scaling.scaling_study` (10 repetitions, 20
experimental training polymers), fits ``E(N) = D N^-alpha + C`` with bootstrap intervals and
prints the report, the N needed for a target error, the paired comparison with target-only
learning at the largest N, and the machine. Outputs (CSV, PNG, report) go to
``benchmarks/out/scaling`` (the cell cache there makes a rerun resume). One command::

    AFFINETL_DATA_MIRROR=../shared/data OMP_NUM_THREADS=1 python benchmarks/scaling/density_scaling.py

``--quick`` runs the smoke-test size.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np

from affinetl.scaling import n_for_target_error, scaling_study

CASES = {
    "density": {"source": "pi1070", "n_grid": (30, 60, 120, 250, 500, 1000)},
    "Tg": {"source": "afzal2021-md", "n_grid": (20, 40, 80, 160, 315)},
}
METHODS = ("affine-cv", "affine", "offset", "fine-tuning", "source-only", "target-only")


def paired_gap(table, method: str, baseline: str, n_target: int) -> tuple[float, float, int]:
    """Mean and standard error of ``rmse(method at the largest N) - rmse(baseline)`` per rep."""
    part = table[table.method == method]
    top = part[part.n_source == part.n_source.max()].set_index("rep")["rmse"]
    base = table[(table.method == baseline) & (table.n_target == n_target)].set_index("rep")
    diff = (top - base["rmse"]).dropna()
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff))), len(diff)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="default benchmarks/out/scaling[-Tg]")
    parser.add_argument("--property", default="density", choices=sorted(CASES))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    case = CASES[args.property]
    out = args.out or str(
        Path("benchmarks") / "out" / ("scaling" if args.property == "density" else "scaling-Tg")
    )
    size = (
        {"n_grid": case["n_grid"][:4], "n_reps": 3, "n_boot": 200, "n_target_grid": (10, 20, 30)}
        if args.quick
        else {
            "n_grid": case["n_grid"],
            "n_reps": args.reps,
            "n_boot": 1000,
            "n_target_grid": (10, 20, 30, 45, 60),
        }
    )
    start = time.perf_counter()
    study = scaling_study(
        case["source"],
        "afzal2021",
        prop=args.property,
        methods=METHODS,
        n_target=20,
        out_dir=out,
        n_jobs=args.jobs,
        **size,
    )
    wall = time.perf_counter() - start
    print(study.report())
    print()
    for method, fit in study.fits.items():
        if method == "target-only":
            continue
        best = float(study.table.loc[study.table.method == method, "rmse"].mean())
        target = 0.9 * best
        N, lo, hi = n_for_target_error(fit, target)
        print(
            f"{method}: alpha {fit.alpha:.3g} [{fit.ci['alpha'][0]:.3g}, {fit.ci['alpha'][1]:.3g}]"
            f", C {fit.C:.3g} [{fit.ci['C'][0]:.3g}, {fit.ci['C'][1]:.3g}] ({fit.form} fit); "
            f"N for RMSE {target:.4f} (10% below its mean) = {N:.3g} [{lo:.3g}, {hi:.3g}]"
        )
        if "target-only" in study.fits:
            gap, se, n = paired_gap(study.table, method, "target-only", 20)
            print(
                f"    at the largest N minus target-only (n=20): {gap:+.4f} +- {se:.4f} ({n} reps)"
            )
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, jobs={args.jobs}; "
        f"wall {wall:.0f} s"
    )
    for name, path in study.paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
