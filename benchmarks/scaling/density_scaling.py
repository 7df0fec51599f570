"""Sim2Real scaling benchmark: RadonPy MD density (PI1070) -> Afzal 2021 experimental density.

The target is the cleaned experimental density (:func:`affinetl.datasets.load_afzal2021` leaves
the values flagged by its quality rules out); ``--property Tg`` runs the Afzal MD Tg ->
experimental Tg case instead.

Runs the learning curves of :func:`affinetl.scaling.scaling_study` at its documented size
(N = 30 ... 1,000 simulated polymers, 10 repetitions, 20 experimental training polymers),
fits ``E(N) = D N^-alpha + C`` with bootstrap intervals and prints the report and the machine.
Outputs (CSV, PNG, report) go to ``benchmarks/out/scaling`` (the cell cache there makes a
rerun resume). One command::

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

from affinetl.scaling import n_for_target_error, scaling_study


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path("benchmarks") / "out" / "scaling"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    size = (
        {"n_grid": (20, 40, 80, 160), "n_reps": 3, "n_boot": 200, "n_target_grid": (10, 20, 30)}
        if args.quick
        else {
            "n_grid": (30, 60, 120, 250, 500, 1000),
            "n_reps": 10,
            "n_boot": 1000,
            "n_target_grid": (10, 20, 30, 45, 60),
        }
    )
    start = time.perf_counter()
    study = scaling_study(
        "pi1070",
        "afzal2021",
        prop="density",
        methods=("affine-cv", "affine", "offset", "fine-tuning", "source-only", "target-only"),
        n_target=20,
        out_dir=args.out,
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
            f"{method}: N for RMSE {target:.4f} (10% below its mean) = {N:.3g} "
            f"[{lo:.3g}, {hi:.3g}] ({fit.form} fit)"
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
