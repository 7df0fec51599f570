"""RBF kernel ridge whose width and penalty are chosen by closed-form leave-one-out error.

The default source model of :class:`~affinetl.sources.PolymerSourceModel` (``model="kernel-ridge"``)
and the target-only baseline of the scaling study.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.preprocessing import StandardScaler

from .._solvers import eigh_psd, fit_partial_ridge, loo_residuals
from ..base import check_is_fitted, validate_data
from ..kernels import default_gamma, gram_matrix

__all__ = ["LooKernelRidge"]

_ALPHAS = tuple(10.0 ** np.arange(-4, 2))
_GAMMA_FACTORS = (0.25, 1.0, 4.0)


class LooKernelRidge(RegressorMixin, BaseEstimator):
    """RBF kernel ridge with intercept, its penalty and width chosen by leave-one-out error.

    ``min ||y - b - K a||^2 + alpha a'K a`` with an unpenalised intercept ``b``. For each width
    the Gram matrix is eigendecomposed once and the exact leave-one-out residuals of every
    penalty follow in closed form (:func:`affinetl._solvers.loo_residuals`, the package's one
    leave-one-out kernel ridge); the selected pair is refitted by
    :func:`affinetl._solvers.fit_partial_ridge`.

    Parameters
    ----------
    alphas : sequence of float, default=(1e-4, ..., 10)
        Ridge penalties tried.
    gamma_factors : sequence of float, default=(0.25, 1, 4)
        Widths tried, as multiples of ``1 / (2 * n_features)`` on standardised inputs.
    standardize : bool, default=True
        Standardise the inputs on the training data.

    Attributes
    ----------
    alpha_, gamma_ : float
        Selected penalty and width.
    loo_mse_ : float
        Leave-one-out mean squared error of the selection.
    intercept_ : float
    dual_coef_ : ndarray of shape (n_samples,)
    X_fit_ : ndarray of shape (n_samples, n_features)
        Standardised training inputs.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, (80, 2))
    >>> model = LooKernelRidge().fit(X, np.sin(X[:, 0]))
    >>> bool(model.score(X, np.sin(X[:, 0])) > 0.95)
    True
    """

    def __init__(
        self,
        *,
        alphas: Sequence[float] = _ALPHAS,
        gamma_factors: Sequence[float] = _GAMMA_FACTORS,
        standardize: bool = True,
    ) -> None:
        self.alphas = alphas
        self.gamma_factors = gamma_factors
        self.standardize = standardize

    def fit(self, X: ArrayLike, y: ArrayLike) -> LooKernelRidge:
        """Select the width and penalty by leave-one-out error and fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, y_numeric=True)
        if X.shape[0] < 3:
            raise ValueError(f"LooKernelRidge needs at least 3 samples, got {X.shape[0]}")
        alphas = np.asarray(self.alphas, dtype=float)
        if alphas.size == 0 or np.any(alphas <= 0):
            raise ValueError("alphas must be a non-empty sequence of positive penalties")
        self.scaler_ = StandardScaler().fit(X) if self.standardize else None
        Z = X if self.scaler_ is None else self.scaler_.transform(X)
        ones = np.ones((Z.shape[0], 1))
        best: tuple[float, float, float, np.ndarray] | None = None
        for factor in self.gamma_factors:
            gamma = factor * default_gamma(Z.shape[1])
            K = gram_matrix("rbf", Z, None, gamma)
            s, V = eigh_psd(K)
            resid = loo_residuals(s, V, ones, y, alphas)  # (n_alpha, n), exact
            mse = np.mean(resid**2, axis=1)
            mse = np.where(np.isfinite(mse), mse, np.inf)
            k = int(np.argmin(mse))
            if best is None or mse[k] < best[0]:
                best = (float(mse[k]), gamma, float(alphas[k]), K)
        self.loo_mse_, self.gamma_, self.alpha_, K = best
        if not np.isfinite(self.loo_mse_):
            raise ValueError("LooKernelRidge: no width and penalty gave a finite LOO error")
        c, self.dual_coef_ = fit_partial_ridge(K, ones, y, self.alpha_)
        self.intercept_ = float(c[0])
        self.X_fit_ = Z
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        Z = X if self.scaler_ is None else self.scaler_.transform(X)
        return self.intercept_ + gram_matrix("rbf", Z, self.X_fit_, self.gamma_) @ self.dual_coef_
