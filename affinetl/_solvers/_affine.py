"""Fit the bilinear forms (``full``, ``g1_const``) of the kernel affine model: one entry point.

The penalties of these forms act on the target scaled to unit standard deviation,
``y / sd(y)`` (:func:`target_scale`): ``g2 = 1 + h2`` fixes the scale of ``g2``, so the model is
not equivariant in the target's units, and the scaled objective makes ``lambda2`` unit-free.
Fitted values and coefficients are returned in the target's units. (The ridge-type forms are
linear in ``y``, so the scaling does not change them.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._gram import GramFactor
from ._lowrank_newton import fit_affine_newton, newton_applies
from ._newton import exact_features, newton_features
from ._objective import _bmv
from ._relaxation import AffineFit, fit_affine_blocks, relaxation_path
from ._resolve import resolve_solver
from ._ridge import fit_partial_ridge

__all__ = [
    "AffineFit",
    "NewtonBatchResult",
    "affine_full_path",
    "fit_affine_batch",
    "fit_affine_features",
    "fit_affine_kernel",
    "target_scale",
]

#: Largest number of Hessian entries (members x p x p) held at once by the batched Newton solve.
NEWTON_MAX_HESSIAN_ENTRIES = 3e7


def target_scale(y: np.ndarray) -> float:
    """``sd(y)``, or 1 where it is zero or not finite: the unit of the bilinear forms."""
    sd = float(np.std(y))
    return sd if sd > 0 and np.isfinite(sd) else 1.0


@dataclass
class NewtonBatchResult:
    """Output of :func:`fit_affine_batch` for ``B`` members (problem-major order).

    ``predictions`` (B, m) at the evaluation rows; ``n_iter`` (B,): iterations (``max_iter``
    if not converged); ``converged`` (B,).
    """

    predictions: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray


def fit_affine_kernel(
    K1: np.ndarray,
    K2: np.ndarray,
    K3: np.ndarray,
    y: np.ndarray,
    lams: tuple[float, float, float],
    *,
    design: np.ndarray | None = None,
    form: str = "full",
    solver: str = "auto",
    max_iter: int = 200,
    tol: float = 1e-6,
    prune: bool = False,
    init: str = "const",
    extrapolate: bool = True,
    rng: np.random.RandomState | None = None,
    scale_target: bool = True,
    factors: dict | None = None,
) -> AffineFit:
    """AffineTL-full (``form="full"``) or ``g1 = const`` (``"g1_const"``) with exact kernels.

    Parameters
    ----------
    K1, K2, K3 : ndarray of shape (n, n)
        Gram matrices of ``h1``, ``h2`` (on u) and ``g3`` (on x).
    y : ndarray of shape (n,)
    lams : (l1, l2, l3)
        Positive penalties (of the scaled target).
    design : ndarray of shape (n, q), optional
        Unpenalised design of ``g1`` (default the intercept).
    form, solver : str
        See :func:`~._resolve.resolve_solver`.
    max_iter, tol : int, float
        Iteration limit and relative tolerance of the solver.
    prune, init, extrapolate, rng
        Relaxation options (pruning, ``"random"`` start drawn from ``rng``, acceleration).
    scale_target : bool
        Fit ``y / sd(y)`` (the documented meaning of the penalties); False fits ``y`` as is.
    factors : dict, optional
        Cache of the Gram factorisations, shared by calls on the same Gram matrices.

    Returns
    -------
    AffineFit
    """
    n = y.shape[0]
    Z = np.ones((n, 1)) if design is None else design
    fit_h1 = form == "full"
    factors = {} if factors is None else factors

    def factor(name: str, K: np.ndarray) -> GramFactor:
        if name not in factors:
            factors[name] = GramFactor(K)
        return factors[name]

    def grams():
        F1 = factor("K1", K1)
        F2 = F1 if K2 is K1 else factor("K2", K2)  # one factorisation when h1, h2 share a kernel
        return F1, F2, factor("K3", K3)

    chosen = resolve_solver(
        solver,
        form=form,
        n_samples=n,
        design_columns=Z.shape[1],
        prune=prune,
        init=init,
        low_rank=lambda: newton_applies(*grams(), fit_h1),
    )
    if chosen == "newton":  # the exact feature maps K = F F' of the batch of one
        K1f = K1 if fit_h1 else np.zeros_like(K1)
        (P1, T1), (P2, T2), (P3, T3) = (exact_features(K) for K in (K1f, K2, K3))
        fit = fit_affine_features(
            P1, P2, P3, y, lams, design=Z, max_iter=max_iter, tol=tol, scale_target=scale_target
        )
        alpha = T1 @ fit.alpha if fit_h1 else np.zeros(n)
        return dataclasses.replace(fit, alpha=alpha, beta=T2 @ fit.beta, gamma=T3 @ fit.gamma)
    sc = target_scale(y) if scale_target else 1.0
    F1, F2, F3 = grams()
    opts = dict(fit_h1=fit_h1, max_iter=max_iter, tol=tol)
    if chosen == "lowrank_newton":
        res = fit_affine_newton(F1, F2, F3, y / sc, lams, **opts)
    else:
        beta0 = gamma0 = None  # default: the shrinkage point g2 = 1 (the const start)
        if init == "random":
            rng = np.random.RandomState(0) if rng is None else rng
            beta0, gamma0 = rng.standard_normal(n), rng.standard_normal(n)
        starts = dict(beta0=beta0, gamma0=gamma0, prune=prune, extrapolate=extrapolate)
        res = fit_affine_blocks(F1, F2, F3, y / sc, lams, **starts, **opts)
    unscaled = dict(coef=sc * res.coef, alpha=sc * res.alpha, gamma=sc * res.gamma)
    return dataclasses.replace(res, **unscaled, scale=sc)


def fit_affine_features(
    P1: np.ndarray,
    P2: np.ndarray,
    P3: np.ndarray,
    y: np.ndarray,
    lams: tuple[float, float, float],
    *,
    design: np.ndarray | None = None,
    start: tuple[np.ndarray, np.ndarray] | None = None,
    max_iter: int = 200,
    tol: float = 1e-6,
    scale_target: bool = True,
) -> AffineFit:
    """The bilinear forms on feature maps (``P1`` with 0 columns: ``g1 = const``).

    Newton steps of :func:`~._newton.newton_features` on the batch of one, from the
    AffineTL-const solution or from ``start = (w2, w3)`` (scaled-target units) with
    ``(c, w1)`` by ridge given them. ``scale_target`` as in :func:`fit_affine_kernel`.
    """
    n = y.shape[0]
    Z = np.ones((n, 1)) if design is None else design
    sc = target_scale(y) if scale_target else 1.0
    ys = y / sc
    theta0 = None
    if start is not None:
        w2, w3 = start
        r = ys - (1.0 + P2 @ w2) * (P3 @ w3)
        c, a = fit_partial_ridge(P1 @ P1.T if P1.shape[1] else None, Z, r, lams[0])
        theta0 = np.concatenate([c, P1.T @ a, w2, w3])[None]
    linear = P2.shape[1] == 0 and theta0 is None  # g2 = 1: the const start is the solution
    data = (A[None] for A in (Z, P1, P2, P3, ys))
    theta, n_iter, conv, obj, (s0, s1, s2, s3) = newton_features(
        *data, [lams], start=theta0, max_iter=0 if linear else max_iter, tol=tol
    )
    if linear:
        n_iter, conv = np.ones(1, dtype=int), np.ones(1, dtype=bool)
    t = theta[0]
    return AffineFit(
        coef=sc * t[s0],
        alpha=sc * t[s1],
        beta=t[s2].copy(),
        gamma=sc * t[s3],
        n_iter=int(n_iter[0]),
        converged=bool(conv[0]),
        solver="ridge" if linear else "newton",
        scale=sc,
        objective_history=list(obj[: int(n_iter[0]) + 1, 0]),
    )


def fit_affine_batch(
    K1: np.ndarray,
    K2: np.ndarray,
    K3: np.ndarray,
    y: np.ndarray,
    lams: ArrayLike,
    *,
    problem: np.ndarray | None = None,
    design: np.ndarray | None = None,
    evals: tuple[np.ndarray, np.ndarray, np.ndarray],
    design_eval: np.ndarray | None = None,
    max_iter: int = 200,
    tol: float = 1e-6,
    scale_target: bool = True,
) -> tuple[np.ndarray, NewtonBatchResult]:
    """AffineTL-full with exact kernels for a batch of members (problem, penalties).

    Every Gram matrix is written exactly as ``K = F F'`` (:func:`~._newton.exact_features`,
    one eigendecomposition per problem), every member is solved from its AffineTL-const
    solution by the batched damped Newton steps of :func:`~._newton.newton_features` in chunks
    that bound the memory of the Hessians, and the weights are mapped back to dual
    coefficients. Above ``NEWTON_MAX_N`` training samples with an intercept-only design the
    members are solved one by one by :func:`fit_affine_kernel` (the rule of
    :func:`~._resolve.resolve_solver`).

    Parameters
    ----------
    K1, K2, K3 : ndarray of shape (P, n, n)
        Gram matrices of ``h1``, ``h2`` (on u) and ``g3`` (on x) of each problem.
    y : ndarray of shape (P, n)
    lams : array-like of shape (B, 3)
        Positive ``(l1, l2, l3)`` of each member.
    problem : ndarray of shape (B,), optional
        Problem of each member (default one member per problem); members of one problem share
        its eigendecompositions.
    design : ndarray of shape (P, n, q), optional
        Unpenalised design of ``g1``; default a column of ones (the intercept).
    evals : (E1, E2, E3), each of shape (P, m, n)
        Kernel rows ``k(., train)`` of the points to predict.
    design_eval : ndarray of shape (P, m, q), optional
        The design at those points (default ones).
    max_iter, tol : int, float
        See :func:`~._newton.newton_features`.
    scale_target : bool
        Fit ``y / sd(y)`` per problem (the meaning of the penalties); False fits ``y`` as is.

    Returns
    -------
    scale : ndarray of shape (B,)
        ``sd(y)`` of each member's problem (ones without ``scale_target``); the predictions are
        ``scale`` times those of the result.
    result : NewtonBatchResult
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    prob = np.arange(y.shape[0]) if problem is None else np.asarray(problem)
    lams = np.asarray(lams, dtype=float).reshape(prob.size, 3)
    scale = np.array([target_scale(t) if scale_target else 1.0 for t in y])
    ys = y / scale[:, None]
    P, n = y.shape
    Z = np.ones((P, n, 1)) if design is None else np.asarray(design, dtype=float)
    if resolve_solver("auto", form="full", n_samples=n, design_columns=Z.shape[2]) == "newton":
        fit = _newton_members(K1, K2, K3, ys, lams, prob, Z, max_iter, tol)
    else:
        fit = _one_by_one(K1, K2, K3, ys, lams, prob, max_iter, tol)
    coef, alpha, beta, gamma, n_iter, converged = fit
    E1, E2, E3 = (np.asarray(E)[prob] for E in evals)
    Ze = np.ones((*E1.shape[:2], 1)) if design_eval is None else np.asarray(design_eval)[prob]
    pred = _bmv(Ze, coef) + _bmv(E1, alpha) + (1.0 + _bmv(E2, beta)) * _bmv(E3, gamma)
    return scale[prob], NewtonBatchResult(pred, n_iter, converged)


def _newton_members(K1, K2, K3, y, lams, prob, Z, max_iter, tol) -> tuple:
    """``(coef, alpha, beta, gamma, n_iter, converged)`` of the members by batched Newton steps
    on exact features."""
    n, q = y.shape[1], Z.shape[2]
    (P1, T1), (P2, T2), (P3, T3) = (exact_features(np.asarray(K)) for K in (K1, K2, K3))
    chunk = max(1, int(NEWTON_MAX_HESSIAN_ENTRIES // (q + 3 * n) ** 2))
    kw = dict(max_iter=max_iter, tol=tol)
    parts = [
        newton_features(Z, P1, P2, P3, y, lams[i : i + chunk], problem=prob[i : i + chunk], **kw)
        for i in range(0, prob.size, chunk)
    ]
    theta, n_iter, converged = (np.concatenate([part[k] for part in parts]) for k in range(3))
    s0, s1, s2, s3 = parts[0][4]
    duals = (_bmv(T[prob], theta[:, s]) for T, s in ((T1, s1), (T2, s2), (T3, s3)))
    return (theta[:, s0], *duals, n_iter, converged)


def _one_by_one(K1, K2, K3, y, lams, prob, max_iter, tol) -> tuple:
    """The same, members one by one by :func:`fit_affine_kernel` (scaled targets)."""
    caches: dict[int, dict] = {}  # the Gram factorisations of each problem, shared
    kw = dict(max_iter=max_iter, tol=tol, scale_target=False)
    fits = []
    for pb, lam in zip(prob, map(tuple, lams.tolist())):
        factors = caches.setdefault(int(pb), {})
        fits.append(fit_affine_kernel(K1[pb], K2[pb], K3[pb], y[pb], lam, factors=factors, **kw))
    names = ("coef", "alpha", "beta", "gamma", "n_iter", "converged")
    return tuple(np.asarray([getattr(f, k) for f in fits]) for k in names)


def affine_full_path(
    K1: np.ndarray,
    K2: np.ndarray,
    K3: np.ndarray,
    y: np.ndarray,
    evals: tuple[np.ndarray, np.ndarray, np.ndarray],
    grid: ArrayLike,
    *,
    solver: str = "relaxation",
    max_iter: int | None = None,
    tol: float = 1e-4,
    device: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """AffineTL-full predictions (unscaled target) for a grid of ``(l1, l2, l3)``.

    Several problems of equal size (CV folds, targets) and all grid points are solved together
    as one batch, with an intercept as the design of ``g1``.

    Parameters
    ----------
    K1, K2, K3 : ndarray of shape (n, n) or (P, n, n)
        Gram matrices of h1, h2 (on u) and g3 (on x) for P problems.
    y : ndarray of shape (n,) or (P, n)
    evals : (K1_eval, K2_eval, K3_eval), each of shape (m, n) or (P, m, n)
        Gram matrices between evaluation and training points.
    grid : array-like of shape (p, 3) or (P, p, 3)
        Positive ``(l1, l2, l3)``, shared by all problems or one grid per problem.
    solver : {"relaxation", "newton"}
        ``"relaxation"``: the published block relaxation from standard normal ``beta``,
        ``gamma`` (seed 0), batched (:func:`~._relaxation.relaxation_path`). ``"newton"``:
        damped Newton steps from the AffineTL-const solution (:func:`fit_affine_batch`).
    max_iter, tol : int, float
        Iteration limit (default 1000 sweeps of the relaxation, 200 Newton steps) and
        convergence tolerance.
    device : str, optional
        Run the relaxation with torch on this device (``"cuda"``, ``"cpu"``) in float64
        instead of numpy; the same algorithm and results up to round-off.

    Returns
    -------
    predictions : ndarray of shape (P, p, m) (or (p, m) for 2-D inputs)
    n_iter : ndarray of shape (P, p) (or (p,))
        Iterations used (``max_iter`` where not converged).
    """
    single = np.ndim(y) == 1
    y = np.atleast_2d(np.asarray(y, dtype=float))
    P, n = y.shape
    Ks = tuple(np.broadcast_to(K, (P, n, n)) for K in (K1, K2, K3))
    Es = tuple(np.broadcast_to(E, (P, *np.shape(E)[-2:])) for E in evals)
    grid = np.asarray(grid, dtype=float)
    grid = np.broadcast_to(
        grid if grid.ndim == 3 else np.atleast_2d(grid)[None], (P, *grid.shape[-2:])
    )
    p = grid.shape[1]
    prob = np.repeat(np.arange(P), p)  # members problem-major
    lam = grid.reshape(P * p, 3)
    if solver == "newton":
        res = fit_affine_batch(
            *Ks,
            y,
            lam,
            problem=prob,
            evals=Es,
            max_iter=max_iter or 200,
            tol=tol,
            scale_target=False,
        )[1]
        pred, n_iter = res.predictions, res.n_iter
    else:
        pred, n_iter = relaxation_path(
            *Ks, y, Es, prob, lam, max_iter=max_iter or 1000, tol=tol, device=device
        )
    pred, n_iter = pred.reshape(P, p, -1), n_iter.reshape(P, p)
    return (pred[0], n_iter[0]) if single else (pred, n_iter)
