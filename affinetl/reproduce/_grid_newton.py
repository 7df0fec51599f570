"""AffineTL-full for a whole penalty grid by batched damped Newton steps.

The batched counterpart of :func:`affinetl.models._affine_features.fit_affine_features` for the
small training sets of the case studies: every Gram matrix is written exactly as ``K = F F'``
(``F = V sqrt(S)`` from its eigendecomposition, numerically zero eigenvalues dropped), so the
kernel objective becomes the feature-space objective with ``p = 1 + 3n`` unknowns, and all CV
problems and grid points take Levenberg-Marquardt-damped Newton steps together. Each member
starts at its AffineTL-const solution and accepts a step only when the objective falls.
Block relaxation (:func:`affinetl.reproduce._grid.affine_full_path`) reaches the same kind of
stationary point in hundreds of sweeps; Newton steps need tens.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._grid import batch_members

__all__ = ["affine_full_newton_path"]

#: Eigenvalues below this fraction of the largest are dropped from the exact feature maps.
EIG_RTOL = 1e-10
#: A member whose damping exceeds this has no descent step left (converged).
MU_MAX = 1e12


def _exact_features(K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``F`` with ``K = F F'`` and ``T`` with ``E T`` the features of rows ``E`` of ``k(., train)``."""
    s, V = np.linalg.eigh(0.5 * (K + np.swapaxes(K, -1, -2)))
    keep = s > EIG_RTOL * np.max(s, axis=-1, keepdims=True)
    safe = np.where(keep, s, 1.0)
    F = V * np.where(keep, np.sqrt(safe), 0.0)[..., None, :]
    T = V * np.where(keep, 1.0 / np.sqrt(safe), 0.0)[..., None, :]
    return F, T


def _bmv(A: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.matmul(A, v[..., None])[..., 0]


def _gram(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A_b' B_b`` for every batch member (batched BLAS, unlike ``einsum``)."""
    return np.matmul(np.swapaxes(A, 1, 2), B)


def _const_start(P1, P3, y, l1, l3) -> np.ndarray:
    """Batched AffineTL-const: ridge with an unpenalised intercept on ``[P1, P3]``."""
    n = y.shape[1]
    Z = np.concatenate([P1, P3], axis=2)
    mean = Z.mean(axis=1, keepdims=True)
    Zc = Z - mean
    M = _gram(Zc, Zc)
    pen = np.concatenate([np.repeat(l1[:, None], n, 1), np.repeat(l3[:, None], n, 1)], axis=1)
    idx = np.arange(2 * n)
    M[:, idx, idx] += pen
    ym = y.mean(axis=1)
    w = np.linalg.solve(M, _gram(Zc, (y - ym[:, None])[..., None]))[..., 0]
    a0 = ym - np.einsum("bi,bi->b", mean[:, 0], w)
    theta = np.zeros((len(y), 1 + 3 * n))
    theta[:, 0] = a0
    theta[:, 1 : 1 + n] = w[:, :n]
    theta[:, 1 + 2 * n :] = w[:, n:]
    return theta


def _objective(theta, P1, P2, P3, y, pen):
    n = y.shape[1]
    w1, w2, w3 = theta[:, 1 : 1 + n], theta[:, 1 + n : 1 + 2 * n], theta[:, 1 + 2 * n :]
    f3 = _bmv(P3, w3)
    d = 1.0 + _bmv(P2, w2)
    e = y - theta[:, :1] - _bmv(P1, w1) - d * f3
    obj = np.einsum("bn,bn->b", e, e) + np.einsum("bi,bi->b", pen, theta**2)
    return obj, e, d, f3


def affine_full_newton_path(
    K1: np.ndarray,
    K2: np.ndarray,
    K3: np.ndarray,
    y: np.ndarray,
    evals: tuple[np.ndarray, np.ndarray, np.ndarray],
    grid: ArrayLike,
    *,
    max_iter: int = 200,
    tol: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray]:
    """AffineTL-full predictions for a grid of ``(l1, l2, l3)`` by batched Newton steps.

    Same arguments and returns as :func:`affinetl.reproduce._grid.affine_full_path` (without
    its random start and torch device): several problems of equal size (CV folds, targets) and
    all grid points are solved together.

    Parameters
    ----------
    K1, K2, K3 : ndarray of shape (n, n) or (P, n, n)
    y : ndarray of shape (n,) or (P, n)
    evals : (K1_eval, K2_eval, K3_eval), each of shape (m, n) or (P, m, n)
    grid : array-like of shape (p, 3) or (P, p, 3)
        Positive ``(l1, l2, l3)``.
    max_iter : int
        Newton iterations (accepted or rejected) per member.
    tol : float
        A member has converged when an accepted step changes every block by less than ``tol``
        relative to its max-abs value, or when no step lowers its objective.

    Returns
    -------
    predictions : ndarray of shape (P, p, m) (or (p, m) for 2-D inputs)
    n_iter : ndarray of shape (P, p) (or (p,))
    """
    single, y, (K1, K2, K3), (E1, E2, E3), prob, lam = batch_members(K1, K2, K3, y, evals, grid)
    P, n = y.shape
    g = len(prob) // P
    (F1, T1), (F2, T2), (F3, T3) = (_exact_features(K) for K in (K1, K2, K3))
    P1, P2, P3, Y = F1[prob], F2[prob], F3[prob], y[prob]
    B, p = len(prob), 1 + 3 * n
    s1, s2, s3 = slice(1, 1 + n), slice(1 + n, 1 + 2 * n), slice(1 + 2 * n, p)
    pen = np.zeros((B, p))
    pen[:, s1], pen[:, s2], pen[:, s3] = lam[:, :1], lam[:, 1:2], lam[:, 2:3]
    theta = _const_start(P1, P3, Y, lam[:, 0], lam[:, 2])
    n_iter = np.full(B, max_iter)
    mu = np.full(B, 1e-6)
    live = np.arange(B)
    diag = np.arange(p)
    obj, e, d, f3 = _objective(theta, P1, P2, P3, Y, pen)
    for it in range(1, max_iter + 1):
        if not len(live):
            break
        a1, a2, a3, ay, ap = P1[live], P2[live], P3[live], Y[live], pen[live]
        th, ee, dd, ff = theta[live], e[live], d[live], f3[live]
        J = np.concatenate(
            [np.ones((len(live), n, 1)), a1, a2 * ff[..., None], a3 * dd[..., None]], axis=2
        )
        H = _gram(J, J)
        C = _gram(a2 * ee[..., None], a3)
        H[:, s2, s3] -= C
        H[:, s3, s2] -= np.swapaxes(C, 1, 2)
        H[:, diag, diag] += ap
        grad = _gram(J, ee[..., None])[..., 0] - ap * th
        scale = np.maximum(np.abs(H[:, diag, diag]), 1e-12)
        H[:, diag, diag] += mu[live, None] * scale  # damped in place (H is rebuilt each pass)
        try:
            step = np.linalg.solve(H, grad[..., None])[..., 0]
        except np.linalg.LinAlgError:  # a singular member: damp everyone harder and retry
            mu[live] *= 4.0
            continue
        new = th + step
        nobj, ne, nd, nf = _objective(new, a1, a2, a3, ay, ap)
        acc = np.isfinite(nobj) & (nobj <= obj[live])
        idx = live[acc]
        theta[idx], obj[idx], e[idx], d[idx], f3[idx] = (
            new[acc],
            nobj[acc],
            ne[acc],
            nd[acc],
            nf[acc],
        )
        mu[idx] = np.maximum(mu[idx] / 3.0, 1e-12)
        mu[live[~acc]] *= 4.0
        change = np.zeros(len(live))
        for s in (s1, s2, s3):
            den = np.maximum(np.abs(new[:, s]).max(axis=1), 1e-12)
            change = np.maximum(change, np.abs(step[:, s]).max(axis=1) / den)
        done = (acc & (change < tol)) | (mu[live] > MU_MAX)
        n_iter[live[done]] = it
        live = live[~done]
    w1, w2, w3 = theta[:, s1], theta[:, s2], theta[:, s3]
    # features of the evaluation rows, per problem; predictions per member
    G1, G2, G3 = (np.matmul(E, T) for E, T in ((E1, T1), (E2, T2), (E3, T3)))
    pred = theta[:, :1] + _bmv(G1[prob], w1)
    pred = pred + (1.0 + _bmv(G2[prob], w2)) * _bmv(G3[prob], w3)
    pred, n_iter = pred.reshape(P, g, -1), n_iter.reshape(P, g)
    return (pred[0], n_iter[0]) if single else (pred, n_iter)
