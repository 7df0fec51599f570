"""Fit the bilinear forms (``full``, ``g1_const``) of the kernel affine model: one entry point.

The penalties of these forms act on the target scaled to unit standard deviation,
``y / sd(y)`` (:func:`target_scale`): ``g2 = 1 + h2`` fixes the scale of ``g2``, so the model is
not equivariant in the target's units, and the scaled objective makes ``lambda2`` unit-free.
Fitted values and coefficients are returned in the target's units. (The ridge-type forms are
linear in ``y``, so the scaling does not change them.)

* :func:`fit_affine_kernel`: one problem with exact kernels, by the solver of
  :func:`~._resolve.resolve_solver`.
* :func:`fit_affine_features`: one problem on feature maps (the large-n mode).
* :func:`fit_affine_batch`: many problems and penalty settings (CV folds of the model
  selection), batched Newton steps in memory-bounded chunks, members one by one above
  :data:`~._resolve.NEWTON_MAX_N` samples.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from . import _resolve
from ._gram import GramFactor
from ._lowrank_newton import fit_affine_newton, newton_applies
from ._newton import NewtonBatchResult, affine_full_newton, newton_features
from ._relaxation import fit_affine_blocks
from ._resolve import resolve_solver
from ._ridge import fit_partial_ridge

__all__ = [
    "AffineFit",
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
class AffineFit:
    """One fitted problem, in the target's units.

    ``coef`` (q,): design coefficients of ``g1`` (``coef[0]`` the intercept); ``alpha``,
    ``beta``, ``gamma``: dual coefficients (n,) or feature weights (m1,), (m2,), (m3,).
    ``objective_history`` is in units of the scaled target.
    """

    coef: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    n_iter: int
    converged: bool
    solver: str
    scale: float
    objective_history: list[float] = field(default_factory=list)
    pruned: tuple[str, ...] = ()


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
    sc = target_scale(y) if scale_target else 1.0
    ys = y / sc
    if chosen == "newton":
        K1f = K1 if fit_h1 else np.zeros_like(K1)
        res = affine_full_newton(
            K1f[None],
            K2[None],
            K3[None],
            ys[None],
            np.asarray([lams]),
            design=Z[None],
            max_iter=max_iter,
            tol=tol,
        )
        return AffineFit(
            coef=sc * res.coef[0],
            alpha=sc * res.alpha[0] if fit_h1 else np.zeros(n),
            beta=res.beta[0],
            gamma=sc * res.gamma[0],
            n_iter=int(res.n_iter[0]),
            converged=bool(res.converged[0]),
            solver=chosen,
            scale=sc,
            objective_history=list(res.history[: int(res.n_iter[0]) + 1, 0]),
        )
    F1, F2, F3 = grams()
    if chosen == "lowrank_newton":
        res = fit_affine_newton(F1, F2, F3, ys, lams, fit_h1=fit_h1, max_iter=max_iter, tol=tol)
    else:
        beta0 = gamma0 = None  # default: the shrinkage point g2 = 1 (the const start)
        if init == "random":
            rng = np.random.RandomState(0) if rng is None else rng
            beta0, gamma0 = rng.standard_normal(n), rng.standard_normal(n)
        res = fit_affine_blocks(
            F1,
            F2,
            F3,
            ys,
            lams,
            beta0=beta0,
            gamma0=gamma0,
            fit_h1=fit_h1,
            max_iter=max_iter,
            tol=tol,
            prune=prune,
            extrapolate=extrapolate,
        )
    pruned = tuple(name for name, flag in (("g2", res.g2_zero), ("h2", res.h2_zero)) if flag)
    return AffineFit(
        coef=np.array([sc * res.intercept]),
        alpha=sc * res.alpha,
        beta=res.beta,
        gamma=sc * res.gamma,
        n_iter=res.n_iter,
        converged=res.converged,
        solver=chosen,
        scale=sc,
        objective_history=list(res.objective_history),
        pruned=pruned,
    )


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
) -> AffineFit:
    """The bilinear forms on feature maps (``P1`` with 0 columns: ``g1 = const``).

    Newton steps of :func:`~._newton.newton_features` on the batch of one, from the
    AffineTL-const solution or from ``start = (w2, w3)`` (scaled-target units) with
    ``(c, w1)`` by ridge given them.
    """
    n = y.shape[0]
    Z = np.ones((n, 1)) if design is None else design
    sc = target_scale(y)
    ys = y / sc
    theta0 = None
    if start is not None:
        w2, w3 = start
        r = ys - (1.0 + P2 @ w2) * (P3 @ w3)
        m1 = P1.shape[1]
        if m1:
            c, a = fit_partial_ridge(P1 @ P1.T, Z, r, lams[0])
            w1 = P1.T @ a
        else:
            c, w1 = fit_partial_ridge(None, Z, r, 1.0)[0], np.zeros(0)
        theta0 = np.concatenate([c, w1, w2, w3])[None]
    linear = P2.shape[1] == 0 and theta0 is None  # g2 = 1: the const start is the solution
    theta, n_iter, conv, obj, (s0, s1, s2, s3) = newton_features(
        Z[None],
        P1[None],
        P2[None],
        P3[None],
        ys[None],
        np.asarray([lams]),
        start=theta0,
        max_iter=0 if linear else max_iter,
        tol=tol,
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
    lams: np.ndarray,
    *,
    problem: np.ndarray | None = None,
    design: np.ndarray | None = None,
    evals: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    design_eval: np.ndarray | None = None,
    max_iter: int = 200,
    tol: float = 1e-6,
) -> tuple[np.ndarray, NewtonBatchResult]:
    """AffineTL-full on scaled targets for a batch of members (problem, penalties).

    Every member is solved from its AffineTL-const solution by the solver of
    :func:`~._resolve.resolve_solver` (``"auto"``): batched damped Newton steps in chunks that
    bound the memory of the Hessians; above ``NEWTON_MAX_N`` training samples with an
    intercept-only design, one by one by :func:`fit_affine_kernel`.

    Parameters
    ----------
    K1, K2, K3 : ndarray of shape (P, n, n)
    y : ndarray of shape (P, n)
    lams : ndarray of shape (B, 3)
    problem : ndarray of shape (B,), optional
        Problem of each member (default one member per problem).
    design, evals, design_eval
        Unpenalised design of ``g1`` (default the intercept) and the evaluation rows, as in
        :func:`~._newton.affine_full_newton`.
    max_iter, tol : int, float

    Returns
    -------
    scale : ndarray of shape (B,)
        ``sd(y)`` of each member's problem; fitted values and predictions are ``scale`` times
        those of the result (its ``coef``, ``alpha`` and ``gamma`` are in scaled units).
    result : NewtonBatchResult
    """
    y = np.atleast_2d(y)
    prob = np.arange(y.shape[0]) if problem is None else np.asarray(problem)
    scale = np.array([target_scale(t) for t in y])
    ys = y / scale[:, None]
    n = y.shape[1]
    q = 1 if design is None else np.asarray(design).shape[2]
    if n > _resolve.NEWTON_MAX_N and q == 1:
        return scale[prob], _one_by_one(K1, K2, K3, ys, lams, prob, evals, max_iter, tol)
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
    for f in dataclasses.fields(NewtonBatchResult):
        values = [getattr(r, f.name) for r in parts]
        if f.name == "history":
            joined[f.name] = None  # chunks run different numbers of steps
        else:
            joined[f.name] = None if values[0] is None else np.concatenate(values)
    return scale[prob], NewtonBatchResult(**joined)


def _one_by_one(K1, K2, K3, y, lams, prob, evals, max_iter, tol) -> NewtonBatchResult:
    """Members one by one by :func:`fit_affine_kernel` (already scaled targets)."""
    fits = []
    caches: dict[int, dict] = {}
    for b, pb in enumerate(prob):
        lam = tuple(float(v) for v in lams[b])
        fits.append(
            fit_affine_kernel(
                K1[pb],
                K2[pb],
                K3[pb],
                y[pb],
                lam,
                max_iter=max_iter,
                tol=tol,
                scale_target=False,
                factors=caches.setdefault(int(pb), {}),
            )
        )
    pred = None
    if evals is not None:
        pred = []
        for f, pb in zip(fits, prob):
            E1, E2, E3 = (np.asarray(E)[pb] for E in evals)
            pred.append(f.coef[0] + E1 @ f.alpha + (1.0 + E2 @ f.beta) * (E3 @ f.gamma))
        pred = np.asarray(pred)
    return NewtonBatchResult(
        coef=np.asarray([f.coef for f in fits]),
        alpha=np.asarray([f.alpha for f in fits]),
        beta=np.asarray([f.beta for f in fits]),
        gamma=np.asarray([f.gamma for f in fits]),
        predictions=pred,
        n_iter=np.asarray([f.n_iter for f in fits]),
        converged=np.asarray([f.converged for f in fits]),
        objective=np.asarray([f.objective_history[-1] for f in fits]),
    )
