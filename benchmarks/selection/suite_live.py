"""Compare the live default (``run_suite.py --live``) with the replay of the chosen rule.

For every split stored in ``benchmarks/out/selection/suite_live/`` this reads the matching
split of the suite (``run_suite.py``: every form's test and out-of-fold predictions), checks
that both hold the same test rows, and reports per cell:

* the criteria of issue 25 (``suite_rules.criteria``) for the live default as shipped, the
  replay of :data:`suite_rules.CHOSEN` and of the previous default (``suite_rules.PREVIOUS``),
  against the special cases of the suite's records, on the splits the live run holds, and the
  live default's mean form weights (``<tag>_table.md``), and the per-split tail: splits whose
  test RMSE is over 1.5 times that of the cell's best special case on the same split;
* how far the live predictions are from the replayed ones (median and largest relative RMS
  difference per cell): the replay fits the forms on standardised columns outside the
  estimator, the live default standardises inside, so small differences are expected where a
  Newton fit stops at its tolerance.

Run (after ``run_suite.py --live``)::

    .venv/bin/python benchmarks/selection/suite_live.py [--cases afzal_tg ...] [--tag live]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite_rules as sr  # noqa: E402
from suite_cases import CASES  # noqa: E402

LIVE = sr.OUT.with_name("suite_live")  # --live-dir: another live run (e.g. suite_live_loo30)
NEW, REPLAY = "live default (new)", f"replay: {sr.CHOSEN}"


def records(case: str) -> tuple[list[dict], list[dict], list[dict]]:
    """Per-split RMSE rows, the live-vs-replay agreement and the live form weights of one
    case."""
    cached = {(s["n"], s["rep"]): s for s in sr.load_splits(case)}
    rows, agree, weights = [], [], []
    for path in sorted((LIVE / case).glob("n*_r*.npz")):
        n, rep = (int(v[1:]) for v in path.stem.split("_"))
        s = cached.get((n, rep))
        z = dict(np.load(path))
        if s is None or s["y"].shape != z["y"].shape or not np.allclose(s["y"], z["y"]):
            agree.append({"case": case, "n": n, "rep": rep, "same_rows": False})
            continue
        base = {"case": case, "n": n, "rep": rep}
        replay = sr.RULES[sr.CHOSEN](s)
        rows.append({**base, "method": NEW, "rmse": sr.rmse(z["default"], s["y"])})
        rows.append({**base, "method": REPLAY, "rmse": sr.rmse(replay, s["y"])})
        prev = sr.RULES[sr.PREVIOUS](s)
        rows.append({**base, "method": sr.PREVIOUS, "rmse": sr.rmse(prev, s["y"])})
        for f, p in sr.special_cases(s).items():
            rows.append({**base, "method": f"fixed: {f}", "rmse": sr.rmse(p, s["y"])})
        diff = sr.rmse(z["default"], replay) / max(np.std(s["y"]), 1e-300)
        meta = json.loads(str(z["meta"]))
        agree.append({**base, "same_rows": True, "rel_diff": diff, "seconds": meta["seconds"]})
        top = max(meta["weights"], key=meta["weights"].get)
        weights += [
            {**base, "form": f, "w": w, "top": f == top} for f, w in meta["weights"].items()
        ]
    return rows, agree, weights


def tails(rec: pd.DataFrame, crit: pd.DataFrame, ratio: float = 1.5) -> pd.DataFrame:
    """Per method and half: splits over ``ratio`` times the cell's best special case (by mean)
    on the same split, and the largest such ratio."""
    best = crit.drop_duplicates(["case", "n"]).set_index(["case", "n"])
    ref = rec[rec.method == "fixed: " + rec.set_index(["case", "n"]).index.map(best.best_form)]
    r = rec.merge(ref[["case", "n", "rep", "rmse"]], on=["case", "n", "rep"], suffixes=("", "_b"))
    r = r[r.method.isin(crit.method.unique())].assign(
        half=lambda d: d.case.map(lambda c: CASES[c].half), ratio=lambda d: d.rmse / d.rmse_b
    )
    g = r.groupby(["method", "half"]).ratio
    return pd.DataFrame(
        {
            "splits": g.size(),
            f"over_{ratio}x": g.apply(lambda v: int((v > ratio).sum())),
            "worst": g.max(),
        }
    ).reset_index()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=None)
    parser.add_argument("--tag", default="live")
    parser.add_argument("--live-dir", default="suite_live")
    parser.add_argument(
        "--ratio", action="store_true", help="the replay with the scale forms (suite_ratio/)"
    )
    args = parser.parse_args(argv)
    sr.RATIO_MODE = sr.RATIO_ANY = args.ratio
    global LIVE
    LIVE = sr.OUT.with_name(args.live_dir)
    cases = args.cases or [c for c in CASES if (LIVE / c).exists()]
    rows, agree, weights = [], [], []
    for case in cases:
        r, a, w = records(case)
        rows += r
        agree += a
        weights += w
    rec, agree = pd.DataFrame(rows), pd.DataFrame(agree)
    # mean live weight per form (0 where a split did not average it), share of splits on top
    wt = pd.DataFrame(weights).pivot_table(
        index=["case", "n", "rep"], columns="form", values="w", fill_value=0.0
    )
    top = wt.eq(wt.max(axis=1), axis=0).groupby(level=["case", "n"]).mean().stack()
    wt = pd.DataFrame({"w": wt.groupby(level=["case", "n"]).mean().stack(), "top": top})
    stats = sr.cell_stats(rec)
    crit = sr.criteria(stats, [NEW, REPLAY, sr.PREVIOUS])
    counts = sr.count_table(crit)
    ag = agree.groupby(["case", "n"]).agg(
        splits=("same_rows", "size"),
        same_rows=("same_rows", "sum"),
        rel_diff_median=("rel_diff", "median"),
        rel_diff_max=("rel_diff", "max"),
        seconds=("seconds", "mean"),
    )
    crit.to_csv(sr.OUT / f"{args.tag}_criteria.csv", index=False)
    agree.to_csv(sr.OUT / f"{args.tag}_agreement.csv", index=False)
    (sr.OUT / f"{args.tag}_table.md").write_text(sr.markdown(crit, NEW, weights=wt))
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(ag.to_string(float_format=lambda v: f"{v:.3g}"))
        print(counts.to_string(index=False))
        print(tails(rec, crit).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
