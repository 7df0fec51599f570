"""Block relaxation for the kernel affine transfer model (one problem): arrays in, arrays out.

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
  through the eigendecomposition of the fixed ``K1`` computed once.

When a Gram matrix has low numerical rank (``K = Phi Phi'`` with ``r << n`` columns), a scaled block
is solved in the ``r``-dimensional feature space instead, ``(Phi'D^2 Phi + l I) w = Phi'D r``,
which is the same minimiser at ``O(n r^2)`` cost. No pseudo-inverse is formed in any iteration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._gram import CG_RTOL, GramFactor, ScaledBlockSolver
from ._objective import affine_objective, rel_change
from ._ridge import fit_const_affine, kernel_ridge_intercept

__all__ = ["BlockRelaxationResult", "fit_affine_blocks"]

#: Sweeps remembered by the Anderson acceleration of the block relaxation.
ANDERSON_MEMORY = 5


def _state_objective(y: np.ndarray, st: tuple[np.ndarray, ...], lams) -> float:
    """Objective of a state ``(a0, alpha, beta, gamma, h1, h2, g3)`` (fitted values included)."""
    pen = (st[1] @ st[4], st[2] @ st[5], st[3] @ st[6])
    return affine_objective(y, float(st[0][0]), st[4], st[5], st[6], pen, lams)


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
        return np.concatenate([st[0], st[4], st[5], st[6]])

    F = [fitted(g) - fitted(x) for x, g in pairs]
    dF = np.column_stack([F[i + 1] - F[i] for i in range(len(F) - 1)])
    theta = np.linalg.lstsq(dF, F[-1], rcond=None)[0]
    if not np.all(np.isfinite(theta)):
        return None
    G = [g for _, g in pairs]
    return tuple(
        G[-1][j] - sum(t * (G[i + 1][j] - G[i][j]) for i, t in enumerate(theta)) for j in range(7)
    )


@dataclass
class BlockRelaxationResult:
    """Output of :func:`fit_affine_blocks` (dual coefficients and diagnostics)."""

    intercept: float
    alpha: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    n_iter: int
    converged: bool
    objective_history: list[float]
    g2_zero: bool = False
    h2_zero: bool = False


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
    prune_threshold: float = 1e-2,
    extrapolate: bool = False,
    callback=None,
) -> BlockRelaxationResult:
    """Block relaxation for the full affine transfer model.

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
        Published pruning: ``||gamma|| < threshold`` sets ``g2 = 0`` for good (only ``g1``
        remains); ``||beta|| < threshold`` sets ``h2 = 0``.
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
    BlockRelaxationResult
    """
    l1, l2, l3 = lams
    K1, K3 = F1.K, F3.K
    n = y.shape[0]
    if beta0 is None or gamma0 is None:
        if beta0 is not None or gamma0 is not None:
            raise ValueError("give both beta0 and gamma0, or neither (the AffineTL-const start)")
        a_c, alpha_c, gamma0 = fit_const_affine(K1 if fit_h1 else np.zeros_like(K1), K3, y, l1, l3)
        beta0 = np.zeros(n)
        if alpha0 is None:
            alpha0 = (a_c, alpha_c)
    if alpha0 is not None:
        a0 = float(alpha0[0])
        alpha = np.asarray(alpha0[1], dtype=float).copy() if fit_h1 else np.zeros(n)
    elif fit_h1:
        a0, alpha = kernel_ridge_intercept(F1, y, l1)
    else:
        a0, alpha = float(np.mean(y)), np.zeros(n)
    beta, gamma = beta0.astype(float).copy(), gamma0.astype(float).copy()
    h1, h2, g3 = F1.matvec(alpha), F2.matvec(beta), K3 @ gamma
    g2_zero = h2_zero = False

    def objective() -> float:
        scale = 0.0 if g2_zero else 1.0
        return affine_objective(
            y,
            a0,
            h1,
            h2,
            scale * g3,
            (alpha @ h1, beta @ h2, gamma @ g3),
            lams,
        )

    def notify(block: str) -> None:
        if callback is not None:
            callback(block, {"a0": a0, "alpha": alpha, "beta": beta, "gamma": gamma})

    S2 = ScaledBlockSolver(F2, l2, "beta (h2)")
    S3 = ScaledBlockSolver(F3, l3, "gamma (g3)")
    history = [objective()]
    converged = False
    step = 1.0
    last_change = np.inf
    prev: tuple[np.ndarray, ...] | None = None
    n_iter = 0
    pairs: list[tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]] = []
    while n_iter < max_iter:
        n_iter += 1
        old = (alpha.copy(), beta.copy(), gamma.copy(), a0)
        start = (np.array([a0]), alpha.copy(), beta.copy(), gamma.copy(), h1, h2, g3)
        flags_before = (g2_zero, h2_zero)
        if not g2_zero:
            if not h2_zero:
                beta = S2.solve(g3, y - a0 - h1 - g3)
                h2 = F2.matvec(beta)
                notify("beta")
            # accelerated runs solve inexactly while far from convergence: the CG tolerance
            # follows the last sweep's relative change (1e-4 of it, at most 1e-6); the plain
            # published relaxation keeps exact block solves
            rtol = min(1e-6, 1e-4 * last_change) if extrapolate else CG_RTOL
            gamma = S3.solve(1.0 + h2, y - a0 - h1, rtol)
            g3 = K3 @ gamma
            notify("gamma")
        r = y - (0.0 if g2_zero else 1.0) * (1.0 + h2) * g3
        if fit_h1:
            a0, alpha = kernel_ridge_intercept(F1, r, l1)
            h1 = F1.matvec(alpha)
        else:
            a0 = float(np.mean(r))
        notify("alpha")
        if prune and not g2_zero and np.linalg.norm(gamma) < prune_threshold:
            g2_zero = True
            beta, gamma = np.zeros(n), np.zeros(n)
            h2, g3 = np.zeros(n), np.zeros(n)
        if prune and not h2_zero and not g2_zero and np.linalg.norm(beta) < prune_threshold:
            h2_zero = True
            beta, h2 = np.zeros(n), np.zeros(n)
        current = objective()
        state = (np.array([a0]), alpha, beta, gamma, h1, h2, g3)
        # No extrapolation across a pruning step: the direction would revive a removed block.
        pruned_now = (g2_zero, h2_zero) != flags_before
        accelerated = False
        if extrapolate and not g2_zero and not pruned_now:
            pairs.append((start, state))
            del pairs[: -(ANDERSON_MEMORY + 1)]
            cand = _anderson(pairs)
            if cand is not None:
                c_obj = _state_objective(y, cand, lams)
                if c_obj < current:
                    a0, alpha, beta, gamma, h1, h2, g3 = float(cand[0][0]), *cand[1:]
                    current, accelerated = c_obj, True
        else:
            pairs.clear()
        if extrapolate and not accelerated and prev is not None and not g2_zero and not pruned_now:
            cand = tuple(v + step * (v - p) for v, p in zip(state, prev))
            c_obj = _state_objective(y, cand, lams)
            if c_obj < current:
                prev = state
                a0, alpha, beta, gamma, h1, h2, g3 = float(cand[0][0]), *cand[1:]
                current, step = c_obj, min(2.0 * step, 64.0)
            else:
                prev, step = state, max(step / 4.0, 0.25)
        else:
            prev = state
        history.append(current)
        change = max(
            rel_change(alpha, old[0]),
            rel_change(beta, old[1]),
            rel_change(gamma, old[2]),
            rel_change(np.array([a0]), np.array([old[3]])),
        )
        last_change = change
        if change < tol:
            converged = True
            break
    return BlockRelaxationResult(
        intercept=a0,
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        n_iter=n_iter,
        converged=converged,
        objective_history=history,
        g2_zero=g2_zero,
        h2_zero=h2_zero,
    )
