"""Speed of the grid-batched AffineTL-full CV against one estimator fit per grid point.

One SARCOS cross-validation (torque 1, n training points, 5 folds x the published 64-point grid)
is run twice on the same data and initial values: (a) the package's block-relaxation solver
called once per fold and grid point (what GridSearchCV over AffineTransferRegressor does),
(b) ``affinetl._solvers.affine_full_path`` with all folds and grid points as one
batch. Prints both times, the ratio and the largest prediction difference; writes a CSV row.

    python benchmarks/case_studies/grid_speed.py [--n 20] [--out benchmarks/out/case_studies]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from affinetl._solvers import GramFactor, affine_full_path, fit_affine_blocks
from affinetl.datasets import load_sarcos
from affinetl.reproduce._kernel_case import FULL_GRID, five_folds, rbf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/out/case_studies")
    args = parser.parse_args()
    data = load_sarcos("proxy")
    rows = np.random.default_rng(0).permutation(3000)[: args.n]
    X, T = data.X.to_numpy()[rows], data.y.to_numpy()[rows]
    z = lambda a: (a - a.mean(0)) / a.std(0, ddof=1)  # noqa: E731
    x, u, y = z(X), z(T[:, 1:]), z(T[:, :1])[:, 0]
    folds = five_folds(args.n)
    K1 = np.stack([rbf(u[t], u[t], 1 / 12) for t, _ in folds])
    K3 = np.stack([rbf(x[t], x[t], 1 / 42) for t, _ in folds])
    E1 = np.stack([rbf(u[v], u[t], 1 / 12) for t, v in folds])
    E3 = np.stack([rbf(x[v], x[t], 1 / 42) for t, v in folds])
    ys = np.stack([y[t] for t, _ in folds])

    start = time.perf_counter()
    batched, _ = affine_full_path(K1, K1, K3, ys, (E1, E1, E3), FULL_GRID)
    t_batched = time.perf_counter() - start

    rng = np.random.default_rng(0)
    beta0, gamma0 = rng.standard_normal(len(ys[0])), rng.standard_normal(len(ys[0]))
    start = time.perf_counter()
    diffs = []
    for f in range(len(folds)):
        F1, F3 = GramFactor(K1[f]), GramFactor(K3[f])
        for j, lams in enumerate(FULL_GRID):
            res = fit_affine_blocks(F1, F1, F3, ys[f], tuple(lams), beta0=beta0, gamma0=gamma0)
            pred = res.intercept + E1[f] @ res.alpha + (1 + E1[f] @ res.beta) * (E3[f] @ res.gamma)
            diffs.append(np.max(np.abs(pred - batched[f, j])))
    t_loop = time.perf_counter() - start
    row = {
        "n": args.n,
        "fits": len(folds) * len(FULL_GRID),
        "per_fit_loop_s": t_loop,
        "batched_s": t_batched,
        "speedup": t_loop / t_batched,
        "max_abs_diff": float(np.max(diffs)),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([row]).to_csv(out / f"grid_speed_n{args.n}.csv", index=False)
    print(pd.DataFrame([row]).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
