"""AffineTransferRegressor: the kernel affine model transfer estimator."""

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
from ._affine_features import fit_affine_features, fit_const_features
from ._kernel_approx import make_feature_map
from ._kernel_newton import NEWTON_MAX_RANK, fit_affine_newton, newton_applies
from ._kernel_solvers import GramFactor, fit_affine_blocks, fit_const_affine

__all__ = ["AffineTransferRegressor"]


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

    by block relaxation: each block (``beta``, then ``gamma``, then ``(a0, alpha)``) is updated
    to its exact minimiser with a symmetric positive-definite solve, so the objective never
    increases (without pruning).

    Parameters
    ----------
    variant : {"full", "const", "g1_const"}, default="full"
        ``"full"``: all of ``g1, g2, g3``. ``"const"``: ``g2 = 1`` (AffineTL-const), solved as
        one joint linear system. ``"g1_const"``: ``h1 = 0``, so ``g1 = a0``.
    kernel1, kernel2, kernel3 : str, sklearn kernel or callable, default="rbf"
        Kernels of ``h1`` (on u), ``h2`` (on u) and ``g3`` (on x); see
        :func:`affinetl.kernels.gram_matrix`.
    gamma1, gamma2, gamma3 : float or None, default=None
        Widths of named kernels; ``None`` is ``1 / (2 * dim)`` of that kernel's input.
    lambda1, lambda2, lambda3 : float, default=1.0
        Penalties of ``h1``, ``h2``, ``g3`` (strictly positive).
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
    solver : {"auto", "newton", "relaxation"}, default="auto"
        Exact-fit solver of ``variant="full"`` and ``"g1_const"``. ``"relaxation"``: the
        published block relaxation (with ``extrapolate``). ``"newton"``: damped Newton steps
        that eliminate ``g3`` exactly, one ``n x n`` Cholesky factorisation per step
        (:mod:`affinetl.models._kernel_newton`); it needs low-rank source Gram matrices
        ``K1``, ``K2`` (a few source features, the usual case; at most 200 columns together)
        and a full-rank ``K3``. It converges in about ten steps where the relaxation needs
        tens to hundreds of sweeps, to the same stationary point from the same
        AffineTL-const start. ``"auto"``: Newton where it applies and ``prune=False``,
        ``init="const"``; otherwise the relaxation.
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
        features (RBF kernels only). The model is then fitted in the feature space by damped
        Newton steps (``O(n m^2)`` per step, see :mod:`affinetl.models._affine_features`);
        ``prune`` and ``extrapolate`` do not apply.
    n_components : int, default=500
        Largest number of features per kernel in the large-n mode.
    random_state : int, RandomState or None, default=None
        Seeds the random normal initial ``beta`` and ``gamma`` of ``init="random"`` and the
        random Fourier features.
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
    alpha_, beta_, gamma_ : ndarray of shape (n_samples,) or None
        Dual coefficients of ``h1``, ``h2`` and ``g3`` (zeros where a block is switched off);
        None in the large-n mode.
    coef1_, coef2_, coef3_ : ndarray of shape (m1,), (m2,), (m3,) or None
        Feature-space weights of ``h1``, ``h2`` and ``g3`` in the large-n mode (None otherwise).
    feature_maps_ : tuple or None
        The fitted feature maps of the three kernels in the large-n mode.
    n_iter_ : int
        Block-relaxation sweeps run (1 for the single joint solve of ``variant="const"``), or
        Newton steps (``solver_ == "newton"`` and the large-n mode).
    solver_ : str
        The solver used: ``"relaxation"``, ``"newton"``, ``"joint"`` (``variant="const"``)
        or ``"features"`` (large-n mode).
    converged_ : bool
    objective_history_ : ndarray of shape (n_iter_ + 1,)
        Objective at the start and after every sweep.
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
        "variant": [StrOptions({"full", "const", "g1_const"})],
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
        "solver": [StrOptions({"auto", "newton", "relaxation"})],
        "extrapolate": ["boolean"],
        "approximation": [None, StrOptions({"nystroem", "random_features"})],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        **source_constraints,
    }

    def __init__(
        self,
        *,
        variant: str = "full",
        kernel1: Any = "rbf",
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
        source: Any = None,
        source_columns: Any = None,
        input_columns: Any = "rest",
    ) -> None:
        self.variant = variant
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
        self.source = source
        self.source_columns = source_columns
        self.input_columns = input_columns

    # -- helpers ---------------------------------------------------------------------------
    def _grams(self, x: np.ndarray, u: np.ndarray, train: bool) -> tuple[np.ndarray, ...]:
        xb, ub = (None, None) if train else (self.x_fit_, self.u_fit_)
        K1 = gram_matrix(self.kernel1, u, ub, self.gamma1)
        # h1 and h2 usually share their kernel on u (the default): one Gram matrix serves both
        same = self.gamma2 == self.gamma1 and (
            self.kernel2 is self.kernel1
            or (isinstance(self.kernel1, str) and self.kernel2 == self.kernel1)
        )
        K2 = K1 if same else gram_matrix(self.kernel2, u, ub, self.gamma2)
        return K1, K2, gram_matrix(self.kernel3, x, xb, self.gamma3)

    def _transform_inputs(self, X: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        x, u = self._split_features(X)
        return _apply(self.x_scaler_, x), _apply(self.u_scaler_, u)

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
        x, u = self._split_features(X)
        self.x_scaler_ = _scaler(x, self.standardize)
        self.u_scaler_ = _scaler(u, self.standardize)
        self.x_fit_, self.u_fit_ = _apply(self.x_scaler_, x), _apply(self.u_scaler_, u)
        n = y.shape[0]
        scale = float(n) if self.lambda_scaling == "n" else 1.0
        lams = (self.lambda1 * scale, self.lambda2 * scale, self.lambda3 * scale)
        self.pruned_ = ()
        self.feature_maps_ = self.coef1_ = self.coef2_ = self.coef3_ = None
        if self.approximation is not None:
            return self._fit_features(y, lams)
        K1, K2, K3 = self._grams(self.x_fit_, self.u_fit_, train=True)
        if self.variant == "const":
            a0, alpha, gamma = fit_const_affine(K1, K3, y, lams[0], lams[2])
            self.intercept_, self.alpha_, self.gamma_ = a0, alpha, gamma
            self.beta_ = np.zeros(n)
            self.n_iter_, self.converged_, self.solver_ = 1, True, "joint"
            res = y - a0 - K1 @ alpha - K3 @ gamma
            obj = res @ res + lams[0] * alpha @ K1 @ alpha + lams[2] * gamma @ K3 @ gamma
            self.objective_history_ = np.array([obj])
            return self
        fit_h1 = self.variant == "full"
        F1 = GramFactor(K1)
        F2 = F1 if K2 is K1 else GramFactor(K2)  # one factorisation when h1, h2 share a kernel
        F3 = GramFactor(K3)
        newton_ok = newton_applies(F1, F2, F3, fit_h1) and not self.prune and self.init == "const"
        if self.solver == "newton" and not newton_ok:
            raise ValueError(
                "solver='newton' needs low-rank source Gram matrices K1, K2 (at most "
                f"{NEWTON_MAX_RANK} columns together; here {F1.rank} and {F2.rank} of {n}), "
                "a full-rank K3, prune=False and init='const'; use solver='relaxation'"
            )
        use_newton = newton_ok and self.solver != "relaxation"
        if use_newton:
            result = fit_affine_newton(
                F1, F2, F3, y, lams, fit_h1=fit_h1, max_iter=self.max_iter, tol=self.tol
            )
        else:
            beta0 = gamma0 = None  # default: the shrinkage point g2 = 1 (the const start)
            if self.init == "random":
                rng = check_random_state(self.random_state)
                beta0, gamma0 = rng.standard_normal(n), rng.standard_normal(n)
            result = fit_affine_blocks(
                F1,
                F2,
                F3,
                y,
                lams,
                beta0=beta0,
                gamma0=gamma0,
                fit_h1=fit_h1,
                max_iter=self.max_iter,
                tol=self.tol,
                prune=self.prune,
                extrapolate=self.extrapolate,
            )
        self.solver_ = "newton" if use_newton else "relaxation"
        self.intercept_ = result.intercept
        self.alpha_, self.beta_, self.gamma_ = result.alpha, result.beta, result.gamma
        self.n_iter_, self.converged_ = result.n_iter, result.converged
        self.objective_history_ = np.asarray(result.objective_history)
        self.pruned_ = tuple(
            name for name, flag in (("g2", result.g2_zero), ("h2", result.h2_zero)) if flag
        )
        if not self.converged_:
            warnings.warn(
                f"the {self.solver_} solver did not converge in {self.max_iter} iterations "
                f"(tol={self.tol}); increase max_iter or the penalties",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _fit_features(self, y: np.ndarray, lams: tuple[float, float, float]):
        """Large-n mode: feature maps of the three kernels, then the feature-space fit."""
        if self.prune:
            raise ValueError(
                "prune=True is defined on the exact dual coefficients; it cannot be combined "
                f"with approximation={self.approximation!r}"
            )
        self.solver_ = "features"
        n = y.shape[0]
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=3)
        specs = (
            (self.kernel1, self.gamma1, self.u_fit_),
            (self.kernel2, self.gamma2, self.u_fit_),
            (self.kernel3, self.gamma3, self.x_fit_),
        )
        maps, feats = [], []
        for i, (kernel, gamma, data) in enumerate(specs):
            fmap = make_feature_map(self.approximation, kernel, gamma, self.n_components, seeds[i])
            feats.append(fmap.fit_transform(data))
            maps.append(fmap)
        P1, P2, P3 = feats
        if self.variant == "g1_const":
            P1 = P1[:, :0]
        if self.variant == "const":
            a0, w1, w3 = fit_const_features(P1, P3, y, lams[0], lams[2])
            w2, n_iter, converged = np.zeros(P2.shape[1]), 1, True
            e = y - a0 - P1 @ w1 - P3 @ w3
            history = [float(e @ e + lams[0] * w1 @ w1 + lams[2] * w3 @ w3)]
        else:
            w2_0 = w3_0 = None
            if self.init == "random":
                w2_0 = rng.standard_normal(P2.shape[1])
                w3_0 = rng.standard_normal(P3.shape[1])
            res = fit_affine_features(
                P1, P2, P3, y, lams, w2_0=w2_0, w3_0=w3_0, max_iter=self.max_iter, tol=self.tol
            )
            a0, w1, w2, w3 = res.intercept, res.w1, res.w2, res.w3
            n_iter, converged, history = res.n_iter, res.converged, res.objective_history
        if self.variant == "g1_const":
            w1 = np.zeros(maps[0].n_components_)
        self.feature_maps_ = tuple(maps)
        self.intercept_ = float(a0)
        self.coef1_, self.coef2_, self.coef3_ = w1, w2, w3
        self.alpha_ = self.beta_ = self.gamma_ = None
        self.n_iter_, self.converged_ = n_iter, converged
        self.objective_history_ = np.asarray(history)
        if not converged:
            warnings.warn(
                f"the feature-space fit did not converge in {self.max_iter} Newton iterations "
                f"(tol={self.tol}, n={n}); increase max_iter or the penalties",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def predict_components(self, X: ArrayLike) -> dict[str, np.ndarray]:
        """Evaluate ``g1(u)``, ``g2(u)`` and ``g3(x)`` separately.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        components : dict
            ``"g1"``, ``"g2"``, ``"g3"``: ndarrays of shape (n_samples,), with
            ``predict(X) == g1 + g2 * g3``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        x, u = self._transform_inputs(X)
        if self.feature_maps_ is not None:
            m1, m2, m3 = self.feature_maps_
            g1 = self.intercept_ + m1.transform(u) @ self.coef1_
            g2 = 1.0 + m2.transform(u) @ self.coef2_
            return {"g1": g1, "g2": g2, "g3": m3.transform(x) @ self.coef3_}
        K1, K2, K3 = self._grams(x, u, train=False)
        g1 = self.intercept_ + K1 @ self.alpha_
        if "g2" in self.pruned_:
            g2 = np.zeros(X.shape[0])
        else:
            g2 = 1.0 + K2 @ self.beta_
        return {"g1": g1, "g2": g2, "g3": K3 @ self.gamma_}

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
