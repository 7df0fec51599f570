"""README's three lines on the Afzal density case: AffineTransferRegressor with its defaults.

Random splits of the 117 polymers (n training, the rest test), the MD density as the named
source column ``md_density``; RMSE of the raw MD density, of ``AffineTransferRegressor`` with
defaults and of candidate defaults. Prints mean, standard error and 90th percentile per method.

    python benchmarks/case_studies/default_extrapolation.py --n 20 --splits 20
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from affinetl import AffineTransferRegressor
from affinetl.reproduce.density import load_density_case

CANDIDATES = {
    "defaults": {},
    "kernel1=rbf+linear": {"kernel1": "rbf+linear"},
    "kernel1,2=rbf+linear": {"kernel1": "rbf+linear", "kernel2": "rbf+linear"},
    "g1_linear": {"g1_linear": True},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--splits", type=int, default=20)
    p.add_argument("--only", nargs="*", default=None, help="candidate names to run")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    X, u, y, _ = load_density_case()
    df = X.assign(md_density=u)
    names = args.only or list(CANDIDATES)
    rows = []
    for split in range(args.splits):
        idx = np.random.default_rng(split).permutation(len(y))
        tr, te = idx[: args.n], idx[args.n :]
        rows.append(
            {"split": split, "method": "MD as is", "rmse": np.sqrt(np.mean((u[te] - y[te]) ** 2))}
        )
        for name in names:
            kw = CANDIDATES[name]
            try:
                m = AffineTransferRegressor(source_columns="md_density", **kw)
            except TypeError:  # an older version without the parameter
                continue
            pred = m.fit(df.iloc[tr], y[tr]).predict(df.iloc[te])
            rows.append(
                {"split": split, "method": name, "rmse": np.sqrt(np.mean((pred - y[te]) ** 2))}
            )
    res = pd.DataFrame(rows)
    out = res.groupby("method")["rmse"].agg(
        mean="mean",
        se=lambda r: r.std(ddof=1) / np.sqrt(len(r)),
        p90=lambda r: r.quantile(0.9),
        count="count",
    )
    print(out.round(4).to_string())


if __name__ == "__main__":
    main()
