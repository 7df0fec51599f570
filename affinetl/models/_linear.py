"""Linear affine transfer with a fused-ridge penalty, and the log-difference baseline."""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from ..base import (
    Interval,
    SourceFeatureMixin,
    check_is_fitted,
    check_target,
    fit_context,
    source_constraints,
    validate_data,
)
from ._fused_ridge import fused_penalty, solve_penalized_lsq

__all__ = ["LinearAffineTransferRegressor", "LogDifferenceRegressor"]

_FUSED_CONSTRAINTS: dict[str, list[Any]] = {
    "lambda_ridge": [Interval(Real, 0, None, closed="left")],
    "lambda_fused": [Interval(Real, 0, None, closed="left")],
    "blocks": [None, list, tuple],
    "standardize": ["boolean"],
    **source_constraints,
}


def _lstsq(A: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Least squares for a thin ``A`` (a few unpenalised columns) by its normal equations.

    Falls back to the minimum-norm solution only when ``A'A`` is singular (e.g. a constant
    source column), so no SVD runs in the usual iteration.
    """
    try:
        return linalg.solve(A.T @ A, A.T @ r, assume_a="pos", check_finite=False)
    except (linalg.LinAlgError, ValueError):
        return linalg.lstsq(A, r, check_finite=False)[0]


class LinearAffineTransferRegressor(SourceFeatureMixin, RegressorMixin, BaseEstimator):
    """Linear affine transfer ``f(x) = a0 + a1'u - (1 + b'u) x'gamma`` with a fused ridge.

    The linear model of the affine-transfer paper's polymer Cp case study: ``g1 = a0 + a1'u`` (a
    calibrated source), ``g2 = 1 + b'u`` and ``g3 = -x'gamma``. ``gamma`` carries the penalty
    ``lambda_ridge^2 ||gamma||^2 + lambda_fused^2 * sum of squared first differences of gamma``
    within each descriptor block (for example the 20 bins of one kernel-mean descriptor), while
    ``a0, a1, b`` are unpenalised. Fitted by block relaxation, each block an exact solve:
    ``gamma`` (p x p fused-ridge system), then ``b`` and ``(a0, a1)`` (least squares).

    Parameters
    ----------
    lambda_ridge : float, default=1.0
        Ridge strength ``ls`` (the penalty uses its square).
    lambda_fused : float, default=0.0
        Fusion strength ``lt`` (the penalty uses its square).
    blocks : list or None, default=None
        Descriptor blocks: sizes of consecutive columns of ``x`` or lists of column indices of
        ``x``; ``None`` is one ordered block of all inputs.
    standardize : bool, default=False
        Standardise ``x`` first (off by default: fused differences assume comparable neighbours).
    max_iter : int, default=1000
    tol : float, default=1e-6
        Stop when the largest relative max-abs change of the blocks is below ``tol``.
    source, source_columns, input_columns
        Where ``u`` and ``x`` come from; see :class:`affinetl.base.SourceFeatureMixin`.

    Attributes
    ----------
    intercept_ : float
        ``a0``.
    source_coef_ : ndarray of shape (n_source_features,)
        ``a1``.
    scale_coef_ : ndarray of shape (n_source_features,)
        ``b``.
    coef_ : ndarray of shape (n_inputs,)
        ``gamma``.
    n_iter_ : int
    converged_ : bool
    objective_history_ : ndarray
        Penalised objective at the start and after every sweep (non-increasing).

    Examples
    --------
    >>> import numpy as np
    >>> from affinetl import LinearAffineTransferRegressor
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(80, 5)); u = rng.normal(size=80)
    >>> y = 1 + 2 * u - (1 + 0.3 * u) * (x @ np.arange(5.0))
    >>> m = LinearAffineTransferRegressor(lambda_ridge=1e-3).fit(np.c_[x, u], y)
    >>> bool(np.allclose(m.coef_, np.arange(5.0), atol=1e-2))
    True
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **_FUSED_CONSTRAINTS,
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        lambda_ridge: float = 1.0,
        lambda_fused: float = 0.0,
        blocks: list | None = None,
        standardize: bool = False,
        max_iter: int = 1000,
        tol: float = 1e-6,
        source: Any = None,
        source_columns: Any = None,
        input_columns: Any = "rest",
    ) -> None:
        self.lambda_ridge = lambda_ridge
        self.lambda_fused = lambda_fused
        self.blocks = blocks
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.source = source
        self.source_columns = source_columns
        self.input_columns = input_columns

    def _inputs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, u = self._split_features(X)
        if self.scaler_ is not None:
            x = self.scaler_.transform(x)
        return x, u

    @staticmethod
    def _objective(y, x, u, a0, a1, b, g, P) -> float:
        res = y - a0 - u @ a1 + (1.0 + u @ b) * (x @ g)
        return float(res @ res + g @ P @ g)

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> LinearAffineTransferRegressor:
        """Fit by block relaxation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, y_numeric=True)
        y = check_target(y)
        x, u = self._split_features(X)
        self.scaler_ = StandardScaler().fit(x) if self.standardize and x.shape[1] else None
        if self.scaler_ is not None:
            x = self.scaler_.transform(x)
        n, p = x.shape
        k = u.shape[1]
        P = fused_penalty(p, self.lambda_ridge, self.lambda_fused, self.blocks)
        ones = np.ones((n, 1))
        coef = _lstsq(np.hstack([ones, u]), y)
        a0, a1 = float(coef[0]), coef[1:]
        b, g = np.zeros(k), np.zeros(p)
        history = [self._objective(y, x, u, a0, a1, b, g, P)]
        converged = False
        it = 0
        while it < self.max_iter:
            it += 1
            old = np.concatenate([[a0], a1, b, g])
            e = 1.0 + u @ b
            g = solve_penalized_lsq(-e[:, None] * x, y - a0 - u @ a1, P)
            xg = x @ g
            b = _lstsq(-u * xg[:, None], y - a0 - u @ a1 + xg) if np.any(xg) else np.zeros(k)
            coef = _lstsq(np.hstack([ones, u]), y + (1.0 + u @ b) * xg)
            a0, a1 = float(coef[0]), coef[1:]
            history.append(self._objective(y, x, u, a0, a1, b, g, P))
            new = np.concatenate([[a0], a1, b, g])
            scale = max(float(np.max(np.abs(old))), 1e-300)
            if float(np.max(np.abs(new - old))) / scale < self.tol:
                converged = True
                break
        self.intercept_, self.source_coef_, self.scale_coef_, self.coef_ = a0, a1, b, g
        self.n_iter_, self.converged_ = it, converged
        self.objective_history_ = np.asarray(history)
        if not converged:
            warnings.warn(
                f"block relaxation did not converge in {self.max_iter} sweeps (tol={self.tol})",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def predict_components(self, X: ArrayLike) -> dict[str, np.ndarray]:
        """``g1 = a0 + a1'u``, ``g2 = 1 + b'u`` and ``g3 = -x'gamma``, each (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        x, u = self._inputs(X)
        return {
            "g1": self.intercept_ + u @ self.source_coef_,
            "g2": 1.0 + u @ self.scale_coef_,
            "g3": -(x @ self.coef_),
        }

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict ``g1 + g2 * g3``; returns ndarray of shape (n_samples,)."""
        c = self.predict_components(X)
        return c["g1"] + c["g2"] * c["g3"]


class LogDifferenceRegressor(SourceFeatureMixin, RegressorMixin, BaseEstimator):
    """Log-difference baseline: ``log y - log f_s(x)`` regressed on ``x`` with a fused ridge.

    Predicts ``f_s(x) * exp(c0 + x'c)``. Needs exactly one source feature, and positive targets
    and source values (for example heat capacities).

    Parameters
    ----------
    lambda_ridge, lambda_fused, blocks, standardize
        As in :class:`LinearAffineTransferRegressor`; the intercept ``c0`` is unpenalised.
    source, source_columns, input_columns
        Where ``u`` and ``x`` come from; see :class:`affinetl.base.SourceFeatureMixin`.

    Attributes
    ----------
    intercept_ : float
    coef_ : ndarray of shape (n_inputs,)
    """

    _parameter_constraints: dict[str, list[Any]] = dict(_FUSED_CONSTRAINTS)

    def __init__(
        self,
        *,
        lambda_ridge: float = 1.0,
        lambda_fused: float = 0.0,
        blocks: list | None = None,
        standardize: bool = False,
        source: Any = None,
        source_columns: Any = None,
        input_columns: Any = "rest",
    ) -> None:
        self.lambda_ridge = lambda_ridge
        self.lambda_fused = lambda_fused
        self.blocks = blocks
        self.standardize = standardize
        self.source = source
        self.source_columns = source_columns
        self.input_columns = input_columns

    def _log_source(self, u: np.ndarray) -> np.ndarray:
        fs = self._source_vector(u)
        if np.any(fs <= 0):
            raise ValueError(
                "LogDifferenceRegressor needs a positive source prediction f_s(x); "
                f"got {int(np.sum(fs <= 0))} non-positive values"
            )
        return np.log(fs)

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> LogDifferenceRegressor:
        """Fit the fused ridge on the log ratio.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), positive

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, y_numeric=True)
        y = check_target(y)
        if np.any(y <= 0):
            raise ValueError(
                f"LogDifferenceRegressor needs positive targets; got {int(np.sum(y <= 0))} "
                "non-positive values"
            )
        x, u = self._split_features(X)
        self.scaler_ = StandardScaler().fit(x) if self.standardize and x.shape[1] else None
        if self.scaler_ is not None:
            x = self.scaler_.transform(x)
        r = np.log(y) - self._log_source(u)
        xm, rm = x.mean(axis=0), r.mean()
        P = fused_penalty(x.shape[1], self.lambda_ridge, self.lambda_fused, self.blocks)
        self.coef_ = solve_penalized_lsq(x - xm, r - rm, P)
        self.intercept_ = float(rm - xm @ self.coef_)
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict ``f_s(x) exp(c0 + x'c)``; returns ndarray of shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        x, u = self._split_features(X)
        if self.scaler_ is not None:
            x = self.scaler_.transform(x)
        return np.exp(self._log_source(u) + self.intercept_ + x @ self.coef_)
