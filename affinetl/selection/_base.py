"""The shared estimator of the model selection: search, select or average, refit, predict."""

from __future__ import annotations

import logging
import time
from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin
from threadpoolctl import threadpool_limits

from .._forms import RAW_SOURCE_FORMS, form_complexity, has_linear_source_terms
from ..base import (
    SourceFeatureMixin,
    StrOptions,
    check_is_fitted,
    check_target,
    fit_context,
    validate_data,
)
from ._row_weights import row_weights, source_fit
from ._rules import (
    SIMPLE_FORMS,
    average_eligible,
    average_weights,
    outside_range_keep,
    select,
)
from ._scoring import SCORERS, cv_results
from ._scoring import splits as make_splits
from ._units import check_source_units, resolve_units

__all__ = ["COMMON_CONSTRAINTS", "TransferCVBase"]

logger = logging.getLogger("affinetl.selection")


class TransferCVBase(SourceFeatureMixin, RegressorMixin, BaseEstimator):
    """Shared fit/predict logic; subclasses produce the candidates and the refit estimator.

    A subclass's ``_evaluate(x, u, y, forms, splits, score)`` returns a list of
    ``(candidates, scores, times, rows)`` (:func:`~._scoring.score_ridge_tasks`: split scores
    and held-out row scores); ``fit`` keeps the candidates of ``forms``.
    """

    _FORMS: tuple[str, ...] = ()
    #: The forms searched by default only with the source in the target's units.
    _UNIT_FORMS: tuple[str, ...] = ()
    #: The family's canonical estimator, refitted with the selected forms, and the
    #: parameters of the search that it shares.
    _ESTIMATOR: type[BaseEstimator]
    _REFIT_PARAMS = ("standardize", "max_iter", "tol", "source", "source_columns", "input_columns")

    def _forms(self, u: np.ndarray, y: np.ndarray, splits: list) -> list[str]:
        """The searched forms; sets ``source_in_target_units_`` (:mod:`._units`)."""
        units = resolve_units(self.source_in_target_units, u, y, splits)
        self.source_in_target_units_ = units
        if self.forms is None:
            forms = [
                f
                for f in self._FORMS
                if (f != "offset" or u.shape[1] == 1) and (units or f not in self._UNIT_FORMS)
            ]
        else:
            forms = [self.forms] if isinstance(self.forms, str) else list(self.forms)
            if not forms:
                raise ValueError("forms is empty: give at least one form")
            if bad := [f for f in forms if f not in self._FORMS]:
                raise ValueError(f"unknown forms {bad}; choose from {list(self._FORMS)}")
            if any(f in RAW_SOURCE_FORMS for f in forms):
                self._source_vector(u)
        if u.shape[1] == 1 and any(f in RAW_SOURCE_FORMS for f in forms):
            scaled = check_source_units(u[:, 0], y, units, explicit=self.forms is not None)
            if scaled and self.forms is None:  # y - u on a z-score: offset means nothing
                forms = [f for f in forms if f not in RAW_SOURCE_FORMS]
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
        X_in = X  # the refits get the caller's X (a DataFrame keeps its column names)
        X, y = validate_data(self, X, y, y_numeric=True)
        y = check_target(y)
        if X.shape[0] < 3:
            raise ValueError(
                f"model selection needs at least 3 samples, got n_samples={X.shape[0]}"
            )
        x, u = self._split_features(X)
        splits = make_splits(self.cv, X, y, groups, self.random_state)
        forms = self._forms(u, y, splits)
        score = SCORERS[self.scoring]
        t0 = time.perf_counter()
        # small dense problems: one BLAS thread per worker avoids oversubscription
        with threadpool_limits(limits=1 if X.shape[0] <= 1000 else None, user_api="blas"):
            parts = self._evaluate(x, u, y, forms, splits, score)
        self.search_time_ = time.perf_counter() - t0
        # the searched forms' candidates (the kernel family searches const for the full form)
        keep = np.array([c["form"] in forms for p in parts for c in p[0]])
        candidates = [c for p in parts for c in p[0] if c["form"] in forms]
        scores = np.vstack([p[1] for p in parts])[keep]
        times = np.concatenate([p[2] for p in parts])[keep]
        rows = np.vstack([p[3] for p in parts])[keep]
        self.n_splits_ = len(splits)
        self.cv_results_ = cv_results(candidates, scores, times)
        mean = self.cv_results_["mean_test_score"]
        labels = [c["form"] + ("+linear" if c.get("g1_linear") else "") for c in candidates]
        n_train = int(np.median([len(tr) for tr, _ in splits]))
        complexity = [
            form_complexity(c["form"], u.shape[1], bool(c.get("g1_linear")), n_train)
            for c in candidates
        ]
        linear = [self._linear_source_terms(c) for c in candidates]
        limited = [self._reverts_outside_source_range(c) for c in candidates]
        # rule="average": the single-form summary of the search is the one-SE rule's form
        rule = "one_se" if self.rule == "average" else self.rule
        self.best_index_ = select(mean, scores, labels, complexity, rule)
        weights, self.outside_range_keep_ = {self.best_index_: 1.0}, 0.0
        if self.rule == "average":
            eligible = average_eligible(linear, u.shape[1], n_train)
            # anchored to the best simple form (_rules.average_weights)
            simple = [lab in SIMPLE_FORMS for lab in labels]
            # forms compared by their paired scores on the held-out rows (not the split means)
            weights = average_weights(mean, rows, labels, eligible, simple)
            if self._may_keep_outside_range():
                keep = outside_range_keep(mean, rows, labels, limited, eligible)
                self.outside_range_keep_ = keep
        self.best_score_ = float(mean[self.best_index_])
        self.best_params_ = dict(candidates[self.best_index_])
        self.best_form_ = self.best_params_["form"]
        # NaN for a form none of whose candidates scored (e.g. a calibration on a constant u)
        form_of = np.array([c["form"] for c in candidates])
        scored = {f: mean[np.isfinite(mean) & (form_of == f)] for f in forms}
        self.form_scores_ = {f: float(s.max()) if s.size else np.nan for f, s in scored.items()}
        logger.info(
            "selected %s (%s) among %d candidates on %d splits in %.2fs",
            self.best_form_,
            self.best_params_,
            len(candidates),
            len(splits),
            self.search_time_,
        )
        t0 = time.perf_counter()
        self.best_estimator_ = self._fit_refit(self.best_params_, X_in, y)
        order = sorted(weights, key=lambda i: -weights[i])
        self.form_weights_ = {labels[i]: weights[i] for i in order}
        self.estimators_ = {
            labels[i]: self.best_estimator_
            if i == self.best_index_
            else self._fit_refit(dict(candidates[i]), X_in, y)
            for i in order
        }
        self.refit_time_ = time.perf_counter() - t0
        self.n_iter_ = self.best_estimator_.n_iter_
        # where the averaged forms are trustworthy (rule="average"; see predict_form_weights)
        self.source_range_, self.source_design_inv_, self.mean_leverage_ = source_fit(u)
        self.range_limited_forms_ = tuple(labels[i] for i in order if limited[i])
        self.linear_source_forms_ = tuple(labels[i] for i in order if linear[i])
        return self

    def _refit_estimator(self, params: dict[str, Any]) -> BaseEstimator:
        """The family's canonical estimator with the search's settings and ``params``."""
        return self._ESTIMATOR(**{**{k: getattr(self, k) for k in self._REFIT_PARAMS}, **params})

    def _fit_refit(self, params: dict[str, Any], X: Any, y: np.ndarray) -> BaseEstimator:
        """One candidate refitted on all data (a family may silence what its search accepts)."""
        return self._refit_estimator(params).fit(X, y)

    @staticmethod
    def _reverts_outside_source_range(params: dict[str, Any]) -> bool:
        """Whether the form's ``g1`` is a kernel of ``u`` alone (no linear source terms), so
        that it falls back to a constant away from the training source values."""
        return False

    def _may_keep_outside_range(self) -> bool:
        """Whether the range-limited forms may keep weight outside the training range of ``u``
        where the CV shows a curvature (:func:`~affinetl.selection._rules.outside_range_keep`)."""
        return True

    @staticmethod
    def _linear_source_terms(params: dict[str, Any]) -> bool:
        """Whether the form's ``g1`` has unpenalised linear source terms ``a1'u``."""
        return has_linear_source_terms(params["form"], bool(params.get("g1_linear")))

    def _weights_per_row(self, X: ArrayLike) -> tuple[list[str], np.ndarray]:
        """Forms and their weights per row of ``X``, shape (n_samples, n_forms)
        (see :meth:`predict_form_weights`)."""
        X = validate_data(self, X, reset=False)
        forms = list(self.form_weights_)
        w = np.array([self.form_weights_[f] for f in forms])
        linear = np.array([f in self.linear_source_forms_ for f in forms])
        limited = np.array([f in self.range_limited_forms_ for f in forms])
        if len(forms) == 1 or not (linear.any() or limited.any()):
            return forms, np.tile(w, (X.shape[0], 1))
        _, u = self._split_features(X)
        fit = (self.source_range_, self.source_design_inv_, self.mean_leverage_)
        return forms, row_weights(w, u, linear, limited, *fit, self.outside_range_keep_)

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
          are averaged, they keep their weights.) Where the CV shows a curvature the linear
          forms miss, they keep the fraction ``outside_range_keep_`` of it
          (:func:`~affinetl.selection._rules.outside_range_keep`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        dict
            Form label -> ndarray of shape (n_samples,); the rows sum to one.
        """
        check_is_fitted(self)
        forms, W = self._weights_per_row(X)
        return {f: W[:, j] for j, f in enumerate(forms)}

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict with the refitted model (``rule="average"``: the average of the refitted
        forms with the weights of :meth:`predict_form_weights`); returns ndarray of shape
        (n_samples,)."""
        check_is_fitted(self)
        if len(self.estimators_) == 1:
            return self.best_estimator_.predict(X)
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
        forms, W = self._weights_per_row(X)
        parts = [self.estimators_[f].predict_components(X) for f in forms]
        g1 = sum(W[:, j] * c["g1"] for j, c in enumerate(parts))
        g2 = sum(W[:, j] * c["g2"] for j, c in enumerate(parts))
        prod = sum(W[:, j] * c["g2"] * c["g3"] for j, c in enumerate(parts))
        vanishes = np.abs(g2) <= 1e-12
        g3 = np.where(vanishes, 0.0, prod / np.where(vanishes, 1.0, g2))
        return {"g1": g1 + np.where(vanishes, prod, 0.0), "g2": g2, "g3": g3}


COMMON_CONSTRAINTS: dict[str, list[Any]] = {
    "forms": [None, str, list, tuple],
    "cv": ["cv_object"],
    "rule": [StrOptions({"best", "one_se", "average"})],
    "source_in_target_units": ["boolean", StrOptions({"auto"})],
    "scoring": [StrOptions(set(SCORERS))],
    "n_jobs": [None, Integral],
    "random_state": ["random_state"],
}
