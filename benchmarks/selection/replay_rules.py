"""Replay form-selection and form-averaging rules offline on the records of ``run_real_cases.py``.

``run_real_cases.py`` stores, for every split and fixed form, the per-fold CV scores of that
form's best candidate (column ``cv_scores``) next to the form's test RMSE, and the form's test
predictions (``<tag>_preds_<case>.npz``). A rule that picks a *form*, or weights the forms, from
those score vectors can therefore be evaluated on all cases in seconds, without refitting: the
test error of a pick is the ``fixed: <form>`` row of the same split (the same hyper-parameters
as the search would refit), and that of a weighted average comes from the stored predictions.
The replay of the shipped rule reproduces AffineTransferCV's picks exactly (printed as a check).

Rules that pick one form: ``best`` (highest mean CV score), ``k_se`` (the simplest form, by
:func:`affinetl.selection.form_complexity`, whose best candidate is within ``k`` paired standard
errors of the best form's; ``k = 1`` is the shipped one-SE rule), and ``forward_k`` (start
from the simplest form and move to a more complex one only when it beats the current one by more
than ``k`` paired standard errors).

Rules that average forms (need the predictions): ``avg_k_se`` (equal weights on every form
within ``k`` paired standard errors of the best), ``zsoft`` (the CV weights of the shipped
``rule="average"``: ``exp(-z)``, ``z`` the form's gap to the best in paired standard errors, a
smooth tie band, calibrations with too few fold samples per coefficient left out),
``average`` (the shipped default: ``zsoft`` adjusted per test row for the source range and
the calibrations' leverage, from the stored source features; its replay equals the live
``AffineTransferCV`` row) and ``inv_mse_p`` (weights
proportional to the CV mean squared error to the power ``-p``); ``stack`` (the super learner:
non-negative weights summing to one, least squares of the training targets on the forms'
out-of-fold predictions, stored by ``run_real_cases.py`` as well).

These are the rules of the first tuning (on the three real cases of ``run_real_cases.py``),
with paired standard errors from the per-fold scores those records hold. The shipped rule has
since gained the anchor, the unit forms and row-wise paired comparisons; its replay on the
broader suite of issue 25 is ``suite_rules.py``.

Run (after ``run_real_cases.py``)::

    python benchmarks/selection/replay_rules.py [--cases density ltc sarcos] [--tag real]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from affinetl._forms import has_linear_source_terms
from affinetl.selection import G1_KERNEL_FORMS, KERNEL_FORMS, form_complexity
from affinetl.selection._row_weights import row_weights as _row_weights
from affinetl.selection._row_weights import source_fit as _source_fit
from affinetl.selection._rules import average_eligible as _average_eligible
from affinetl.selection._rules import average_weights as _average_weights
from affinetl.selection._rules import paired_gap as _paired_gap
from affinetl.selection._rules import select as _select

OUT = Path(__file__).resolve().parents[2] / "benchmarks" / "out" / "selection"
#: Source features per case (the complexity of a calibration depends on it).
N_SOURCE = {"density": 1, "ltc": 1, "sarcos": 6}


def k_se(cv: dict, cx: dict, k: float) -> str:
    """The shipped rule (:func:`affinetl.selection._rules.select`) with a ``k``-SE tie band,
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


def avg_k_se(cv: dict, k: float) -> dict[str, float]:
    """Equal weights on the forms within ``k`` paired standard errors of the best (the gaps
    of :func:`affinetl.selection._rules.paired_gap`, as the shipped rules)."""
    forms = list(cv)
    s = np.array([cv[f] for f in forms], dtype=float)
    best = int(np.argmax(s.mean(axis=1)))
    gaps = [_paired_gap(s, best, i) for i in range(len(forms))]
    tied = [f for f, (gap, se) in zip(forms, gaps) if gap <= k * se]
    return {f: 1.0 / len(tied) for f in tied}


#: Forms with unpenalised linear source terms / with a kernel g1 of u alone (g1_linear=False,
#: as ``run_real_cases.py`` searches them).
LINEAR_SOURCE = tuple(f for f in KERNEL_FORMS if has_linear_source_terms(f))
#: The previous run's forms (run_real_cases.py, default source_in_target_units=False).
RANGE_LIMITED = G1_KERNEL_FORMS


def zsoft(cv: dict, k: int = 1, n_train: int | None = None) -> dict[str, float]:
    """The shipped ``rule="average"`` CV weights (:func:`affinetl.selection._rules.
    _average_weights`, ``exp(-gap / se)``: the tie band made smooth), on one candidate per
    form; with ``n_train`` the calibrations with fewer than ``AVERAGE_SAMPLES_PER_COEF`` fold
    samples per coefficient are left out, as in the estimator."""
    forms = list(cv)
    s = np.array([cv[f] for f in forms], dtype=float)
    eligible = None
    if n_train is not None:
        eligible = _average_eligible([f in LINEAR_SOURCE for f in forms], k, n_train)
    w = _average_weights(s.mean(axis=1), s, forms, eligible)
    return {forms[i]: v for i, v in w.items()}


def shipped_average(
    w: dict[str, float], preds: dict[str, np.ndarray], u: np.ndarray, u_test: np.ndarray
) -> np.ndarray:
    """Prediction of the shipped default: CV weights ``w`` adjusted per test row
    (:func:`affinetl.selection._row_weights.row_weights`) from the training source features."""
    forms = list(w)
    linear = np.array([f in LINEAR_SOURCE for f in forms])
    limited = np.array([f in RANGE_LIMITED for f in forms])
    W = _row_weights(np.array([w[f] for f in forms]), u_test, linear, limited, *_source_fit(u))
    return np.sum(W * np.column_stack([preds[f] for f in forms]), axis=1)


def inv_mse(cv: dict, p: float) -> dict[str, float]:
    """Weights proportional to the CV mean squared error to the power ``-p``."""
    forms = list(cv)
    mse = np.array([-np.mean(cv[f]) for f in forms])
    w = mse**-p
    return dict(zip(forms, w / w.sum()))


def stack(oof: dict[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
    """Stacking (the super learner): non-negative weights that sum to one, fitted by least
    squares of the training targets on the forms' out-of-fold predictions."""
    from scipy.optimize import nnls

    forms = [f for f in oof if np.all(np.isfinite(oof[f]))]
    A = np.column_stack([oof[f] for f in forms])
    # the sum-to-one constraint as a heavily weighted extra row
    big = 1e3 * max(1.0, float(np.abs(A).max()))
    w, _ = nnls(np.vstack([A, big * np.ones(len(forms))]), np.append(y, big))
    w = w / w.sum() if w.sum() > 0 else np.full(len(forms), 1.0 / len(forms))
    return dict(zip(forms, w))


PICK_RULES = {
    "best": lambda cv, cx: k_se(cv, cx, 0.0),
    "1_se": lambda cv, cx: k_se(cv, cx, 1.0),
    "1.5_se": lambda cv, cx: k_se(cv, cx, 1.5),
    "2_se": lambda cv, cx: k_se(cv, cx, 2.0),
    "2.5_se": lambda cv, cx: k_se(cv, cx, 2.5),
    "3_se": lambda cv, cx: k_se(cv, cx, 3.0),
    "forward_1": lambda cv, cx: forward(cv, cx, 1.0),
    "forward_2": lambda cv, cx: forward(cv, cx, 2.0),
}
AVERAGE_RULES = {
    "avg_1_se": lambda cv: avg_k_se(cv, 1.0),
    "avg_2_se": lambda cv: avg_k_se(cv, 2.0),
    "inv_mse_1": lambda cv: inv_mse(cv, 1.0),
    "inv_mse_2": lambda cv: inv_mse(cv, 2.0),
}


def _predictions(tag: str, case: str) -> dict | None:
    path = OUT / f"{tag}_preds_{case}.npz"
    return dict(np.load(path)) if path.exists() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["density", "ltc", "sarcos"])
    parser.add_argument("--tag", default="real", help="record-file prefix of run_real_cases.py")
    args = parser.parse_args(argv)
    recs = pd.concat([pd.read_csv(OUT / f"{args.tag}_records_{c}.csv") for c in args.cases])
    if "cv_scores" not in recs:
        raise SystemExit("these records have no cv_scores column: re-run run_real_cases.py")
    preds = {c: _predictions(args.tag, c) for c in args.cases}
    fixed = recs[recs.method.str.startswith("fixed: ")].copy()
    fixed["f"] = fixed.method.str.removeprefix("fixed: ")
    shipped = recs[recs.method == "AffineTransferCV (one-SE)"].set_index(["case", "n", "rep"]).form
    rows, agree = [], []
    for (case, n, rep), g in fixed.groupby(["case", "n", "rep"]):
        cv = {r.f: json.loads(r.cv_scores) for r in g.itertuples()}
        folds = len(next(iter(cv.values())))
        n_train = n - 1 if folds >= n else int(round(n * (folds - 1) / folds))
        cx = {f: form_complexity(f, N_SOURCE.get(case, 1), False, n_train) for f in cv}
        rmse = dict(zip(g.f, g.rmse))
        for name, rule in PICK_RULES.items():
            f = rule(cv, cx)
            rows.append({"case": case, "n": n, "rep": rep, "rule": name, "rmse": rmse[f]})
        agree.append(PICK_RULES["1_se"](cv, cx) == shipped.get((case, n, rep)))
        p = preds[case]
        if p is None or f"{n}/{rep}/y" not in p:
            continue
        y = p[f"{n}/{rep}/y"].astype(float)
        rules = dict(AVERAGE_RULES)
        if f"{n}/{rep}/ytrain" in p:
            oof = {f: p[f"{n}/{rep}/oof/{f}"].astype(float) for f in cv}
            ytr = p[f"{n}/{rep}/ytrain"].astype(float)
            rules["stack"] = lambda cv, oof=oof, ytr=ytr: stack(oof, ytr)
        k = N_SOURCE.get(case, 1)
        rules["zsoft"] = lambda cv, k=k, m=n_train: zsoft(cv, k, m)
        for name, rule in rules.items():
            w = rule(cv)
            pred = sum(wf * p[f"{n}/{rep}/{f}"].astype(float) for f, wf in w.items())
            err = float(np.sqrt(np.mean((pred - y) ** 2)))
            rows.append({"case": case, "n": n, "rep": rep, "rule": name, "rmse": err})
        if f"{n}/{rep}/u" in p:
            w = zsoft(cv, k, n_train)
            fp = {f: p[f"{n}/{rep}/{f}"].astype(float) for f in w}
            pred = shipped_average(w, fp, p[f"{n}/{rep}/u"], p[f"{n}/{rep}/u_test"])
            err = float(np.sqrt(np.mean((pred - y) ** 2)))
            rows.append({"case": case, "n": n, "rep": rep, "rule": "average", "rmse": err})
    df = pd.DataFrame(rows)
    print(f"replayed 1_se rule = the live one-SE row's pick in {np.mean(agree):.0%} of splits")
    best_fixed = fixed.groupby(["case", "n", "f"]).rmse.mean().groupby(["case", "n"]).min()
    summary = df.groupby(["case", "n", "rule"]).rmse.agg(["mean", "sem"]).reset_index()
    summary["best_fixed"] = [best_fixed[(c, n)] for c, n in zip(summary.case, summary.n)]
    summary["within_one_se"] = summary["mean"] - summary.best_fixed <= summary["sem"]
    table = summary.pivot_table(index=["case", "n"], columns="rule", values="mean")
    order = [*PICK_RULES, *AVERAGE_RULES, "zsoft", "stack", "average"]
    table = table[[r for r in order if r in table]]
    table["best fixed"] = best_fixed
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print("mean test RMSE of each rule's pick or average:")
        print(table.round(4).to_string())
        print("cells within one SE of the best fixed form:")
        print(summary.groupby("rule", sort=False).within_one_se.sum().to_string())
    summary.to_csv(OUT / f"{args.tag}_replay.csv", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
