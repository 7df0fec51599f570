"""Block relaxation of the kernel affine transfer model: one problem, or many at once.

The objective (Minami et al., NeurIPS 2023, eq. (6) with the representer theorem) is::

    L(a0, alpha, beta, gamma) = ||y - a0 - K1 alpha - (1 + K2 beta) o (K3 gamma)||^2
                                + l1 alpha'K1 alpha + l2 beta'K2 beta + l3 gamma'K3 gamma

It is convex in each block. Every update below is the exact block minimiser:

* ``beta`` given the rest: with ``d = K3 gamma`` and ``r = y - a0 - K1 alpha - d`` the block is
  ``min ||r - d o (K2 beta)||^2 + l2 beta'K2 beta``. Its normal equations
  ``(D^2 K2 + l2 I) beta = D r`` are not symmetric; the push-through identity gives the symmetric
  positive-definite form ``beta = D c`` with ``(D K2 D + l2 I) c = r`` (Cholesky).
* ``gamma`` given the rest: the same problem with ``d = 1 + K2 beta``, ``r = y - a0 - K1 alpha``.
* ``(a0, alpha)``: kernel ridge with an unpenalised intercept on ``r = y - g2 o g3``:
  ``alpha = A^{-1} (r - a0)``, ``a0 = 1'A^{-1} r / 1'A^{-1} 1`` with ``A = K1 + l1 I``, applied
  through a factorisation of the fixed ``K1`` computed once.

The sweep and its stopping rule (the largest relative max-abs change of the blocks below
``tol``) are written once, :func:`_relax`, for a batch of ``B`` members (a single problem being
the batch of one); converged members are frozen and dropped from the working batch. The block
solves plug into it: :class:`_Factored` for one problem (:func:`fit_affine_blocks`: factorised
Gram matrices, :class:`~._gram.ScaledBlockSolver`; pruning and acceleration), :class:`_Batched`
for many problems of equal size (:func:`relaxation_path`: one batched solve per block, numpy or
torch). No pseudo-inverse is formed in any iteration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._gram import CG_RTOL, GramFactor, ScaledBlockSolver
from ._objective import _bmv, affine_objective, change_ratio
from ._ridge import fit_const_affine, kernel_ridge_intercept

__all__ = ["AffineFit", "fit_affine_blocks", "relaxation_path"]

#: Sweeps remembered by the Anderson acceleration of the block relaxation.
ANDERSON_MEMORY = 5
#: Norm of ``gamma`` (``beta``) below which pruning sets ``g2 = 0`` (``h2 = 0``).
PRUNE_THRESHOLD = 1e-2


class _Numpy:
    """The few array operations of the relaxation that differ between numpy and torch."""

    solve = staticmethod(np.linalg.solve)

    def asarray(self, v: np.ndarray) -> np.ndarray:
        return np.array(v)

    def numpy(self, v) -> np.ndarray:
        return np.asarray(v)

    def mask(self, m: np.ndarray):
        return m

    def amax_abs(self, v) -> np.ndarray:
        """Largest absolute value of each member (row), as numpy."""
        return np.max(np.abs(v), axis=1)


class _Torch(_Numpy):
    """The same operations for torch tensors (float64) on ``device``."""

    def __init__(self, device: str) -> None:
        import torch  # noqa: PLC0415 - optional dependency (the nn extra)

        self.torch = torch
        self.device = torch.device(device)
        self.solve = torch.linalg.solve

    def asarray(self, v: np.ndarray):
        return self.torch.as_tensor(np.ascontiguousarray(v), device=self.device).clone()

    def numpy(self, v) -> np.ndarray:
        return v.cpu().numpy()

    def mask(self, m: np.ndarray):
        return self.asarray(m)

    def amax_abs(self, v) -> np.ndarray:
        return self.torch.amax(self.torch.abs(v), dim=1).cpu().numpy()


class _Batched:
    """Block solves of ``B`` members with dense Gram matrices, one batched solve per block."""

    def __init__(self, xp, K1, K2, K3, Ainv, a1, den, l2, l3) -> None:
        self.xp, self.fit_h1, self.single = xp, True, False
        self.arrays = [xp.asarray(v) for v in (K1, K2, K3, l2, l3, Ainv, a1, den)]

    def keep(self, live: np.ndarray) -> None:
        """Drop the converged members from the working batch."""
        self.arrays = [v[self.xp.mask(live)] for v in self.arrays]

    def matvec(self, i: int, v):
        """``K_i v`` (``i = 0, 1, 2``: ``h1``, ``h2``, ``g3``) of every member."""
        return _bmv(self.arrays[i], v)

    def solve(self, i: int, d, r, rtol: float):
        """``theta_b = d_b c_b`` with ``(D_b K_b D_b + lam_b I) c_b = r_b`` (block ``i``)."""
        K, lam = self.arrays[i], self.arrays[i + 2]
        M = K * (d[:, :, None] * d[:, None, :])
        idx = np.arange(K.shape[-1])
        M[:, idx, idx] += lam[:, None]
        return d * self.xp.solve(M, r[:, :, None])[:, :, 0]

    def intercept_alpha(self, r):
        Ainv, a1, den = self.arrays[5:]
        sol = _bmv(Ainv, r)
        a0 = sol.sum(1) / den
        return a0[:, None], sol - a0[:, None] * a1


class _Factored:
    """Block solves of one problem (a batch of one) through its factorised Gram matrices."""

    def __init__(self, F1, F2, F3, lams, fit_h1: bool) -> None:
        self.xp, self.fit_h1, self.single = _Numpy(), fit_h1, True
        self.F1, self.l1 = F1, lams[0]
        self.matvecs = (F1.matvec, F2.matvec, lambda v: F3.K @ v)
        self.solvers = (None, ScaledBlockSolver(F2, lams[1], "beta (h2)"))
        self.solvers += (ScaledBlockSolver(F3, lams[2], "gamma (g3)"),)

    def matvec(self, i: int, v):
        return self.matvecs[i](v[0])[None]

    def solve(self, i: int, d, r, rtol: float):
        return self.solvers[i].solve(d[0], r[0], rtol)[None]

    def intercept_alpha(self, r):
        a0, alpha = kernel_ridge_intercept(self.F1, r[0], self.l1)
        return np.array([[a0]]), alpha[None]


def _anderson(pairs) -> tuple[np.ndarray, ...] | None:
    """Anderson-accelerated state from (state before, state after) pairs of the last sweeps.

    With the sweep map ``G`` and residuals ``f_i = G(x_i) - x_i`` measured on the fitted values
    ``(a0, h1, h2, g3)``, ``theta`` minimises ``||f_k - dF theta||`` and the new state is
    ``G(x_k) - dG theta`` (Walker & Ni 2011), for the dual coefficients and the fitted values
    alike (both are linear in the states). None with fewer than two pairs.
    """
    if len(pairs) < 2:
        return None

    def fitted(st):
        return np.concatenate([st[0], st[4], st[5], st[6]], axis=1).ravel()

    F = [fitted(g) - fitted(x) for x, g in pairs]
    dF = np.column_stack([F[i + 1] - F[i] for i in range(len(F) - 1)])
    theta = np.linalg.lstsq(dF, F[-1], rcond=None)[0]
    if not np.all(np.isfinite(theta)):
        return None
    G = [g for _, g in pairs]
    return tuple(
        G[-1][j] - sum(t * (G[i + 1][j] - G[i][j]) for i, t in enumerate(theta)) for j in range(7)
    )


def _relax(
    ops,
    y,
    start,
    lams,
    *,
    max_iter,
    tol,
    prune=False,
    extrapolate=False,
    callback=None,
):
    """The block relaxation of every member of a batch (module docstring).

    ``y`` (B, n) and ``start = (a0, alpha, beta, gamma)`` of shapes (B, 1), (B, n) x 3 are
    arrays of ``ops.xp``. Pruning, acceleration and the objective history are for the batch
    of one (:class:`_Factored`). Returns numpy ``(a0, alpha, beta, gamma, n_iter, converged)``
    and, for the batch of one, ``(history, g2_zero, h2_zero)``.
    """
    xp = ops.xp
    a0, alpha, beta, gamma = start
    out = [xp.numpy(v).copy() for v in start]
    B = out[0].shape[0]
    n_iter, converged = np.full(B, max_iter), np.zeros(B, dtype=bool)
    work = np.arange(B)  # the members in the working batch, compacted as members converge
    live = np.ones(B, dtype=bool)
    h1, h2, g3 = (ops.matvec(i, v) for i, v in enumerate((alpha, beta, gamma)))
    g2_zero = h2_zero = False

    def objective(st) -> float:  # of the batch of one, from the fitted values
        a, al, be, ga, f1, f2, f3 = (v[0] for v in st)
        pen = (al @ f1, be @ f2, ga @ f3)
        return affine_objective(
            y[0], float(a[0]), f1, f2, (0.0 if g2_zero else 1.0) * f3, pen, lams
        )

    def notify(block: str) -> None:
        if callback is not None:
            state = {"a0": float(a0[0, 0]), "alpha": alpha[0], "beta": beta[0], "gamma": gamma[0]}
            callback(block, state)

    history = [objective((a0, alpha, beta, gamma, h1, h2, g3))] if ops.single else None
    step, last_change, prev = 1.0, np.inf, None
    pairs: list[tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]] = []
    for it in range(1, max_iter + 1):
        old = (alpha, beta, gamma, a0)
        start_state = (a0, alpha, beta, gamma, h1, h2, g3)
        flags_before = (g2_zero, h2_zero)
        if not g2_zero:
            if not h2_zero:
                beta = ops.solve(1, g3, y - a0 - h1 - g3, CG_RTOL)
                h2 = ops.matvec(1, beta)
                notify("beta")
            # accelerated runs solve inexactly while far from convergence: the CG tolerance
            # follows the last sweep's relative change (1e-4 of it, at most 1e-6); the plain
            # published relaxation keeps exact block solves
            rtol = min(1e-6, 1e-4 * last_change) if extrapolate else CG_RTOL
            gamma = ops.solve(2, 1.0 + h2, y - a0 - h1, rtol)
            g3 = ops.matvec(2, gamma)
            notify("gamma")
        r = y - (0.0 if g2_zero else 1.0) * (1.0 + h2) * g3
        if ops.fit_h1:
            a0, alpha = ops.intercept_alpha(r)
            h1 = ops.matvec(0, alpha)
        else:
            a0 = np.array([[np.mean(r[0])]])
        notify("alpha")
        if prune and not g2_zero and np.linalg.norm(gamma[0]) < PRUNE_THRESHOLD:
            g2_zero = True
            beta, gamma, h2, g3 = (np.zeros_like(v) for v in (beta, gamma, h2, g3))
        if prune and not h2_zero and not g2_zero and np.linalg.norm(beta[0]) < PRUNE_THRESHOLD:
            h2_zero = True
            beta, h2 = np.zeros_like(beta), np.zeros_like(h2)
        state = (a0, alpha, beta, gamma, h1, h2, g3)
        if ops.single:
            current = objective(state)
            # No extrapolation across a pruning step: the direction would revive a removed block.
            extra = extrapolate and not g2_zero and (g2_zero, h2_zero) == flags_before
            accelerated = False
            if extra:
                pairs.append((start_state, state))
                del pairs[: -(ANDERSON_MEMORY + 1)]
                cand = _anderson(pairs)
                if cand is not None and (c_obj := objective(cand)) < current:
                    (a0, alpha, beta, gamma, h1, h2, g3), current, accelerated = cand, c_obj, True
            else:
                pairs.clear()
            if extra and not accelerated and prev is not None:
                cand = tuple(v + step * (v - p) for v, p in zip(state, prev))
                c_obj = objective(cand)
                if c_obj < current:
                    (a0, alpha, beta, gamma, h1, h2, g3), current = cand, c_obj
                    step = min(2.0 * step, 64.0)
                else:
                    step = max(step / 4.0, 0.25)
            prev = state
            history.append(current)
        # per member on the backend: only (B,) maxima leave the device
        changes = zip((alpha, beta, gamma, a0), old)
        change = np.maximum.reduce(
            [change_ratio(xp.amax_abs(v - o), xp.amax_abs(o)) for v, o in changes]
        )
        last_change = float(np.max(change))
        done = live & (change < tol)
        if done.any():
            for o, cur in zip(out, (a0, alpha, beta, gamma)):
                o[work[done]] = xp.numpy(cur[xp.mask(done)])
            n_iter[work[done]], converged[work[done]] = it, True
            live &= ~done
        if not live.any():
            break
        if live.mean() < 0.7:  # compact the working batch
            work, keep = work[live], xp.mask(live)
            ops.keep(live)
            y, a0, alpha, beta, gamma, h1, h2, g3 = (
                v[keep] for v in (y, a0, alpha, beta, gamma, h1, h2, g3)
            )
            live = np.ones(len(work), dtype=bool)
    else:
        for o, cur in zip(out, (a0, alpha, beta, gamma)):
            o[work[live]] = xp.numpy(cur[xp.mask(live)])
    return (*out, n_iter, converged), (history, g2_zero, h2_zero)


@dataclass
class AffineFit:
    """One fitted problem of the bilinear forms, from any solver.

    ``coef`` (q,): design coefficients of ``g1`` (``coef[0]`` the intercept); ``alpha``,
    ``beta``, ``gamma``: dual coefficients (n,) or feature weights (m1,), (m2,), (m3,), in the
    target's units; ``scale``: the unit in which the penalties acted (``sd(y)``, see
    :func:`~._affine.target_scale`); ``objective_history`` in units of the scaled target;
    ``pruned``: the blocks set to zero (``"g2"``, ``"h2"``).
    """

    coef: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    n_iter: int
    converged: bool
    solver: str
    scale: float = 1.0
    objective_history: list[float] = field(default_factory=list)
    pruned: tuple[str, ...] = ()

    @property
    def intercept(self) -> float:
        return float(self.coef[0])


def fit_affine_blocks(
    F1: GramFactor,
    F2: GramFactor,
    F3: GramFactor,
    y: np.ndarray,
    lams: tuple[float, float, float],
    *,
    beta0: np.ndarray | None = None,
    gamma0: np.ndarray | None = None,
    alpha0: tuple[float, np.ndarray] | None = None,
    fit_h1: bool = True,
    max_iter: int = 1000,
    tol: float = 1e-4,
    prune: bool = False,
    extrapolate: bool = False,
    callback=None,
) -> AffineFit:
    """Block relaxation for the full affine transfer model (one problem).

    Parameters
    ----------
    F1, F2, F3 : GramFactor
        Gram matrices of ``h1`` (on u), ``h2`` (on u) and ``g3`` (on x), each (n, n).
    y : ndarray of shape (n,)
    lams : (l1, l2, l3)
        Positive penalties, already scaled (``lambda_scaling``).
    beta0, gamma0 : ndarray of shape (n,), optional
        Initial dual coefficients of ``h2`` and ``g3``. Without them the relaxation starts at
        the AffineTL-const solution (``beta = 0``; ``h1 = 0`` there when ``fit_h1`` is
        False), the shrinkage point ``g2 = 1``, and ``alpha0`` defaults to that solution's.
    alpha0 : (a0, alpha), optional
        Initial intercept and ``alpha``; by default kernel ridge of ``y`` on u (or
        ``a0 = mean(y)``, ``alpha = 0`` when ``fit_h1`` is False).
    fit_h1 : bool
        False fixes ``h1 = 0`` (the ``g1 = const`` special case).
    max_iter, tol : int, float
        Stop when the largest relative max-abs change of the blocks is below ``tol``.
    prune : bool
        Published pruning: ``||gamma|| < PRUNE_THRESHOLD`` sets ``g2 = 0`` for good (only
        ``g1`` remains); ``||beta|| < PRUNE_THRESHOLD`` sets ``h2 = 0``.
    extrapolate : bool
        After each sweep, try the Anderson-accelerated point of the last ``ANDERSON_MEMORY``
        sweeps (:func:`_anderson`), else the extrapolated point
        ``theta_k + w (theta_k - theta_{k-1})`` (the step ``w`` grows on success and shrinks on
        failure), each kept only if it lowers the objective. The objective stays
        non-increasing; sweeps along the slow valley of the ``g2``/``g3`` trade-off become much
        fewer. The dense ``g3`` solves are then inexact while far from convergence (CG to a
        relative residual of ``1e-4`` times the last relative change).
    callback : callable, optional
        Called as ``callback(block_name, state_dict)`` after every block update (for tests).

    Returns
    -------
    AffineFit
        ``scale = 1``; ``objective_history`` after every sweep.
    """
    l1, l2, l3 = lams
    n = y.shape[0]
    if (beta0 is None) != (gamma0 is None):
        raise ValueError("give both beta0 and gamma0, or neither (the AffineTL-const start)")
    if beta0 is None:
        K1 = F1.K if fit_h1 else np.zeros_like(F1.K)
        a_c, alpha_c, gamma0 = fit_const_affine(K1, F3.K, y, l1, l3)
        beta0, alpha0 = np.zeros(n), (a_c, alpha_c) if alpha0 is None else alpha0
    if alpha0 is not None:
        a0 = float(alpha0[0])
        alpha = np.asarray(alpha0[1], dtype=float).copy() if fit_h1 else np.zeros(n)
    elif fit_h1:
        a0, alpha = kernel_ridge_intercept(F1, y, l1)
    else:
        a0, alpha = float(np.mean(y)), np.zeros(n)
    start = (np.array([[a0]]), alpha[None], beta0.astype(float)[None], gamma0.astype(float)[None])
    ops = _Factored(F1, F2, F3, lams, fit_h1)
    kw = dict(prune=prune, extrapolate=extrapolate, callback=callback)
    (a0, alpha, beta, gamma, n_iter, converged), (history, g2_zero, h2_zero) = _relax(
        ops, y[None], start, lams, max_iter=max_iter, tol=tol, **kw
    )
    return AffineFit(
        coef=a0[0],
        alpha=alpha[0],
        beta=beta[0],
        gamma=gamma[0],
        n_iter=int(n_iter[0]),
        converged=bool(converged[0]),
        solver="relaxation",
        objective_history=history,
        pruned=tuple(name for name, flag in (("g2", g2_zero), ("h2", h2_zero)) if flag),
    )


def relaxation_path(
    K1: np.ndarray,
    K2: np.ndarray,
    K3: np.ndarray,
    y: np.ndarray,
    evals: tuple[np.ndarray, np.ndarray, np.ndarray],
    prob: np.ndarray,
    lam: np.ndarray,
    *,
    max_iter: int = 1000,
    tol: float = 1e-4,
    device: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """AffineTL-full predictions of ``B`` members (problem ``prob[b]``, penalties ``lam[b]``).

    The published algorithm without pruning or acceleration, batched (:class:`_Batched`):
    ``(a0, alpha)`` start at kernel ridge of ``y`` on ``K1``, ``beta`` and ``gamma`` at
    standard normal draws (the same draws for every member). Behind
    :func:`~._affine.affine_full_path`, which documents the arguments (here every array has
    its problem axis, and ``lam`` is (B, 3)). Returns the predictions (B, m) and the
    iterations (B,).
    """
    n = y.shape[1]
    l1, l2, l3 = lam.T
    # (K1 + l1 I)^{-1} per batch member from one eigendecomposition per problem
    s, V = np.linalg.eigh(0.5 * (K1 + K1.transpose(0, 2, 1)))
    s = np.clip(s, 0.0, None)
    Vb = V[prob]
    Ainv = np.einsum("bij,bj,bkj->bik", Vb, 1.0 / (s[prob] + l1[:, None]), Vb)
    a1 = Ainv.sum(axis=2)  # A^{-1} 1
    den = a1.sum(axis=1)
    xp = _Numpy() if device is None else _Torch(device)
    ops = _Batched(xp, K1[prob], K2[prob], K3[prob], Ainv, a1, den, l2, l3)
    Y = xp.asarray(y[prob])
    draws = np.random.default_rng(0).standard_normal((2, n))  # the same beta, gamma for all
    beta0, gamma0 = (xp.asarray(np.tile(v, (len(prob), 1))) for v in draws)
    start = (*ops.intercept_alpha(Y), beta0, gamma0)  # (a0, alpha): kernel ridge of y on K1
    (a0, alpha, beta, gamma, n_iter, _), _ = _relax(ops, Y, start, None, max_iter=max_iter, tol=tol)
    E1, E2, E3 = (E[prob] for E in evals)
    h1, h2, g3 = (np.einsum("bmj,bj->bm", E, v) for E, v in ((E1, alpha), (E2, beta), (E3, gamma)))
    return a0 + h1 + (1.0 + h2) * g3, n_iter
