"""The RadonPy-source density case on the cleaned target, with AffineTransferCV beside the paper's
methods.

Runs :func:`affinetl.reproduce.reproduce_density` (``source="radonpy"``: the experimental
densities of Afzal et al. that PI1070 holds, with RadonPy's MD density of the same polymer as the
source; the loader leaves the values flagged by its quality rules out) and, on the very same
random splits (seed ``1000 n + rep``), the package's selecting estimator
``AffineTransferCV`` with the MD value as its source column, and target-only kernel ridge.
Prints mean, standard error and 90th percentile of the test RMSE per method and n::

    AFFINETL_DATA_MIRROR=../shared/data OMP_NUM_THREADS=1 python benchmarks/scaling/radonpy_density_case.py
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from affinetl import AffineTransferCV
from affinetl.reproduce.density import load_density_case, reproduce_density
from affinetl.sources import LooKernelRidge


def extra_methods(n_values: tuple[int, ...], n_reps: int) -> pd.DataFrame:
    """AffineTransferCV and target-only kernel ridge on the splits of ``reproduce_density``."""
    X_frame, u_all, y_all, _ = load_density_case("density", "radonpy", "rdkit")
    X_all = np.column_stack([X_frame.to_numpy(), u_all])  # last column: the MD density
    rows = []
    for n in n_values:
        for rep in range(n_reps):
            perm = np.random.default_rng(1000 * n + rep).permutation(len(y_all))
            train, test = perm[:n], perm[n:]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                cv = AffineTransferCV(random_state=rep).fit(X_all[train], y_all[train])
            preds = {
                "AffineTransferCV": cv.predict(X_all[test]),
                "target-only (LOO kernel ridge)": LooKernelRidge()
                .fit(X_all[train, :-1], y_all[train])
                .predict(X_all[test, :-1]),
            }
            for method, pred in preds.items():
                rmse = float(np.sqrt(np.mean((pred - y_all[test]) ** 2)))
                rows.append({"n": n, "rep": rep, "method": method, "RMSE": rmse})
    return pd.DataFrame(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path("benchmarks") / "out" / "density-radonpy"))
    parser.add_argument("--reps", type=int, default=10)
    args = parser.parse_args()
    n_values = (10, 20, 40)
    start = time.perf_counter()
    paper = reproduce_density(
        args.out, target="density", source="radonpy", n_values=n_values, n_reps=args.reps
    )
    records = pd.concat(
        [paper.records[["n", "rep", "method", "RMSE"]], extra_methods(n_values, args.reps)],
        ignore_index=True,
    )
    stats = records.groupby(["method", "n"])["RMSE"].agg(
        mean="mean", se=lambda v: v.std(ddof=1) / np.sqrt(len(v)), p90=lambda v: v.quantile(0.9)
    )
    table = stats.unstack("n")
    print(table.sort_values(("mean", n_values[-1])).to_string(float_format="%.4f"))
    records.to_csv(Path(args.out) / "records_with_cv.csv", index=False)
    print(
        f"\n{len(paper.records.groupby(['n', 'rep']))} splits; wall {time.perf_counter() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
