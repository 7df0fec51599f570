"""Kernel-ridge baselines that the affine transfer model contains as special cases.

Each baseline is kernel ridge regression with an unpenalised intercept on one view of the data:

========================  =====================  ========================================
estimator                 kernel input           target / prediction
========================  =====================  ========================================
DirectRegressor           x                      y (no transfer)
SourceOnlyRegressor       u = f_s(x)             y (calibrated source, g1 only)
AugmentedRegressor        [x, u]                 y (source as an extra feature)
OffsetTransferRegressor   x                      y - f_s, predicts f_s + g(x) (HTL-offset)
ScaleTransferRegressor    x                      y / f_s, predicts f_s * g(x) (HTL-scale)
========================  =====================  ========================================
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.preprocessing import StandardScaler

from .._solvers import GramFactor, kernel_ridge_intercept
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
from ..kernels import gram_matrix, kernel_constraint

__all__ = [
    "AugmentedRegressor",
    "DirectRegressor",
    "OffsetTransferRegressor",
    "ScaleTransferRegressor",
    "SourceOnlyRegressor",
]

_PARAMS_DOC = """
    Parameters
    ----------
    kernel : str, sklearn kernel or callable, default="rbf"
        Kernel on the model's input; see :func:`affinetl.kernels.gram_matrix`.
    gamma : float or None, default=None
        Width of a named kernel; ``None`` is ``1 / (2 * dim)`` of the kernel input.
    alpha : float, default=1.0
        Ridge penalty (strictly positive).
    lambda_scaling : {"none", "n"}, default="none"
        ``"n"`` multiplies the penalty by the number of samples.
    standardize : bool, default=True
        Standardise the kernel input with the training mean and standard deviation.
    source, source_columns, input_columns
        Where the source features ``u = f_s(x)`` and inputs ``x`` come from; see
        :class:`affinetl.base.SourceFeatureMixin`.

    Attributes
    ----------
    intercept_ : float
    dual_coef_ : ndarray of shape (n_samples,)
    z_fit_ : ndarray of shape (n_samples, n_kernel_inputs)
        Standardised training kernel input.
    n_features_in_ : int
"""


class _KernelRidgeBaseline(SourceFeatureMixin, RegressorMixin, BaseEstimator):
    """Kernel ridge with intercept on a view of ``(x, u)``; subclasses choose the view."""

    _parameter_constraints: dict[str, list[Any]] = {
        "kernel": kernel_constraint,
        "gamma": [None, Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "lambda_scaling": [StrOptions({"none", "n"})],
        "standardize": ["boolean"],
        **source_constraints,
    }

    def __init__(
        self,
        *,
        kernel: Any = "rbf",
        gamma: float | None = None,
        alpha: float = 1.0,
        lambda_scaling: str = "none",
        standardize: bool = True,
        source: Any = None,
        source_columns: Any = None,
        input_columns: Any = "rest",
    ) -> None:
        self.kernel = kernel
        self.gamma = gamma
        self.alpha = alpha
        self.lambda_scaling = lambda_scaling
        self.standardize = standardize
        self.source = source
        self.source_columns = source_columns
        self.input_columns = input_columns

    # subclass hooks -----------------------------------------------------------------------
    def _kernel_input(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The kernel's input: the inputs ``x`` unless a subclass says otherwise."""
        return x

    def _to_target(self, y: np.ndarray, u: np.ndarray) -> np.ndarray:
        return y

    def _from_target(self, g: np.ndarray, u: np.ndarray) -> np.ndarray:
        return g

    # estimator API ------------------------------------------------------------------------
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> _KernelRidgeBaseline:
        """Fit the baseline.

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
        z = self._kernel_input(x, u)
        self.scaler_ = StandardScaler().fit(z) if self.standardize and z.shape[1] else None
        self.z_fit_ = z if self.scaler_ is None else self.scaler_.transform(z)
        lam = self.alpha * (y.shape[0] if self.lambda_scaling == "n" else 1.0)
        factor = GramFactor(gram_matrix(self.kernel, self.z_fit_, None, self.gamma))
        self.intercept_, self.dual_coef_ = kernel_ridge_intercept(
            factor, self._to_target(y, u), lam
        )
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict the target.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        x, u = self._split_features(X)
        z = self._kernel_input(x, u)
        if self.scaler_ is not None:
            z = self.scaler_.transform(z)
        g = self.intercept_ + gram_matrix(self.kernel, z, self.z_fit_, self.gamma) @ self.dual_coef_
        return self._from_target(g, u)


class DirectRegressor(_KernelRidgeBaseline):
    __doc__ = (
        """Direct learning (no transfer): kernel ridge with intercept on the inputs ``x``.

    The special case ``g1 = a0``, ``g2 = 1`` of the affine model.
"""
        + _PARAMS_DOC
        + """
    Examples
    --------
    >>> import numpy as np
    >>> from affinetl import DirectRegressor
    >>> X = np.c_[np.linspace(0, 1, 20), np.ones(20)]
    >>> y = 2 * X[:, 0]
    >>> DirectRegressor(alpha=1e-3).fit(X, y).predict(X[:2]).round(2).tolist()
    [0.0, 0.1]
"""
    )


class SourceOnlyRegressor(_KernelRidgeBaseline):
    __doc__ = (
        """Source only: kernel ridge with intercept on the source features ``u = f_s(x)``.

    The special case ``g2 g3 = 0`` (a calibrated source model, ``g1`` alone).
"""
        + _PARAMS_DOC
    )

    def _kernel_input(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        return u


class AugmentedRegressor(_KernelRidgeBaseline):
    __doc__ = (
        """Augmented input: kernel ridge with intercept on ``[x, u]`` (source as a feature)."""
        + _PARAMS_DOC
    )

    def _kernel_input(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        return np.hstack([x, u])


class OffsetTransferRegressor(_KernelRidgeBaseline):
    __doc__ = (
        """HTL-offset: learn the residual ``y - f_s(x)`` by kernel ridge on ``x``.

    The special case ``g1 = u``, ``g2 = 1`` (needs exactly one source feature).
"""
        + _PARAMS_DOC
    )

    def _to_target(self, y: np.ndarray, u: np.ndarray) -> np.ndarray:
        return y - self._source_vector(u)

    def _from_target(self, g: np.ndarray, u: np.ndarray) -> np.ndarray:
        return self._source_vector(u) + g


class ScaleTransferRegressor(_KernelRidgeBaseline):
    __doc__ = (
        """HTL-scale: learn the ratio ``y / f_s(x)`` by kernel ridge on ``x``.

    The special case ``g1 = 0``, ``g2 = u`` (needs exactly one source feature). Denominators
    with ``|f_s| < clip`` are replaced by ``sign(f_s) * clip`` so the ratio stays bounded.
"""
        + _PARAMS_DOC
        + """
    clip : float, default=1e-3
        Smallest absolute source value used as a denominator (set it in the units of f_s).
"""
    )

    _parameter_constraints: dict[str, list[Any]] = {
        **_KernelRidgeBaseline._parameter_constraints,
        "clip": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        kernel: Any = "rbf",
        gamma: float | None = None,
        alpha: float = 1.0,
        lambda_scaling: str = "none",
        standardize: bool = True,
        clip: float = 1e-3,
        source: Any = None,
        source_columns: Any = None,
        input_columns: Any = "rest",
    ) -> None:
        super().__init__(
            kernel=kernel,
            gamma=gamma,
            alpha=alpha,
            lambda_scaling=lambda_scaling,
            standardize=standardize,
            source=source,
            source_columns=source_columns,
            input_columns=input_columns,
        )
        self.clip = clip

    def _denominator(self, u: np.ndarray) -> np.ndarray:
        fs = self._source_vector(u)
        sign = np.where(fs < 0, -1.0, 1.0)
        return np.where(np.abs(fs) < self.clip, sign * self.clip, fs)

    def _to_target(self, y: np.ndarray, u: np.ndarray) -> np.ndarray:
        return y / self._denominator(u)

    def _from_target(self, g: np.ndarray, u: np.ndarray) -> np.ndarray:
        return self._denominator(u) * g
