"""Compare the live default (``run_suite.py --live``) with the replay of the chosen rule.

For every split stored in ``benchmarks/out/selection/suite_live/`` this reads the matching
split of the suite (``run_suite.py``: every form's test and out-of-fold predictions), checks
that both hold the same test rows, and reports per cell:

* the criteria of issue 25 (``suite_rules.criteria``) for the live default as shipped, the
  replay of :data:`suite_rules.CHOSEN` and the previous default of the suite's records, against
  the special cases of the suite's records, on the splits the live run holds;
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
NEW, OLD, REPLAY = "live default (new)", "live default", f"replay: {sr.CHOSEN}"


def records(case: str) -> tuple[list[dict], list[dict]]:
    """Per-split RMSE rows and the live-vs-replay agreement of one case."""
    cached = {(s["n"], s["rep"]): s for s in sr.load_splits(case)}
    rows, agree = [], []
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
        rows.append({**base, "method": OLD, "rmse": sr.rmse(s["default"], s["y"])})
        for f, p in s["test"].items():
            rows.append({**base, "method": f"fixed: {f}", "rmse": sr.rmse(p, s["y"])})
        diff = sr.rmse(z["default"], replay) / max(np.std(s["y"]), 1e-300)
        meta = json.loads(str(z["meta"]))
        agree.append({**base, "same_rows": True, "rel_diff": diff, "seconds": meta["seconds"]})
    return rows, agree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=None)
    parser.add_argument("--tag", default="live")
    parser.add_argument("--live-dir", default="suite_live")
    args = parser.parse_args(argv)
    global LIVE
    LIVE = sr.OUT.with_name(args.live_dir)
    cases = args.cases or [c for c in CASES if (LIVE / c).exists()]
    rows, agree = [], []
    for case in cases:
        r, a = records(case)
        rows += r
        agree += a
    rec, agree = pd.DataFrame(rows), pd.DataFrame(agree)
    stats = sr.cell_stats(rec)
    crit = sr.criteria(stats, [NEW, REPLAY, OLD])
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
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(ag.to_string(float_format=lambda v: f"{v:.3g}"))
        print(counts.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
