"""AffineTransferCV and LinearAffineTransferCV: model form and hyper-parameters by CV.

The search evaluates every candidate on the same splits and scores them by the hold-out error:

* Ridge-type forms (everything but ``full``) use the closed-form hold-out residuals of
  :mod:`affinetl.selection._loo`: one eigendecomposition per Gram matrix (per kernel width, per
  const-ratio ``lambda3 / lambda1``) serves the whole penalty path and every fold. The Gram
  matrices of ``x`` are shared by ``offset``, ``offset_calibrated``, ``direct`` and ``const``.
* The ``full`` form has no closed form. Its candidates are screened: the ``n_full_starts`` best
  ``const`` settings (widths, ``lambda1``, ``lambda3``, and per ``g1_linear`` variant) are
  carried over, since the full model tends to the const model as ``lambda2 -> inf``, each with
  its penalties ``lambda1`` and ``lambda3`` multiplied by every factor of ``full_scales``: the
  const model has to absorb the source-input interaction into a rough ``h1`` and ``g3`` (small
  penalties), while in the full model ``h2 g3`` carries it and ``h1``, ``g3`` are smoother
  (larger penalties). Every (setting, fold, ``lambda2``) fit is one member of a batched damped
  Newton solve (:func:`~affinetl.selection.fit_full_kernel`) that starts at the member's const
  solution; folds of equal training size share one batch, so the whole full-form screen costs
  a few dozen batched linear solves instead of hundreds of block-relaxation sweeps per fit.
* Linear source terms: with ``g1_linear="both"`` the kernel-``g1`` forms (``source_kernel``,
  ``const``, ``full``) are searched with and without an unpenalised ``a1'u`` in ``g1``.
* Inputs are standardised once with the mean and standard deviation of the data given to
  ``fit`` (no target information) so that fold fits share one set of Gram matrices; this is
  what makes the closed forms exact. The refit on all data uses the same standardisation.
"""

from __future__ import annotations

import logging
import time
from numbers import Integral, Real
from typing import Any

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import KFold, LeaveOneOut, check_cv
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ..base import (
    Interval,
    SourceFeatureMixin,
    StrOptions,
    check_is_fitted,
    check_target,
    fit_context,
    source_constraints,
    validate_data,
)
from ..kernels import KERNEL_NAMES, default_gamma, gram_matrix, kernel_constraint
from ..models._fused_ridge import difference_matrix, fused_penalty
from ._forms import (
    G1_KERNEL_FORMS,
    KERNEL_FORMS,
    LINEAR_FORMS,
    LinearTransferFormRegressor,
    TransferFormRegressor,
    fit_full_kernel,
    fit_full_linear,
    form_complexity,
    form_design,
    form_target,
    has_linear_source_terms,
)
from ._loo import eigh_psd, holdout_path

__all__ = ["AffineTransferCV", "LinearAffineTransferCV", "default_cv"]

logger = logging.getLogger(__name__)

#: Default penalty path of the kernel blocks (sum-of-squares scale).
DEFAULT_LAMBDAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
#: Default ``lambda3 / lambda1`` ratios of the const form.
DEFAULT_RATIOS = (0.01, 0.1, 1.0, 10.0, 100.0)
#: Default ``lambda2`` values of the full form (the target is scaled to unit sd).
DEFAULT_LAMBDA2 = (1.0, 0.1, 0.01)
#: Default multipliers of the screened const penalties ``(lambda1, lambda3)`` for the full form.
DEFAULT_FULL_SCALES = (10.0, 100.0)
#: Default relative kernel widths (multiples of ``1 / (2 dim)``).
DEFAULT_WIDTHS = (0.25, 1.0, 4.0)
#: Default ridge strengths of the linear family (the penalty uses their square).
DEFAULT_LAMBDA_RIDGE = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)

_SCORERS = {
    "neg_mean_squared_error": lambda r: -float(np.mean(r * r)),
    "neg_mean_absolute_error": lambda r: -float(np.mean(np.abs(r))),
}


def default_cv(n_samples: int, random_state: Any = None):
    """The default splitter: leave-one-out below 20 samples, else shuffled 5-fold.

    Parameters
    ----------
    n_samples : int
    random_state : int, RandomState or None
        Seed of the 5-fold shuffle.

    Returns
    -------
    cv : LeaveOneOut or KFold
    """
    if n_samples < 20:
        return LeaveOneOut()
    return KFold(5, shuffle=True, random_state=random_state)


def _splits(cv, X, y, groups, random_state) -> list[tuple[np.ndarray, np.ndarray]]:
    n = X.shape[0]
    splitter = default_cv(n, random_state) if cv is None else check_cv(cv, y, classifier=False)
    splits = [(np.asarray(tr), np.asarray(te)) for tr, te in splitter.split(X, y, groups)]
    if not splits:
        raise ValueError("the cross-validation splitter produced no splits")
    return splits


def _is_partition(splits, n: int) -> bool:
    """True when every split trains on exactly the complement of its test set."""
    return all(tr.size + te.size == n for tr, te in splits)


def _ridge_scores(s_V, K, Z, t, y, lams, splits, score) -> np.ndarray:
    """Hold-out scores (n_lams, n_splits) of one partially linear ridge family."""
    n = y.shape[0]
    lams = np.asarray(lams, dtype=float)
    out = np.empty((lams.size, len(splits)))
    offset = y - t  # the part of the prediction not fitted (u for the offset form)
    if _is_partition(splits, n):
        s, V = s_V() if K is not None else (np.zeros(n), np.eye(n))
        preds = holdout_path(s, V, Z, t, lams, [te for _, te in splits])
        for j, ((_, te), pr) in enumerate(zip(splits, preds)):
            for i in range(lams.size):
                out[i, j] = _safe_score(score, y[te] - offset[te] - pr[i])
        return out
    for j, (tr, te) in enumerate(splits):  # general splitters: sub-problem on train + test
        idx = np.concatenate([tr, te])
        m = tr.size
        if K is None:
            s, V = np.zeros(idx.size), np.eye(idx.size)
        else:
            s, V = eigh_psd(K[np.ix_(idx, idx)])
        pr = holdout_path(s, V, Z[idx], t[idx], lams, [np.arange(m, idx.size)])[0]
        for i in range(lams.size):
            out[i, j] = _safe_score(score, y[te] - offset[te] - pr[i])
    return out


def _lazy_eigh(K):
    cache: list = []

    def get():
        if not cache:
            cache.append(eigh_psd(K))
        return cache[0]

    return get


def _safe_score(score, r: np.ndarray) -> float:
    return score(r) if np.all(np.isfinite(r)) else np.nan


def _form_best(mean: np.ndarray, labels: list[str]) -> dict[str, int]:
    """Index of the best-scoring candidate of each form label (finite scores only)."""
    filled = np.where(np.isfinite(mean), mean, -np.inf)
    form_best: dict[str, int] = {}
    for i, f in enumerate(labels):
        if np.isfinite(filled[i]) and (f not in form_best or filled[i] > filled[form_best[f]]):
            form_best[f] = i
    return form_best


def _paired_gap(split_scores: np.ndarray, best: int, i: int) -> tuple[float, float]:
    """Mean score gap of candidate ``i`` to ``best`` and the standard error of that mean (from
    the per-split differences, so that split-to-split difficulty cancels)."""
    diff = split_scores[best] - split_scores[i]
    n_splits = diff.size
    se = float(np.std(diff, ddof=1) / np.sqrt(n_splits)) if n_splits > 1 else 0.0
    return float(np.mean(diff)), se


def _check_scores(mean: np.ndarray) -> None:
    if not np.any(np.isfinite(mean)):
        raise ValueError(
            "every candidate failed on some split (non-finite hold-out errors); check the "
            "splitter (each training part needs more than dim(u) + 1 samples) and the data"
        )


def _select(
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
    _check_scores(mean)
    best = int(np.nanargmax(mean))
    if rule == "best":
        return best
    filled = np.where(np.isfinite(mean), mean, -np.inf)
    tied = []
    for i in _form_best(mean, labels).values():
        gap, se = _paired_gap(split_scores, best, i)
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


def _average_eligible(linear: list[bool], n_source: int, n_train: int) -> list[bool]:
    """Which candidates may enter the average: at least :data:`AVERAGE_SAMPLES_PER_COEF`
    fold training samples per unpenalised ``g1`` coefficient (``1 + n_source`` for a
    candidate with linear source terms, ``linear``; else 1)."""
    return [(1 + n_source if lin else 1) * AVERAGE_SAMPLES_PER_COEF <= n_train for lin in linear]


def _average_weights(
    mean: np.ndarray,
    split_scores: np.ndarray,
    labels: list[str],
    eligible: list[bool] | None = None,
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
    """
    _check_scores(mean)
    if eligible is not None:
        keep = np.asarray(eligible, dtype=bool)
        if np.any(keep & np.isfinite(mean)):
            mean = np.where(keep, mean, np.nan)
    best = int(np.nanargmax(mean))
    raw: dict[int, float] = {}
    for i in _form_best(mean, labels).values():
        gap, se = _paired_gap(split_scores, best, i)
        if not np.isfinite(gap):
            continue
        z = 0.0 if gap <= 0 else (gap / se if se > 0 else np.inf)
        if z <= MAX_AVERAGE_Z:
            raw[i] = float(np.exp(-z))
    total = sum(raw.values())
    kept = {i: w / total for i, w in raw.items() if w / total >= MIN_FORM_WEIGHT}
    total = sum(kept.values())
    return {i: w / total for i, w in kept.items()}


def _source_fit(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Training range of ``u`` (2, k), ``pinv`` of the Gram matrix of the design ``[1, u]`` and
    the mean leverage of its rows (``rank / n``): what :func:`_row_weights` needs."""
    design = np.hstack([np.ones((u.shape[0], 1)), u])
    rank = float(np.linalg.matrix_rank(design))
    return (
        np.vstack([u.min(axis=0), u.max(axis=0)]),
        np.linalg.pinv(design.T @ design),
        (rank / u.shape[0]),
    )


def _row_weights(
    w: np.ndarray,
    u: np.ndarray,
    linear: np.ndarray,
    limited: np.ndarray,
    source_range: np.ndarray,
    design_inv: np.ndarray,
    mean_leverage: float,
) -> np.ndarray:
    """Form weights ``w`` adjusted per row of ``u`` (shape (n_rows, n_forms), rows sum to 1).

    ``linear`` forms (unpenalised ``a0 + a1'u`` in ``g1``) are scaled by
    ``(1 + mean_leverage) / (1 + h)``, ``h`` the row's leverage in the training design
    ``[1, u]`` (``design_inv``); ``limited`` forms (a kernel ``g1`` of ``u`` alone) get zero on
    rows outside ``source_range``, unless every form is limited.
    """
    W = np.tile(np.asarray(w, dtype=float), (u.shape[0], 1))
    if linear.any():
        Z = np.hstack([np.ones((u.shape[0], 1)), u])
        leverage = np.einsum("ij,jk,ik->i", Z, design_inv, Z)
        W[:, linear] *= ((1.0 + mean_leverage) / (1.0 + leverage))[:, None]
    if limited.any() and not limited.all():
        lo, hi = source_range
        tol = 1e-9 * np.maximum(hi - lo, 1.0)
        outside = np.any((u < lo - tol) | (u > hi + tol), axis=1)
        W[np.ix_(outside, limited)] = 0.0
    return W / W.sum(axis=1, keepdims=True)


def _results(candidates, scores, times, n_splits) -> dict[str, Any]:
    """``cv_results_`` in the GridSearchCV format from candidate dicts and (C, S) scores."""
    C = len(candidates)
    names = sorted({k for c in candidates for k in c})
    res: dict[str, Any] = {}
    for name in names:
        col = np.ma.MaskedArray(np.empty(C, dtype=object), mask=True)
        for i, c in enumerate(candidates):
            if name in c:
                col[i] = c[name]
        res[f"param_{name}"] = col
    res["params"] = [dict(c) for c in candidates]
    for j in range(n_splits):
        res[f"split{j}_test_score"] = scores[:, j]
    mean = np.mean(scores, axis=1)
    res["mean_test_score"] = mean
    res["std_test_score"] = np.std(scores, axis=1)
    filled = np.where(np.isfinite(mean), mean, -np.inf)
    order = np.argsort(-filled, kind="stable")
    rank = np.empty(C, dtype=np.int32)
    rank[order] = np.arange(1, C + 1)
    # ties share the smallest rank, as GridSearchCV
    for i in range(1, C):
        if filled[order[i]] == filled[order[i - 1]]:
            rank[order[i]] = rank[order[i - 1]]
    res["rank_test_score"] = rank
    res["mean_fit_time"] = np.asarray(times, dtype=float)
    res["std_fit_time"] = np.zeros(C)
    res["mean_score_time"] = np.zeros(C)
    res["std_score_time"] = np.zeros(C)
    return res


class _TransferCVBase(SourceFeatureMixin, RegressorMixin, BaseEstimator):
    """Shared fit/predict logic; subclasses produce the candidates and the refit estimator."""

    _FORMS: tuple[str, ...] = ()

    def _forms(self, u: np.ndarray) -> list[str]:
        if self.forms is None:
            forms = [f for f in self._FORMS if f != "offset" or u.shape[1] == 1]
        else:
            forms = [self.forms] if isinstance(self.forms, str) else list(self.forms)
            bad = [f for f in forms if f not in self._FORMS]
            if bad or not forms:
                raise ValueError(
                    f"unknown forms {bad}; choose from {list(self._FORMS)}"
                    if bad
                    else "forms is empty: give at least one form"
                )
            if "offset" in forms:
                self._source_vector(u)
        return forms

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike, groups: ArrayLike | None = None):
        """Select the form and hyper-parameters by cross-validation, then refit on all data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, with the source-feature columns when ``source`` is None.
        y : array-like of shape (n_samples,)
        groups : array-like of shape (n_samples,), optional
            Group labels for group splitters (for example polymers sharing a backbone).

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, y_numeric=True)
        y = check_target(y)
        if X.shape[0] < 3:
            raise ValueError(
                f"model selection needs at least 3 samples, got n_samples={X.shape[0]}"
            )
        x, u = self._split_features(X)
        forms = self._forms(u)
        splits = _splits(self.cv, X, y, groups, self.random_state)
        score = _SCORERS[self.scoring]
        t0 = time.perf_counter()
        # small dense problems: one BLAS thread per worker avoids oversubscription
        with threadpool_limits(limits=1 if X.shape[0] <= 1000 else None, user_api="blas"):
            candidates, scores, times = self._evaluate(x, u, y, forms, splits, score)
        self.search_time_ = time.perf_counter() - t0
        self.n_splits_ = len(splits)
        self.cv_results_ = _results(candidates, scores, times, len(splits))
        mean = self.cv_results_["mean_test_score"]
        cand_forms = [c["form"] for c in candidates]
        labels = [c["form"] + ("+linear" if c.get("g1_linear") else "") for c in candidates]
        n_train = int(np.median([len(tr) for tr, _ in splits]))
        complexity = [
            form_complexity(c["form"], u.shape[1], bool(c.get("g1_linear")), n_train)
            for c in candidates
        ]
        if self.rule == "average":
            linear = [self._linear_source_terms(c) for c in candidates]
            eligible = _average_eligible(linear, u.shape[1], n_train)
            weights = _average_weights(mean, scores, labels, eligible)
            # the single-form summary of the search: the one-SE rule's form
            self.best_index_ = _select(mean, scores, labels, complexity, "one_se")
        else:
            self.best_index_ = _select(mean, scores, labels, complexity, self.rule)
            weights = {self.best_index_: 1.0}
        self.best_score_ = float(mean[self.best_index_])
        self.best_params_ = dict(candidates[self.best_index_])
        self.best_form_ = self.best_params_["form"]
        self.form_scores_ = {
            f: float(np.nanmax(np.where([c == f for c in cand_forms], mean, np.nan))) for f in forms
        }
        logger.info(
            "selected %s (%s) among %d candidates on %d splits in %.2fs",
            self.best_form_,
            self.best_params_,
            len(candidates),
            len(splits),
            self.search_time_,
        )
        t0 = time.perf_counter()
        self.best_estimator_ = self._refit_estimator(self.best_params_).fit(X, y)
        order = sorted(weights, key=lambda i: -weights[i])
        self.form_weights_ = {labels[i]: weights[i] for i in order}
        self.estimators_ = {
            labels[i]: self.best_estimator_
            if i == self.best_index_
            else self._refit_estimator(dict(candidates[i])).fit(X, y)
            for i in order
        }
        self.refit_time_ = time.perf_counter() - t0
        self.n_iter_ = self.best_estimator_.n_iter_
        # where the averaged forms are trustworthy (rule="average"; see predict_form_weights)
        self.source_range_, self.source_design_inv_, self.mean_leverage_ = _source_fit(u)
        self.range_limited_forms_ = tuple(
            labels[i] for i in order if self._reverts_outside_source_range(candidates[i])
        )
        self.linear_source_forms_ = tuple(
            labels[i] for i in order if self._linear_source_terms(candidates[i])
        )
        return self

    @staticmethod
    def _reverts_outside_source_range(params: dict[str, Any]) -> bool:
        """Whether the form's ``g1`` is a kernel of ``u`` alone (no linear source terms), so
        that it falls back to a constant away from the training source values."""
        return False

    @staticmethod
    def _linear_source_terms(params: dict[str, Any]) -> bool:
        """Whether the form's ``g1`` has unpenalised linear source terms ``a1'u``."""
        return has_linear_source_terms(params["form"], bool(params.get("g1_linear")))

    def _weights_per_row(self, X: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Forms and their weights per row of validated ``X``, shape (n_samples, n_forms)
        (see :meth:`predict_form_weights`)."""
        forms = list(self.form_weights_)
        w = np.array([self.form_weights_[f] for f in forms])
        linear = np.array([f in self.linear_source_forms_ for f in forms])
        limited = np.array([f in self.range_limited_forms_ for f in forms])
        if len(forms) == 1 or not (linear.any() or limited.any()):
            return forms, np.tile(w, (X.shape[0], 1))
        _, u = self._split_features(X)
        fit = (self.source_range_, self.source_design_inv_, self.mean_leverage_)
        return forms, _row_weights(w, u, linear, limited, *fit)

    def predict_form_weights(self, X: ArrayLike) -> dict[str, np.ndarray]:
        """Weight of each averaged form in the prediction of each row of ``X``.

        Starts from ``form_weights_`` (the CV weights) and accounts for where each form can
        be trusted, then renormalises each row:

        * the forms with unpenalised linear source terms (``linear_source_forms_``: the
          calibrations ``a0 + a1'u``) are weighted by ``(1 + h_bar) / (1 + h(u))``, their
          least-squares prediction variance relative to its training average: ``h(u)`` is the
          leverage of the row in the design ``[1, u]`` of the training data
          (``source_design_inv_``), ``h_bar = (1 + k) / n`` its mean over the training rows
          (``mean_leverage_``). A calibration fitted on a few points and extrapolated far
          along ``u`` loses weight to forms with a fixed slope (``offset``);
        * the forms whose ``g1`` is a kernel of ``u`` alone (``range_limited_forms_``) get
          weight zero on rows whose source features leave the training range
          (``source_range_``, per feature): such a ``g1`` reverts to a constant away from
          the data, while the forms linear in ``u`` continue the trend. (If only such forms
          are averaged, they keep their weights.)

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        dict
            Form label -> ndarray of shape (n_samples,); the rows sum to one.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        forms, W = self._weights_per_row(X)
        return {f: W[:, j] for j, f in enumerate(forms)}

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict with the refitted model (``rule="average"``: the average of the refitted
        forms with the weights of :meth:`predict_form_weights`); returns ndarray of shape
        (n_samples,)."""
        check_is_fitted(self)
        if len(self.estimators_) == 1:
            return self.best_estimator_.predict(X)
        X = validate_data(self, X, reset=False)
        forms, W = self._weights_per_row(X)
        P = np.column_stack([self.estimators_[f].predict(X) for f in forms])
        return np.sum(W * P, axis=1)

    def predict_components(self, X: ArrayLike) -> dict[str, np.ndarray]:
        """``g1``, ``g2``, ``g3`` of the refitted model, each of shape (n_samples,), with
        ``predict(X) == g1 + g2 * g3``.

        For an average of forms (``rule="average"``) with row weights ``w_f``
        (:meth:`predict_form_weights`): ``g1 = sum_f w_f g1_f`` (the averaged shift),
        ``g2 = sum_f w_f g2_f`` (the averaged scale; the source-only forms contribute 0) and
        ``g3 = sum_f w_f g2_f g3_f / g2``, the scale-weighted average of the domain-specific
        factors. Where ``g2`` vanishes (only source-only forms carry the row) ``g3`` is 0 and
        any remaining product is added to ``g1``. Each form's own components:
        ``estimators_[form].predict_components(X)``.
        """
        check_is_fitted(self)
        if len(self.estimators_) == 1:
            return self.best_estimator_.predict_components(X)
        X = validate_data(self, X, reset=False)
        forms, W = self._weights_per_row(X)
        parts = [self.estimators_[f].predict_components(X) for f in forms]
        g1 = sum(W[:, j] * c["g1"] for j, c in enumerate(parts))
        g2 = sum(W[:, j] * c["g2"] for j, c in enumerate(parts))
        prod = sum(W[:, j] * c["g2"] * c["g3"] for j, c in enumerate(parts))
        vanishes = np.abs(g2) <= 1e-12
        g3 = np.where(vanishes, 0.0, prod / np.where(vanishes, 1.0, g2))
        return {"g1": g1 + np.where(vanishes, prod, 0.0), "g2": g2, "g3": g3}


_COMMON_CONSTRAINTS: dict[str, list[Any]] = {
    "forms": [None, str, list, tuple],
    "cv": ["cv_object"],
    "rule": [StrOptions({"best", "one_se", "average"})],
    "scoring": [StrOptions(set(_SCORERS))],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "n_jobs": [None, Integral],
    "random_state": ["random_state"],
    **source_constraints,
}


def _positive(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be a non-empty list of positive numbers, got {values!r}")
    return arr


class AffineTransferCV(_TransferCVBase):
    """Kernel affine transfer with the model form and hyper-parameters chosen by CV.

    Selects, by cross-validation on the training data only, one form of the family
    ``g1(u) + g2(u) g3(x)`` (``u = f_s(x)``) and its penalties and kernel widths:
    ``source_linear`` (calibrated source ``a0 + a1'u``), ``offset`` (HTL-offset, ``u`` plus a
    kernel ``g3``), ``source_kernel`` (kernel ridge on ``u``), ``direct`` (kernel ridge on ``x``,
    no transfer), ``offset_calibrated`` (``a0 + a1'u`` plus a kernel ``g3``), ``const``
    (AffineTL-const) and ``full`` (AffineTL-full); see :class:`TransferFormRegressor`. Each
    fixed special case is one of the candidates, so the CV error of the selection is never
    above theirs on the same splits.

    Hold-out errors of the ridge-type forms are exact closed forms from one eigendecomposition
    per Gram matrix for the whole penalty path and all folds; the full form is screened from
    the best const settings, all its fold fits solved together by batched Newton steps
    (module :mod:`affinetl.selection._search`).

    Parameters
    ----------
    forms : list of str, str or None, default=None
        Candidate forms; ``None`` is every form (``offset`` only with one source feature).
    kernel1, kernel2, kernel3 : str, sklearn kernel or callable, default="rbf"
        Kernels of ``h1``, ``h2`` (on u) and ``g3`` (on x).
    widths : sequence of float, default=(0.25, 1.0, 4.0)
        Kernel widths searched, as multiples of the default ``1 / (2 dim)`` of each named
        kernel (kernel objects and ``"linear"`` have no width).
    lambdas : sequence of float or None, default=None
        Penalty path of ``lambda1`` (source_kernel) and ``lambda3`` (the ``g3`` forms);
        ``None`` is ``(1e-3, ..., 100)``, six decades.
    ratios : sequence of float or None, default=None
        Ratios ``lambda3 / lambda1`` of the const form; ``None`` is ``(0.01, 0.1, 1, 10, 100)``.
    lambda2_path : sequence of float or None, default=None
        ``lambda2`` values of the full form, each fitted from the const solution;
        ``None`` is ``(1, 0.1, 0.01)`` (the target is scaled to unit standard deviation).
    n_full_starts : int, default=2
        Number of best const settings from which the full form is fitted.
    full_scales : sequence of float or None, default=None
        Multipliers of ``lambda1`` and ``lambda3`` of each screened const setting: the full
        form is fitted from every (setting, multiplier) pair. ``None`` is ``(10, 100)``: the
        penalties that suit the const model (which must absorb the source-input interaction
        into ``h1`` and ``g3``) are too small for the full model, where ``h2 g3`` carries it
        (and the full model near the const penalties is both slow to fit and, where it fits
        well, within reach of the const form itself). Include 1 to start at the const
        penalties too.
    cv : int, CV splitter, iterable or None, default=None
        Any scikit-learn splitter (``GroupKFold`` with ``groups`` in ``fit``); ``None`` is
        leave-one-out below 20 samples and shuffled 5-fold otherwise (:func:`default_cv`).
    g1_linear : {False, True, "both"}, default=False
        Linear source terms ``a1'u`` in the kernel ``g1`` of ``source_kernel``, ``const`` and
        ``full`` (see :class:`TransferFormRegressor`): ``"both"`` searches each of these forms
        with and without them (``g1_linear`` in ``best_params_``). On the real cases "both"
        did not select better on average (``docs/model-selection.md``), so it is not the
        default.
    rule : {"average", "one_se", "best"}, default="average"
        ``"average"``: every form's best candidate is refitted and the prediction is their
        weighted average. The CV weight of a form is ``exp(-z)``, ``z`` its score gap to the
        best form in standard errors of the paired per-split difference (a smooth tie band;
        forms more than three standard errors below the best, weights below 1 % and
        calibrations with fewer than two fold samples per unpenalised coefficient left out),
        stored in ``form_weights_``; each prediction row
        then adjusts them for where the forms can be trusted (:meth:`predict_form_weights`:
        no weight for a kernel ``g1(u)`` outside the training range of ``u``, calibrations
        weighted by their relative prediction variance). On the real case studies it is
        within one standard error of the best fixed form in every case and size
        (``docs/model-selection.md``). ``"one_se"``: the simplest form (order of
        :func:`~affinetl.selection.form_complexity`: :data:`~affinetl.selection.COMPLEXITY`,
        plus the number of linear source coefficients beyond the first when a fold has fewer
        than five training samples per unpenalised coefficient) whose best candidate's mean
        score is within one standard error of the overall best's, the standard error of their
        paired per-split score difference; then that form's best hyper-parameters: one
        interpretable ``(g1, g2, g3)``. ``"best"``: the highest mean CV score.
    scoring : {"neg_mean_squared_error", "neg_mean_absolute_error"}, default="neg_mean_squared_error"
        Score of each split's hold-out predictions.
    standardize : bool, default=True
        Standardise ``x`` and ``u`` once with the training statistics.
    max_iter : int, default=200
    tol : float, default=1e-6
        Newton iteration limit and relative step tolerance of the full form (in the search and
        the refit).
    n_jobs : int or None, default=None
        joblib workers for the kernel-width tasks and the full-form folds.
    random_state : int, RandomState or None, default=None
        Seed of the default 5-fold shuffle.
    source, source_columns, input_columns
        Where ``u`` and ``x`` come from; see :class:`affinetl.base.SourceFeatureMixin`.

    Attributes
    ----------
    best_form_ : str
    best_params_ : dict
        Form and hyper-parameters of the selected candidate (``TransferFormRegressor``
        keywords): the rule's choice, and with ``rule="average"`` the one-SE rule's (the form
        that answers "which form when"; the prediction is the average).
    best_score_ : float
        Its mean CV score.
    best_index_ : int
    best_estimator_ : TransferFormRegressor
        The selected candidate refitted on all data (with ``rule="average"``, the default:
        the one-SE rule's form, the single-form summary of the search; the prediction
        averages the forms of ``form_weights_``).
    form_weights_ : dict
        CV weight of each form in the prediction (``{best_form_: 1.0}`` unless
        ``rule="average"``), largest first; keys are form labels (``+linear`` marks the
        linear-``g1`` variants). Per-row weights: :meth:`predict_form_weights`.
    estimators_ : dict
        The refitted model of each form in ``form_weights_``.
    source_range_ : ndarray of shape (2, n_source_features)
        Minimum and maximum of each source feature over the training data.
    source_design_inv_ : ndarray of shape (1 + n_source_features, 1 + n_source_features)
        Pseudo-inverse of ``Z'Z``, ``Z = [1, u]`` on the training data (calibration leverage).
    mean_leverage_ : float
        Mean leverage of the training rows in ``Z`` (``rank(Z) / n``).
    range_limited_forms_ : tuple of str
        Averaged forms whose ``g1`` is a kernel of ``u`` alone: no weight outside
        ``source_range_``.
    linear_source_forms_ : tuple of str
        Averaged forms with unpenalised linear source terms: weighted by leverage.
    cv_results_ : dict of ndarray
        One row per candidate in the ``GridSearchCV`` format (``params``, ``param_<name>``
        masked where a form lacks the parameter, ``split<k>_test_score``, ``mean_test_score``,
        ``std_test_score``, ``rank_test_score``; fit times are the search time shared
        equally among a task's candidates).
    form_scores_ : dict
        Best mean CV score of each form.
    n_splits_ : int
    n_iter_ : int
        Block-relaxation sweeps of the refit (1 for the closed-form special cases).
    search_time_, refit_time_ : float
        Seconds spent in the search and in the refit.

    See Also
    --------
    LinearAffineTransferCV : the same selection for the linear fused-ridge family.
    TransferFormRegressor : one form with fixed hyper-parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from affinetl.selection import AffineTransferCV
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(-1, 1, size=(40, 2)); u = rng.normal(size=(40, 1))
    >>> y = 0.5 + 2.0 * u[:, 0] + 0.01 * rng.normal(size=40)
    >>> cv = AffineTransferCV(forms=["source_linear", "const"], widths=[1.0], random_state=0)
    >>> cv.fit(np.hstack([x, u]), y).best_form_
    'source_linear'
    """

    _FORMS = KERNEL_FORMS
    _parameter_constraints: dict[str, list[Any]] = {
        **_COMMON_CONSTRAINTS,
        "kernel1": kernel_constraint,
        "kernel2": kernel_constraint,
        "kernel3": kernel_constraint,
        "widths": [list, tuple, np.ndarray],
        "lambdas": [None, list, tuple, np.ndarray],
        "ratios": [None, list, tuple, np.ndarray],
        "lambda2_path": [None, list, tuple, np.ndarray],
        "n_full_starts": [Interval(Integral, 1, None, closed="left")],
        "full_scales": [None, list, tuple, np.ndarray],
        "g1_linear": [StrOptions({"both"}), "boolean"],
        "standardize": ["boolean"],
    }

    def __init__(
        self,
        *,
        forms: Any = None,
        kernel1: Any = "rbf",
        kernel2: Any = "rbf",
        kernel3: Any = "rbf",
        widths: Any = DEFAULT_WIDTHS,
        lambdas: Any = None,
        ratios: Any = None,
        lambda2_path: Any = None,
        n_full_starts: int = 2,
        full_scales: Any = None,
        g1_linear: Any = False,
        cv: Any = None,
        rule: str = "average",
        scoring: str = "neg_mean_squared_error",
        standardize: bool = True,
        max_iter: int = 200,
        tol: float = 1e-6,
        n_jobs: int | None = None,
        random_state: Any = None,
        source: Any = None,
        source_columns: Any = None,
        input_columns: Any = "rest",
    ) -> None:
        self.forms = forms
        self.kernel1 = kernel1
        self.kernel2 = kernel2
        self.kernel3 = kernel3
        self.widths = widths
        self.lambdas = lambdas
        self.ratios = ratios
        self.lambda2_path = lambda2_path
        self.n_full_starts = n_full_starts
        self.full_scales = full_scales
        self.g1_linear = g1_linear
        self.cv = cv
        self.rule = rule
        self.scoring = scoring
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.source = source
        self.source_columns = source_columns
        self.input_columns = input_columns

    @staticmethod
    def _reverts_outside_source_range(params: dict[str, Any]) -> bool:
        return params["form"] in G1_KERNEL_FORMS and not params.get("g1_linear", False)

    def _refit_estimator(self, params: dict[str, Any]) -> TransferFormRegressor:
        return TransferFormRegressor(
            kernel1=self.kernel1,
            kernel2=self.kernel2,
            kernel3=self.kernel3,
            standardize=self.standardize,
            max_iter=self.max_iter,
            tol=self.tol,
            source=self.source,
            source_columns=self.source_columns,
            input_columns=self.input_columns,
            **params,
        )

    def _gammas(self, kernel: Any, dim: int) -> list[float | None]:
        if isinstance(kernel, str) and kernel in KERNEL_NAMES and kernel != "linear":
            widths = _positive(self.widths, "widths")
            return [float(w * default_gamma(dim)) for w in widths]
        return [None]

    def _evaluate(self, x, u_raw, y, forms, splits, score):
        sx = StandardScaler().fit(x) if self.standardize and x.shape[1] else None
        su = StandardScaler().fit(u_raw) if self.standardize else None
        xs = x if sx is None else sx.transform(x)
        us = u_raw if su is None else su.transform(u_raw)
        lams = _positive(DEFAULT_LAMBDAS if self.lambdas is None else self.lambdas, "lambdas")
        ratios = _positive(DEFAULT_RATIOS if self.ratios is None else self.ratios, "ratios")
        lam2 = _positive(
            DEFAULT_LAMBDA2 if self.lambda2_path is None else self.lambda2_path, "lambda2_path"
        )
        lam2 = np.sort(lam2)[::-1]
        scales = _positive(
            DEFAULT_FULL_SCALES if self.full_scales is None else self.full_scales, "full_scales"
        )
        g1s = self._gammas(self.kernel1, us.shape[1])
        g3s = self._gammas(self.kernel3, xs.shape[1])
        K1 = (
            {g: gram_matrix(self.kernel1, us, None, g) for g in g1s}
            if any(f in forms for f in ("source_kernel", "const", "full"))
            else {}
        )
        need3 = any(f in forms for f in ("offset", "direct", "offset_calibrated", "const", "full"))
        K3 = {g: gram_matrix(self.kernel3, xs, None, g) for g in g3s} if need3 else {}
        eig3 = {g: _lazy_eigh(K) for g, K in K3.items()}

        flags = [False, True] if self.g1_linear == "both" else [bool(self.g1_linear)]

        def variants(form: str) -> list[dict]:
            """The ``g1_linear`` variants of a form (only the kernel-g1 forms have them)."""
            if form not in G1_KERNEL_FORMS:
                return [{}]
            return [{"g1_linear": f} for f in flags]

        # tasks: (candidate dicts, function returning (len, n_splits) scores)
        tasks: list[tuple[list[dict], Any]] = []
        for form in forms:
            t = form_target(form, y, u_raw)
            if form == "source_linear":
                Z = form_design(form, us)
                tasks.append(
                    ([{"form": form}], (_ridge_scores, (None, None, Z, t, y, [1.0], splits, score)))
                )
            elif form == "source_kernel":
                for g in g1s:
                    eig1 = _lazy_eigh(K1[g])
                    for v in variants(form):
                        Z = form_design(form, us, v.get("g1_linear", False))
                        cands = [
                            {"form": form, "gamma1": g, "lambda1": float(lam), **v} for lam in lams
                        ]
                        args = (eig1, K1[g], Z, t, y, lams, splits, score)
                        tasks.append((cands, (_ridge_scores, args)))
            elif form in ("offset", "direct", "offset_calibrated"):
                Z = form_design(form, us)
                for g in g3s:
                    cands = [{"form": form, "gamma3": g, "lambda3": float(lam)} for lam in lams]
                    args = (eig3[g], K3[g], Z, t, y, lams, splits, score)
                    tasks.append((cands, (_ridge_scores, args)))
        if "const" in forms or "full" in forms:  # const also screens the full form
            for g1 in g1s:
                for g3 in g3s:
                    for rho in ratios:
                        K = K3[g3] + rho * K1[g1]
                        eig = _lazy_eigh(K)
                        for v in variants("const"):
                            Z = form_design("const", us, v.get("g1_linear", False))
                            cands = [
                                {
                                    "form": "const",
                                    "gamma1": g1,
                                    "gamma3": g3,
                                    "lambda1": float(lam / rho),
                                    "lambda3": float(lam),
                                    **v,
                                }
                                for lam in lams
                            ]
                            args = (eig, K, Z, y, y, lams, splits, score)
                            tasks.append((cands, (_ridge_scores, args)))
        candidates, scores, times = self._run(tasks)
        if "full" in forms:
            mean = np.mean(scores, axis=1)
            top = []  # the best const settings of each g1_linear variant
            for v in variants("const"):
                idx = [
                    i
                    for i, c in enumerate(candidates)
                    if c["form"] == "const" and c.get("g1_linear") == v.get("g1_linear")
                ]
                best = np.argsort(-np.nan_to_num(mean[idx], nan=-np.inf), kind="stable")
                top += [idx[i] for i in best[: self.n_full_starts]]
            starts, seen = [], set()
            for i in top:
                for f in scales:
                    st = dict(
                        candidates[i],
                        lambda1=float(candidates[i]["lambda1"] * f),
                        lambda3=float(candidates[i]["lambda3"] * f),
                    )
                    key = tuple(sorted(st.items()))
                    if key not in seen:
                        seen.add(key)
                        starts.append(st)
            full_c, full_s, full_t = self._full(K1, K3, us, y, starts, lam2, splits, score)
            candidates += full_c
            scores = np.vstack([scores, full_s])
            times = np.concatenate([times, full_t])
            if "const" not in forms:
                keep = [i for i, c in enumerate(candidates) if c["form"] != "const"]
                candidates = [candidates[i] for i in keep]
                scores, times = scores[keep], times[keep]
        return candidates, scores, times

    def _run(self, tasks):
        def timed(fn, args):
            t0 = time.perf_counter()
            out = fn(*args)
            return out, time.perf_counter() - t0

        results = Parallel(n_jobs=self.n_jobs)(delayed(timed)(fn, args) for _, (fn, args) in tasks)
        candidates: list[dict] = []
        blocks, times = [], []
        for (cands, _), (sc, dt) in zip(tasks, results):
            candidates += cands
            blocks.append(sc)
            times += [dt / (len(cands) * sc.shape[1])] * len(cands)
        return candidates, np.vstack(blocks), np.asarray(times)

    def _full(self, K1, K3, us, y, starts, lam2, splits, score):
        """Full-form scores of every screened start along its ``lambda2`` path.

        ``K1`` and ``K3`` are the search's Gram matrices by kernel width (shared with the
        ridge-type forms). All (start, fold, ``lambda2``) fits with equal training size and
        design go into one batched Newton solve (:func:`~affinetl.selection.fit_full_kernel`);
        joblib runs the batches of different training sizes (and of ``n_jobs`` chunks) in
        parallel.
        """
        named = isinstance(self.kernel2, str) and self.kernel2 != "linear"
        K2: dict[float | None, np.ndarray] = {}
        grams = []
        for st in starts:
            g2 = st["gamma1"] if named else None  # h2 lives on u, as h1: same width
            if g2 not in K2:
                K2[g2] = gram_matrix(self.kernel2, us, None, g2)
            grams.append((K1[st["gamma1"]], K2[g2], K3[st["gamma3"]], g2))
        S, L = len(splits), lam2.size
        by_size: dict[tuple[int, bool], list[tuple[int, int]]] = {}
        for k, st in enumerate(starts):  # one batch: equal training size and design
            for j, (tr, _) in enumerate(splits):
                key = (len(tr), bool(st.get("g1_linear", False)))
                by_size.setdefault(key, []).append((k, j))
        n_chunks = effective_n_jobs(self.n_jobs)
        batches = []
        for pairs in by_size.values():
            for c in range(min(n_chunks, len(pairs))):
                batches.append(pairs[c::n_chunks])

        def one(pairs):
            t0 = time.perf_counter()
            Ks, Es, Zs, Zes, ys, lams, prob = [[], [], []], [[], [], []], [], [], [], [], []
            for p, (k, j) in enumerate(pairs):
                tr, te = splits[j]
                st = starts[k]
                for K, KK, E in zip(grams[k][:3], Ks, Es):
                    KK.append(K[np.ix_(tr, tr)])
                    E.append(K[np.ix_(te, tr)])
                lin = bool(st.get("g1_linear", False))
                Zs.append(form_design("full", us[tr], lin))
                Zes.append(form_design("full", us[te], lin))
                ys.append(y[tr])
                lams += [(st["lambda1"], float(l2), st["lambda3"]) for l2 in lam2]
                prob += [p] * L
            m = max(len(splits[j][1]) for _, j in pairs)
            evals = tuple(
                np.stack([np.pad(E, ((0, m - E.shape[0]), (0, 0))) for E in Ei]) for Ei in Es
            )
            Ze = np.stack([np.pad(Z, ((0, m - Z.shape[0]), (0, 0))) for Z in Zes])
            scale, res = fit_full_kernel(
                np.stack(Ks[0]),
                np.stack(Ks[1]),
                np.stack(Ks[2]),
                np.stack(ys),
                np.asarray(lams),
                problem=np.asarray(prob),
                design=np.stack(Zs),
                evals=evals,
                design_eval=Ze,
                max_iter=self.max_iter,
                tol=self.tol,
            )
            pred = scale[:, None] * res.predictions
            out = np.empty((len(pairs), L))
            for p, (_, j) in enumerate(pairs):
                te = splits[j][1]
                for i in range(L):
                    out[p, i] = _safe_score(score, y[te] - pred[p * L + i, : te.size])
            return out, int(np.sum(~res.converged)), time.perf_counter() - t0

        results = Parallel(n_jobs=self.n_jobs)(delayed(one)(pairs) for pairs in batches)
        table = np.full((len(starts), S, L), np.nan)
        seconds = np.zeros(len(starts))
        not_conv = 0
        for pairs, (out, nc, dt) in zip(batches, results):
            not_conv += nc
            for p, (k, j) in enumerate(pairs):
                table[k, j] = out[p]
                seconds[k] += dt / len(pairs)
        if not_conv:
            logger.info("full form: %d fold fits reached max_iter=%d", not_conv, self.max_iter)
        cands, blocks, times = [], [], []
        for k, st in enumerate(starts):
            for i, l2 in enumerate(lam2):
                cand = {
                    "form": "full",
                    "gamma1": st["gamma1"],
                    "gamma2": grams[k][3],
                    "gamma3": st["gamma3"],
                    "lambda1": st["lambda1"],
                    "lambda2": float(l2),
                    "lambda3": st["lambda3"],
                }
                if "g1_linear" in st:
                    cand["g1_linear"] = st["g1_linear"]
                cands.append(cand)
                blocks.append(table[k, :, i])
                times.append(seconds[k] / (S * L))
        return cands, np.asarray(blocks).reshape(len(cands), S), np.asarray(times)


class LinearAffineTransferCV(_TransferCVBase):
    """Linear affine transfer with the model form and penalties chosen by CV.

    The linear family of :class:`LinearTransferFormRegressor`: ``source_linear``
    (``a0 + a1'u``), ``offset`` (``a0 + u + x'w``), ``direct`` (``a0 + x'w``),
    ``offset_calibrated`` (``a0 + a1'u + x'w``, the const form of a linear ``g1``) and ``full``
    (``a0 + a1'u + (1 + b'u) x'w``, :class:`~affinetl.LinearAffineTransferRegressor`), with the
    fused-ridge penalty ``lambda_ridge^2 ||w||^2 + lambda_fused^2 ||D w||^2`` on ``w``.

    The ridge-type forms are a kernel ridge with the linear kernel ``x M^{-1} x'``,
    ``M = I + (lambda_fused / lambda_ridge)^2 D'D`` and penalty ``lambda_ridge^2``: one
    eigendecomposition per fusion ratio gives the closed-form hold-out errors of the whole
    ``lambda_ridge`` path. The full form is fitted per fold along a decreasing ``lambda_ridge``
    path with warm starts.

    Parameters
    ----------
    forms : list of str, str or None, default=None
        Candidate forms; ``None`` is every form of :data:`LINEAR_FORMS` (``offset`` only with
        one source feature).
    lambdas_ridge : sequence of float or None, default=None
        Positive ridge strengths; ``None`` is ``(0.01, 0.03, ..., 10)``.
    lambdas_fused : sequence of float, default=(0.0,)
        Fusion strengths (0 = plain ridge); each is crossed with every ``lambda_ridge``.
    blocks : list or None, default=None
        Descriptor blocks of ``x`` for the fused penalty.
    standardize : bool, default=False
        Standardise ``x`` once with the training statistics.
    cv, rule, scoring, max_iter, tol, n_jobs, random_state
        As in :class:`AffineTransferCV` (``max_iter=300``, ``tol=1e-6`` by default).
    source, source_columns, input_columns
        See :class:`affinetl.base.SourceFeatureMixin`.

    Attributes
    ----------
    best_form_, best_params_, best_score_, best_index_, cv_results_, form_scores_, n_splits_
        As in :class:`AffineTransferCV`.
    form_weights_, estimators_ : dict
        As in :class:`AffineTransferCV` (several forms with ``rule="average"``).
    source_range_, source_design_inv_, mean_leverage_, linear_source_forms_
        As in :class:`AffineTransferCV` (the linear family has no kernel ``g1``, so
        ``range_limited_forms_`` is empty; its ``full`` form has ``g1 = a0 + a1'u``).
    range_limited_forms_ : tuple
    best_estimator_ : LinearTransferFormRegressor
    search_time_, refit_time_ : float

    Examples
    --------
    >>> import numpy as np
    >>> from affinetl.selection import LinearAffineTransferCV
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(40, 4)); u = rng.normal(size=(40, 1))
    >>> y = 3.0 + x @ [1.0, -1.0, 0.5, 0.0] + 0.05 * rng.normal(size=40)
    >>> LinearAffineTransferCV(random_state=0).fit(np.hstack([x, u]), y).best_form_
    'direct'
    """

    _FORMS = LINEAR_FORMS
    _parameter_constraints: dict[str, list[Any]] = {
        **_COMMON_CONSTRAINTS,
        "lambdas_ridge": [None, list, tuple, np.ndarray],
        "lambdas_fused": [list, tuple, np.ndarray],
        "blocks": [None, list, tuple],
        "standardize": ["boolean"],
    }

    def __init__(
        self,
        *,
        forms: Any = None,
        lambdas_ridge: Any = None,
        lambdas_fused: Any = (0.0,),
        blocks: list | None = None,
        cv: Any = None,
        rule: str = "average",
        scoring: str = "neg_mean_squared_error",
        standardize: bool = False,
        max_iter: int = 300,
        tol: float = 1e-6,
        n_jobs: int | None = None,
        random_state: Any = None,
        source: Any = None,
        source_columns: Any = None,
        input_columns: Any = "rest",
    ) -> None:
        self.forms = forms
        self.lambdas_ridge = lambdas_ridge
        self.lambdas_fused = lambdas_fused
        self.blocks = blocks
        self.cv = cv
        self.rule = rule
        self.scoring = scoring
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.source = source
        self.source_columns = source_columns
        self.input_columns = input_columns

    @staticmethod
    def _linear_source_terms(params: dict[str, Any]) -> bool:
        # the linear full form's g1 is a0 + a1'u as well (fit_full_linear)
        return params["form"] in ("source_linear", "offset_calibrated", "full")

    def _refit_estimator(self, params: dict[str, Any]) -> LinearTransferFormRegressor:
        return LinearTransferFormRegressor(
            blocks=self.blocks,
            standardize=self.standardize,
            max_iter=self.max_iter,
            tol=self.tol,
            source=self.source,
            source_columns=self.source_columns,
            input_columns=self.input_columns,
            **params,
        )

    def _evaluate(self, x, u, y, forms, splits, score):
        if self.standardize and x.shape[1]:
            x = StandardScaler().fit_transform(x)
        lr = _positive(
            DEFAULT_LAMBDA_RIDGE if self.lambdas_ridge is None else self.lambdas_ridge,
            "lambdas_ridge",
        )
        lf = np.asarray(self.lambdas_fused, dtype=float).ravel()
        if lf.size == 0 or np.any(lf < 0) or not np.all(np.isfinite(lf)):
            raise ValueError(f"lambdas_fused must be non-negative numbers, got {lf!r}")
        p = x.shape[1]
        DtD = difference_matrix(p, self.blocks).T @ difference_matrix(p, self.blocks)
        # group (lambda_ridge, lambda_fused) pairs by the fusion ratio: one eigh per ratio
        groups: dict[float, list[tuple[float, float]]] = {}
        for f in lf:
            for r in lr:
                groups.setdefault(float((f / r) ** 2), []).append((float(r), float(f)))
        kernels = {}
        for rho in groups:
            M = np.eye(p) + rho * DtD
            kernels[rho] = x @ np.linalg.solve(M, x.T)
        eigs = {rho: _lazy_eigh(K) for rho, K in kernels.items()}
        tasks = []
        for form in forms:
            Z, t = form_design(form, u), form_target(form, y, u)
            if form == "source_linear":
                tasks.append(
                    ([{"form": form}], (_ridge_scores, (None, None, Z, t, y, [1.0], splits, score)))
                )
            elif form != "full":
                for rho, pairs in groups.items():
                    cands = [{"form": form, "lambda_ridge": r, "lambda_fused": f} for r, f in pairs]
                    lams = [r * r for r, _ in pairs]
                    args = (eigs[rho], kernels[rho], Z, t, y, lams, splits, score)
                    tasks.append((cands, (_ridge_scores, args)))
        t0 = time.perf_counter()
        results = Parallel(n_jobs=self.n_jobs)(delayed(fn)(*args) for _, (fn, args) in tasks)
        candidates: list[dict] = []
        blocks = []
        for (cands, _), sc in zip(tasks, results):
            candidates += cands
            blocks.append(sc)
        n_ridge = max(len(candidates), 1)
        times = [(time.perf_counter() - t0) / (n_ridge * len(splits))] * len(candidates)
        if "full" in forms:
            fc, fs, ft = self._full(x, u, y, lr, lf, splits, score)
            candidates += fc
            blocks.append(fs)
            times += list(ft)
        return candidates, np.vstack(blocks), np.asarray(times)

    def _full(self, x, u, y, lr, lf, splits, score):
        path = np.sort(lr)[::-1]
        p = x.shape[1]

        def one(f, tr, te):
            t0 = time.perf_counter()
            state, out = None, []
            for r in path:
                P = fused_penalty(p, float(r), float(f), self.blocks)
                try:
                    state, _, _ = fit_full_linear(
                        x[tr], u[tr], y[tr], P, start=state, max_iter=self.max_iter, tol=self.tol
                    )
                except np.linalg.LinAlgError:
                    state = None
                    out.append(np.nan)
                    continue
                a0, a1, b, w = state
                pred = a0 + u[te] @ a1 + (1.0 + u[te] @ b) * (x[te] @ w)
                out.append(_safe_score(score, y[te] - pred))
            return np.asarray(out), time.perf_counter() - t0

        jobs = [(float(f), tr, te) for f in lf for tr, te in splits]
        results = Parallel(n_jobs=self.n_jobs)(delayed(one)(*j) for j in jobs)
        S = len(splits)
        cands, rows, times = [], [], []
        for k, f in enumerate(lf):
            block = np.column_stack([results[k * S + j][0] for j in range(S)])
            dt = sum(results[k * S + j][1] for j in range(S)) / (S * path.size)
            for i, r in enumerate(path):
                cands.append({"form": "full", "lambda_ridge": float(r), "lambda_fused": float(f)})
                rows.append(block[i])
                times.append(dt)
        return cands, np.asarray(rows).reshape(len(cands), S), np.asarray(times)
