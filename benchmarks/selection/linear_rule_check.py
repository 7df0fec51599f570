"""LinearAffineTransferCV with the averaging rule of the fourth pass against the third pass's,
on the suite's splits (issue 25).

The linear selection estimator shares the averaging rule of :class:`AffineTransferCV`
(``affinetl.selection._rules``) but the suite measures the kernel family. This fits
``LinearAffineTransferCV`` with its defaults on the suite's splits, without the anchor to
``source_linear``, twice: with the fourth pass's rule (``rows 2.5``: paired comparisons on the
held-out rows, cut-off 2.5) and with the third pass's (``folds 3``: the row scores replaced by
the split scores, cut-off 3), and every fixed linear form; ``--anchored`` adds the estimator as
shipped (``rows 2.5 anchored``: the fourth pass's rule anchored to ``source_linear``). Prints,
per cell, the mean test RMSE of each, the paired mean difference with its standard error, and
the same for the best fixed linear form (in hindsight). Each split is saved as it finishes
(``out/selection/<tag>/``), so a run resumes where it stopped; the table goes to
``out/selection/<tag>.csv``::

    .venv/bin/python benchmarks/selection/linear_rule_check.py --splits 10
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_suite import default_cv, draw, user_columns  # noqa: E402
from suite_cases import CASES, load_case, sizes_for  # noqa: E402

from affinetl.selection import (  # noqa: E402
    LINEAR_FORMS,
    LinearAffineTransferCV,
    _base,
    _rules,
    _scoring,
)
from affinetl.selection._units import resolve_units  # noqa: E402


def _split_means_as_rows(per_split):
    """The third pass: the split scores stand in for the row scores."""
    scores, _ = _TABULATE(per_split)
    return scores, scores


_TABULATE = _scoring.tabulate
#: ``lambda_scale`` of every fit (``--lambda-scale``; the estimator's default 0).
LAMBDA_SCALE = 0.0
OUT = Path(__file__).resolve().parents[1] / "out" / "selection"


def fit_predict(
    X, y, Xt, src, splits, third=False, forms=None, anchored=False, units=False
) -> np.ndarray:
    """``LinearAffineTransferCV`` fitted and predicting; ``anchored``: its average anchored to
    the best simple form (as shipped since the fourth pass; without: as before it); ``third``:
    the third pass's rule (split scores, cut-off 3); ``units``: ``source_in_target_units``
    (False: the family before the sixth pass; ``"auto"``: as shipped since)."""
    est = LinearAffineTransferCV(
        source_columns=src,
        cv=splits,
        forms=forms,
        lambda_scale=LAMBDA_SCALE,
        source_in_target_units=units,
    )
    with contextlib.ExitStack() as stack:
        if not anchored:  # no simple form to anchor to: the average as before the anchor
            stack.enter_context(mock.patch.object(_base, "SIMPLE_FORMS", ()))
        if third:
            stack.enter_context(mock.patch.object(_scoring, "tabulate", _split_means_as_rows))
            stack.enter_context(mock.patch.object(_rules, "MAX_AVERAGE_Z", 3.0))
        return est.fit(X, y).predict(Xt)


def split_rmse(data: dict, n: int, rep: int, **options) -> float:
    """Test RMSE of :func:`fit_predict` (``options``: ``third``, ``forms``, ``anchored``) on
    the suite's split ``rep`` of size ``n``."""
    X, src = user_columns(data)
    train, test = draw(data, n, rep)
    splits = list(default_cv(n, rep).split(X[train]))
    p = fit_predict(X[train], data["y"][train], X[test], src, splits, **options)
    return float(np.sqrt(np.mean((p - data["y"][test]) ** 2)))


def _split_record(data: dict, name: str, n: int, rep: int, tag: str) -> dict:
    """Every column of one split, read from ``out/selection/<tag>/`` or fitted and saved there
    (one file per split: an interrupted run resumes where it stopped)."""
    path = OUT / tag / f"{name}_n{n}_rep{rep}.csv"
    if path.exists():
        return pd.read_csv(path).iloc[0].to_dict()
    out = {"case": name, "n": n, "rep": rep}
    out["rows 2.5"] = split_rmse(data, n, rep)
    out["folds 3"] = split_rmse(data, n, rep, third=True)
    out["rows 2.5 anchored"] = split_rmse(data, n, rep, anchored=True)
    for f in LINEAR_FORMS:
        if f != "offset" or data["u"].shape[1] == 1:
            out[f"fixed: {f}"] = split_rmse(data, n, rep, forms=[f])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # whole files only (two processes)
    pd.DataFrame([out]).to_csv(tmp, index=False)
    os.replace(tmp, path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases", nargs="+", default=[c for c, v in CASES.items() if v.half == "development"]
    )
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--tag", default="linear_rule", help="records: out/selection/<tag>.csv")
    parser.add_argument("--summarise", nargs="*", default=None, help="only summarise these CSVs")
    parser.add_argument(
        "--anchored",
        action="store_true",
        help="add the shipped rule with the anchor to source_linear to the records of --tag",
    )
    parser.add_argument(
        "--reverse",
        action="store_true",
        help="fit the splits in reverse order (a second process on the same --tag shares the work)",
    )
    parser.add_argument(
        "--lambda-scale",
        type=float,
        default=0.0,
        help="ridge of the full form's b (LinearAffineTransferCV(lambda_scale=...))",
    )
    parser.add_argument(
        "--units",
        action="store_true",
        help="add the shipped estimator with source_in_target_units='auto' (the sixth pass; "
        "refitted only where its test says True, else the stored anchored column) and the "
        "fixed unit forms where the case's source is in the target's units to --tag's records",
    )
    args = parser.parse_args(argv)
    global LAMBDA_SCALE
    LAMBDA_SCALE = args.lambda_scale
    warnings.filterwarnings("ignore")
    if args.summarise is not None:
        summarise(pd.concat([pd.read_csv(OUT / f"{t}.csv") for t in args.summarise]))
        return 0
    if args.units:
        add_units(args.tag)
        return 0
    if args.anchored:
        rec = pd.read_csv(OUT / f"{args.tag}.csv")
        out = {}
        for name in rec["case"].unique():
            data = load_case(name)
            for r in rec[rec["case"] == name].itertuples():
                out[r.Index] = split_rmse(data, r.n, r.rep, anchored=True)
            print(name, flush=True)
        rec["rows 2.5 anchored"] = pd.Series(out)
        rec.to_csv(OUT / f"{args.tag}.csv", index=False)
        summarise(rec)
        return 0
    rows = []
    for name in args.cases:
        data = load_case(name)
        todo = [(n, rep) for n in sizes_for(data) for rep in range(args.splits)]
        for n, rep in reversed(todo) if args.reverse else todo:
            rows.append(_split_record(data, name, n, rep, args.tag))
        print(name, flush=True)
    rec = pd.DataFrame(rows)
    OUT.mkdir(parents=True, exist_ok=True)
    rec.to_csv(OUT / f"{args.tag}.csv", index=False)
    summarise(rec)
    return 0


def add_units(tag: str) -> None:
    """The ``--units`` columns of ``out/selection/<tag>.csv`` (see :func:`main`), then the
    per-cell comparison of the shipped estimator before (``rows 2.5 anchored``) and after."""
    rec = pd.read_csv(OUT / f"{tag}.csv")
    new, unit, as_is, plus = {}, {}, {}, {}
    for name in rec["case"].unique():
        data = load_case(name)
        X, src = user_columns(data)
        for r in rec[rec["case"] == name].itertuples():
            train, test = draw(data, r.n, r.rep)
            splits = list(default_cv(r.n, r.rep).split(X[train]))
            u, y = data["u"][train], data["y"][train]
            unit[r.Index] = resolve_units("auto", u, y, splits)
            if unit[r.Index]:
                p = fit_predict(X[train], y, X[test], src, splits, anchored=True, units="auto")
                new[r.Index] = float(np.sqrt(np.mean((p - data["y"][test]) ** 2)))
            else:  # the family and the rule of the stored column
                new[r.Index] = float(rec.loc[r.Index, "rows 2.5 anchored"])
            if CASES[name].in_target_units:
                ut, yt = data["u"][test, 0], data["y"][test]
                as_is[r.Index] = float(np.sqrt(np.mean((ut - yt) ** 2)))
                c = float(np.mean(y - u[:, 0]))
                plus[r.Index] = float(np.sqrt(np.mean((ut + c - yt) ** 2)))
        print(name, flush=True)
    rec["auto units"], rec["units"] = pd.Series(new), pd.Series(unit)
    rec["fixed: source_as_is"] = pd.Series(as_is)
    rec["fixed: source_plus_const"] = pd.Series(plus)
    rec.to_csv(OUT / f"{tag}_units.csv", index=False)
    summarise_units(rec)


def summarise_units(rec: pd.DataFrame) -> None:
    """Per cell: the shipped estimator before and after the units test against the best fixed
    linear form (in hindsight; the unit forms where the source is in the target's units)."""
    table = []
    for (case, n), d in rec.groupby(["case", "n"]):
        fixed = [c for c in d if c.startswith("fixed: ") and d[c].notna().all()]
        best = min(fixed, key=lambda c: d[c].mean())
        row = {"case": case, "n": n, "units": d["units"].mean(), "best": best[7:]}
        row["best mean"] = d[best].mean()
        for label, col in (("before", "rows 2.5 anchored"), ("after", "auto units")):
            v = d[col]
            se = v.std(ddof=1) / np.sqrt(len(v))
            row[label], row[f"se {label}"] = v.mean(), se
            row[f"{label} within 1 SE"] = v.mean() - d[best].mean() <= se
            row[f"{label} p90 ok"] = np.quantile(v, 0.9) <= 1.1 * np.quantile(d[best], 0.9)
            row[f"{label} over 1.5x"] = int((v > 1.5 * d[best]).sum())
        diff = d["auto units"] - d["rows 2.5 anchored"]
        row["diff"], row["diff se"] = diff.mean(), diff.std(ddof=1) / np.sqrt(len(d))
        table.append(row)
    t = pd.DataFrame(table)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(t.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        cols = [c for c in t if c.endswith(("within 1 SE", "p90 ok", "over 1.5x"))]
        print(t[cols].sum().to_string())


def summarise(rec: pd.DataFrame) -> None:
    """Per cell: both rules' mean test RMSE, their paired difference and the best fixed form."""
    table = []
    for (case, n), d in rec.groupby(["case", "n"]):
        fixed = [c for c in d if c.startswith("fixed: ") and d[c].notna().all()]
        best = min(fixed, key=lambda c: d[c].mean())
        diff = d["rows 2.5"] - d["folds 3"]
        table.append(
            {
                "case": case,
                "n": n,
                "rows 2.5": d["rows 2.5"].mean(),
                "folds 3": d["folds 3"].mean(),
                "diff": diff.mean(),
                "diff_se": diff.std(ddof=1) / np.sqrt(len(d)),
                "best fixed": best.removeprefix("fixed: "),
                "best mean": d[best].mean(),
                "se rows": d["rows 2.5"].std(ddof=1) / np.sqrt(len(d)),
                "se folds": d["folds 3"].std(ddof=1) / np.sqrt(len(d)),
            }
        )
        if "rows 2.5 anchored" in d:
            a = d["rows 2.5 anchored"]
            table[-1]["anchored"] = a.mean()
            table[-1]["se anchored"] = a.std(ddof=1) / np.sqrt(len(d))
        for label in ("rows 2.5", "folds 3", "rows 2.5 anchored"):
            if label in d:  # 90th percentile over the best fixed form's; splits over 1.5x it
                table[-1][f"p90 ratio {label}"] = np.quantile(d[label], 0.9) / np.quantile(
                    d[best], 0.9
                )
                table[-1][f"over 1.5x {label}"] = int((d[label] > 1.5 * d[best]).sum())
    t = pd.DataFrame(table)
    t["rows within 1 SE"] = t["rows 2.5"] - t["best mean"] <= t["se rows"]
    t["folds within 1 SE"] = t["folds 3"] - t["best mean"] <= t["se folds"]
    if "anchored" in t:
        t["anchored within 1 SE"] = t["anchored"] - t["best mean"] <= t["se anchored"]
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(t.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(
            t[[c for c in t if c.endswith("within 1 SE") or c.startswith("over")]].sum().to_string()
        )
        print("cells with p90 within 10 %:")
        print((t[[c for c in t if c.startswith("p90 ratio")]] <= 1.1).sum().to_string())


if __name__ == "__main__":
    raise SystemExit(main())
