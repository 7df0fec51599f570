"""Kernel-ridge baselines that the affine transfer model contains as special cases.

Each baseline is kernel ridge regression with an unpenalised intercept on one view of the data,
fitted as a form of the canonical estimator :class:`~affinetl.AffineTransferRegressor` (one
code path: its ridge solve with the unpenalised design):

========================  =====================  ======================  ==================
estimator                 kernel input           target / prediction     form
========================  =====================  ======================  ==================
DirectRegressor           x                      y (no transfer)         ``direct``
SourceOnlyRegressor       u = f_s(x)             y (calibrated source)   ``source_kernel``
AugmentedRegressor        [x, u]                 y (source as feature)   ``direct`` on [x, u]
OffsetTransferRegressor   x                      y - f_s, adds f_s back  ``offset``
ScaleTransferRegressor    x                      y / f_s, times f_s      ``direct`` on y / f_s
========================  =====================  ======================  ==================
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin

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
from ..kernels import kernel_constraint
from ..models import AffineTransferRegressor

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
        Ridge penalty (strictly positive): the ``lambda`` of the form's kernel block in
        :class:`~affinetl.AffineTransferRegressor` (sum-of-squares objective).
    lambda_scaling : {"none", "n"}, default="none"
        ``"n"`` multiplies the penalty by the number of samples.
    standardize : bool, default=True
        Standardise the kernel input with the training mean and standard deviation.
    source, source_columns, input_columns
        Where the source features ``u = f_s(x)`` and inputs ``x`` come from; see
        :class:`affinetl.base.SourceFeatureMixin`.

    Attributes
    ----------
    estimator_ : AffineTransferRegressor
        The fitted form (on the columns ``[x, u]`` of the training data).
    intercept_ : float
    dual_coef_ : ndarray of shape (n_samples,)
    z_fit_ : ndarray of shape (n_samples, n_kernel_inputs)
        Standardised training kernel input.
    n_features_in_ : int
"""


class _KernelRidgeBaseline(SourceFeatureMixin, RegressorMixin, BaseEstimator):
    """Kernel ridge with intercept on a view of ``(x, u)``: a form of the affine model."""

    #: The :class:`~affinetl.AffineTransferRegressor` form fitted.
    _FORM = "direct"
    #: Whether the kernel input is ``[x, u]`` (else ``x``, or ``u`` for the source forms).
    _AUGMENTED = False

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
    def _to_target(self, y: np.ndarray, u: np.ndarray) -> np.ndarray:
        return y

    def _from_target(self, g: np.ndarray, u: np.ndarray) -> np.ndarray:
        return g

    # estimator API ------------------------------------------------------------------------
    def _columns(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[x, u]`` of validated ``X`` (the form's input) and ``u``."""
        x, u = self._split_features(X)
        return np.hstack([x, u]), u

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
        xu, u = self._columns(X)
        block = 1 if self._FORM == "source_kernel" else 3  # h1 on u, else g3 on the input
        self.estimator_ = AffineTransferRegressor(
            form=self._FORM,
            **{f"kernel{block}": self.kernel, f"gamma{block}": self.gamma},
            **{f"lambda{block}": self.alpha},
            lambda_scaling=self.lambda_scaling,
            standardize=self.standardize,
            source_columns=list(range(xu.shape[1] - u.shape[1], xu.shape[1])),
            input_columns="all" if self._AUGMENTED else "rest",
        ).fit(xu, self._to_target(y, u))
        fitted = self.estimator_
        self.intercept_ = fitted.intercept_
        self.dual_coef_ = fitted.alpha_ if block == 1 else fitted.gamma_
        self.z_fit_ = fitted.u_fit_ if block == 1 else fitted.x_fit_
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
        xu, u = self._columns(X)
        return self._from_target(self.estimator_.predict(xu), u)


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

    _FORM = "source_kernel"


class AugmentedRegressor(_KernelRidgeBaseline):
    __doc__ = (
        """Augmented input: kernel ridge with intercept on ``[x, u]`` (source as a feature)."""
        + _PARAMS_DOC
    )

    _AUGMENTED = True


class OffsetTransferRegressor(_KernelRidgeBaseline):
    __doc__ = (
        """HTL-offset: learn the residual ``y - f_s(x)`` by kernel ridge on ``x``.

    The special case ``g1 = u``, ``g2 = 1`` (needs exactly one source feature).
"""
        + _PARAMS_DOC
    )

    _FORM = "offset"

    def _to_target(self, y: np.ndarray, u: np.ndarray) -> np.ndarray:
        self._source_vector(u)  # one source feature (the error names this estimator)
        return y


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
