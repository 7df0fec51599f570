"""Selection rules over the scored candidates: the best, the one-standard-error rule, and the
averaging weights of ``rule="average"``."""

from __future__ import annotations

import numpy as np

from .._forms import SOURCE_ONLY_FORMS

__all__ = [
    "ANCHOR_Z",
    "AVERAGE_SAMPLES_PER_COEF",
    "SIMPLE_FORMS",
    "MAX_AVERAGE_Z",
    "MIN_FORM_WEIGHT",
    "OUTSIDE_RANGE_Z",
    "average_eligible",
    "average_weights",
    "best_index",
    "form_best",
    "outside_range_keep",
    "paired_gap",
    "select",
]

#: Forms whose averaging weight falls below this are dropped (and the rest renormalised).
MIN_FORM_WEIGHT = 0.01
#: Forms more than this many paired standard errors (of the per-row differences of their
#: hold-out scores) below the best form get no weight.
MAX_AVERAGE_Z = 2.5
#: A form enters the average only with at least this many training samples per fold for each
#: unpenalised coefficient of its ``g1`` (intercept and linear source terms).
AVERAGE_SAMPLES_PER_COEF = 2
#: The simple forms an average is anchored to (``simple`` of :func:`average_weights`).
SIMPLE_FORMS = SOURCE_ONLY_FORMS
#: Paired standard errors by which a form must beat the best simple form to keep its full
#: CV weight in the anchored average.
ANCHOR_Z = 1.0
#: Paired standard errors by which the best range-limited form (a kernel ``g1`` of ``u`` alone)
#: must beat every other form to keep its full weight outside the training range of ``u``
#: (:func:`outside_range_keep`).
OUTSIDE_RANGE_Z = 3.0


def form_best(mean: np.ndarray, labels: list[str]) -> dict[str, int]:
    """Index of the best-scoring candidate of each form label (finite scores only)."""
    form_best: dict[str, int] = {}
    for i, f in enumerate(labels):
        if np.isfinite(mean[i]) and (f not in form_best or mean[i] > mean[form_best[f]]):
            form_best[f] = i
    return form_best


def paired_gap(scores: np.ndarray, best: int, i: int) -> tuple[float, float]:
    """Mean score gap of candidate ``i`` to ``best`` and the standard error of that mean, from
    the paired differences of their ``scores`` (per split or per held-out row, one column each),
    so that the difficulty of a split or a row cancels."""
    diff = scores[best] - scores[i]
    se = float(np.std(diff, ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else 0.0
    return float(np.mean(diff)), se


def _paired_z(scores: np.ndarray, a: int, b: int) -> tuple[float, float]:
    """Mean score gain of candidate ``a`` over ``b`` (:func:`paired_gap`) and that gain in
    its standard errors ``z`` (``+-inf`` where the standard error is 0)."""
    gain, se = paired_gap(scores, a, b)
    return gain, (gain / se if se > 0 else (np.inf if gain > 0 else -np.inf))


def _keep(scores: np.ndarray, a: int, b: int, z0: float) -> float:
    """``min(1, exp(z - z0))``, ``z`` the paired gain of candidate ``a`` over ``b``
    (:func:`_paired_z`): the share of its weight a form keeps for beating ``b``."""
    return float(min(1.0, np.exp(_paired_z(scores, a, b)[1] - z0)))


def _best_where(mean: np.ndarray, forms: list[int], flags: list[bool]) -> int | None:
    """The best-scoring of the candidates ``forms`` whose flag is set (None if none is)."""
    return max([i for i in forms if flags[i]], key=lambda i: mean[i], default=None)


def _restrict(mean: np.ndarray, eligible: list[bool] | None) -> np.ndarray:
    """``mean`` with the scores of candidates not ``eligible`` set to NaN (unless none of the
    eligible ones scored)."""
    keep = np.ones(len(mean), bool) if eligible is None else np.asarray(eligible, dtype=bool)
    return np.where(keep, mean, np.nan) if np.any(keep & np.isfinite(mean)) else mean


def best_index(mean: np.ndarray) -> int:
    """Index of the best mean score (a ``ValueError`` when no candidate scored)."""
    if not np.any(np.isfinite(mean)):
        raise ValueError(
            "every candidate failed on some split (non-finite hold-out errors); check the "
            "splitter (each training part needs more than dim(u) + 1 samples) and the data "
            "(a constant source column cannot be calibrated: drop it or choose forms without "
            "linear source terms)"
        )
    return int(np.nanargmax(mean))


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
    best = best_index(mean)
    if rule == "best":
        return best
    gaps = [(i, *paired_gap(split_scores, best, i)) for i in form_best(mean, labels).values()]
    tied = [i for i, gap, se in gaps if np.isfinite(gap) and gap <= n_se * se]
    return int(min(tied, key=lambda i: (complexity[i], -mean[i])))


def average_eligible(linear: list[bool], n_source: int, n_train: int) -> list[bool]:
    """Which candidates may enter the average: at least :data:`AVERAGE_SAMPLES_PER_COEF`
    fold training samples per unpenalised ``g1`` coefficient (``1 + n_source`` for a
    candidate with linear source terms, ``linear``; else 1)."""
    return [(1 + n_source if lin else 1) * AVERAGE_SAMPLES_PER_COEF <= n_train for lin in linear]


def average_weights(
    mean: np.ndarray,
    row_scores: np.ndarray,
    labels: list[str],
    eligible: list[bool] | None = None,
    simple: list[bool] | None = None,
) -> dict[int, float]:
    """Averaging weights of the forms (``rule="average"``), keyed by their best candidate.

    ``row_scores`` (n_candidates, n_held_out_rows) are the candidates' scores of each held-out
    row of the splits. Form ``f`` gets ``exp(-z_f)``, ``z_f`` the mean score gap of its best
    candidate to the best in standard errors of their paired per-row difference (``z = 0`` for
    the best form and for forms that score as well): a smooth version of the one-SE tie band,
    so that forms the CV cannot tell apart share the prediction and clearly worse ones drop
    out: forms more than
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
    ``z_a`` its mean score gain over the anchor in standard errors of their paired per-row
    difference. A form the CV cannot tell from the simple one (``z_a`` near 0) keeps a third
    of its weight, one that beats it by :data:`ANCHOR_Z` standard errors or more all of it.
    The hold-out scores of the forms with tuned hyper-parameters are optimistic (each is the
    best of many candidates), those of the simple forms are not; on the real-case suite
    (``docs/model-selection.md``) the anchor removed most of the heavy tails of the average
    at n = 10-20, where a kernel form tied in CV with a calibration but was several times
    worse on new data.
    """
    mean = _restrict(mean, eligible)
    best = best_index(mean)
    forms = list(form_best(mean, labels).values())
    anchor = None if simple is None else _best_where(mean, forms, simple)
    raw: dict[int, float] = {}
    for i in forms:
        gap, z = _paired_z(row_scores, best, i)
        if np.isfinite(gap) and z <= MAX_AVERAGE_Z:
            raw[i] = float(np.exp(-max(z, 0.0)))
            if anchor is not None and not simple[i]:
                raw[i] *= _keep(row_scores, i, anchor, ANCHOR_Z)
    total = sum(raw.values())
    if total <= 0:
        return {best: 1.0}
    kept = {i: w / total for i, w in raw.items() if w / total >= MIN_FORM_WEIGHT}
    total = sum(kept.values())
    return {i: w / total for i, w in kept.items()}


def outside_range_keep(
    mean: np.ndarray,
    row_scores: np.ndarray,
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
    standard errors in CV (of the per-row differences of ``row_scores``, as
    :func:`average_weights`), the data show a curvature the straight line misses (a target like
    ``1 / u``), and the limited forms keep ``min(1, exp(z - OUTSIDE_RANGE_Z))`` of their
    weight there: nothing while the evidence is weak, all of it at :data:`OUTSIDE_RANGE_Z`
    standard errors. Returns 0 without both kinds of form. On the development half of the
    real-case suite (``docs/model-selection.md``) this fixed compressibility -> bulk modulus
    (at every n) without losing the cases where the range rule helps.
    """
    forms = list(form_best(_restrict(mean, eligible), labels).values())
    a = _best_where(mean, forms, limited)
    b = _best_where(mean, forms, [not lim for lim in limited])
    return 0.0 if a is None or b is None else _keep(row_scores, a, b, OUTSIDE_RANGE_Z)
