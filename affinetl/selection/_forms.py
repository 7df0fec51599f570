"""The candidate family: the affine model ``g1(u) + g2(u) g3(x)`` and its special cases.

================== ============================ ================ ============== ==========
form               g1(u)                        g2(u)            g3(x)          complexity
================== ============================ ================ ============== ==========
source_linear      a0 + a1'u                    0                0              0
offset             a0 + u  (HTL-offset)         1                kernel/linear  1
source_kernel      a0 + h1(u)                   0                0              1
direct             a0  (no transfer)            1                kernel/linear  1
offset_calibrated  a0 + a1'u                    1                kernel/linear  2
const              a0 + h1(u)  (AffineTL-const) 1                kernel         3
full               a0 + h1(u)  (AffineTL-full)  1 + h2(u)        kernel/linear  4
================== ============================ ================ ============== ==========

``complexity`` orders the forms for the one-standard-error rule (smaller is simpler). The
linear family (:class:`LinearTransferFormRegressor`) has no ``source_kernel`` and ``const``
(with a linear ``g1`` the const form *is* ``offset_calibrated``).

:class:`TransferFormRegressor` and :class:`LinearTransferFormRegressor` fit one form with fixed
hyper-parameters; they are what :class:`~affinetl.selection.AffineTransferCV` refits, and
they give every form the ``predict_components`` of the affine estimators.
"""

from __future__ import annotations

import dataclasses
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
    StrOptions,
    check_is_fitted,
    check_target,
    fit_context,
    source_constraints,
    validate_data,
)
from ..kernels import gram_matrix, kernel_constraint
from ..models._affine_newton import NewtonBatchResult, affine_full_newton
from ..models._fused_ridge import fused_penalty, solve_penalized_lsq
from ..models._kernel_newton import fit_affine_newton, newton_applies
from ..models._kernel_solvers import GramFactor, fit_affine_blocks
from ._loo import fit_partial_ridge

__all__ = [
    "COMPLEXITY",
    "G1_KERNEL_FORMS",
    "KERNEL_FORMS",
    "LINEAR_FORMS",
    "LinearTransferFormRegressor",
    "TransferFormRegressor",
    "fit_full_kernel",
    "fit_full_linear",
    "form_complexity",
    "form_design",
]

#: Forms of the kernel family, simplest first.
KERNEL_FORMS = (
    "source_linear",
    "offset",
    "source_kernel",
    "direct",
    "offset_calibrated",
    "const",
    "full",
)
#: Forms of the linear (fused-ridge) family, simplest first.
LINEAR_FORMS = ("source_linear", "offset", "direct", "offset_calibrated", "full")
#: Complexity rank of each form (number of fitted blocks beyond the intercept).
COMPLEXITY = {
    "source_linear": 0,
    "offset": 1,
    "source_kernel": 1,
    "direct": 1,
    "offset_calibrated": 2,
    "const": 3,
    "full": 4,
}
#: Hyper-parameters each kernel form uses.
KERNEL_FORM_PARAMS = {
    "source_linear": (),
    "source_kernel": ("gamma1", "lambda1"),
    "offset": ("gamma3", "lambda3"),
    "direct": ("gamma3", "lambda3"),
    "offset_calibrated": ("gamma3", "lambda3"),
    "const": ("gamma1", "gamma3", "lambda1", "lambda3"),
    "full": ("gamma1", "gamma2", "gamma3", "lambda1", "lambda2", "lambda3"),
}
#: Hyper-parameters each linear form uses.
LINEAR_FORM_PARAMS = {
    "source_linear": (),
    "offset": ("lambda_ridge", "lambda_fused"),
    "direct": ("lambda_ridge", "lambda_fused"),
    "offset_calibrated": ("lambda_ridge", "lambda_fused"),
    "full": ("lambda_ridge", "lambda_fused"),
}


#: Above this training size the full form (intercept-only ``g1``) is fitted by the block
#: relaxation of :class:`~affinetl.AffineTransferRegressor`: the exact-Hessian Newton steps cost
#: ``O((3n)^3)`` each, the relaxation's sweeps ``O(n^2)``.
NEWTON_MAX_N = 300
#: Largest number of Hessian entries (members x p x p) held at once by the batched Newton solve.
NEWTON_MAX_HESSIAN_ENTRIES = 3e7

#: Kernel forms with an ``h1`` block, which may also carry the linear source terms ``a1'u``.
G1_KERNEL_FORMS = ("source_kernel", "const", "full")


def has_linear_source_terms(form: str, g1_linear: bool = False) -> bool:
    """Whether the kernel family's form has unpenalised linear source terms ``a1'u`` in ``g1``.

    The calibration forms (``source_linear``, ``offset_calibrated``) always have them; the
    kernel-``g1`` forms (:data:`G1_KERNEL_FORMS`) have them when ``g1_linear``.
    """
    return form in ("source_linear", "offset_calibrated") or bool(
        g1_linear and form in G1_KERNEL_FORMS
    )


def form_design(form: str, u: np.ndarray, g1_linear: bool = False) -> np.ndarray:
    """Unpenalised design of ``g1``: ``[1, u]`` with linear source terms
    (:func:`has_linear_source_terms`), else ``[1]``."""
    ones = np.ones((u.shape[0], 1))
    return np.hstack([ones, u]) if has_linear_source_terms(form, g1_linear) else ones


#: Fewest training samples per unpenalised coefficient for a calibration to count as simple.
SAMPLES_PER_COEF = 5


def form_complexity(
    form: str, n_source: int, g1_linear: bool = False, n_train: int | None = None
) -> int:
    """Complexity of a candidate for the one-standard-error rule (smaller is simpler).

    :data:`COMPLEXITY` of the form, plus, where its unpenalised linear source coefficients
    are many for the training size, their number beyond the first: a calibration ``a0 + a1'u``
    on ``k`` source features costs ``k - 1`` more (``k`` more when added to a kernel ``g1``)
    when ``1 + k`` exceeds ``n_train / SAMPLES_PER_COEF`` (``n_train``: training samples per
    CV fold; ``None`` always counts them). With one source feature this is the order of
    :data:`COMPLEXITY`. With six (SARCOS: the other torques) an unpenalised calibration fitted
    on nine points per fold is not the "simple" model, while on 64 points it is.

    Parameters
    ----------
    form : str
    n_source : int
        Number of source features ``k``.
    g1_linear : bool
        Whether a kernel-``g1`` form carries the linear source terms.
    n_train : int, optional
        Training samples per fold.

    Returns
    -------
    int
    """
    if form in ("source_linear", "offset_calibrated"):
        extra = n_source - 1
    elif g1_linear and form in G1_KERNEL_FORMS:
        extra = n_source
    else:
        return COMPLEXITY[form]
    if n_train is not None and (1 + n_source) * SAMPLES_PER_COEF <= n_train:
        extra = 0
    return COMPLEXITY[form] + extra


def form_target(form: str, y: np.ndarray, u_raw: np.ndarray) -> np.ndarray:
    """Target of the ridge fit: ``y - u`` for the offset form (raw ``u``), else ``y``."""
    if form == "offset":
        return y - u_raw[:, 0]
    return y


def _y_scale(y: np.ndarray) -> float:
    sd = float(np.std(y))
    return sd if sd > 0 and np.isfinite(sd) else 1.0


def fit_full_kernel(
    K1: np.ndarray,
    K2: np.ndarray,
    K3: np.ndarray,
    y: np.ndarray,
    lams: np.ndarray,
    *,
    problem: np.ndarray | None = None,
    design: np.ndarray | None = None,
    evals: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    design_eval: np.ndarray | None = None,
    max_iter: int = 200,
    tol: float = 1e-6,
) -> tuple[np.ndarray, NewtonBatchResult]:
    """AffineTL-full on targets scaled to unit standard deviation, for a batch of members.

    ``g2 = 1 + h2`` fixes the scale of ``g2``, so the full model is not equivariant in the
    target's units; fitting ``y / sd(y)`` makes the penalties unit-free. Every member (a
    problem and its penalties ``(lambda1, lambda2, lambda3)``) is solved by the batched damped
    Newton method of :func:`affinetl.models._affine_newton.affine_full_newton` from its
    AffineTL-const solution (the limit of the full model for ``lambda2 -> inf``), in chunks that
    bound the memory of the Hessians. Above ``NEWTON_MAX_N`` training samples (and with an
    intercept-only design) the members are fitted one by one by the accelerated block
    relaxation instead, whose sweeps cost ``O(n^2)`` where a Newton step costs ``O(n^3)``.

    Parameters
    ----------
    K1, K2, K3 : ndarray of shape (P, n, n)
        Gram matrices of ``h1``, ``h2`` (on u) and ``g3`` (on x) of each problem.
    y : ndarray of shape (P, n)
    lams : ndarray of shape (B, 3)
    problem : ndarray of shape (B,), optional
        Problem of each member (default one member per problem).
    design, evals, design_eval
        Unpenalised design of ``g1`` (default the intercept) and the evaluation rows, as in
        :func:`~affinetl.models._affine_newton.affine_full_newton`.
    max_iter, tol : int, float
        Newton limits.

    Returns
    -------
    scale : ndarray of shape (B,)
        ``sd(y)`` of each member's problem; fitted values and predictions are ``scale`` times
        those of the result (its ``coef``, ``alpha`` and ``gamma`` are in scaled units).
    result : NewtonBatchResult
    """
    y = np.atleast_2d(y)
    prob = np.arange(y.shape[0]) if problem is None else np.asarray(problem)
    scale = np.array([_y_scale(t) for t in y])
    ys = y / scale[:, None]
    n = y.shape[1]
    intercept_only = design is None or np.asarray(design).shape[2] == 1
    if n > NEWTON_MAX_N and intercept_only:
        return scale[prob], _one_by_one_batch(K1, K2, K3, ys, lams, prob, evals, max_iter, tol)
    # bound the memory of the batched Hessians (members x p x p, p = q + 3n)
    q = 1 if design is None else np.asarray(design).shape[2]
    chunk = max(1, int(NEWTON_MAX_HESSIAN_ENTRIES // (q + 3 * n) ** 2))
    parts = [
        affine_full_newton(
            K1,
            K2,
            K3,
            ys,
            lams[i : i + chunk],
            design=design,
            evals=evals,
            design_eval=design_eval,
            problem=prob[i : i + chunk],
            max_iter=max_iter,
            tol=tol,
        )
        for i in range(0, prob.size, chunk)
    ]
    if len(parts) == 1:
        return scale[prob], parts[0]
    joined = {}
    for field in dataclasses.fields(NewtonBatchResult):
        values = [getattr(r, field.name) for r in parts]
        joined[field.name] = None if values[0] is None else np.concatenate(values)
    return scale[prob], NewtonBatchResult(**joined)


def _one_by_one_batch(K1, K2, K3, y, lams, prob, evals, max_iter, tol) -> NewtonBatchResult:
    """The members one by one (training sets above ``NEWTON_MAX_N``): by the structured Newton
    solver of :mod:`affinetl.models._kernel_newton` where the source kernels have low rank,
    else by accelerated block relaxation; both from the AffineTL-const start."""
    out: dict[str, list] = {
        f: [] for f in ("coef", "alpha", "beta", "gamma", "pred", "n_iter", "conv", "obj")
    }
    factors: dict[int, tuple[GramFactor, GramFactor, GramFactor]] = {}
    for b, pb in enumerate(prob):
        if pb not in factors:
            factors[pb] = (GramFactor(K1[pb]), GramFactor(K2[pb]), GramFactor(K3[pb]))
        F1, F2, F3 = factors[pb]
        lam = tuple(float(v) for v in lams[b])
        if newton_applies(F1, F2, F3):
            res = fit_affine_newton(F1, F2, F3, y[pb], lam, max_iter=max_iter, tol=tol)
        else:
            res = fit_affine_blocks(
                F1, F2, F3, y[pb], lam, max_iter=max_iter, tol=tol, extrapolate=True
            )
        out["coef"].append([res.intercept])
        out["alpha"].append(res.alpha)
        out["beta"].append(res.beta)
        out["gamma"].append(res.gamma)
        out["n_iter"].append(res.n_iter)
        out["conv"].append(res.converged)
        out["obj"].append(res.objective_history[-1])
        if evals is not None:
            E1, E2, E3 = (np.asarray(E)[pb] for E in evals)
            out["pred"].append(
                res.intercept + E1 @ res.alpha + (1.0 + E2 @ res.beta) * (E3 @ res.gamma)
            )
    return NewtonBatchResult(
        coef=np.asarray(out["coef"]),
        alpha=np.asarray(out["alpha"]),
        beta=np.asarray(out["beta"]),
        gamma=np.asarray(out["gamma"]),
        predictions=np.asarray(out["pred"]) if evals is not None else None,
        n_iter=np.asarray(out["n_iter"]),
        converged=np.asarray(out["conv"]),
        objective=np.asarray(out["obj"]),
    )


def fit_full_linear(
    x: np.ndarray,
    u: np.ndarray,
    y: np.ndarray,
    P: np.ndarray,
    *,
    start: tuple[float, np.ndarray, np.ndarray, np.ndarray] | None = None,
    max_iter: int = 1000,
    tol: float = 1e-6,
) -> tuple[tuple[float, np.ndarray, np.ndarray, np.ndarray], int, bool]:
    """Block relaxation of ``y ~ a0 + a1'u + (1 + b'u) x'w`` with penalty ``w'P w``.

    The algorithm of :class:`~affinetl.LinearAffineTransferRegressor` (there ``w = -gamma``)
    with an optional warm start: ``w`` (fused-ridge solve), then ``b`` and ``(a0, a1)`` (least
    squares), each an exact block minimiser.

    Parameters
    ----------
    x : ndarray of shape (n, p)
    u : ndarray of shape (n, k)
    y : ndarray of shape (n,)
    P : ndarray of shape (p, p)
        Penalty matrix (:func:`affinetl.models._fused_ridge.fused_penalty`).
    start : (a0, a1, b, w), optional
        Warm start; default: ``(a0, a1)`` by least squares, ``b = 0``, ``w = 0``.
    max_iter, tol : int, float

    Returns
    -------
    state : (a0, a1, b, w)
    n_iter : int
    converged : bool
    """
    n, p = x.shape
    k = u.shape[1]
    ones = np.ones((n, 1))
    Zu = np.hstack([ones, u])
    if start is None:
        coef = linalg.lstsq(Zu, y, check_finite=False)[0]
        a0, a1, b, w = float(coef[0]), coef[1:], np.zeros(k), np.zeros(p)
    else:
        a0, a1, b, w = start
    converged = False
    it = 0
    while it < max_iter:
        it += 1
        old = np.concatenate([[a0], a1, b, w])
        r = y - a0 - u @ a1
        w = solve_penalized_lsq((1.0 + u @ b)[:, None] * x, r, P)
        xw = x @ w
        if np.any(xw):
            b = linalg.lstsq(u * xw[:, None], r - xw, check_finite=False)[0]
        else:
            b = np.zeros(k)
        coef = linalg.lstsq(Zu, y - (1.0 + u @ b) * xw, check_finite=False)[0]
        a0, a1 = float(coef[0]), coef[1:]
        new = np.concatenate([[a0], a1, b, w])
        scale = max(float(np.max(np.abs(old))), 1e-300)
        if float(np.max(np.abs(new - old))) / scale < tol:
            converged = True
            break
    return (a0, a1, b, w), it, converged


def _scaler(data: np.ndarray, on: bool) -> StandardScaler | None:
    return StandardScaler().fit(data) if on and data.shape[1] > 0 else None


def _apply(scaler: StandardScaler | None, data: np.ndarray) -> np.ndarray:
    return data if scaler is None else scaler.transform(data)


def _warn_not_converged(max_iter: int, tol: float, steps: str) -> None:
    warnings.warn(
        f"the full form did not converge in {max_iter} {steps} (tol={tol}); "
        "increase max_iter or the penalties",
        ConvergenceWarning,
        stacklevel=3,
    )


class TransferFormRegressor(SourceFeatureMixin, RegressorMixin, BaseEstimator):
    """One form of the kernel affine family, ``g1(u) + g2(u) g3(x)``, with fixed settings.

    The forms (see :mod:`affinetl.selection`): ``"source_linear"`` (a calibrated source,
    ``a0 + a1'u``), ``"source_kernel"`` (kernel ridge on ``u``), ``"offset"`` (``u`` plus kernel
    ridge on ``x``), ``"offset_calibrated"`` (``a0 + a1'u`` plus kernel ridge on ``x``),
    ``"direct"`` (kernel ridge on ``x`` alone), ``"const"`` (AffineTL-const) and ``"full"``
    (AffineTL-full). Every form except ``"full"`` is one partially linear ridge solve; ``"full"``
    minimises the objective of :class:`~affinetl.AffineTransferRegressor` by damped Newton
    steps from the const solution (:func:`fit_full_kernel`), on the target scaled to unit
    standard deviation (penalties are then unit-free).

    Parameters
    ----------
    form : str, default="full"
        One of :data:`KERNEL_FORMS`.
    kernel1, kernel2, kernel3 : str, sklearn kernel or callable, default="rbf"
        Kernels of ``h1``, ``h2`` (on u) and ``g3`` (on x).
    gamma1, gamma2, gamma3 : float or None, default=None
        Kernel widths (``None``: ``1 / (2 dim)``).
    lambda1, lambda2, lambda3 : float, default=1.0
        Penalties of ``h1``, ``h2``, ``g3`` (sum-of-squares scale, as ``lambda_scaling="none"``).
    g1_linear : bool, default=False
        Add unpenalised linear source terms to the kernel ``g1`` of the ``source_kernel``,
        ``const`` and ``full`` forms: ``g1 = a0 + a1'u + h1(u)``. A smooth kernel alone shrinks
        ``g1`` towards a constant away from the data, while an MD-to-experiment map is often
        close to linear; the linear part follows it without penalty.
    standardize : bool, default=True
        Standardise ``x`` and ``u`` before the kernels and linear terms (the offset form's
        ``g1 = a0 + u`` always uses the raw ``u``).
    max_iter : int, default=200
    tol : float, default=1e-6
        Iteration limit and relative step tolerance of the full form (Newton iterations up to
        ``NEWTON_MAX_N`` training samples, relaxation sweeps above).
    source, source_columns, input_columns
        Where ``u`` and ``x`` come from; see :class:`affinetl.base.SourceFeatureMixin`.

    Attributes
    ----------
    intercept_ : float
        Constant part of ``g1``.
    source_coef_ : ndarray of shape (n_source_features,)
        Linear calibration coefficients of the (standardised) ``u`` in ``g1`` (zeros if unused).
    alpha_, beta_, gamma_ : ndarray of shape (n_samples,)
        Dual coefficients of ``h1``, ``h2``, ``g3`` (zeros where the form has no such block).
    target_scale_ : float
        Scale of the full form's fit (1 for the other forms).
    n_iter_ : int
        Iterations of the full form (1 for the closed-form forms).
    converged_ : bool

    Examples
    --------
    >>> import numpy as np
    >>> from affinetl.selection import TransferFormRegressor
    >>> rng = np.random.default_rng(0)
    >>> u = rng.normal(size=(30, 1)); x = rng.normal(size=(30, 2))
    >>> y = 1.0 + 2.0 * u[:, 0]
    >>> m = TransferFormRegressor(form="source_linear").fit(np.hstack([x, u]), y)
    >>> bool(np.allclose(m.predict(np.hstack([x, u])), y))
    True
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "form": [StrOptions(set(KERNEL_FORMS))],
        "kernel1": kernel_constraint,
        "kernel2": kernel_constraint,
        "kernel3": kernel_constraint,
        "gamma1": [None, Interval(Real, 0, None, closed="neither")],
        "gamma2": [None, Interval(Real, 0, None, closed="neither")],
        "gamma3": [None, Interval(Real, 0, None, closed="neither")],
        "lambda1": [Interval(Real, 0, None, closed="neither")],
        "lambda2": [Interval(Real, 0, None, closed="neither")],
        "lambda3": [Interval(Real, 0, None, closed="neither")],
        "g1_linear": ["boolean"],
        "standardize": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        **source_constraints,
    }

    def __init__(
        self,
        *,
        form: str = "full",
        kernel1: Any = "rbf",
        kernel2: Any = "rbf",
        kernel3: Any = "rbf",
        gamma1: float | None = None,
        gamma2: float | None = None,
        gamma3: float | None = None,
        lambda1: float = 1.0,
        lambda2: float = 1.0,
        lambda3: float = 1.0,
        g1_linear: bool = False,
        standardize: bool = True,
        max_iter: int = 200,
        tol: float = 1e-6,
        source: Any = None,
        source_columns: Any = None,
        input_columns: Any = "rest",
    ) -> None:
        self.form = form
        self.kernel1 = kernel1
        self.kernel2 = kernel2
        self.kernel3 = kernel3
        self.gamma1 = gamma1
        self.gamma2 = gamma2
        self.gamma3 = gamma3
        self.lambda1 = lambda1
        self.lambda2 = lambda2
        self.lambda3 = lambda3
        self.g1_linear = g1_linear
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.source = source
        self.source_columns = source_columns
        self.input_columns = input_columns

    def _uses(self) -> tuple[bool, bool, bool]:
        f = self.form
        return (
            f in ("source_kernel", "const", "full"),
            f == "full",
            f not in ("source_linear", "source_kernel"),
        )

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> TransferFormRegressor:
        """Fit the form.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : TransferFormRegressor
        """
        X, y = validate_data(self, X, y, y_numeric=True)
        y = check_target(y)
        x, u = self._split_features(X)
        if self.form == "offset":
            self._source_vector(u)
        self.x_scaler_ = _scaler(x, self.standardize)
        self.u_scaler_ = _scaler(u, self.standardize)
        self.x_fit_, self.u_fit_ = _apply(self.x_scaler_, x), _apply(self.u_scaler_, u)
        n = y.shape[0]
        use1, use2, use3 = self._uses()
        K1 = gram_matrix(self.kernel1, self.u_fit_, None, self.gamma1) if use1 else None
        K3 = gram_matrix(self.kernel3, self.x_fit_, None, self.gamma3) if use3 else None
        self.alpha_, self.beta_, self.gamma_ = np.zeros(n), np.zeros(n), np.zeros(n)
        self.source_coef_ = np.zeros(u.shape[1])
        self.target_scale_, self.n_iter_, self.converged_ = 1.0, 1, True
        Z = form_design(self.form, self.u_fit_, self.g1_linear)
        if self.form == "full":
            K2 = gram_matrix(self.kernel2, self.u_fit_, None, self.gamma2)
            lams = np.array([[self.lambda1, self.lambda2, self.lambda3]])
            scale, res = fit_full_kernel(
                K1[None],
                K2[None],
                K3[None],
                y[None],
                lams,
                design=Z[None],
                max_iter=self.max_iter,
                tol=self.tol,
            )
            sc = float(scale[0])
            c = sc * res.coef[0]
            self.alpha_, self.beta_, self.gamma_ = sc * res.alpha[0], res.beta[0], sc * res.gamma[0]
            self.target_scale_ = sc
            self.n_iter_, self.converged_ = int(res.n_iter[0]), bool(res.converged[0])
            if not self.converged_:
                _warn_not_converged(self.max_iter, self.tol, "iterations")
        else:
            t = form_target(self.form, y, u)
            if self.form == "const":
                rho = self.lambda3 / self.lambda1
                K, lam = K3 + rho * K1, self.lambda3
            elif self.form == "source_kernel":
                K, lam = K1, self.lambda1
            elif self.form == "source_linear":
                K, lam = None, 1.0
            else:
                K, lam = K3, self.lambda3
            c, a = fit_partial_ridge(K, Z, t, lam)
            if self.form == "const":
                self.alpha_, self.gamma_ = rho * a, a
            elif self.form == "source_kernel":
                self.alpha_ = a
            elif self.form != "source_linear":
                self.gamma_ = a
        self.intercept_ = float(c[0])
        if Z.shape[1] > 1:
            self.source_coef_ = c[1:]
        return self

    def predict_components(self, X: ArrayLike) -> dict[str, np.ndarray]:
        """Evaluate ``g1(u)``, ``g2(u)`` and ``g3(x)`` of the fitted form.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        components : dict
            ``"g1"``, ``"g2"``, ``"g3"``: ndarrays of shape (n_samples,) with
            ``predict(X) == g1 + g2 * g3``. Source-only forms have ``g2 = g3 = 0``; forms
            without a scale block have ``g2 = 1``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        x, u_raw = self._split_features(X)
        x, u = _apply(self.x_scaler_, x), _apply(self.u_scaler_, u_raw)
        m = X.shape[0]
        use1, use2, use3 = self._uses()
        g1 = self.intercept_ + u @ self.source_coef_
        if self.form == "offset":
            g1 = g1 + self._source_vector(u_raw)
        if use1:
            g1 = g1 + gram_matrix(self.kernel1, u, self.u_fit_, self.gamma1) @ self.alpha_
        if not use3:
            return {"g1": g1, "g2": np.zeros(m), "g3": np.zeros(m)}
        g3 = gram_matrix(self.kernel3, x, self.x_fit_, self.gamma3) @ self.gamma_
        g2 = np.ones(m)
        if use2:
            g2 = g2 + gram_matrix(self.kernel2, u, self.u_fit_, self.gamma2) @ self.beta_
        return {"g1": g1, "g2": g2, "g3": g3}

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict ``g1 + g2 * g3``; returns ndarray of shape (n_samples,)."""
        c = self.predict_components(X)
        return c["g1"] + c["g2"] * c["g3"]


class LinearTransferFormRegressor(SourceFeatureMixin, RegressorMixin, BaseEstimator):
    """One form of the linear affine family with a fused-ridge penalty on ``g3(x) = x'w``.

    Forms: ``"source_linear"`` (``a0 + a1'u``), ``"offset"`` (``a0 + u + x'w``), ``"direct"``
    (``a0 + x'w``), ``"offset_calibrated"`` (``a0 + a1'u + x'w``) and ``"full"``
    (``a0 + a1'u + (1 + b'u) x'w``, the model of
    :class:`~affinetl.LinearAffineTransferRegressor` with ``w = -gamma``). ``w`` carries the
    penalty ``lambda_ridge^2 ||w||^2 + lambda_fused^2 ||D w||^2`` (differences within
    ``blocks``); ``a0, a1, b`` are unpenalised.

    Parameters
    ----------
    form : str, default="full"
        One of :data:`LINEAR_FORMS`.
    lambda_ridge, lambda_fused : float, default=1.0 and 0.0
    blocks : list or None, default=None
        Descriptor blocks of ``x`` (see :func:`affinetl.models._fused_ridge.difference_matrix`).
    standardize : bool, default=False
        Standardise ``x``.
    max_iter : int, default=1000
    tol : float, default=1e-6
    source, source_columns, input_columns
        See :class:`affinetl.base.SourceFeatureMixin`.

    Attributes
    ----------
    intercept_ : float
    source_coef_ : ndarray of shape (n_source_features,)
        ``a1`` (zeros for offset and direct; the offset form adds ``u`` itself).
    scale_coef_ : ndarray of shape (n_source_features,)
        ``b`` (zeros except for the full form).
    coef_ : ndarray of shape (n_inputs,)
        ``w``, so that ``g3 = x @ coef_``.
    n_iter_ : int
    converged_ : bool

    Examples
    --------
    >>> import numpy as np
    >>> from affinetl.selection import LinearTransferFormRegressor
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(40, 3)); u = rng.normal(size=(40, 1))
    >>> y = u[:, 0] + x @ [1.0, 0.0, -1.0]
    >>> m = LinearTransferFormRegressor(form="offset", lambda_ridge=1e-3).fit(np.hstack([x, u]), y)
    >>> np.round(m.coef_, 2).tolist()
    [1.0, 0.0, -1.0]
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "form": [StrOptions(set(LINEAR_FORMS))],
        "lambda_ridge": [Interval(Real, 0, None, closed="left")],
        "lambda_fused": [Interval(Real, 0, None, closed="left")],
        "blocks": [None, list, tuple],
        "standardize": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        **source_constraints,
    }

    def __init__(
        self,
        *,
        form: str = "full",
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
        self.form = form
        self.lambda_ridge = lambda_ridge
        self.lambda_fused = lambda_fused
        self.blocks = blocks
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.source = source
        self.source_columns = source_columns
        self.input_columns = input_columns

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> LinearTransferFormRegressor:
        """Fit the form.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : LinearTransferFormRegressor
        """
        X, y = validate_data(self, X, y, y_numeric=True)
        y = check_target(y)
        if y.shape[0] < 2:
            raise ValueError(f"{self.form} form needs at least 2 samples, got n_samples=1")
        x, u = self._split_features(X)
        if self.form == "offset":
            self._source_vector(u)
        self.scaler_ = _scaler(x, self.standardize)
        x = _apply(self.scaler_, x)
        p, k = x.shape[1], u.shape[1]
        P = fused_penalty(p, self.lambda_ridge, self.lambda_fused, self.blocks)
        self.source_coef_, self.scale_coef_, self.coef_ = np.zeros(k), np.zeros(k), np.zeros(p)
        self.n_iter_, self.converged_ = 1, True
        if self.form == "full":
            state, self.n_iter_, self.converged_ = fit_full_linear(
                x, u, y, P, max_iter=self.max_iter, tol=self.tol
            )
            self.intercept_, self.source_coef_, self.scale_coef_, self.coef_ = state
            if not self.converged_:
                _warn_not_converged(self.max_iter, self.tol, "block-relaxation sweeps")
            return self
        Z = form_design(self.form, u)
        t = form_target(self.form, y, u)
        if self.form == "source_linear":
            c = linalg.lstsq(Z, t, check_finite=False)[0]
        else:
            q = Z.shape[1]
            Pa = np.zeros((q + p, q + p))
            Pa[q:, q:] = P
            sol = solve_penalized_lsq(np.hstack([Z, x]), t, Pa)
            c, self.coef_ = sol[:q], sol[q:]
        self.intercept_ = float(c[0])
        if c.size > 1:
            self.source_coef_ = c[1:]
        return self

    def predict_components(self, X: ArrayLike) -> dict[str, np.ndarray]:
        """``g1``, ``g2`` and ``g3 = x @ coef_``, each of shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        x, u = self._split_features(X)
        x = _apply(self.scaler_, x)
        m = X.shape[0]
        g1 = self.intercept_ + u @ self.source_coef_
        if self.form == "offset":
            g1 = g1 + self._source_vector(u)
        if self.form == "source_linear":
            return {"g1": g1, "g2": np.zeros(m), "g3": np.zeros(m)}
        return {"g1": g1, "g2": 1.0 + u @ self.scale_coef_, "g3": x @ self.coef_}

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict ``g1 + g2 * g3``; returns ndarray of shape (n_samples,)."""
        c = self.predict_components(X)
        return c["g1"] + c["g2"] * c["g3"]
