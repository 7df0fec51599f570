"""Selection rules over the scored candidates: the best, the one-standard-error rule, and the
averaging weights of ``rule="average"``."""

from __future__ import annotations

import numpy as np

__all__ = [
    "ANCHOR_Z",
    "AVERAGE_SAMPLES_PER_COEF",
    "SIMPLE_FORMS",
    "MAX_AVERAGE_Z",
    "MIN_FORM_WEIGHT",
    "OUTSIDE_RANGE_Z",
    "average_eligible",
    "average_weights",
    "check_scores",
    "form_best",
    "outside_range_keep",
    "paired_gap",
    "select",
]


def form_best(mean: np.ndarray, labels: list[str]) -> dict[str, int]:
    """Index of the best-scoring candidate of each form label (finite scores only)."""
    filled = np.where(np.isfinite(mean), mean, -np.inf)
    form_best: dict[str, int] = {}
    for i, f in enumerate(labels):
        if np.isfinite(filled[i]) and (f not in form_best or filled[i] > filled[form_best[f]]):
            form_best[f] = i
    return form_best


def paired_gap(split_scores: np.ndarray, best: int, i: int) -> tuple[float, float]:
    """Mean score gap of candidate ``i`` to ``best`` and the standard error of that mean (from
    the per-split differences, so that split-to-split difficulty cancels)."""
    diff = split_scores[best] - split_scores[i]
    n_splits = diff.size
    se = float(np.std(diff, ddof=1) / np.sqrt(n_splits)) if n_splits > 1 else 0.0
    return float(np.mean(diff)), se


def check_scores(mean: np.ndarray) -> None:
    if not np.any(np.isfinite(mean)):
        raise ValueError(
            "every candidate failed on some split (non-finite hold-out errors); check the "
            "splitter (each training part needs more than dim(u) + 1 samples) and the data "
            "(a constant source column cannot be calibrated: drop it or choose forms without "
            "linear source terms)"
        )


def select(
    mean: np.ndarray,
    split_scores: np.ndarray,
    labels: list[str],
    complexity: list[int],
    rule: str,
    n_se: float = 1.0,
) -> int:
    """Index of the selected candidate (best mean, or simplest form within one standard error).

    ``n_se`` widens the tie band to that many standard errors (``1``: the one-SE rule;
    ``benchmarks/selection/replay_rules.py`` replays other widths).

    The one-standard-error rule compares *forms* (``labels``: the form, with ``+linear`` for
    the linear-``g1`` variants), each represented by its best candidate: form ``f`` ties with
    the overall best when the mean score difference of the two is within one standard error of
    that (paired, per-split) difference. Among the tied forms of the lowest ``complexity``
    (:func:`~affinetl.selection.form_complexity`) the best-scoring one is taken, with its best
    hyper-parameters. Comparing every candidate instead would admit poor candidates whose fold
    scores scatter widely (a large standard error) and prefer them over the form's
    well-scoring ones.
    """
    check_scores(mean)
    best = int(np.nanargmax(mean))
    if rule == "best":
        return best
    filled = np.where(np.isfinite(mean), mean, -np.inf)
    tied = []
    for i in form_best(mean, labels).values():
        gap, se = paired_gap(split_scores, best, i)
        if np.isfinite(gap) and gap <= n_se * se:
            tied.append(i)
    level = min(complexity[i] for i in tied)
    same = [i for i in tied if complexity[i] == level]
    return int(same[int(np.argmax(filled[same]))])


#: Forms whose averaging weight falls below this are dropped (and the rest renormalised).
MIN_FORM_WEIGHT = 0.01
#: Forms more than this many paired standard errors below the best form get no weight.
MAX_AVERAGE_Z = 3.0
#: A form enters the average only with at least this many training samples per fold for each
#: unpenalised coefficient of its ``g1`` (intercept and linear source terms).
AVERAGE_SAMPLES_PER_COEF = 2


#: The simple forms an average is anchored to (``simple`` of :func:`average_weights`).
SIMPLE_FORMS = ("source_as_is", "source_plus_const", "source_linear")
#: Paired standard errors by which a form must beat the best simple form to keep its full
#: CV weight in the anchored average.
ANCHOR_Z = 1.0
#: Paired standard errors by which the best range-limited form (a kernel ``g1`` of ``u`` alone)
#: must beat every other form to keep its full weight outside the training range of ``u``
#: (:func:`outside_range_keep`): the counterpart of :data:`MAX_AVERAGE_Z`.
OUTSIDE_RANGE_Z = MAX_AVERAGE_Z


def _restrict(mean: np.ndarray, eligible: list[bool] | None) -> np.ndarray:
    """``mean`` with the scores of candidates not ``eligible`` set to NaN (unless none of the
    eligible ones scored)."""
    if eligible is not None:
        keep = np.asarray(eligible, dtype=bool)
        if np.any(keep & np.isfinite(mean)):
            return np.where(keep, mean, np.nan)
    return mean


def average_eligible(linear: list[bool], n_source: int, n_train: int) -> list[bool]:
    """Which candidates may enter the average: at least :data:`AVERAGE_SAMPLES_PER_COEF`
    fold training samples per unpenalised ``g1`` coefficient (``1 + n_source`` for a
    candidate with linear source terms, ``linear``; else 1)."""
    return [(1 + n_source if lin else 1) * AVERAGE_SAMPLES_PER_COEF <= n_train for lin in linear]


def average_weights(
    mean: np.ndarray,
    split_scores: np.ndarray,
    labels: list[str],
    eligible: list[bool] | None = None,
    simple: list[bool] | None = None,
) -> dict[int, float]:
    """Averaging weights of the forms (``rule="average"``), keyed by their best candidate.

    Form ``f`` gets ``exp(-z_f)``, ``z_f`` the mean score gap of its best candidate to the
    best in standard errors of the paired per-split difference (``z = 0`` for the best form and
    for forms that score as well): a smooth version of the one-SE tie band, so that forms the
    CV cannot tell apart share the prediction and clearly worse ones drop out: forms more than
    :data:`MAX_AVERAGE_Z` standard errors below the best, and weights below
    :data:`MIN_FORM_WEIGHT` after normalisation, are dropped and the rest renormalised (a
    form with a tenth of the weight but ten times the error would otherwise dominate the
    error of the average).

    ``eligible`` (one flag per candidate) restricts the average to those candidates when any of
    them scored; :class:`AffineTransferCV` leaves out the forms whose unpenalised calibration
    has fewer than :data:`AVERAGE_SAMPLES_PER_COEF` samples per coefficient in a fold (seven
    coefficients on nine points: a near-interpolation whose hold-out errors are a few huge
    residuals, so that the paired standard error is large and ``z`` small however bad it is).

    ``simple`` (one flag per candidate: :data:`SIMPLE_FORMS`) anchors the average to the best
    eligible simple form: every other form keeps ``min(1, exp(z_a - ANCHOR_Z))`` of its weight,
    ``z_a`` its mean score gain over the anchor in standard errors of their paired per-split
    difference. A form the CV cannot tell from the simple one (``z_a`` near 0) keeps a third
    of its weight, one that beats it by :data:`ANCHOR_Z` standard errors or more all of it.
    The hold-out scores of the forms with tuned hyper-parameters are optimistic (each is the
    best of many candidates), those of the simple forms are not; on the real-case suite
    (``docs/model-selection.md``) the anchor removed most of the heavy tails of the average
    at n = 10-20, where a kernel form tied in CV with a calibration but was several times
    worse on new data.
    """
    check_scores(mean)
    mean = _restrict(mean, eligible)
    best = int(np.nanargmax(mean))
    forms = form_best(mean, labels)
    anchor = None
    if simple is not None:
        cands = [i for i in forms.values() if simple[i] and np.isfinite(mean[i])]
        anchor = max(cands, key=lambda i: mean[i]) if cands else None
    raw: dict[int, float] = {}
    for i in forms.values():
        gap, se = paired_gap(split_scores, best, i)
        if not np.isfinite(gap):
            continue
        z = 0.0 if gap <= 0 else (gap / se if se > 0 else np.inf)
        if z > MAX_AVERAGE_Z:
            continue
        w = float(np.exp(-z))
        if anchor is not None and not simple[i]:
            gain, se_a = paired_gap(split_scores, i, anchor)
            z_a = gain / se_a if se_a > 0 else (np.inf if gain > 0 else -np.inf)
            w *= float(min(1.0, np.exp(z_a - ANCHOR_Z)))
        raw[i] = w
    total = sum(raw.values())
    if total <= 0:
        return {best: 1.0}
    kept = {i: w / total for i, w in raw.items() if w / total >= MIN_FORM_WEIGHT}
    total = sum(kept.values())
    return {i: w / total for i, w in kept.items()}


def outside_range_keep(
    mean: np.ndarray,
    split_scores: np.ndarray,
    labels: list[str],
    limited: list[bool],
    eligible: list[bool] | None = None,
) -> float:
    """How much of their weight the range-limited forms keep outside the training range of
    ``u`` (``keep_limited`` of :func:`~affinetl.selection._row_weights.row_weights`).

    A kernel ``g1`` of ``u`` alone (``limited``, one flag per candidate) reverts to a constant
    away from the training source values, so by default the average hands those rows to the
    forms that continue the trend in ``u``. That presumes the trend is straight enough to
    continue. Where the best limited form beats the best of all other forms by ``z`` paired
    standard errors in CV, the data show a curvature the straight line misses (a target like
    ``1 / u``), and the limited forms keep ``min(1, exp(z - OUTSIDE_RANGE_Z))`` of their
    weight there: nothing while the evidence is weak, all of it at :data:`OUTSIDE_RANGE_Z`
    standard errors. Returns 0 without both kinds of form. On the development half of the
    real-case suite (``docs/model-selection.md``) this fixed compressibility -> bulk modulus
    (at every n) without losing the cases where the range rule helps.
    """
    mean = _restrict(mean, eligible)
    forms = list(form_best(mean, labels).values())
    lim = [i for i in forms if limited[i]]
    rest = [i for i in forms if not limited[i]]
    if not lim or not rest:
        return 0.0
    a = max(lim, key=lambda i: mean[i])
    b = max(rest, key=lambda i: mean[i])
    gain, se = paired_gap(split_scores, a, b)
    z = gain / se if se > 0 else (np.inf if gain > 0 else -np.inf)
    return float(min(1.0, np.exp(z - OUTSIDE_RANGE_Z)))
