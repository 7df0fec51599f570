"""The linear full form: Newton steps against the block relaxation, and one fused-ridge solve.

Fits ``LinearAffineTransferRegressor(form="full")`` with its ``b`` penalised
(``lambda_scale=1``) by both solvers (``solver="newton"``, the default, and
``solver="relaxation"``) to the same tolerance, alternating them in one process, and checks that
they reach the same predictions. It also times one ``offset_calibrated`` fit, a single
fused-ridge solve on the same data, as the floor a bilinear fit cannot beat. Sizes follow the
package's cases: the polymer Cp case (190 kernel-mean descriptors in 10 blocks, fused) and LTC
(278 descriptors, plain ridge).

Run: ``python benchmarks/linear_speed.py [--repeats 5]``; prints the median times and their
ratios and writes ``benchmarks/out/linear_speed.csv``.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from affinetl import LinearAffineTransferRegressor

OUT = Path(__file__).resolve().parent / "out"
#: (n, p, blocks, lambda_fused): a Cp-like and an LTC-like problem at two sizes each.
PROBLEMS = (
    (60, 190, [19] * 10, 10.0),
    (200, 190, [19] * 10, 10.0),
    (40, 278, None, 0.0),
    (120, 278, None, 0.0),
)


def problem(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``X = [x, u]`` and ``y`` of the linear affine model with noise."""
    rng = np.random.default_rng(seed)
    x, u = rng.standard_normal((n, p)), rng.standard_normal(n)
    w = np.sin(np.linspace(0, 3 * np.pi, p)) / np.sqrt(p)
    y = 1 + 2 * u + (1 + 0.3 * u) * (x @ w) + 0.3 * rng.standard_normal(n)
    return np.c_[x, u], y


def seconds(est: LinearAffineTransferRegressor, X: np.ndarray, y: np.ndarray) -> float:
    t0 = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    for n, p, blocks, fused in PROBLEMS:
        X, y = problem(n, p)
        kw = dict(lambda_ridge=1.0, lambda_fused=fused, blocks=blocks, tol=1e-8, max_iter=20000)
        ests = {
            "newton": LinearAffineTransferRegressor(**kw),
            "relaxation": LinearAffineTransferRegressor(**kw, solver="relaxation"),
            "one fused-ridge solve": LinearAffineTransferRegressor(**kw, form="offset_calibrated"),
        }
        times: dict[str, list[float]] = {k: [] for k in ests}
        for _ in range(args.repeats):  # alternate, so that machine load hits all alike
            for k, est in ests.items():
                times[k].append(seconds(est, X, y))
        a, b = ests["newton"].predict(X), ests["relaxation"].predict(X)
        med = {k: float(np.median(v)) for k, v in times.items()}
        rows.append(
            {
                "n": n,
                "p": p,
                "fused": fused > 0,
                **{f"{k} s": v for k, v in med.items()},
                "newton steps": ests["newton"].n_iter_,
                "relaxation sweeps": ests["relaxation"].n_iter_,
                "relaxation / newton": med["relaxation"] / med["newton"],
                "newton / one solve": med["newton"] / med["one fused-ridge solve"],
                "max rel pred diff": float(np.max(np.abs(a - b)) / np.max(np.abs(b))),
            }
        )
    table = pd.DataFrame(rows)
    OUT.mkdir(exist_ok=True)
    table.to_csv(OUT / "linear_speed.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"{platform.machine()}, median of {args.repeats} alternating repeats")


if __name__ == "__main__":
    main()
