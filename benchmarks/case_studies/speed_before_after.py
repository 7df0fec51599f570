"""Before/after speed of the numerics, interleaved: each case runs alternately under two source
trees (``--old`` prepended to ``PYTHONPATH``, then the working tree) in fresh processes, so that
load from other processes hits both alike. Prints the median seconds of each and their ratio.

Cases: the SARCOS 5-fold x 64-point grid of AffineTL-full (batched relaxation, n = 20; the
timed part of ``grid_speed.py``), ``AffineTransferRegressor`` defaults at n = 500 and 2000
(``kernel_speed.py``'s fits) and ``AffineTransferCV`` defaults on n = 40 and 100 (the selection
search).

    python benchmarks/case_studies/speed_before_after.py --old /tmp/old_tree --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

CHILD = r"""
import json, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
case = sys.argv[1]
if case == "sarcos_grid":
    from affinetl.datasets import load_sarcos
    from affinetl.reproduce._kernel_case import FULL_GRID
    rbf = lambda A, B, g: np.exp(-g * ((A[:, None] - B[None]) ** 2).sum(-1))
    try:
        from affinetl._solvers import affine_full_path
    except ImportError:
        from affinetl.reproduce._grid import affine_full_path
    data = load_sarcos("proxy")
    rows = np.random.default_rng(0).permutation(3000)[:20]
    X, T = data.X.to_numpy()[rows], data.y.to_numpy()[rows]
    z = lambda a: (a - a.mean(0)) / a.std(0, ddof=1)
    x, u, y = z(X), z(T[:, 1:]), z(T[:, :1])[:, 0]
    folds = [(np.setdiff1d(np.arange(20), v), v) for v in np.array_split(np.arange(20), 5)]
    K1 = np.stack([rbf(u[t], u[t], 1 / 12) for t, _ in folds])
    K3 = np.stack([rbf(x[t], x[t], 1 / 42) for t, _ in folds])
    E1 = np.stack([rbf(u[v], u[t], 1 / 12) for t, v in folds])
    E3 = np.stack([rbf(x[v], x[t], 1 / 42) for t, v in folds])
    ys = np.stack([y[t] for t, _ in folds])
    t0 = time.perf_counter()
    affine_full_path(K1, K1, K3, ys, (E1, E1, E3), FULL_GRID)
    dt = time.perf_counter() - t0
elif case.startswith("atr"):
    from affinetl import AffineTransferRegressor
    from affinetl.synthetic import make_affine_transfer
    n = int(case[3:])
    prob = make_affine_transfer(n, random_state=0)
    X, y = prob.X, prob.y
    t0 = time.perf_counter()
    AffineTransferRegressor(random_state=0).fit(X, y)
    dt = time.perf_counter() - t0
else:
    from affinetl import AffineTransferCV
    from affinetl.selection import make_form_problem
    n = int(case[4:])
    X, y = make_form_problem("full", n_samples=n, random_state=0)[:2]
    t0 = time.perf_counter()
    AffineTransferCV(random_state=0).fit(X, y)
    dt = time.perf_counter() - t0
print(json.dumps(dt))
"""


def _run(case: str, tree: str | None) -> float:
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = tree + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, case], env=env, capture_output=True, text=True, check=True
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--old", required=True, help="source tree of the 'before' version")
    p.add_argument(
        "--new", default=None, help="source tree of the 'after' version (default: this one)"
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--cases", nargs="*", default=["sarcos_grid", "atr500", "atr2000", "atcv40", "atcv100"]
    )
    args = p.parse_args()
    for case in args.cases:
        old, new = [], []
        for _ in range(args.repeats):
            old.append(_run(case, args.old))
            new.append(_run(case, args.new))
        mo, mn = float(np.median(old)), float(np.median(new))
        print(
            f"{case}: before {mo:.3f} s {np.round(old, 3).tolist()}, after {mn:.3f} s "
            f"{np.round(new, 3).tolist()}, after/before {mn / mo:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
