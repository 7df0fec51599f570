"""Replay form-selection rules offline on the records of ``run_real_cases.py``.

``run_real_cases.py`` stores, for every split and fixed form, the per-fold CV scores of that
form's best candidate (column ``cv_scores``) next to the form's test RMSE. A rule that picks a
*form* from those score vectors can therefore be evaluated on all cases in seconds, without
refitting: the test error of its pick is the ``fixed: <form>`` row of the same split (the same
hyper-parameters as the search would refit). The replay of the shipped rule reproduces
AffineTransferCV's picks exactly (printed as a check).

Rules: ``best`` (highest mean CV score), ``k_se`` (the simplest form, by
:func:`affinetl.selection.form_complexity`, whose best candidate is within ``k`` paired standard
errors of the best form's; ``k = 1`` is the shipped one-SE rule), and ``forward_k`` (start
from the simplest form and move to a more complex one only when it beats the current one by more
than ``k`` paired standard errors).

Run (after ``run_real_cases.py``)::

    python benchmarks/selection/replay_rules.py [--cases density ltc sarcos] [--tag real]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from affinetl.selection import form_complexity
from affinetl.selection._search import _select

OUT = Path(__file__).resolve().parents[2] / "benchmarks" / "out" / "selection"
#: Source features per case (the complexity of a calibration depends on it).
N_SOURCE = {"density": 1, "ltc": 1, "sarcos": 6}


def k_se(cv: dict, cx: dict, k: float) -> str:
    """The shipped rule (:func:`affinetl.selection._search._select`) with a ``k``-SE tie band,
    on one candidate per form (its best); ``k = 0`` is the best mean score."""
    forms = list(cv)
    scores = np.array([cv[f] for f in forms], dtype=float)
    complexity = [cx[f] for f in forms]
    i = _select(scores.mean(axis=1), scores, forms, complexity, "one_se", n_se=k)
    return forms[i]


def forward(cv: dict, cx: dict, k: float) -> str:
    """From the simplest form upwards, switch only when beaten by more than ``k`` paired SE."""
    order = sorted(cv, key=lambda f: (cx[f], -float(np.mean(cv[f]))))
    current = order[0]
    for f in order[1:]:
        d = np.asarray(cv[f]) - np.asarray(cv[current])
        if d.mean() > k * float(np.std(d, ddof=1) / np.sqrt(d.size)):
            current = f
    return current


RULES = {
    "best": lambda cv, cx: k_se(cv, cx, 0.0),
    "1_se": lambda cv, cx: k_se(cv, cx, 1.0),
    "1.5_se": lambda cv, cx: k_se(cv, cx, 1.5),
    "2_se": lambda cv, cx: k_se(cv, cx, 2.0),
    "2.5_se": lambda cv, cx: k_se(cv, cx, 2.5),
    "3_se": lambda cv, cx: k_se(cv, cx, 3.0),
    "forward_1": lambda cv, cx: forward(cv, cx, 1.0),
    "forward_2": lambda cv, cx: forward(cv, cx, 2.0),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["density", "ltc", "sarcos"])
    parser.add_argument("--tag", default="real", help="record-file prefix of run_real_cases.py")
    args = parser.parse_args(argv)
    recs = pd.concat([pd.read_csv(OUT / f"{args.tag}_records_{c}.csv") for c in args.cases])
    if "cv_scores" not in recs:
        raise SystemExit("these records have no cv_scores column: re-run run_real_cases.py")
    fixed = recs[recs.method.str.startswith("fixed: ")].copy()
    fixed["f"] = fixed.method.str.removeprefix("fixed: ")
    shipped = recs[recs.method == "AffineTransferCV"].set_index(["case", "n", "rep"]).form
    rows, agree = [], []
    for (case, n, rep), g in fixed.groupby(["case", "n", "rep"]):
        cv = {r.f: json.loads(r.cv_scores) for r in g.itertuples()}
        folds = len(next(iter(cv.values())))
        n_train = n - 1 if folds >= n else int(round(n * (folds - 1) / folds))
        cx = {f: form_complexity(f, N_SOURCE.get(case, 1), False, n_train) for f in cv}
        rmse = dict(zip(g.f, g.rmse))
        for name, rule in RULES.items():
            f = rule(cv, cx)
            rows.append({"case": case, "n": n, "rep": rep, "rule": name, "rmse": rmse[f]})
        agree.append(RULES["1_se"](cv, cx) == shipped.get((case, n, rep)))
    df = pd.DataFrame(rows)
    print(f"replayed 1_se rule = AffineTransferCV's pick in {np.mean(agree):.0%} of splits")
    best_fixed = fixed.groupby(["case", "n", "f"]).rmse.mean().groupby(["case", "n"]).min()
    summary = df.groupby(["case", "n", "rule"]).rmse.agg(["mean", "sem"]).reset_index()
    summary["best_fixed"] = [best_fixed[(c, n)] for c, n in zip(summary.case, summary.n)]
    summary["within_one_se"] = summary["mean"] - summary.best_fixed <= summary["sem"]
    table = summary.pivot_table(index=["case", "n"], columns="rule", values="mean")
    table = table[list(RULES)]
    table["best fixed"] = best_fixed
    with pd.option_context("display.width", 200):
        print("mean test RMSE of each rule's pick:")
        print(table.round(4).to_string())
        print("cells within one SE of the best fixed form:")
        print(summary.groupby("rule", sort=False).within_one_se.sum().to_string())
    summary.to_csv(OUT / f"{args.tag}_replay.csv", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
