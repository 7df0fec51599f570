"""Grid-batched fits of the linear affine model and the log-difference model (fused ridge).

Both models penalise the descriptor coefficients ``gamma`` (p of them) with
``P = ls^2 I + lt^2 D'D`` (first differences ``D`` within descriptor blocks). With fewer samples
than descriptors (the polymer Cp case: n = 60, p = 190) every fused-ridge solve is done in the
n-dimensional sample space by the push-through identity

    (A'A + P)^{-1} A' r = P^{-1} A' (A P^{-1} A' + I)^{-1} r,

with ``P^{-1} = W diag(1 / (ls^2 + lt^2 w)) W'`` from one eigendecomposition ``D'D = W diag(w) W'``
shared by the whole grid. The block relaxation is that of
:class:`affinetl.LinearAffineTransferRegressor` (one source feature): ``gamma``, then ``b``, then
``(a0, a1)``, each an exact block minimiser, stopping when the largest relative max-abs change of
all parameters is below ``tol``; all grid points advance as one batch.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..models._fused_ridge import difference_matrix

__all__ = ["fused_inverses", "linear_affine_path", "log_difference_path"]


def fused_inverses(n_features: int, blocks: list | None, grid: ArrayLike) -> np.ndarray:
    """``P^{-1}`` of shape (q, p, p) for a grid of ``(lambda_ridge, lambda_fused)`` pairs."""
    grid = np.atleast_2d(np.asarray(grid, dtype=float))
    D = difference_matrix(n_features, blocks)
    w, W = np.linalg.eigh(D.T @ D)
    w = np.clip(w, 0.0, None)
    diag = 1.0 / (grid[:, :1] ** 2 + grid[:, 1:] ** 2 * w[None, :])  # (q, p)
    return np.einsum("ij,qj,kj->qik", W, diag, W)


def log_difference_path(
    x: np.ndarray, r: np.ndarray, x_eval: np.ndarray, Pinv: np.ndarray
) -> np.ndarray:
    """Fused ridge with an unpenalised intercept on ``r = log y - log f_s`` for every ``P``.

    Returns predictions of ``r`` at ``x_eval``, shape (q, m).
    """
    xm, rm = x.mean(axis=0), r.mean()
    xc = x - xm
    G = Pinv @ xc.T  # (q, p, n)
    Q = xc @ G  # (q, n, n)
    idx = np.arange(len(r))
    Q[:, idx, idx] += 1.0
    c = np.linalg.solve(Q, np.broadcast_to((r - rm)[:, None], (len(Q), len(r), 1)))[:, :, 0]
    coef = np.einsum("qpn,qn->qp", G, c)
    return rm + coef @ (x_eval - xm).T


def linear_affine_path(
    x: np.ndarray,
    u: np.ndarray,
    y: np.ndarray,
    x_eval: np.ndarray,
    u_eval: np.ndarray,
    Pinv: np.ndarray,
    *,
    max_iter: int = 1000,
    tol: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear affine model ``f = a0 + a1 u - (1 + b u) x'gamma`` for every penalty in ``Pinv``.

    Parameters
    ----------
    x : ndarray of shape (n, p)
    u : ndarray of shape (n,)
        One source feature.
    y : ndarray of shape (n,)
    x_eval, u_eval : ndarray of shape (m, p), (m,)
    Pinv : ndarray of shape (q, p, p)
        Inverse penalty matrices (:func:`fused_inverses`).
    max_iter, tol : int, float
        As in :class:`affinetl.LinearAffineTransferRegressor`.

    Returns
    -------
    predictions : ndarray of shape (q, m)
    gamma : ndarray of shape (q, p)
    n_iter : ndarray of shape (q,)
    """
    q, n = len(Pinv), len(y)
    G = Pinv @ x.T  # gamma = -G (e o c)
    Q = x @ G  # x P^{-1} x'
    ones = np.ones(n)
    design = np.column_stack([ones, u])
    a = np.linalg.lstsq(design, y, rcond=None)[0]
    a0, a1 = np.full(q, a[0]), np.full(q, a[1])
    b = np.zeros(q)
    gamma = np.zeros((q, x.shape[1]))
    n_iter = np.full(q, max_iter)
    live = np.ones(q, dtype=bool)
    idx = np.arange(n)
    ata_inv = np.linalg.inv(design.T @ design)
    for it in range(1, max_iter + 1):
        act = np.flatnonzero(live)
        e = 1.0 + b[act, None] * u[None, :]  # (s, n)
        r = y[None, :] - a0[act, None] - a1[act, None] * u[None, :]
        M = Q[act] * (e[:, :, None] * e[:, None, :])
        M[:, idx, idx] += 1.0
        c = np.linalg.solve(M, r[:, :, None])[:, :, 0]
        g_new = -np.einsum("spn,sn->sp", G[act], e * c)
        xg = g_new @ x.T  # (s, n)
        z = -u[None, :] * xg
        t = r + xg
        zz = np.einsum("sn,sn->s", z, z)
        b_new = np.where(zz > 0, np.einsum("sn,sn->s", z, t) / np.where(zz > 0, zz, 1.0), 0.0)
        target = y[None, :] + (1.0 + b_new[:, None] * u[None, :]) * xg
        coef = target @ design @ ata_inv  # (s, 2)
        old = np.column_stack([a0[act], a1[act], b[act], gamma[act]])
        new = np.column_stack([coef, b_new, g_new])
        scale = np.maximum(np.max(np.abs(old), axis=1), 1e-300)
        change = np.max(np.abs(new - old), axis=1) / scale
        a0[act], a1[act], b[act], gamma[act] = coef[:, 0], coef[:, 1], b_new, g_new
        done = change < tol
        n_iter[act[done]] = it
        live[act[done]] = False
        if not live.any():
            break
    pred = (
        a0[:, None]
        + a1[:, None] * u_eval[None, :]
        - (1.0 + b[:, None] * u_eval[None, :]) * (gamma @ x_eval.T)
    )
    return pred, gamma, n_iter
