"""Replay selection and averaging rules on the suite of issue 25 and check the criteria.

Reads the per-split files of ``run_suite.py`` (every form's test and out-of-fold predictions
on the default search's splits) and evaluates, without refitting:

* ``live default``: the shipped :class:`~affinetl.selection.AffineTransferCV` as run;
* every special case fitted separately (``fixed: <form>``), including the source as is
  (``as_is``), the source plus a constant (``plus_const``) and the calibration
  (``source_linear``);
* the rules of :data:`RULES`, each a function of the training data alone (the forms'
  per-fold CV scores and out-of-fold predictions, the training source values).

The criteria of issue 25, per cell (case, n): the method's mean test error within one standard
error (of the method's mean) of the best special case's mean; its 90th-percentile per-split error
at most 10 % above that of the best special case (by mean; ``p90 strict``: above the lowest
90th percentile of any special case); where the source is in the target's units, its mean no
more than one standard error above that of the source as is.

Run (after ``run_suite.py``)::

    .venv/bin/python benchmarks/selection/suite_rules.py [--half development] [--rules ...]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import nnls

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite_cases import CASES  # noqa: E402

from affinetl.selection._units import _mean_cv_error, difference_test  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "out" / "selection" / "suite"
#: Forms of the package's kernel family at the time of the run, simplest first, and the
#: zero- and one-parameter special cases the suite adds.
PACKAGE_FORMS = (
    "source_linear",
    "offset",
    "source_kernel",
    "direct",
    "offset_calibrated",
    "const",
    "full",
)
UNIT_FORMS = ("as_is", "plus_const")
RATIO_FORMS = ("ratio", "ratio_calibrated")
#: Complexity for the one-SE style rules (the package's order, the new forms below it).
COMPLEXITY = {
    "as_is": -2,
    "plus_const": -1,
    "source_linear": 0,
    "offset": 1,
    "source_kernel": 1,
    "direct": 1,
    "offset_calibrated": 2,
    "ratio": 1,
    "ratio_calibrated": 2,
    "const": 3,
    "full": 4,
}
#: Forms with unpenalised linear source terms (row leverage weighting) / a kernel g1 of u alone
#: (no weight outside the training range of u), as the shipped estimator.
LINEAR_SOURCE = ("source_linear", "offset_calibrated", "ratio_calibrated")
RANGE_LIMITED = ("source_kernel", "const", "full")
#: The simple forms a guard may fall back to.
SIMPLE = ("as_is", "plus_const", "source_linear")
SAMPLES_PER_COEF = 2  # the shipped average's eligibility of calibrations (fold samples/coef)
MAX_Z, MIN_W = 3.0, 0.01


# --------------------------------------------------------------------------------------------
# loading


def load_splits(case: str) -> list[dict]:
    """Every stored split of ``case`` with its per-form CV scores (negative fold MSE)."""
    rows = []
    for path in sorted((OUT / case).glob("n*_r*.npz")):
        z = dict(np.load(path))
        n, rep = (int(v[1:]) for v in path.stem.split("_"))
        forms = [k[5:] for k in z if k.startswith("test/")]
        ytr, fold = z["ytrain"], z["fold"]
        folds = np.unique(fold)
        ratio = RATIO / case / path.name
        # the scale forms, where the source is in target units (or anywhere a rule may decide
        # the units from the data: ``RATIO_ANY``; they are then no special case of the cell)
        if RATIO_MODE and ratio.exists() and (CASES[case].in_target_units or RATIO_ANY):
            zr = np.load(ratio)
            z.update({k: zr[k] for k in zr})
            forms += [k[5:] for k in zr if k.startswith("test/")]
        oof = {f: z[f"oof/{f}"] for f in forms}
        forms = [f for f in forms if np.all(np.isfinite(oof[f]))]
        cv = {
            f: np.array([-np.mean((ytr[fold == j] - oof[f][fold == j]) ** 2) for j in folds])
            for f in forms
        }
        rows.append(
            {
                "case": case,
                "n": n,
                "rep": rep,
                "units": CASES[case].in_target_units,
                "y": z["y"],
                "ytrain": ytr,
                "u": z["u"],
                "u_test": z["u_test"],
                "fold": fold,
                "default": z["default"],
                "test": {f: z[f"test/{f}"] for f in forms},
                "oof": oof,
                "cv": cv,
                "meta": json.loads(str(z["meta"])),
            }
        )
    return rows


SCORES = OUT.with_name("suite_scores")
RATIO = OUT.with_name("suite_ratio")
#: Whether the scale forms of ``run_suite.py --ratio`` join the unit forms (``--ratio``).
RATIO_MODE = False
#: Whether they are read for the cases whose source is not in the target's units too
#: (``run_suite.py --ratio --ratio-any``; ``--auto-units``), for the rules that decide the units
#: from the training data.
RATIO_ANY = False


def nested_form_scores(labels: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """Each form's per-split score with its hyper-parameters tuned without that split: on
    split ``k`` the candidate of the form with the best mean score over the other splits
    (leave-one-split-out tuning; a form with one candidate keeps its scores)."""
    S = np.where(np.isfinite(scores), scores, -np.inf)
    out = {}
    for f in np.unique(labels):
        Sf = S[labels == f]
        rest = (Sf.sum(axis=1, keepdims=True) - Sf) / max(Sf.shape[1] - 1, 1)
        pick = np.argmax(rest, axis=0)
        out[str(f)] = scores[labels == f][pick, np.arange(Sf.shape[1])]
    return out


@functools.cache
def _nested_scores(case: str, n: int, rep: int) -> tuple[dict[str, np.ndarray], float]:
    """:func:`nested_form_scores` of one stored split and its squared scale, read once (every
    nested rule of a replay asks for the same split)."""
    z = np.load(SCORES / case / f"n{n}_r{rep}.npz")
    return nested_form_scores(z["labels"], z["scores"]), float(z["scale"]) ** 2


def with_nested(s: dict) -> dict:
    """The split with each package form's CV scores replaced by :func:`nested_form_scores`
    (case units); the unit forms have no hyper-parameters and keep theirs."""
    nested, sc2 = _nested_scores(s["case"], s["n"], s["rep"])
    cv = dict(s["cv"])
    for f in cv:
        if f in nested and np.all(np.isfinite(nested[f])):
            cv[f] = sc2 * nested[f]
    return {**s, "cv": cv}


def special_cases(s: dict) -> dict[str, np.ndarray]:
    """The split's fixed forms that the criteria compare with: every stored form but the scale
    forms where the case's source is not in the target's units (read for the rules that decide
    the units from the data, ``RATIO_ANY``)."""
    return {f: p for f, p in s["test"].items() if s["units"] or f not in RATIO_FORMS}


def rmse(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - y) ** 2)))


# --------------------------------------------------------------------------------------------
# building blocks of the rules


def n_train_per_fold(s: dict) -> int:
    n = s["ytrain"].size
    return n - int(np.max(np.bincount(s["fold"])))


def eligible(s: dict, forms) -> list[str]:
    """Calibrations need ``SAMPLES_PER_COEF`` fold samples per unpenalised coefficient."""
    k = s["u"].shape[1]
    m = n_train_per_fold(s)
    return [f for f in forms if f not in LINEAR_SOURCE or (1 + k) * SAMPLES_PER_COEF <= m]


def paired(cv: dict, a: str, b: str) -> tuple[float, float]:
    """Mean CV-score gap of ``b`` below ``a`` and its paired standard error."""
    d = cv[a] - cv[b]
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size))


_paired_plain = paired


def renormalised(raw: dict[str, float]) -> dict[str, float]:
    """Weights summing to one, those below ``MIN_W`` dropped and the rest renormalised (as the
    shipped average)."""
    tot = sum(raw.values())
    kept = {f: v / tot for f, v in raw.items() if v / tot >= MIN_W}
    tot = sum(kept.values())
    return {f: v / tot for f, v in kept.items()}


@contextlib.contextmanager
def cut_off(max_z: float):
    """The average's cut-off :data:`MAX_Z` set to ``max_z`` inside the block."""
    global MAX_Z
    before, MAX_Z = MAX_Z, max_z
    try:
        yield
    finally:
        MAX_Z = before


def zsoft_weights(cv: dict, forms: list[str]) -> dict[str, float]:
    """The shipped average's CV weights: ``exp(-z)``, ``z`` the paired gap to the best in SE."""
    best = max(forms, key=lambda f: cv[f].mean())
    raw = {}
    for f in forms:
        gap, se = paired(cv, best, f)
        z = 0.0 if gap <= 0 else (gap / se if se > 0 else np.inf)
        if z <= MAX_Z:
            raw[f] = float(np.exp(-z))
    return renormalised(raw)


def row_adjusted(s: dict, w: dict[str, float], u_rows: np.ndarray, keep: float = 0.0) -> np.ndarray:
    """The shipped per-row adjustment: calibrations by relative leverage, kernel-``g1`` forms
    zero outside the training range of ``u`` (``keep`` > 0: mixed with the weights that keep
    them, ``(1 - keep) * dropped + keep * kept``, as ``affinetl.selection._row_weights``).
    Returns (rows, forms) weights in ``w``'s order."""
    forms = list(w)
    W = np.tile([w[f] for f in forms], (u_rows.shape[0], 1))
    u = s["u"]
    lin = np.array([f in LINEAR_SOURCE for f in forms])
    lim = np.array([f in RANGE_LIMITED for f in forms])
    if lin.any():
        D = np.hstack([np.ones((u.shape[0], 1)), u])
        inv = np.linalg.pinv(D.T @ D)
        hbar = np.linalg.matrix_rank(D) / u.shape[0]
        Z = np.hstack([np.ones((u_rows.shape[0], 1)), u_rows])
        h = np.einsum("ij,jk,ik->i", Z, inv, Z)
        W[:, lin] *= ((1 + hbar) / (1 + h))[:, None]
    if lim.any() and not lim.all():
        lo, hi = u.min(0), u.max(0)
        tol = 1e-9 * np.maximum(hi - lo, 1.0)
        out = np.any((u_rows < lo - tol) | (u_rows > hi + tol), axis=1)
        kept = W / W.sum(axis=1, keepdims=True)
        W[np.ix_(out, lim)] = 0.0
        return (1 - keep) * W / W.sum(axis=1, keepdims=True) + keep * kept
    return W / W.sum(axis=1, keepdims=True)


def predict_weighted(
    s: dict, w: dict[str, float], adjust: bool = True, keep: float = 0.0
) -> np.ndarray:
    forms = list(w)
    P = np.column_stack([s["test"][f] for f in forms])
    if adjust:
        return np.sum(row_adjusted(s, w, s["u_test"], keep) * P, axis=1)
    return P @ np.array([w[f] for f in forms])


def stack_weights(s: dict, forms: list[str], shrink: float = 0.0) -> dict[str, float]:
    """Super learner: simplex weights by least squares of the training targets on the forms'
    out-of-fold predictions; ``shrink`` adds a ridge pull toward the best simple form."""
    A = np.column_stack([s["oof"][f] for f in forms])
    y = s["ytrain"]
    rows, rhs = [A], [y]
    if shrink > 0:
        simple = [f for f in SIMPLE if f in forms]
        anchor = max(simple, key=lambda f: s["cv"][f].mean()) if simple else forms[0]
        target = np.array([1.0 if f == anchor else 0.0 for f in forms])
        sc = shrink * np.sqrt(y.size) * np.std(y)
        rows.append(sc * np.eye(len(forms)))
        rhs.append(sc * target)
    big = 1e3 * max(1.0, float(np.abs(A).max()))
    M = np.vstack([*rows, big * np.ones((1, len(forms)))])
    b = np.concatenate([*rhs, [big]])
    w, _ = nnls(M, b)
    w = w / w.sum() if w.sum() > 0 else np.full(len(forms), 1 / len(forms))
    return {f: float(v) for f, v in zip(forms, w) if v > 1e-6}


#: Whether the zero- and one-parameter unit forms (as_is, plus_const) join the family: "flag"
#: where the case's source is in the target's units (``source_in_target_units=True`` passed
#: by the user), True always (with one source feature).
UNIT_MODE: object = "flag"


def candidate_forms(s: dict, unit_forms: bool) -> list[str]:
    forms = [f for f in PACKAGE_FORMS if f in s["cv"]]
    if unit_forms and (UNIT_MODE is True or s["units"]):
        forms = [f for f in (*UNIT_FORMS, *RATIO_FORMS) if f in s["cv"]] + forms
    return eligible(s, forms)


def fold_out_cv(s: dict, weigh, forms: list[str]) -> np.ndarray:
    """Per-fold CV scores of a weighting rule, its weights computed without the held-out fold
    (the forms' out-of-fold predictions on that fold are then averaged)."""
    fold = s["fold"]
    folds = np.unique(fold)
    out = np.empty(folds.size)
    for j in folds:
        cv_j = {f: np.delete(s["cv"][f], j) for f in forms}
        w = weigh(cv_j, forms)
        m = fold == j
        pred = sum(wf * s["oof"][f][m] for f, wf in w.items())
        out[j] = -np.mean((s["ytrain"][m] - pred) ** 2)
    return out


# --------------------------------------------------------------------------------------------
# the rules: split -> test prediction


def r_shipped(s):
    forms = candidate_forms(s, False)
    return predict_weighted(s, zsoft_weights(s["cv"], forms))


def r_zsoft_unit(s):
    forms = candidate_forms(s, True)
    return predict_weighted(s, zsoft_weights(s["cv"], forms))


def r_stack(s, unit=True, shrink=0.0):
    forms = candidate_forms(s, unit)
    return predict_weighted(s, stack_weights(s, forms, shrink), adjust=False)


def r_one_se(s, unit=True, k=1.0):
    forms = candidate_forms(s, unit)
    cv = s["cv"]
    best = max(forms, key=lambda f: cv[f].mean())
    tied = [f for f in forms if paired(cv, best, f)[0] <= k * paired(cv, best, f)[1]]
    lvl = min(COMPLEXITY[f] for f in tied)
    pick = max([f for f in tied if COMPLEXITY[f] == lvl], key=lambda f: cv[f].mean())
    return s["test"][pick]


def r_guard(s, k=1.0, base="zsoft"):
    """Average (``base``) unless the best simple form is within ``k`` paired SE of the best
    form's CV score: then the simple form alone."""
    forms = candidate_forms(s, True)
    cv = s["cv"]
    simple = [f for f in SIMPLE if f in forms]
    if simple:
        best = max(forms, key=lambda f: cv[f].mean())
        sb = max(simple, key=lambda f: cv[f].mean())
        gap, se = paired(cv, best, sb)
        if gap <= k * se:
            return s["test"][sb]
    if base == "stack":
        return predict_weighted(s, stack_weights(s, forms), adjust=False)
    return predict_weighted(s, zsoft_weights(cv, forms))


def r_nested_choice(s, k=1.0):
    """Discrete super learner over {simple forms, the zsoft average}: the average's own CV
    error by leaving each fold out of its weights; the simplest of them within ``k`` paired SE
    of the best is used."""
    forms = candidate_forms(s, True)
    cv = dict(s["cv"])
    cv["average"] = fold_out_cv(s, zsoft_weights, forms)
    options = [f for f in SIMPLE if f in forms] + ["average"]
    best = max(options, key=lambda f: cv[f].mean())
    order = {f: i for i, f in enumerate(options)}
    tied = [f for f in options if paired(cv, best, f)[0] <= k * paired(cv, best, f)[1]]
    pick = min(tied, key=lambda f: order[f])
    if pick == "average":
        return predict_weighted(s, zsoft_weights(s["cv"], forms))
    return s["test"][pick]


def r_zsoft_shrunk(s, k=1.0):
    """zsoft weights where every form's gap is measured against the best *simple* form when
    that form is within ``k`` SE of the best: the simple form becomes the reference."""
    forms = candidate_forms(s, True)
    cv = s["cv"]
    simple = [f for f in SIMPLE if f in forms]
    best = max(forms, key=lambda f: cv[f].mean())
    if simple:
        sb = max(simple, key=lambda f: cv[f].mean())
        gap, se = paired(cv, best, sb)
        if gap <= k * se:
            # forms must beat the simple reference to get weight exp(-z) with z their gap
            # *above zero* relative to it: ties with the reference share, worse ones drop
            raw = {}
            for f in forms:
                g, e = paired(cv, sb, f)
                z = 0.0 if f == sb else (max(g, 0) / e if e > 0 else np.inf) + 1.0
                if z <= MAX_Z:
                    raw[f] = float(np.exp(-z))
            tot = sum(raw.values())
            return predict_weighted(s, {f: w / tot for f, w in raw.items()})
    return predict_weighted(s, zsoft_weights(cv, forms))


def anchored_weights(cv: dict, forms: list[str], c: float = 1.0) -> dict[str, float]:
    """zsoft weights gated by the evidence that a form beats the best simple form (the
    anchor): a form whose CV score is ``z_a`` paired SE above the anchor's keeps
    ``min(1, exp(z_a - c))`` of its zsoft weight, the anchor keeps all of it. A complex form
    the CV cannot tell from the simple one gets little weight; one that clearly beats it keeps
    its zsoft weight. Without an eligible simple form this is zsoft. (:func:`ladder_weights`
    with the simple forms as the anchors.)"""
    return ladder_weights(cv, forms, c, SIMPLE)


def ladder_weights(cv: dict, forms: list[str], c: float = 1.0, anchors=None) -> dict[str, float]:
    """zsoft weights where every form earns its weight against the best *simpler* form
    (:data:`COMPLEXITY`; ``anchors``: against the best form of that set instead, for forms
    outside it): it keeps ``min(1, exp(z - c))``, ``z`` its paired CV gain over that form in
    SE. The anchored average (:func:`anchored_weights`) is the case ``anchors = SIMPLE``."""

    def refs(f: str) -> list[str]:
        if anchors is None:
            return [g for g in forms if COMPLEXITY[g] < COMPLEXITY[f]]
        return [] if f in anchors else [g for g in forms if g in anchors]

    return gated_weights(cv, forms, c, refs, tie_z=-np.inf)


def gated_weights(cv: dict, forms: list[str], c: float, refs, tie_z: float) -> dict[str, float]:
    """zsoft weights (cut at :data:`MAX_Z`) where every form with reference forms
    ``refs(f)`` keeps ``min(1, exp(z - c))`` of its weight, ``z`` its paired CV gain over the
    best of them in SE (``tie_z`` where both the gain and its SE are 0): the loop of the
    ladder (:func:`ladder_weights`) and of the nesting ladder (:func:`nesting_weights`)."""
    best = max(forms, key=lambda f: cv[f].mean())
    raw = {}
    for f in forms:
        gap, se = paired(cv, best, f)
        z = 0.0 if gap <= 0 else (gap / se if se > 0 else np.inf)
        if z > MAX_Z:
            continue
        zw = float(np.exp(-z))
        ref = refs(f)
        if ref:
            a = max(ref, key=lambda g: cv[g].mean())
            g, e = paired(cv, f, a)
            za = g / e if e > 0 else (np.inf if g > 0 else (-np.inf if g < 0 else tie_z))
            zw *= float(min(1.0, np.exp(za - c)))
        raw[f] = zw
    return renormalised(raw)


def r_ladder(s, c=1.0, anchors=None, curvature=True):
    forms = candidate_forms(s, True)
    w = ladder_weights(s["cv"], forms, c, anchors)
    return predict_weighted(s, w, keep=outside_keep(s["cv"], forms) if curvature else 0.0)


def oof_adjusted(s: dict, w: dict[str, float]) -> tuple[float, float]:
    """Out-of-fold MSE of the weighted average without and with the per-row adjustment, the
    adjustment of each held-out fold computed from that fold's training part (its source range
    and leverage): whether the held-out points support the adjustment."""
    forms = list(w)
    fold, y = s["fold"], s["ytrain"]
    P = np.column_stack([s["oof"][f] for f in forms])
    plain = P @ np.array([w[f] for f in forms])
    adj = np.empty_like(plain)
    for j in np.unique(fold):
        m = fold == j
        sub = {"u": s["u"][~m]}
        adj[m] = np.sum(row_adjusted(sub, w, s["u"][m]) * P[m], axis=1)
    return float(np.mean((y - plain) ** 2)), float(np.mean((y - adj) ** 2))


def r_anchored_cvadj(s, c=1.0):
    """Anchored weights; the per-row adjustment only where it lowers the out-of-fold error."""
    forms = candidate_forms(s, True)
    w = anchored_weights(s["cv"], forms, c)
    plain, adj = oof_adjusted(s, w)
    return predict_weighted(s, w, adjust=adj <= plain)


def r_anchored(s, c=1.0, adjust=True):
    forms = candidate_forms(s, True)
    return predict_weighted(s, anchored_weights(s["cv"], forms, c), adjust=adjust)


def outside_keep(cv: dict, forms: list[str], z0: float = 3.0, smooth: bool = True) -> float:
    """Weight the kernel-``g1`` forms keep outside the training range of ``u``:
    ``min(1, exp(z - z0))``, ``z`` the paired CV gain of the best of them over the best other
    form in SE (evidence of a curvature the forms linear in ``u`` miss); ``smooth=False``: all
    or nothing at ``z0``."""
    lim = [f for f in forms if f in RANGE_LIMITED]
    rest = [f for f in forms if f not in RANGE_LIMITED]
    if not lim or not rest:
        return 0.0
    a = max(lim, key=lambda f: cv[f].mean())
    b = max(rest, key=lambda f: cv[f].mean())
    g, e = paired(cv, a, b)
    z = g / e if e > 0 else (np.inf if g > 0 else -np.inf)
    return float(z > z0) if not smooth else float(min(1.0, np.exp(z - z0)))


def r_curvature(s, z0=3.0, smooth=True, mix=True, units_keep=True):
    """Anchored weights; the kernel-``g1`` forms keep :func:`outside_keep` of their weight
    outside the range (``mix=False``: their weight times it, renormalised, instead of the
    mixture of the two row weightings; ``units_keep=False``: none where the source is in the
    target's units)."""
    forms = candidate_forms(s, True)
    w = anchored_weights(s["cv"], forms, 1.0)
    k = 0.0 if s["units"] and not units_keep else outside_keep(s["cv"], forms, z0, smooth)
    if mix:
        return predict_weighted(s, w, keep=k)
    P = np.column_stack([s["test"][f] for f in w])
    lim = np.array([f in RANGE_LIMITED for f in w])
    W = row_adjusted(s, w, s["u_test"], keep=1.0)
    u, ut = s["u"], s["u_test"]
    out = np.any((ut < u.min(0)) | (ut > u.max(0)), axis=1)
    W[np.ix_(out, lim)] *= k
    return np.sum(W / W.sum(axis=1, keepdims=True) * P, axis=1)


def stack_toward(
    s: dict, forms: list[str], w0: dict[str, float], lam: float, noise: bool = False
) -> dict[str, float]:
    """Stacking shrunk toward prior weights ``w0``: simplex weights minimising
    ``||y - A w||^2 + lam var(y) ||w - w0||^2`` (``A`` the out-of-fold predictions). The
    data term grows with n, the pull does not: at small n the prior (CV-score) weights
    dominate, at large n the out-of-fold fit."""
    A = np.column_stack([s["oof"][f] for f in forms])
    y = s["ytrain"]
    prior = np.array([w0.get(f, 0.0) for f in forms])
    if noise:  # the pull in units of the best form's CV mean squared error
        sc = np.sqrt(lam * min(-s["cv"][f].mean() for f in forms))
    else:
        sc = np.sqrt(lam) * np.std(y)
    big = 1e3 * max(1.0, float(np.abs(A).max()))
    M = np.vstack([A, sc * np.eye(len(forms)), big * np.ones((1, len(forms)))])
    b = np.concatenate([y, sc * prior, [big]])
    w, _ = nnls(M, b)
    w = w / w.sum()
    return {f: float(v) for f, v in zip(forms, w) if v > 1e-6}


def r_stack_toward(s, prior="anchored", lam=10.0, adjust=False, noise=False):
    forms = candidate_forms(s, True)
    w0 = (
        anchored_weights(s["cv"], forms, 1.0)
        if prior == "anchored"
        else zsoft_weights(s["cv"], forms)
    )
    return predict_weighted(s, stack_toward(s, forms, w0, lam, noise), adjust=adjust)


def r_zsoft_noadj(s):
    forms = candidate_forms(s, True)
    return predict_weighted(s, zsoft_weights(s["cv"], forms), adjust=False)


#: The rule chosen on the development half (7 Dec 2026, before the confirmation half was
#: evaluated): the shipped CV weights gated by the evidence that a form beats the best simple
#: form, with the shipped per-row adjustments, the unit forms in the family where the source
#: is in the target's units. Most cells within one SE on the development half (24 of 32 against
#: the shipped default's 19) and most within 10 % at the 90th percentile (27 against 22).
#: Second pass (same day, again on the development half first): the kernel-``g1`` forms keep
#: ``min(1, exp(z - 3))`` of their weight outside the training range of ``u`` (``curvature 3``):
#: all three criteria in 27 of 32 (``anchored 1``: 24).
#: Third pass (same day, evening): no keep where the source is in the target's units (the
#: forms that follow ``u`` carry the rows outside its training range); development half
#: unchanged (27 of 32), the confirmation half's splits over 1.5 times the source as is 3 -> 0.
#: Fourth pass (7 Dec 2026, second session): the forms compared on the paired *row* scores
#: (each held-out row's squared error) with the average's cut-off at 2.5 standard errors
#: instead of 3, the keep's still at 3: development 27 -> 28 of 32, confirmation 10 -> 11 of 20;
#: the cut-off keeps the synthetic recovery (rows with a cut-off of 3 failed it).
#: Sixth pass (8 Dec 2026): ``source_in_target_units="auto"``, the units decided per split by
#: the difference test (:func:`units_from_data`): development 28 of 32 as the fourth pass with
#: the declared units (and as without them); chosen for the default on the a-priori argument
#: and that tie, the confirmation half reported after.
CHOSEN = "auto units: difference"
#: The default of the fourth pass, with the case's declared units.
FOURTH = "rows: anchored 1 curvature 3 (cut-off 2.5), none in units"
#: The default of the third pass.
THIRD = "anchored 1 curvature 3, none in units"


def in_range_cv(s: dict) -> dict:
    """Each form's per-fold CV score on the held-out rows inside the source range of that
    fold's training part only (folds without such rows dropped): the forms compared where
    their averaging weights apply; outside the range the per-row adjustment decides."""
    fold, u, y = s["fold"], s["u"], s["ytrain"]
    masks = []
    for j in np.unique(fold):
        te = fold == j
        lo, hi = u[~te].min(0), u[~te].max(0)
        inside = te & np.all((u >= lo) & (u <= hi), axis=1)
        if inside.any():
            masks.append(inside)
    if len(masks) < 3:
        return s
    cv = {f: np.array([-np.mean((y[m] - s["oof"][f][m]) ** 2) for m in masks]) for f in s["cv"]}
    return {**s, "cv": cv}


def r_in_range(s, c=1.0, keep_all_rows=True):
    """The default's rule with the averaging weights from :func:`in_range_cv` (the
    outside-range keep from every held-out row, or also in range: ``keep_all_rows=False``)."""
    forms = candidate_forms(s, True)
    sr = in_range_cv(s)
    w = anchored_weights(sr["cv"], forms, c)
    k = outside_keep((s if keep_all_rows else sr)["cv"], forms)
    return predict_weighted(s, w, keep=k)


def support(s: dict, form: str, rows: np.ndarray) -> np.ndarray:
    """How well the training source values support a kernel ``g1`` of ``form`` at ``rows`` of
    ``u``: ``1 - s2``, ``s2`` the kernel-ridge (GP) posterior variance with the form's own RBF
    width ``gamma1`` and penalty ``lambda1`` on the (standardised) training ``u``: 1 on the
    data, 0 far from it (outside the range, and in sparse stretches inside it)."""
    par = s["meta"]["params"][form]
    g, lam = par.get("gamma1"), par.get("lambda1", 1.0)
    u = s["u"]
    g = 1.0 / (2 * u.shape[1]) if g is None else g

    def k(a, b):
        return np.exp(-g * ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    K = k(u, u)
    ks = k(rows, u)
    A = K + lam * np.eye(len(u))
    s2 = 1.0 - np.einsum("ij,ji->i", ks, np.linalg.solve(A, ks.T))
    return np.clip(1.0 - s2, 0.0, 1.0)


def r_support(s, c=1.0, relative=True):
    """The default's anchored weights; per row, the kernel-``g1`` forms weighted by their
    :func:`support` (relative to its mean over the training rows) instead of the hard
    source-range rule; calibrations by leverage as shipped."""
    forms = candidate_forms(s, True)
    w = anchored_weights(s["cv"], forms, c)
    fl = list(w)
    W = row_adjusted(s, w, s["u_test"], keep=1.0)  # leverage only: the range rule off
    for j, f in enumerate(fl):
        if f in RANGE_LIMITED:
            sup = support(s, f, s["u_test"])
            if relative:
                sup = sup / max(float(np.mean(support(s, f, s["u"]))), 1e-12)
            W[:, j] *= np.minimum(sup, 1.0)
    W = W / W.sum(axis=1, keepdims=True)
    P = np.column_stack([s["test"][f] for f in fl])
    return np.sum(W * P, axis=1)


def rowwise(s: dict) -> dict:
    """The split with each form's CV scores per held-out row (``-(y_i - oof_i)^2``) instead of
    per fold: the paired standard errors of the rules then come from the rows."""
    return {**s, "cv": {f: -((s["ytrain"] - s["oof"][f]) ** 2) for f in s["cv"]}}


def paired_calibrated(cv: dict, a: str, b: str) -> tuple[float, float]:
    """:func:`paired` on the normal scale: the paired t statistic over ``k`` folds (``k - 1``
    degrees of freedom) mapped to the standard normal quantile of the same probability,
    returned as the standard error that gives that ``z``."""
    g, se = _paired_plain(cv, a, b)
    k = next(iter(cv.values())).size
    if not se > 0:
        return g, se
    z = float(stats.norm.isf(stats.t.sf(g / se, k - 1)))
    return (g, g / z) if z != 0 and np.sign(z) == np.sign(g) else (g, se)


def r_t_calibrated(s):
    """The chosen rule with every paired comparison t-calibrated (:func:`paired_calibrated`)."""
    global paired
    before, paired = paired, paired_calibrated
    try:
        return r_curvature(s, units_keep=False)
    finally:
        paired = before


class TwoScales(dict):
    """Per-fold CV scores (the values) with each form's per-row scores beside them (``rows``):
    :func:`paired` then compares two forms on both and takes the ``z`` that ``how`` names
    (``"max"``: the larger in size, ``"min"``: the smaller; the sign is the folds')."""

    rows: dict
    how: str


def two_scales(s: dict, how: str = "max") -> dict:
    cv = TwoScales(s["cv"])
    cv.rows = {f: -((s["ytrain"] - s["oof"][f]) ** 2) for f in s["cv"]}
    cv.how = how
    return {**s, "cv": cv}


def _paired_two(cv: dict, a: str, b: str) -> tuple[float, float]:
    g, se = _paired_plain(cv, a, b)
    if not isinstance(cv, TwoScales):
        return g, se
    gr, ser = _paired_plain(cv.rows, a, b)
    if not (se > 0 and ser > 0) or np.sign(g) != np.sign(gr):
        return g, se
    z, zr = g / se, gr / ser
    pick = max if cv.how == "max" else min
    zz = pick(abs(z), abs(zr))
    return g, abs(g) / zz if zz > 0 else se


paired = _paired_two


def _z(cv: dict, a: str, b: str) -> float:
    g, e = paired(cv, a, b)
    return g / e if e > 0 else (np.inf if g > 0 else (-np.inf if g < 0 else 0.0))


def r_two_roles(s, cut="max", gate="min", keep="min", c=1.0):
    """The chosen rule with the forms compared on both the fold means and the rows
    (:class:`TwoScales`), the ``z`` of each comparison picked by its role: ``cut`` for the gap
    to the best form (``exp(-z)`` and the cut-off at ``MAX_Z``), ``gate`` for a form's gain
    over the best simple form (the anchor), ``keep`` for the outside-range keep."""
    forms = candidate_forms(s, True)
    cvs = {h: two_scales(s, h)["cv"] for h in ("max", "min")}
    cvs["folds"], cvs["rows"] = s["cv"], rowwise(s)["cv"]
    cv = s["cv"]
    best = max(forms, key=lambda f: cv[f].mean())
    raw = {}
    for f in forms:
        z = max(0.0, -_z(cvs[cut], f, best)) if f != best else 0.0
        if z > MAX_Z:
            continue
        w = float(np.exp(-z))
        if f not in SIMPLE:
            ref = [g for g in forms if g in SIMPLE]
            if ref:
                a = max(ref, key=lambda g: cv[g].mean())
                w *= float(min(1.0, np.exp(_z(cvs[gate], f, a) - c)))
        raw[f] = w
    k = 0.0 if s["units"] else outside_keep(cvs[keep], forms)
    return predict_weighted(s, renormalised(raw), keep=k)


def r_rows_maxz(s, max_z=2.5, keep_z=3.0):
    """Row-wise paired comparisons with the average's cut-off at ``max_z`` instead of 3 (and
    the outside-range keep's at ``keep_z``)."""
    with cut_off(max_z):
        return r_curvature(rowwise(s), keep_z, units_keep=False)


def chosen_weights(s: dict, forms: list[str]) -> dict[str, float]:
    """The chosen rule's averaging weights before the per-row adjustment (row-wise paired
    comparisons, cut-off 2.5)."""
    with cut_off(2.5):
        return anchored_weights(rowwise(s)["cv"], forms, 1.0)


def r_rows_nested_small(s, below=20, max_z=2.5):
    """The chosen rule; below ``below`` samples (leave-one-out: the folds are the rows) the
    forms compared by their leave-one-row-out tuned scores (:func:`with_nested`)."""
    if s["n"] >= below:
        return r_rows_maxz(s, max_z)
    with cut_off(max_z):
        return r_curvature(with_nested(s), units_keep=False)


def r_rows_small_anchor(s, c_small=2.0, below=20, max_z=2.5):
    """The chosen rule with the anchor constant ``c_small`` instead of 1 below ``below``
    training samples (leave-one-out sizes)."""
    if s["ytrain"].size >= below:
        return r_rows_maxz(s, max_z)
    return rows_rule(s, lambda cv, forms: anchored_weights(cv, forms, c_small), max_z)


def units_from_data(s: dict, how: str = "offset") -> bool:
    """Whether the (single) source looks like the target's own quantity, from the training
    data alone: ``"offset"``: the source plus a constant predicts the target better in CV than
    the target's mean (``y - u`` varies less than ``y``); ``"difference"``: in addition less
    than ``u`` (the difference of two measurements of one quantity varies less than either);
    ``"calibration 4"``: ``"offset"`` and its CV error at most 4 times the calibration's."""
    if s["u"].shape[1] != 1:
        return False
    # the records' ``u`` is standardised; the source as is predicts the raw training values
    y, u, fold = s["ytrain"], s["oof"]["as_is"], s["fold"]
    splits = [(np.flatnonzero(fold != j), np.flatnonzero(fold == j)) for j in np.unique(fold)]
    if how == "difference":  # the estimator's own test (source_in_target_units="auto")
        return difference_test(u, y, splits)
    pc = -float(s["cv"]["plus_const"].mean())
    ok = pc < _mean_cv_error(y, splits)
    if how.startswith("calibration"):
        ok = ok and pc <= float(how.split()[1]) * -float(s["cv"]["source_linear"].mean())
    return bool(ok)


def r_auto_units(s, how: str = "offset"):
    """The chosen rule with ``source_in_target_units`` decided per split by
    :func:`units_from_data` instead of the case's label."""
    return r_rows_maxz({**s, "units": units_from_data(s, how)})


def r_auto_units_offset(s, how: str = "difference"):
    """:func:`r_auto_units` with the ``offset`` form (``y - u``) searched only where the
    source is taken to be in the target's units."""
    units = units_from_data(s, how)
    cv = {f: v for f, v in s["cv"].items() if units or f != "offset"}
    return r_rows_maxz({**s, "units": units, "cv": cv})


def rows_rule(s: dict, weigh, max_z: float = 2.5) -> np.ndarray:
    """The chosen rule with ``weigh(cv, forms)`` as the averaging weights: row-wise paired
    scores, cut-off ``max_z``, the outside-range keep at 3 (none in the target's units)."""
    cv = rowwise(s)["cv"]
    forms = candidate_forms(s, True)
    with cut_off(max_z):
        w = weigh(cv, forms)
    k = 0.0 if s["units"] else outside_keep(cv, forms)
    return predict_weighted(s, w, keep=k)


def group_prior_weights(
    cv: dict, forms: list[str], share: float = 0.5, anchor: bool = True
) -> dict[str, float]:
    """The averaging weights (anchored, or ``exp(-z)`` without ``anchor``) times a prior that
    gives the simple forms (:data:`SIMPLE`) ``share`` of the mass and the other forms the rest,
    split evenly inside each group, renormalised. Against the dilution of the anchor by the
    number of flexible forms: with ten forms that the CV cannot tell apart, the three simple
    ones hold a third of the weight whatever their evidence. Without an eligible simple form
    the weights are unchanged."""
    base = anchored_weights(cv, forms, 1.0) if anchor else zsoft_weights(cv, forms)
    simple = [f for f in forms if f in SIMPLE]
    if not simple or len(simple) == len(forms):
        return base
    prior = {
        f: share / len(simple) if f in SIMPLE else (1 - share) / (len(forms) - len(simple))
        for f in forms
    }
    return renormalised({f: w * prior[f] for f, w in base.items()})


#: The forms each form contains (it reduces to them with a parameter fixed or a penalty taken
#: to infinity): the nesting ladder of :func:`nesting_weights`.
NESTED_IN = {
    "as_is": (),
    "plus_const": ("as_is",),
    "source_linear": ("plus_const",),
    "offset": ("plus_const",),
    "ratio": ("plus_const",),
    "source_kernel": ("source_linear",),
    "direct": (),
    "offset_calibrated": ("offset", "source_linear"),
    "ratio_calibrated": ("ratio", "source_linear"),
    "const": ("source_kernel", "direct", "offset_calibrated"),
    "full": ("const",),
}


def _ancestors(f: str) -> set[str]:
    out: set[str] = set()
    for g in NESTED_IN[f]:
        out |= {g, *_ancestors(g)}
    return out


def nesting_weights(cv: dict, forms: list[str], c: float = 1.0) -> dict[str, float]:
    """zsoft weights where every form keeps ``min(1, exp(z - c))``, ``z`` its paired CV gain
    over the best of the forms it contains (:data:`NESTED_IN`, transitively) among ``forms``:
    a richer form earns its weight against its own special cases."""
    return gated_weights(
        cv, forms, c, lambda f: [g for g in forms if g in _ancestors(f)], tie_z=0.0
    )


def r_nesting(s, c=1.0, max_z=2.5):
    return rows_rule(s, lambda cv, forms: nesting_weights(cv, forms, c), max_z)


def r_rows_cut(s, ratio=2.0):
    """Row-wise paired comparisons (:func:`rowwise`) without the forms whose CV mean squared
    error is above ``ratio`` times the best form's (an effect-size cut)."""
    r = rowwise(s)
    forms = candidate_forms(s, True)
    best = min(-s["cv"][f].mean() for f in forms)
    forms = [f for f in forms if -s["cv"][f].mean() <= ratio * best]
    k = 0.0 if s["units"] else outside_keep(r["cv"], forms)
    return predict_weighted(s, anchored_weights(r["cv"], forms, 1.0), keep=k)


def group_anchor_weights(cv: dict, forms: list[str], c: float = 1.0) -> dict[str, float]:
    """zsoft weights where the non-simple forms *together* keep ``min(1, exp(z - c))`` of
    their weight, ``z`` the paired CV gain of the best of them over the best simple form (the
    anchor), the rest going to the anchor (one gate for the group, not one per form)."""
    w = zsoft_weights(cv, forms)
    simple = [f for f in forms if f in SIMPLE]
    rest = [f for f in w if f not in SIMPLE]
    if not simple or not rest:
        return w
    anchor = max(simple, key=lambda f: cv[f].mean())
    g, e = paired(cv, max(rest, key=lambda f: cv[f].mean()), anchor)
    k = float(min(1.0, np.exp((g / e if e > 0 else (np.inf if g > 0 else -np.inf)) - c)))
    out = {f: v * k if f in rest else v for f, v in w.items()}
    out[anchor] = out.get(anchor, 0.0) + (1 - k) * sum(w[f] for f in rest)
    return {f: v for f, v in out.items() if v > 0}


def pseudo_bma_weights(s: dict, forms: list[str], draws: int = 1000) -> dict[str, float]:
    """Pseudo-BMA+ (Yao, Vehtari, Simpson & Gelman 2018): weights ``exp(elpd_f)`` averaged over
    Bayesian-bootstrap draws of the held-out rows, ``elpd_f`` the sum of the rows' Gaussian
    log predictive densities with the form's out-of-fold mean squared error as variance."""
    E = np.column_stack([(s["ytrain"] - s["oof"][f]) ** 2 for f in forms])
    var = E.mean(axis=0)
    elpd = -0.5 * np.log(2 * np.pi * var) - E / (2 * var)
    A = np.random.default_rng(0).dirichlet(np.ones(E.shape[0]), size=draws)
    Z = E.shape[0] * A @ elpd
    W = np.exp(Z - Z.max(axis=1, keepdims=True))
    w = (W / W.sum(axis=1, keepdims=True)).mean(axis=0)
    kept = {f: float(v) for f, v in zip(forms, w) if v >= MIN_W}
    return {f: v / sum(kept.values()) for f, v in kept.items()}


def r_weighted(s, weights):
    """The chosen rule's outside-range keep and row adjustments with other CV weights."""
    forms = candidate_forms(s, True)
    return predict_weighted(s, weights(s, forms), keep=outside_keep(s["cv"], forms))


def nested(rule):
    """``rule`` with the forms compared by their leave-one-split-out tuned scores."""
    return lambda s: rule(with_nested(s))


RULES = {
    "auto units: offset": r_auto_units,
    "auto units: difference": lambda s: r_auto_units(s, "difference"),
    "auto units: calibration 4": lambda s: r_auto_units(s, "calibration 4"),
    "units never": lambda s: r_rows_maxz({**s, "units": False}),
    "auto units: difference, offset only in units": r_auto_units_offset,
    THIRD: lambda s: r_curvature(s, units_keep=False),
    "two scales max": lambda s: r_curvature(two_scales(s, "max"), units_keep=False),
    "two scales min": lambda s: r_curvature(two_scales(s, "min"), units_keep=False),
    "rows, none in units": lambda s: r_curvature(rowwise(s), units_keep=False),
    FOURTH: lambda s: r_rows_maxz(s, 2.5),
    "rows_rule(anchored) (check)": lambda s: rows_rule(s, anchored_weights),
    "group prior 0.5, anchored": lambda s: rows_rule(s, group_prior_weights),
    "group prior 0.5, zsoft": lambda s: rows_rule(
        s, lambda cv, f: group_prior_weights(cv, f, 0.5, False)
    ),
    "group prior 0.5 below 20": lambda s: (
        r_rows_maxz(s, 2.5) if s["ytrain"].size >= 20 else rows_rule(s, group_prior_weights)
    ),
    "rows, cut-off 2.75": lambda s: r_rows_maxz(s, 2.75),
    "rows, cut-off 2": lambda s: r_rows_maxz(s, 2.0),
    "rows, nested below 20": r_rows_nested_small,
    "nesting 0": lambda s: r_nesting(s, 0.0),
    "nesting 0.5": lambda s: r_nesting(s, 0.5),
    "nesting 1": lambda s: r_nesting(s, 1.0),
    "nesting 2": lambda s: r_nesting(s, 2.0),
    "rows, anchor 1.5 below 20": lambda s: r_rows_small_anchor(s, 1.5),
    "rows, anchor 2 below 20": lambda s: r_rows_small_anchor(s, 2.0),
    "rows, anchor 3 below 20": lambda s: r_rows_small_anchor(s, 3.0),
    "rows, anchor 0 below 20": lambda s: r_rows_small_anchor(s, 0.0),
    "rows, cut-off 2.5, keep 2.5": lambda s: r_rows_maxz(s, 2.5, 2.5),
    "roles folds/folds/folds": lambda s: r_two_roles(s, "folds", "folds", "folds"),
    "roles rows/rows/rows": lambda s: r_two_roles(s, "rows", "rows", "rows"),
    "roles max/rows/rows": lambda s: r_two_roles(s, "max", "rows", "rows"),
    "roles max/min/min": lambda s: r_two_roles(s, "max", "min", "min"),
    "roles folds/rows/rows": lambda s: r_two_roles(s, "folds", "rows", "rows"),
    "roles rows/folds/folds": lambda s: r_two_roles(s, "rows", "folds", "folds"),
    "roles max/folds/rows": lambda s: r_two_roles(s, "max", "folds", "rows"),
    "roles max/rows/folds": lambda s: r_two_roles(s, "max", "rows", "folds"),
    "anchored 1 curvature 3": r_curvature,
    "rows: anchored 1 curvature 3": lambda s: r_curvature(rowwise(s)),
    "t-calibrated": r_t_calibrated,
    "rows, cut at 2x the best CV error": r_rows_cut,
    "group anchor 1 curvature 3": lambda s: r_weighted(
        s, lambda s_, f: group_anchor_weights(s_["cv"], f)
    ),
    "pseudo-BMA+ curvature 3": lambda s: r_weighted(s, pseudo_bma_weights),
    "anchored 2 curvature 3": lambda s: r_weighted(
        s, lambda s_, f: anchored_weights(s_["cv"], f, 2.0)
    ),
    "anchored 3 curvature 3": lambda s: r_weighted(
        s, lambda s_, f: anchored_weights(s_["cv"], f, 3.0)
    ),
    "anchored 3": lambda s: r_anchored(s, 3.0),
    "nested: anchored 1 curvature 3": nested(r_curvature),
    "in-range CV: anchored 1 curvature 3": r_in_range,
    "in-range CV (keep too)": lambda s: r_in_range(s, 1.0, False),
    "in-range CV: zsoft": lambda s: predict_weighted(
        s, zsoft_weights(in_range_cv(s)["cv"], candidate_forms(s, True))
    ),
    "support (relative)": r_support,
    "support (absolute)": lambda s: r_support(s, 1.0, False),
    "ladder 1 curvature 3": r_ladder,
    "ladder 0 curvature 3": lambda s: r_ladder(s, 0.0),
    "ladder 2 curvature 3": lambda s: r_ladder(s, 2.0),
    "semi-param anchor 1 curvature 3": lambda s: r_ladder(
        s, 1.0, (*SIMPLE, "offset", "offset_calibrated")
    ),
    "nested: ladder 1 curvature 3": nested(r_ladder),
    "nested: anchored 1": nested(lambda s: r_anchored(s, 1.0)),
    "nested: anchored 0 curvature 3": nested(
        lambda s: predict_weighted(
            s,
            anchored_weights(s["cv"], candidate_forms(s, True), 0.0),
            keep=outside_keep(s["cv"], candidate_forms(s, True)),
        )
    ),
    "nested: zsoft unit": nested(r_zsoft_unit),
    "nested: one-SE + unit forms": nested(lambda s: r_one_se(s, True, 1.0)),
    "nested: guard 1 SE": nested(lambda s: r_guard(s, 1.0)),
    "anchored 1 curvature 2.5": lambda s: r_curvature(s, 2.5),
    "anchored 1 curvature 3.5": lambda s: r_curvature(s, 3.5),
    "anchored 1 curvature 2 (step)": lambda s: r_curvature(s, 2.0, smooth=False),
    "anchored 1 curvature 3 (step)": lambda s: r_curvature(s, 3.0, smooth=False),
    "anchored 1 curvature 3 (scaled)": lambda s: r_curvature(s, 3.0, mix=False),
    "zsoft unit, no row adj": r_zsoft_noadj,
    "stack adj": lambda s: predict_weighted(
        s, stack_weights(s, candidate_forms(s, True)), adjust=True
    ),
    "stack->zsoft 2": lambda s: r_stack_toward(s, "zsoft", 2.0),
    "stack->zsoft 10": lambda s: r_stack_toward(s, "zsoft", 10.0),
    "stack->anch 2": lambda s: r_stack_toward(s, "anchored", 2.0),
    "stack->anch 10": lambda s: r_stack_toward(s, "anchored", 10.0),
    "stack->anch 10 adj": lambda s: r_stack_toward(s, "anchored", 10.0, True),
    "stack->anch n5": lambda s: r_stack_toward(s, "anchored", 5.0, noise=True),
    "stack->anch n10": lambda s: r_stack_toward(s, "anchored", 10.0, noise=True),
    "stack->anch n20": lambda s: r_stack_toward(s, "anchored", 20.0, noise=True),
    "stack->anch n40": lambda s: r_stack_toward(s, "anchored", 40.0, noise=True),
    "stack->zsoft n20": lambda s: r_stack_toward(s, "zsoft", 20.0, noise=True),
    "stack->anch 30": lambda s: r_stack_toward(s, "anchored", 30.0),
    "stack->anch 100": lambda s: r_stack_toward(s, "anchored", 100.0),
    "anchored 0": lambda s: r_anchored(s, 0.0),
    "anchored 1 cvadj": lambda s: r_anchored_cvadj(s, 1.0),
    "anchored 1 noadj": lambda s: r_anchored(s, 1.0, adjust=False),
    "anchored 0.5": lambda s: r_anchored(s, 0.5),
    "anchored 1": lambda s: r_anchored(s, 1.0),
    "anchored 2": lambda s: r_anchored(s, 2.0),
    "shipped (replay)": r_shipped,
    "zsoft + unit forms": r_zsoft_unit,
    "stack": lambda s: r_stack(s, True),
    "stack shrink 0.1": lambda s: r_stack(s, True, 0.1),
    "stack shrink 0.3": lambda s: r_stack(s, True, 0.3),
    "one-SE + unit forms": lambda s: r_one_se(s, True, 1.0),
    "guard 1 SE": lambda s: r_guard(s, 1.0),
    "guard 2 SE": lambda s: r_guard(s, 2.0),
    "guard 1 SE, stack": lambda s: r_guard(s, 1.0, "stack"),
    "nested choice 1 SE": lambda s: r_nested_choice(s, 1.0),
    "nested choice 0 SE": lambda s: r_nested_choice(s, 0.0),
    "zsoft shrunk 1 SE": lambda s: r_zsoft_shrunk(s, 1.0),
}


# --------------------------------------------------------------------------------------------
# evaluation


def evaluate(cases: list[str], rules: dict) -> pd.DataFrame:
    """Per-split test RMSE of the live default, every fixed form and every rule."""
    rows = []
    for case in cases:
        for s in load_splits(case):
            base = {"case": case, "n": s["n"], "rep": s["rep"]}
            rows.append({**base, "method": "live default", "rmse": rmse(s["default"], s["y"])})
            for f, p in special_cases(s).items():
                rows.append({**base, "method": f"fixed: {f}", "rmse": rmse(p, s["y"])})
            for name, rule in rules.items():
                rows.append({**base, "method": name, "rmse": rmse(rule(s), s["y"])})
    return pd.DataFrame(rows)


def cell_stats(rec: pd.DataFrame) -> pd.DataFrame:
    g = rec.groupby(["case", "n", "method"]).rmse
    return g.agg(
        mean="mean",
        se=lambda v: float(np.std(v, ddof=1) / np.sqrt(len(v))),
        p90=lambda v: float(np.quantile(v, 0.9)),
        splits="count",
    ).reset_index()


def criteria(stats: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """The three criteria of issue 25 per cell and method."""
    rows = []
    for (case, n), s in stats.groupby(["case", "n"]):
        fixed = s[s.method.str.startswith("fixed: ")].set_index("method")
        best = fixed["mean"].idxmin()
        units = CASES[case].in_target_units
        for m in methods:
            r = s[s.method == m]
            if r.empty:
                continue
            r = r.iloc[0]
            row = {
                "case": case,
                "half": CASES[case].half,
                "n": n,
                "method": m,
                "mean": r["mean"],
                "se": r["se"],
                "p90": r["p90"],
                "best_form": best.removeprefix("fixed: "),
                "best_mean": fixed.loc[best, "mean"],
                "best_p90": fixed.loc[best, "p90"],
                "mean_ok": r["mean"] - fixed.loc[best, "mean"] <= r["se"],
                "p90_ok": r["p90"] <= 1.1 * fixed.loc[best, "p90"],
                "p90_strict_ok": r["p90"] <= 1.1 * fixed["p90"].min(),
                "as_is_ok": np.nan,
            }
            if units and "fixed: as_is" in fixed.index:
                row["as_is_mean"] = fixed.loc["fixed: as_is", "mean"]
                row["as_is_ok"] = r["mean"] - fixed.loc["fixed: as_is", "mean"] <= r["se"]
            rows.append(row)
    return pd.DataFrame(rows)


def count_table(crit: pd.DataFrame) -> pd.DataFrame:
    g = crit.groupby(["method", "half"])
    out = g.agg(
        cells=("mean_ok", "size"),
        mean_ok=("mean_ok", "sum"),
        p90_ok=("p90_ok", "sum"),
        p90_strict_ok=("p90_strict_ok", "sum"),
        as_is_cells=("as_is_ok", lambda v: int(v.notna().sum())),
        as_is_ok=("as_is_ok", lambda v: int(v.dropna().astype(bool).sum())),
    )
    out["worst_mean_gap_se"] = g.apply(lambda d: float(((d["mean"] - d.best_mean) / d.se).max()))
    out["worst_p90_ratio"] = g.apply(lambda d: float((d.p90 / d.best_p90).max()))
    out["all_ok"] = g.apply(
        lambda d: int((d.mean_ok & d.p90_ok & d.as_is_ok.fillna(True).astype(bool)).sum())
    )
    return out.reset_index()


#: The previous default (before issue 25), replayed: the suite's later records (``run_suite.py``
#: after the LTC preprocessing fix) hold the then-shipped estimator as their ``default``.
PREVIOUS = "shipped (replay)"
#: The default before the chosen rule as a user called it without declaring the units (the
#: fourth pass's rule, the source not in the target's units), the middle column of the
#: per-cell table.
MIDDLE = "units never"


def form_weights(case: str, rule=None) -> pd.DataFrame:
    """Mean CV weight of each form per size under the chosen rule's weights (before the per-row
    adjustment) and how often each form has the largest weight: the selection frequencies."""
    rows = []
    for s in load_splits(case):
        s = {**s, "units": units_from_data(s, "difference")}  # the chosen rule's units
        forms = candidate_forms(s, True)
        w = (rule or chosen_weights)(s, forms)
        top = max(w, key=w.get)
        rows += [
            {"case": case, "n": s["n"], "form": f, "w": w.get(f, 0.0), "top": f == top}
            for f in forms
        ]
    return (
        pd.DataFrame(rows).groupby(["case", "n", "form"]).agg(w=("w", "mean"), top=("top", "mean"))
    )


def weights_text(wt: pd.DataFrame, case: str, n: int, k: int = 3) -> str:
    """The ``k`` forms of largest mean weight: ``form w (top-share)``."""
    d = wt.loc[(case, n)].sort_values("w", ascending=False).head(k)
    short = {
        "source_linear": "lin",
        "offset_calibrated": "off_cal",
        "source_kernel": "src_k",
        "source_as_is": "as_is",
        "source_plus_const": "plus_const",
    }
    return ", ".join(f"{short.get(f, f)} {r.w:.2f} ({r.top:.0%})" for f, r in d.iterrows())


def markdown(
    crit: pd.DataFrame,
    method: str,
    previous: str = PREVIOUS,
    weights: pd.DataFrame | None = None,
    middle: str | None = None,
) -> str:
    """One markdown row per cell: ``method`` against the ``previous`` default (and ``middle``,
    another rule, when given), the best special case and the source as is (mean +- SE, 90th
    percentile), with the mean form weights."""
    others = [previous] if middle is None else [previous, middle]
    other = {m: crit[crit.method == m].set_index(["case", "n"]) for m in others}
    heads = ["previous default"] + ([] if middle is None else [f"`{middle}`"])
    rows = [
        "| half | case | n | best special case: mean (p90) | source as is | "
        + " | ".join(f"{h} (p90)" for h in heads)
        + " | new default (p90) | within 1 SE | p90 <= 1.1x | not worse than as is | "
        "mean weights (share of splits on top) |",
        "|---|---|---|---|---|" + "---|" * len(heads) + "---|---|---|---|---|",
    ]
    cells = crit[crit.method == method].sort_values(
        ["half", "case", "n"], ascending=[False, True, True]
    )
    for r in cells.itertuples():
        cols = "".join(
            f"{lv['mean']:.4g} ± {lv.se:.2g} ({lv.p90:.4g}) | "
            for lv in (other[m].loc[(r.case, r.n)] for m in others)
        )
        as_is = "" if pd.isna(r.as_is_ok) else f"{r.as_is_mean:.4g}"
        ok = "" if pd.isna(r.as_is_ok) else ("yes" if r.as_is_ok else "**no**")
        wtxt = "" if weights is None else weights_text(weights, r.case, r.n)
        rows.append(
            f"| {r.half[:3]} | `{r.case}` | {r.n} | `{r.best_form}` {r.best_mean:.4g} "
            f"({r.best_p90:.4g}) | {as_is} | {cols}"
            f"{r.mean:.4g} ± {r.se:.2g} ({r.p90:.4g}) | {'yes' if r.mean_ok else '**no**'} | "
            f"{'yes' if r.p90_ok else '**no**'} | {ok} | {wtxt} |"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--half", choices=["development", "confirmation", "unseen", "both"], default="both"
    )
    parser.add_argument("--rules", nargs="*", default=None, help="subset of RULES (default all)")
    parser.add_argument("--tag", default="suite")
    parser.add_argument(
        "--unit-forms",
        choices=["flag", "always"],
        default="flag",
        help="as_is and plus_const in the family where the source is in target units (flag) "
        "or for every single-source case (always)",
    )
    parser.add_argument(
        "--ratio", action="store_true", help="the scale forms join the family (suite_ratio/)"
    )
    parser.add_argument(
        "--auto-units",
        action="store_true",
        help="with --ratio: read the scale forms of every single-source case (the auto-units "
        "rules; run_suite.py --ratio --ratio-any)",
    )
    args = parser.parse_args(argv)
    global UNIT_MODE, RATIO_MODE, RATIO_ANY
    RATIO_MODE, RATIO_ANY = args.ratio, args.auto_units
    UNIT_MODE = "flag" if args.unit_forms == "flag" else True
    cases = [c for c, v in CASES.items() if args.half in ("both", v.half) and (OUT / c).exists()]
    rules = RULES if args.rules is None else {r: RULES[r] for r in args.rules}
    rec = evaluate(cases, rules)
    stats = cell_stats(rec)
    methods = ["live default", *rules]
    crit = criteria(stats, methods)
    counts = count_table(crit)
    if CHOSEN in rules and PREVIOUS in rules:
        wt = pd.concat([form_weights(c) for c in cases]).sort_index()
        middle = MIDDLE if MIDDLE in rules else None
        (OUT / f"{args.tag}_table.md").write_text(markdown(crit, CHOSEN, weights=wt, middle=middle))
    rec.to_csv(OUT / f"{args.tag}_records.csv", index=False)
    stats.to_csv(OUT / f"{args.tag}_stats.csv", index=False)
    crit.to_csv(OUT / f"{args.tag}_criteria.csv", index=False)
    with pd.option_context(
        "display.width", 250, "display.max_columns", 40, "display.max_rows", 500
    ):
        print(counts.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
