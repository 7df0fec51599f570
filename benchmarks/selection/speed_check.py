"""Search time of AffineTransferCV against GridSearchCV over the same candidates (issue 25).

One split per size of a suite case (``suite_cases.py``): ``AffineTransferCV`` with its defaults
(its own test of the source's units) against
``GridSearchCV`` refitting :class:`affinetl.AffineTransferRegressor` for every candidate of its
``cv_results_`` on the same splits, both in this process. Prints the wall times and ratios::

    .venv/bin/python benchmarks/selection/speed_check.py --cases pi_cv_cp sarcos_t1_rest
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_suite import draw  # noqa: E402
from suite_cases import load_case  # noqa: E402

from affinetl import AffineTransferRegressor  # noqa: E402
from affinetl.selection import AffineTransferCV, default_cv  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["pi_cv_cp", "sarcos_t1_rest"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 40, 80])
    parser.add_argument(
        "--repeats", type=int, default=3, help="AffineTransferCV fits per cell (median time)"
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    tot_a = tot_g = 0.0
    for name in args.cases:
        data = load_case(name)
        for n in args.sizes:
            train, _ = draw(data, n, 0)
            x, u, y = data["x"][train], data["u"][train], data["y"][train]
            X = np.hstack([(x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0), u])
            src = list(range(X.shape[1] - u.shape[1], X.shape[1]))
            splits = list(default_cv(n, 0).split(X))
            times = []
            for _ in range(args.repeats):  # a shared machine: the median of a few fits
                sel = AffineTransferCV(source_columns=src, cv=splits, standardize=False).fit(X, y)
                times.append(sel.search_time_)
            t_sel = float(np.median(times))
            base = AffineTransferRegressor(
                source_columns=src,
                kernel1=sel.kernel1,
                kernel2=sel.kernel2,
                kernel3=sel.kernel3,
                max_iter=sel.max_iter,
                tol=sel.tol,
                standardize=False,
            )
            grid = [{p: [v] for p, v in c.items()} for c in sel.cv_results_["params"]]
            gs = GridSearchCV(base, grid, cv=splits, scoring="neg_mean_squared_error", refit=False)
            t0 = time.perf_counter()
            gs.fit(X, y)
            t_grid = time.perf_counter() - t0
            same = int(np.nanargmax(gs.cv_results_["mean_test_score"])) == int(
                np.nanargmax(sel.cv_results_["mean_test_score"])
            )
            tot_a, tot_g = tot_a + t_sel, tot_g + t_grid
            print(
                f"{name} n={n}: {len(grid)} candidates, {len(splits)} splits, "
                f"AffineTransferCV {t_sel:.2f} s (median of {args.repeats}; "
                f"{min(times):.2f}-{max(times):.2f}), GridSearchCV {t_grid:.1f} s, "
                f"{t_grid / t_sel:.1f}x, same best candidate: {same}",
                flush=True,
            )
    print(f"total: {tot_a:.2f} s against {tot_g:.1f} s, {tot_g / tot_a:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
