"""The linear ``full`` form with its ``b`` penalised (``lambda_scale=1``, Newton steps) against
the paper's model (``b`` unpenalised, the block relaxation stopped at 300 sweeps), on the suite's
splits.

Both are fitted as the selection fits a fixed form: ``LinearAffineTransferCV(forms=["full"])``
with ``lambda_ridge`` chosen by its CV on the split's default splitter. The paper's model is read
from the records of ``linear_rule_check.py`` (column ``fixed: full``, fitted before the change),
the penalised one is fitted here. Prints per cell the mean test RMSE of both, their paired
difference with its standard error and the 90th percentiles; writes
``out/selection/linear_full_<tag>.csv``::

    .venv/bin/python benchmarks/selection/linear_full_check.py --records linear_rule_pi \\
        linear_rule_sarcos --tag dev
    .venv/bin/python benchmarks/selection/linear_full_check.py --records linear_rule_afzal \\
        --tag afzal
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_suite import default_cv, draw, user_columns  # noqa: E402
from suite_cases import load_case  # noqa: E402

from affinetl.selection import LinearAffineTransferCV  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "out" / "selection"


def penalised_full_rmse(data: dict, n: int, rep: int) -> float:
    """Test RMSE of the penalised full form on the suite's split ``rep`` of size ``n``."""
    X, src = user_columns(data)
    train, test = draw(data, n, rep)
    splits = list(default_cv(n, rep).split(X[train]))
    est = LinearAffineTransferCV(source_columns=src, cv=splits, forms=["full"], lambda_scale=1.0)
    p = est.fit(X[train], data["y"][train]).predict(X[test])
    return float(np.sqrt(np.mean((p - data["y"][test]) ** 2)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", nargs="+", required=True, help="linear_rule_check tags")
    parser.add_argument("--tag", required=True)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    rec = pd.concat([pd.read_csv(OUT / f"{t}.csv") for t in args.records])
    rows = []
    for case, part in rec.groupby("case", sort=False):
        data = load_case(case)
        for r, before in zip(part.itertuples(), part["fixed: full"]):
            rows.append(
                {
                    "case": case,
                    "n": r.n,
                    "rep": r.rep,
                    "unpenalised": before,
                    "penalised": penalised_full_rmse(data, r.n, r.rep),
                }
            )
        print(case, flush=True)
    out = pd.DataFrame(rows)
    out.to_csv(OUT / f"linear_full_{args.tag}.csv", index=False)
    table = []
    for (case, n), d in out.groupby(["case", "n"]):
        diff = d["penalised"] - d["unpenalised"]
        table.append(
            {
                "case": case,
                "n": n,
                "unpenalised": d["unpenalised"].mean(),
                "penalised": d["penalised"].mean(),
                "diff": diff.mean(),
                "diff_se": diff.std(ddof=1) / np.sqrt(len(d)),
                "p90 unpenalised": np.quantile(d["unpenalised"], 0.9),
                "p90 penalised": np.quantile(d["penalised"], 0.9),
            }
        )
    t = pd.DataFrame(table)
    ratio = out["penalised"] / out["unpenalised"]
    with pd.option_context("display.width", 200):
        print(t.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(
        f"splits {len(out)}; penalised / unpenalised test RMSE: geometric mean "
        f"{np.exp(np.log(ratio).mean()):.3f}, median {ratio.median():.3f}, 90th percentile "
        f"{ratio.quantile(0.9):.3f}; cells lower by more than a paired SE "
        f"{int((t['diff'] < -t['diff_se']).sum())}, higher {int((t['diff'] > t['diff_se']).sum())}"
        f" of {len(t)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
