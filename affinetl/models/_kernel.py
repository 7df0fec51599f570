"""AffineTransferRegressor: the kernel affine model transfer estimator, every form."""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from .._forms import (
    KERNEL_FORMS,
    RAW_SOURCE_FORMS,
    RIDGE_FORM_KERNEL,
    SOURCE_OFFSET_FORMS,
    SOURCE_SCALE_FORMS,
    form_blocks,
    form_design,
    form_target,
    source_rms,
)
from .._solvers import fit_affine_features, fit_affine_kernel, fit_partial_ridge
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
from ._kernel_approx import make_feature_map

__all__ = ["AffineTransferRegressor"]

#: Forms of the estimator: the searched family plus ``g1_const``.
FORMS = (*KERNEL_FORMS, "g1_const")
_BILINEAR = ("full", "g1_const")


def _scaler(data: np.ndarray, standardize: bool) -> StandardScaler | None:
    return StandardScaler().fit(data) if standardize and data.shape[1] > 0 else None


def _apply(scaler: StandardScaler | None, data: np.ndarray) -> np.ndarray:
    return data if scaler is None else scaler.transform(data)


class AffineTransferRegressor(SourceFeatureMixin, RegressorMixin, BaseEstimator):
    r"""Kernel affine model transfer ``f_t(x) = g1(u) + g2(u) g3(x)`` with ``u = f_s(x)``.

    The model of Minami et al. (NeurIPS 2023): ``g1 = a0 + h1`` (cross-domain shift of the source
    features), ``g2 = 1 + h2`` (source-dependent scale) and ``g3`` (domain-specific factor of the
    input), with ``h1, h2`` in RKHSs on ``u`` (kernels ``kernel1``, ``kernel2``) and ``g3`` in an
    RKHS on ``x`` (``kernel3``). By the representer theorem ``h1 = K1 alpha``,
    ``h2 = K2 beta``, ``g3 = K3 gamma``, and the estimator minimises

    .. math::

        \|y - a_0 - K_1\alpha - (1 + K_2\beta) \circ (K_3\gamma)\|^2
        + \lambda_1 \alpha^\top K_1 \alpha + \lambda_2 \beta^\top K_2 \beta
        + \lambda_3 \gamma^\top K_3 \gamma

    on the target scaled to unit standard deviation (``y / sd(y)``, so that the penalties are
    unit-free; predictions are in the target's units), by damped Newton steps, the structured
    low-rank Newton steps or block relaxation (``solver``).

    Every special case of the family is a ``form`` of this one estimator:

    ================== ============================ ================ ==============
    form               g1(u)                        g2(u)            g3(x)
    ================== ============================ ================ ==============
    full               a0 + h1(u)  (AffineTL-full)  1 + h2(u)        kernel
    const              a0 + h1(u)  (AffineTL-const) 1                kernel
    g1_const           a0                           1 + h2(u)        kernel
    source_linear      a0 + a1'u                    0                0
    source_kernel      a0 + h1(u)                   0                0
    offset             a0 + u  (HTL-offset)         1                kernel
    offset_calibrated  a0 + a1'u                    1                kernel
    direct             a0  (no transfer)            1                kernel
    ratio              a0 + u  (ratio learning)     u / rms(u)       kernel
    ratio_calibrated   a0 + a1'u                    u / rms(u)       kernel
    ================== ============================ ================ ==============

    The forms that add the raw source ``u`` (``offset``, ``ratio``) or scale by it (``ratio``,
    ``ratio_calibrated``: ``a0 + u + u g3(x)`` is HTL-scale, the ratio ``y / u`` learned as
    ``1 + g3``) need one source feature in the target's units; the scale is ``u`` divided by
    its training root mean square (``source_rms_``).

    Every form except ``full`` and ``g1_const`` is one ridge solve with an unpenalised design
    (linear in ``y``, so the target scaling does not change it).

    Parameters
    ----------
    form : str, default="full"
        The model form (table above).
    g1_linear : bool, default=False
        Add unpenalised linear source terms to the kernel ``g1`` of the ``source_kernel``,
        ``const`` and ``full`` forms: ``g1 = a0 + a1'u + h1(u)`` (a smooth kernel alone reverts
        to a constant away from the training source values; the linear part extrapolates).
    kernel1 : str, sklearn kernel or callable, default="rbf+linear"
        Kernel of ``h1`` (on u); see :func:`affinetl.kernels.gram_matrix`. The default, an RBF
        plus a linear kernel, lets ``g1`` follow a linear trend of the source beyond the
        training range, where an RBF alone reverts to a constant (on the Afzal density case
        at n = 20, 20 splits: RMSE 0.052 +- 0.001 g/cm3 against 0.108 +- 0.006 with
        ``"rbf"``; the raw MD density: 0.051; ``g1_linear=True``: 0.048).
    kernel2, kernel3 : str, sklearn kernel or callable, default="rbf"
        Kernels of ``h2`` (on u) and ``g3`` (on x).
    gamma1, gamma2, gamma3 : float or None, default=None
        Widths of named kernels; ``None`` is ``1 / (2 * dim)`` of that kernel's input.
    lambda1, lambda2, lambda3 : float, default=1.0
        Penalties of ``h1``, ``h2``, ``g3`` (strictly positive) in the sum-of-squares objective
        of the target scaled to unit standard deviation.
    lambda_scaling : {"none", "n"}, default="none"
        ``"none"``: the published objective (sum of squares, no ``1/n``). ``"n"``: penalties
        multiplied by ``n``, i.e. the mean squared error plus ``lambda`` times the norms.
    standardize : bool, default=True
        Standardise ``x`` and ``u`` with the training mean and standard deviation before the
        kernels (the published default widths assume it).
    max_iter : int, default=1000
        Maximum number of block-relaxation sweeps (or Newton steps).
    tol : float, default=1e-4
        Stop when the largest relative max-abs change of the blocks falls below ``tol``
        (Newton: also when a full Newton step lowers the objective by a relative ``tol**2``
        or less).
    solver : {"auto", "newton", "lowrank_newton", "relaxation"}, default="auto"
        Solver of the ``full`` and ``g1_const`` forms. ``"newton"``: damped Newton steps on
        the exact feature maps of the kernels (or on the approximation's features), from the
        AffineTL-const solution. ``"lowrank_newton"``: Newton steps that eliminate ``g3``
        exactly, one ``n x n`` Cholesky factorisation per step; it needs low-rank source Gram
        matrices ``K1``, ``K2`` (a few source features) and a full-rank ``K3``.
        ``"relaxation"``: the published block relaxation (with ``extrapolate``, ``prune`` and
        ``init``). ``"auto"``: the rule of ``affinetl._solvers.resolve_solver`` (Newton up to
        300 samples or with ``g1_linear``, then the low-rank Newton where it applies, else the
        relaxation); the choice is recorded in ``solver_``.
    prune : bool, default=False
        Published pruning: if ``||gamma|| < 1e-2``, ``g2`` is set to 0 for good; if
        ``||beta|| < 1e-2``, ``h2`` is set to 0. The objective is then not monotone.
    init : {"const", "random"}, default="const"
        Starting point of the relaxation. ``"const"``: the AffineTL-const solution (``g2 = 1``,
        ``beta = 0``), i.e. the shrinkage point of the scale, which avoids the sign-flipped
        local optimum ``(-g2, -g3)``. ``"random"``: the published code's start, ``alpha`` from
        kernel ridge on ``u`` and ``beta``, ``gamma`` standard normal from ``random_state``.
    extrapolate : bool, default=True
        Safeguarded acceleration between sweeps: the Anderson-accelerated point of the last
        five sweeps, else the extrapolation ``theta_k + w (theta_k - theta_{k-1})``, each kept
        only when it lowers the objective, so the objective stays non-increasing while far
        fewer sweeps are needed (with inexact conjugate-gradient block solves while far from
        convergence). ``False`` runs the plain published relaxation with exact block solves.
    approximation : {None, "nystroem", "random_features"}, default=None
        Large-n mode. ``None`` fits the exact kernel model (``O(n^3)``, ``n x n`` Gram
        matrices). ``"nystroem"`` replaces each kernel by Nystroem features with at most
        ``n_components`` landmarks chosen by a greedy pivoted Cholesky factorisation (any
        kernel; exact once ``n_components >= n``, and fewer landmarks are kept when the kernel
        has low numerical rank); ``"random_features"`` by ``n_components`` random Fourier
        features (RBF kernels only). The ``full``, ``const`` and ``g1_const`` forms are then
        fitted in the feature space by damped Newton steps (``O(n m^2)`` per step);
        ``prune`` and ``extrapolate`` do not apply.
    n_components : int, default=500
        Largest number of features per kernel in the large-n mode.
    random_state : int, RandomState or None, default=None
        Seeds the random normal initial ``beta`` and ``gamma`` of ``init="random"`` and the
        random Fourier features.
    variant : {"full", "const", "g1_const"} or None, default=None
        Deprecated alias of ``form`` (used instead of it when given; ``fit`` warns with a
        ``FutureWarning``). It will be removed in 0.5.
    source : estimator, callable, list or None, default=None
        Fitted source model(s) ``f_s``; see :class:`affinetl.base.SourceFeatureMixin`.
    source_columns : int, str, list or None, default=None
        Columns of ``X`` holding the source features (default: the last column).
    input_columns : {"rest", "all"} or list, default="rest"
        Columns of ``X`` used as the input ``x`` of ``g3``.

    Attributes
    ----------
    intercept_ : float
        ``a0``.
    source_coef_ : ndarray of shape (n_source_features,)
        Linear source coefficients ``a1`` of the (standardised) ``u`` in ``g1`` (zeros if the
        form has none).
    target_scale_ : float
        ``sd(y)`` for the ``full`` and ``g1_const`` forms (1 otherwise).
    source_rms_ : float
        Unit of the scale ``g2 = u / source_rms_`` of the ``ratio`` forms: the root mean
        square of the raw source over the training data with ``standardize=True`` (so that
        ``g2`` is near 1 and the penalty of ``g3`` means what it means in ``offset``), else 1.
    form_ : str
        The form fitted (``variant`` if given, else ``form``).
    alpha_, beta_, gamma_ : ndarray of shape (n_samples,) or None
        Dual coefficients of ``h1``, ``h2`` and ``g3`` (zeros where a block is switched off);
        None in the large-n mode.
    coef1_, coef2_, coef3_ : ndarray of shape (m1,), (m2,), (m3,) or None
        Feature-space weights of ``h1``, ``h2`` and ``g3`` in the large-n mode (None otherwise).
    feature_maps_ : tuple or None
        The fitted feature maps of the three kernels in the large-n mode.
    n_iter_ : int
        Block-relaxation sweeps or Newton steps (1 for the ridge-type forms).
    solver_ : str
        The solver used: ``"ridge"`` (the ridge-type forms) or the choice of ``solver``.
    converged_ : bool
    objective_history_ : ndarray
        Objective (of the scaled target) at the start and after every sweep of the relaxation
        and the low-rank Newton solver; the final objective for the others.
    pruned_ : tuple of str
        Blocks removed by pruning (``"g2"``, ``"h2"``).
    x_fit_, u_fit_ : ndarray
        Standardised training inputs and source features (needed to evaluate the kernels).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` had string column names.

    See Also
    --------
    LinearAffineTransferRegressor : linear variant with a fused-ridge penalty.
    AffineTransferCV : the form and its hyper-parameters chosen by cross-validation.
    OffsetTransferRegressor, ScaleTransferRegressor : special cases used as baselines.

    References
    ----------
    S. Minami, K. Fukumizu, Y. Hayashi, R. Yoshida. Transfer learning with affine model
    transformation. NeurIPS 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from affinetl import AffineTransferRegressor
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(-1, 1, size=(60, 2))
    >>> u = np.sin(2 * x[:, :1])                      # source model output f_s(x)
    >>> y = 0.5 + u[:, 0] + (1 + 0.5 * u[:, 0]) * x[:, 1]
    >>> X = np.hstack([x, u])                         # last column = source feature
    >>> model = AffineTransferRegressor(lambda1=1e-2, lambda2=1e-2, lambda3=1e-2,
    ...                                 random_state=0).fit(X, y)
    >>> bool(model.score(X, y) > 0.95)
    True
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "form": [StrOptions(set(FORMS))],
        "g1_linear": ["boolean"],
        "kernel1": kernel_constraint,
        "kernel2": kernel_constraint,
        "kernel3": kernel_constraint,
        "gamma1": [None, Interval(Real, 0, None, closed="neither")],
        "gamma2": [None, Interval(Real, 0, None, closed="neither")],
        "gamma3": [None, Interval(Real, 0, None, closed="neither")],
        "lambda1": [Interval(Real, 0, None, closed="neither")],
        "lambda2": [Interval(Real, 0, None, closed="neither")],
        "lambda3": [Interval(Real, 0, None, closed="neither")],
        "lambda_scaling": [StrOptions({"none", "n"})],
        "standardize": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "prune": ["boolean"],
        "init": [StrOptions({"const", "random"})],
        "solver": [StrOptions({"auto", "newton", "lowrank_newton", "relaxation"})],
        "extrapolate": ["boolean"],
        "approximation": [None, StrOptions({"nystroem", "random_features"})],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "variant": [None, StrOptions({"full", "const", "g1_const"})],
        **source_constraints,
    }

    def __init__(
        self,
        *,
        form: str = "full",
        g1_linear: bool = False,
        kernel1: Any = "rbf+linear",
        kernel2: Any = "rbf",
        kernel3: Any = "rbf",
        gamma1: float | None = None,
        gamma2: float | None = None,
        gamma3: float | None = None,
        lambda1: float = 1.0,
        lambda2: float = 1.0,
        lambda3: float = 1.0,
        lambda_scaling: str = "none",
        standardize: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        prune: bool = False,
        init: str = "const",
        solver: str = "auto",
        extrapolate: bool = True,
        approximation: str | None = None,
        n_components: int = 500,
        random_state: Any = None,
        variant: str | None = None,
        source: Any = None,
        source_columns: Any = None,
        input_columns: Any = "rest",
    ) -> None:
        self.form = form
        self.g1_linear = g1_linear
        self.kernel1 = kernel1
        self.kernel2 = kernel2
        self.kernel3 = kernel3
        self.gamma1 = gamma1
        self.gamma2 = gamma2
        self.gamma3 = gamma3
        self.lambda1 = lambda1
        self.lambda2 = lambda2
        self.lambda3 = lambda3
        self.lambda_scaling = lambda_scaling
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.prune = prune
        self.init = init
        self.solver = solver
        self.extrapolate = extrapolate
        self.approximation = approximation
        self.n_components = n_components
        self.random_state = random_state
        self.variant = variant
        self.source = source
        self.source_columns = source_columns
        self.input_columns = input_columns

    # -- helpers ---------------------------------------------------------------------------
    def _form(self) -> str:
        return self.form if self.variant is None else self.variant

    def _kernel(self, which: int, A: np.ndarray, B: np.ndarray | None) -> np.ndarray:
        kernel = (self.kernel1, self.kernel2, self.kernel3)[which - 1]
        gamma = (self.gamma1, self.gamma2, self.gamma3)[which - 1]
        return gram_matrix(kernel, A, B, gamma)

    def _shares_source_kernel(self) -> bool:
        """h1 and h2 share their kernel on u (the default): one Gram matrix serves both."""
        return self.gamma2 == self.gamma1 and (
            self.kernel2 is self.kernel1
            or (isinstance(self.kernel1, str) and self.kernel2 == self.kernel1)
        )

    def _transform_inputs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, u_raw = self._split_features(X)
        return _apply(self.x_scaler_, x), _apply(self.u_scaler_, u_raw), u_raw

    # -- estimator API ---------------------------------------------------------------------
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> AffineTransferRegressor:
        """Fit the affine transfer model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, including the source-feature columns when ``source`` is None.
        y : array-like of shape (n_samples,)
            Target values.

        Returns
        -------
        self : AffineTransferRegressor
        """
        X, y = validate_data(self, X, y, y_numeric=True)
        y = check_target(y)
        if self.variant is not None:
            warnings.warn(
                f"variant={self.variant!r} is deprecated since 0.3 and will be removed in 0.5; "
                f"use form={self.variant!r}",
                FutureWarning,
                stacklevel=2,
            )
        form = self.form_ = self._form()
        x, u = self._split_features(X)
        if form in RAW_SOURCE_FORMS:
            self._source_vector(u)
        self.x_scaler_ = _scaler(x, self.standardize)
        self.u_scaler_ = _scaler(u, self.standardize)
        self.x_fit_, self.u_fit_ = _apply(self.x_scaler_, x), _apply(self.u_scaler_, u)
        n = y.shape[0]
        scale = float(n) if self.lambda_scaling == "n" else 1.0
        lams = (self.lambda1 * scale, self.lambda2 * scale, self.lambda3 * scale)
        Z = form_design(form, self.u_fit_, self.g1_linear)
        self.pruned_ = ()
        self.feature_maps_ = self.coef1_ = self.coef2_ = self.coef3_ = None
        self.source_coef_ = np.zeros(u.shape[1])
        self.source_rms_ = source_rms(u, self.standardize)
        self.target_scale_ = 1.0
        if self.approximation is not None:
            self._fit_features(y, Z, lams)
        elif form in _BILINEAR:
            self._fit_bilinear(y, Z, lams)
        else:
            self._fit_ridge(y, u, Z, lams)
        c = self.coef_design_
        self.intercept_ = float(c[0]) if c.size else 0.0
        if c.size > 1:
            self.source_coef_ = c[1:]
        if not self.converged_:
            warnings.warn(
                f"the {self.solver_} solver did not converge in {self.max_iter} iterations "
                f"(tol={self.tol}, n={n}); increase max_iter or the penalties",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _fit_ridge(self, y, u, Z, lams) -> None:
        """The ridge-type forms: one solve with the unpenalised design ``Z``."""
        form = self.form_
        n = y.shape[0]
        kind = RIDGE_FORM_KERNEL[form]
        K1 = self._kernel(1, self.u_fit_, None) if kind in ("h1", "h1+g3") else None
        K3 = self._kernel(3, self.x_fit_, None) if kind in ("g3", "h1+g3", "u*g3") else None
        # g2 = u / rms: the Gram matrix of g2 g3 is D K3 D
        d = u[:, 0] / self.source_rms_ if kind == "u*g3" else None
        if kind == "h1+g3":
            rho = lams[2] / lams[0]
            K, lam = K3 + rho * K1, lams[2]
        elif kind == "h1":
            K, lam = K1, lams[0]
        elif kind == "g3":
            K, lam = K3, lams[2]
        elif kind == "u*g3":
            K, lam = d[:, None] * K3 * d[None, :], lams[2]
        else:
            K, lam = None, 1.0
        t = form_target(form, y, u)
        c, a = fit_partial_ridge(K, Z, t, lam)
        self.alpha_, self.beta_, self.gamma_ = np.zeros(n), np.zeros(n), np.zeros(n)
        if kind == "h1+g3":
            self.alpha_, self.gamma_ = rho * a, a
        elif kind == "h1":
            self.alpha_ = a
        elif kind == "g3":
            self.gamma_ = a
        elif kind == "u*g3":  # u(x) sum_j a_j u_j k3(x, x_j): g3 has the duals D a
            self.gamma_ = d * a
        self.coef_design_ = c
        self.solver_, self.n_iter_, self.converged_ = "ridge", 1, True
        Ka = np.zeros(n) if K is None else K @ a
        e = t - Z @ c - Ka
        self.objective_history_ = np.array([float(e @ e + (0.0 if K is None else lam * a @ Ka))])

    def _fit_bilinear(self, y, Z, lams) -> None:
        """``full`` and ``g1_const`` by the solver of ``resolve_solver``."""
        K1 = self._kernel(1, self.u_fit_, None)
        K2 = K1 if self._shares_source_kernel() else self._kernel(2, self.u_fit_, None)
        K3 = self._kernel(3, self.x_fit_, None)
        fit = fit_affine_kernel(
            K1,
            K2,
            K3,
            y,
            lams,
            design=Z,
            form=self.form_,
            solver=self.solver,
            max_iter=self.max_iter,
            tol=self.tol,
            prune=self.prune,
            init=self.init,
            extrapolate=self.extrapolate,
            rng=check_random_state(self.random_state),
        )
        self._store(fit)
        self.alpha_, self.beta_, self.gamma_ = fit.alpha, fit.beta, fit.gamma
        self.pruned_ = fit.pruned

    def _store(self, fit) -> None:
        self.coef_design_ = fit.coef
        self.target_scale_ = fit.scale
        self.solver_, self.n_iter_, self.converged_ = fit.solver, fit.n_iter, fit.converged
        self.objective_history_ = np.asarray(fit.objective_history)

    def _fit_features(self, y, Z, lams) -> None:
        """Large-n mode: feature maps of the three kernels, then the feature-space fit."""
        form = self.form_
        if form not in ("full", "const", "g1_const"):
            raise ValueError(
                f"approximation={self.approximation!r} applies to the forms 'full', 'const' "
                f"and 'g1_const', not {form!r}"
            )
        if self.prune:
            raise ValueError(
                "prune=True is defined on the exact dual coefficients; it cannot be combined "
                f"with approximation={self.approximation!r}"
            )
        if self.solver not in ("auto", "newton"):
            raise ValueError(
                f"approximation={self.approximation!r} is fitted by solver='newton', got "
                f"solver={self.solver!r}"
            )
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=3)
        maps, feats = [], []
        for i, data in enumerate((self.u_fit_, self.u_fit_, self.x_fit_)):
            kernel = (self.kernel1, self.kernel2, self.kernel3)[i]
            gamma = (self.gamma1, self.gamma2, self.gamma3)[i]
            fmap = make_feature_map(self.approximation, kernel, gamma, self.n_components, seeds[i])
            feats.append(fmap.fit_transform(data))
            maps.append(fmap)
        P1, P2, P3 = feats
        if form == "g1_const":
            P1 = P1[:, :0]
        if form == "const":
            P2 = P2[:, :0]
        start = None
        if self.init == "random" and form != "const":
            start = (rng.standard_normal(P2.shape[1]), rng.standard_normal(P3.shape[1]))
        fit = fit_affine_features(
            P1, P2, P3, y, lams, design=Z, start=start, max_iter=self.max_iter, tol=self.tol
        )
        self._store(fit)
        m1, m2 = maps[0].n_components_, maps[1].n_components_
        self.coef1_ = fit.alpha if form != "g1_const" else np.zeros(m1)
        self.coef2_ = fit.beta if form != "const" else np.zeros(m2)
        self.coef3_ = fit.gamma
        self.feature_maps_ = tuple(maps)
        self.alpha_ = self.beta_ = self.gamma_ = None

    def predict_components(self, X: ArrayLike) -> dict[str, np.ndarray]:
        """Evaluate ``g1(u)``, ``g2(u)`` and ``g3(x)`` separately.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        components : dict
            ``"g1"``, ``"g2"``, ``"g3"``: ndarrays of shape (n_samples,), with
            ``predict(X) == g1 + g2 * g3``. Source-only forms have ``g2 = g3 = 0``; forms
            without a scale block have ``g2 = 1``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        x, u, u_raw = self._transform_inputs(X)
        m = X.shape[0]
        form = self.form_
        Z = form_design(form, u, self.g1_linear)
        g1 = Z @ self.coef_design_
        if form in SOURCE_OFFSET_FORMS:
            g1 = g1 + self._source_vector(u_raw)
        use1, use2, use3 = form_blocks(form)
        if self.feature_maps_ is not None:
            m1, m2, m3 = self.feature_maps_
            g1 = g1 + m1.transform(u) @ self.coef1_
            g2 = 1.0 + m2.transform(u) @ self.coef2_
            return {"g1": g1, "g2": g2, "g3": m3.transform(x) @ self.coef3_}
        if use1:
            g1 = g1 + self._kernel(1, u, self.u_fit_) @ self.alpha_
        if not use3:
            return {"g1": g1, "g2": np.zeros(m), "g3": np.zeros(m)}
        g3 = self._kernel(3, x, self.x_fit_) @ self.gamma_
        if "g2" in self.pruned_:
            g2 = np.zeros(m)
        elif use2:
            g2 = 1.0 + self._kernel(2, u, self.u_fit_) @ self.beta_
        elif form in SOURCE_SCALE_FORMS:
            g2 = u_raw[:, 0] / self.source_rms_
        else:
            g2 = np.ones(m)
        return {"g1": g1, "g2": g2, "g3": g3}

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict the target ``g1(u) + g2(u) g3(x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        c = self.predict_components(X)
        return c["g1"] + c["g2"] * c["g3"]
