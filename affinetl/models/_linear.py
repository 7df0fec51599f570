"""Linear affine transfer with a fused-ridge penalty (every form), and the log-difference baseline."""

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

from .._forms import (
    LINEAR_FORMS,
    SOURCE_OFFSET_FORMS,
    SOURCE_ONLY_FORMS,
    form_design,
    form_target,
)
from .._solvers import (
    fused_penalty,
    linear_affine_newton,
    linear_affine_relaxation,
    scale_penalty,
    solve_penalized_lsq,
)
from .._solvers._resolve import resolve_solver
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

__all__ = ["LinearAffineTransferRegressor", "LogDifferenceRegressor"]

_FUSED_CONSTRAINTS: dict[str, list[Any]] = {
    "lambda_ridge": [Interval(Real, 0, None, closed="left")],
    "lambda_fused": [Interval(Real, 0, None, closed="left")],
    "blocks": [None, list, tuple],
    "standardize": ["boolean"],
    **source_constraints,
}


class LinearAffineTransferRegressor(SourceFeatureMixin, RegressorMixin, BaseEstimator):
    """Linear affine transfer ``f(x) = a0 + a1'u + (1 + b'u) x'w`` with a fused ridge, every form.

    The linear model of the affine-transfer paper's polymer Cp case study: ``g1 = a0 + a1'u`` (a
    calibrated source), ``g2 = 1 + b'u`` and ``g3 = x'w``. ``w`` (``coef_``) carries the
    penalty ``lambda_ridge^2 ||w||^2 + lambda_fused^2 * sum of squared first differences of w``
    within each descriptor block (for example the 20 bins of one kernel-mean descriptor),
    ``b`` the ridge ``lambda_scale^2 var(y) sum_j var(u_j) b_j^2`` (on the source scaled to
    unit variance, in the target's variance), and ``a0, a1`` none. The ``full`` form is fitted by damped Newton steps (``solver="newton"``, the kernel
    model's solver on the feature maps ``[1, u]``, ``u``, ``x``) or by the published block
    relaxation (``"relaxation"``: exact solves of ``w``, ``b`` and ``(a0, a1)`` in turn); the
    other forms by one penalised least-squares solve:

    ================== ================ ============ ========
    form               g1(u)            g2(u)        g3(x)
    ================== ================ ============ ========
    full               a0 + a1'u        1 + b'u      x'w
    offset_calibrated  a0 + a1'u        1            x'w
    offset             a0 + u           1            x'w
    direct             a0               1            x'w
    source_linear      a0 + a1'u        0            0
    source_plus_const  a0 + u           0            0
    source_as_is       u                0            0
    ================== ================ ============ ========

    ``offset``, ``source_plus_const`` and ``source_as_is`` use the raw source ``u`` itself (one
    source feature in the target's units).

    Parameters
    ----------
    form : str, default="full"
        The model form (table above).
    lambda_ridge : float, default=1.0
        Ridge strength ``ls`` (the penalty uses its square).
    lambda_fused : float, default=0.0
        Fusion strength ``lt`` (the penalty uses its square).
    blocks : list or None, default=None
        Descriptor blocks: sizes of consecutive columns of ``x`` or lists of column indices of
        ``x``; ``None`` is one ordered block of all inputs.
    lambda_scale : float, default=1.0
        Strength of the ridge of ``b`` (``full`` form): with 1, moving ``b'u`` by one standard
        deviation of ``u`` costs as much as one training point off by one standard deviation
        of ``y``; it does not follow ``lambda_ridge``. ``0`` leaves ``b`` unpenalised, the paper's model, which has no minimiser at small n:
        ``b -> t b`` and ``w -> w / t`` keep the interaction ``(b'u)(x'w)`` while the penalty of
        ``w`` vanishes as ``t`` grows, so the fit is where the solver stopped (the relaxation
        after ``max_iter`` sweeps). Measured in ``docs/model-selection.md`` ("Fifth pass").
    standardize : bool, default=False
        Standardise ``x`` first (off by default: fused differences assume comparable neighbours).
    solver : {"auto", "newton", "relaxation"}, default="auto"
        Solver of the ``full`` form: ``"auto"`` is ``"newton"`` when the objective has a
        minimiser (``lambda_ridge > 0`` and ``lambda_scale > 0``), else ``"relaxation"`` (the
        paper's model and algorithm). Recorded in ``solver_``.
    max_iter : int, default=1000
    tol : float, default=1e-6
        Stop when the largest relative max-abs change of the blocks (relaxation) or of a
        Newton step is below ``tol``.
    source, source_columns, input_columns
        Where ``u`` and ``x`` come from; see :class:`affinetl.base.SourceFeatureMixin`.

    Attributes
    ----------
    intercept_ : float
        ``a0``.
    source_coef_ : ndarray of shape (n_source_features,)
        ``a1`` (zeros for ``offset``, ``direct`` and the unit forms; the forms of
        :data:`~affinetl._forms.SOURCE_OFFSET_FORMS` add ``u`` itself).
    scale_coef_ : ndarray of shape (n_source_features,)
        ``b`` (zeros except for the full form).
    coef_ : ndarray of shape (n_inputs,)
        ``w``, so that ``g3 = x @ coef_`` (before version 0.3 the full model reported
        ``gamma = -w``).
    n_iter_ : int
    converged_ : bool
    objective_history_ : ndarray
        Penalised objective at the start and after every sweep or Newton step
        (non-increasing).
    solver_ : str
        ``"newton"``, ``"relaxation"``, or ``"ridge"`` for the forms solved in one step.

    Examples
    --------
    >>> import numpy as np
    >>> from affinetl import LinearAffineTransferRegressor
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(80, 5)); u = rng.normal(size=80)
    >>> y = 1 + 2 * u + (1 + 0.3 * u) * (x @ np.arange(5.0))
    >>> m = LinearAffineTransferRegressor(lambda_ridge=1e-3).fit(np.c_[x, u], y)
    >>> bool(np.allclose(m.coef_, np.arange(5.0), atol=1e-2))
    True
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **_FUSED_CONSTRAINTS,
        "form": [StrOptions(set(LINEAR_FORMS))],
        "lambda_scale": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions({"auto", "newton", "relaxation"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        form: str = "full",
        lambda_ridge: float = 1.0,
        lambda_fused: float = 0.0,
        lambda_scale: float = 1.0,
        blocks: list | None = None,
        standardize: bool = False,
        solver: str = "auto",
        max_iter: int = 1000,
        tol: float = 1e-6,
        source: Any = None,
        source_columns: Any = None,
        input_columns: Any = "rest",
    ) -> None:
        self.form = form
        self.lambda_ridge = lambda_ridge
        self.lambda_fused = lambda_fused
        self.lambda_scale = lambda_scale
        self.blocks = blocks
        self.standardize = standardize
        self.solver = solver
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

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> LinearAffineTransferRegressor:
        """Fit the form.

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
        if y.shape[0] < 2:
            raise ValueError(f"the {self.form} form needs at least 2 samples, got n_samples=1")
        x, u = self._split_features(X)
        if self.form in SOURCE_OFFSET_FORMS:
            self._source_vector(u)
        self.scaler_ = StandardScaler().fit(x) if self.standardize and x.shape[1] else None
        if self.scaler_ is not None:
            x = self.scaler_.transform(x)
        p, k = x.shape[1], u.shape[1]
        P = fused_penalty(p, self.lambda_ridge, self.lambda_fused, self.blocks)
        self.source_coef_, self.scale_coef_, self.coef_ = np.zeros(k), np.zeros(k), np.zeros(p)
        self.n_iter_, self.converged_ = 1, True
        self.solver_ = resolve_solver(
            self.solver,
            form=self.form,
            n_samples=len(y),
            family="linear",
            penalty_definite=self.lambda_ridge > 0,
            scale_penalised=self.lambda_scale > 0,
        )
        if self.form == "full":
            s = scale_penalty(u, y, self.lambda_scale)
            opts = dict(scale_penalty=s, max_iter=self.max_iter, tol=self.tol)
            if self.solver_ == "newton":
                res = linear_affine_newton(x, u, y, P, **opts)
            else:
                res = linear_affine_relaxation(x, u, y, P, **opts)
            self.intercept_ = float(res.intercept[0])
            self.source_coef_, self.scale_coef_ = res.source_coef[0], res.scale_coef[0]
            self.coef_ = res.coef[0]
            self.n_iter_, self.converged_ = int(res.n_iter[0]), bool(res.converged[0])
            self.objective_history_ = res.objective_history[:, 0]
            if not self.converged_:
                steps = "Newton steps" if self.solver_ == "newton" else "relaxation sweeps"
                hint = "" if np.any(s) else "; lambda_scale > 0 penalises b and makes it well posed"
                warnings.warn(
                    f"the full form did not converge in {self.max_iter} {steps} "
                    f"(tol={self.tol}){hint}",
                    ConvergenceWarning,
                    stacklevel=2,
                )
            return self
        Z = form_design(self.form, u)
        t = form_target(self.form, y, u)
        if self.form in SOURCE_ONLY_FORMS:  # source_as_is: nothing to fit
            c = linalg.lstsq(Z, t, check_finite=False)[0] if Z.shape[1] else np.zeros(0)
        else:
            q = Z.shape[1]
            Pa = np.zeros((q + p, q + p))
            Pa[q:, q:] = P
            sol = solve_penalized_lsq(np.hstack([Z, x]), t, Pa)
            c, self.coef_ = sol[:q], sol[q:]
        self.intercept_ = float(c[0]) if c.size else 0.0
        if c.size > 1:
            self.source_coef_ = c[1:]
        e = t - Z @ c - x @ self.coef_
        self.objective_history_ = np.array([float(e @ e + self.coef_ @ P @ self.coef_)])
        return self

    def predict_components(self, X: ArrayLike) -> dict[str, np.ndarray]:
        """``g1``, ``g2`` and ``g3 = x @ coef_``, each of shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        x, u = self._inputs(X)
        m = X.shape[0]
        g1 = self.intercept_ + u @ self.source_coef_
        if self.form in SOURCE_OFFSET_FORMS:
            g1 = g1 + self._source_vector(u)
        if self.form in SOURCE_ONLY_FORMS:  # g2 = g3 = 0
            return {"g1": g1, "g2": np.zeros(m), "g3": np.zeros(m)}
        return {"g1": g1, "g2": 1.0 + u @ self.scale_coef_, "g3": x @ self.coef_}

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
