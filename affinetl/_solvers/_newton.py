"""AffineTL-full on feature maps by damped Newton steps, for a batch of problems and penalties.

:func:`newton_features` minimises the feature-space objective
(:func:`~._objective.feature_objective`) of ``B`` members at once; a single problem is the batch
of one. It serves the large-n mode of :class:`~affinetl.AffineTransferRegressor` (Nystroem or
random Fourier features) and exact kernels on small training sets: every Gram matrix is written
exactly as ``K = F F'`` (:func:`exact_features`: ``F = V sqrt(S)`` from its eigendecomposition,
numerically zero eigenvalues dropped), so the kernel objective becomes a feature-space objective
with ``q + 3n`` unknowns (``Z``, the unpenalised design of ``g1``: the intercept, optionally the
linear source terms). Block relaxation reaches the same kind of stationary point in hundreds of
sweeps; Newton steps need tens.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._objective import feature_objective

__all__ = ["exact_features", "newton_features"]

#: Eigenvalues below this fraction of the largest are dropped from the exact feature maps.
EIG_RTOL = 1e-10
#: A damping above this (relative to the Hessian's diagonal) means no step lowers the
#: objective: the point is stationary to working precision (converged).
MU_MAX = 1e12
#: Step halvings tried for a member whose damped Newton step does not lower its objective.
BACKTRACK = 3


def exact_features(K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``F`` with ``K = F F'`` and ``T`` with ``E T`` the features of rows ``E`` of ``k(., train)``."""
    s, V = np.linalg.eigh(0.5 * (K + np.swapaxes(K, -1, -2)))
    keep = s > EIG_RTOL * np.max(s, axis=-1, keepdims=True)
    safe = np.where(keep, s, 1.0)
    F = V * np.where(keep, np.sqrt(safe), 0.0)[..., None, :]
    T = V * np.where(keep, 1.0 / np.sqrt(safe), 0.0)[..., None, :]
    return F, T


def _gram(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A_b' B_b`` for every batch member (batched BLAS, unlike ``einsum``)."""
    return np.matmul(np.swapaxes(A, 1, 2), B)


def _const_start(Z, P1, P3, y, pen, s2) -> np.ndarray:
    """Batched AffineTL-const: ridge on ``[Z, P1, P3]`` (``pen`` without the ``w2`` block)."""
    q = Z.shape[2]
    A = np.concatenate([Z, P1, P3], axis=2)
    M = _gram(A, A)
    keep = np.r_[: s2.start, s2.stop : pen.shape[1]]
    pc, idx = pen[:, keep], np.arange(len(keep))
    # a whisker of ridge on the unpenalised design keeps a rank-deficient Z solvable
    pc[:, :q] = 1e-12 * np.maximum(M[:, idx[:q], idx[:q]], 1e-300)
    M[:, idx, idx] += pc
    theta = np.zeros(pen.shape)
    theta[:, keep] = np.linalg.solve(M, _gram(A, y[..., None]))[..., 0]
    return theta


def newton_features(
    Z: np.ndarray,
    P1: np.ndarray,
    P2: np.ndarray,
    P3: np.ndarray,
    y: np.ndarray,
    lams: ArrayLike,
    *,
    problem: ArrayLike | None = None,
    start: np.ndarray | None = None,
    max_iter: int = 200,
    tol: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[slice, ...]]:
    """Minimise the feature-space affine objective for ``B`` members by damped Newton steps.

    Each member (a problem and its penalties) starts at its AffineTL-const solution (or at
    ``start``) and takes Levenberg-Marquardt-damped Newton steps on the exact Hessian; a step
    that does not lower the objective is replaced by the Gauss-Newton step, then halved up to
    ``BACKTRACK`` times, before the damping grows. The objective is monotone.

    Parameters
    ----------
    Z : ndarray of shape (P, n, q)
        Unpenalised design of ``g1`` per problem (a column of ones: the intercept).
    P1, P2, P3 : ndarray of shape (P, n, m1), (P, n, m2), (P, n, m3)
        Feature maps of ``h1`` (``m1 = 0``: no ``h1``), ``h2`` and ``g3`` per problem.
    y : ndarray of shape (P, n)
    lams : array-like of shape (B, 3)
        Positive ``(l1, l2, l3)`` of each member.
    problem : array-like of shape (B,), optional
        Problem index of each member (default ``arange(P)``).
    start : ndarray of shape (B, q + m1 + m2 + m3), optional
        Starting ``(c, w1, w2, w3)``; default the AffineTL-const solution (``w2 = 0``).
    max_iter : int
        Newton iterations (accepted or rejected) per member.
    tol : float
        A member has converged when an accepted step changes every block by less than ``tol``
        relative to its max-abs value, or when no step lowers its objective.

    Returns
    -------
    theta : ndarray of shape (B, q + m1 + m2 + m3)
    n_iter : ndarray of shape (B,)
    converged : ndarray of shape (B,)
    objective : ndarray of shape (n_steps + 1, B)
        Objective of every member at the start and after every iteration (constant after
        its convergence).
    blocks : (slice, slice, slice, slice)
        Positions of ``c, w1, w2, w3`` in ``theta``.
    """
    y = np.asarray(y, dtype=float)
    prob = np.arange(y.shape[0]) if problem is None else np.asarray(problem)
    B = prob.size
    lam = np.asarray(lams, dtype=float).reshape(B, 3)
    q, m1, m2, m3 = Z.shape[2], P1.shape[2], P2.shape[2], P3.shape[2]
    Z, P1, P2, P3, y = (A[prob] for A in (Z, P1, P2, P3, y))
    p = q + m1 + m2 + m3
    s0, s1 = slice(0, q), slice(q, q + m1)
    s2, s3 = slice(q + m1, q + m1 + m2), slice(q + m1 + m2, p)
    blocks = (s0, s1, s2, s3)
    pen = np.zeros((B, p))
    pen[:, s1], pen[:, s2], pen[:, s3] = lam[:, :1], lam[:, 1:2], lam[:, 2:3]
    if start is None:
        theta = _const_start(Z, P1, P3, y, pen, s2)
    else:
        theta = np.array(start, dtype=float).reshape(B, p)
    n_iter = np.full(B, max_iter)
    converged = np.zeros(B, dtype=bool)
    mu = np.full(B, 1e-6)
    live = np.arange(B)
    diag = np.arange(p)
    obj, e, d, f3 = feature_objective(theta, Z, P1, P2, P3, y, pen, blocks)
    history = [obj.copy()]
    for it in range(1, max_iter + 1):
        if not len(live):
            break
        az, a1, a2, a3, ay, ap = Z[live], P1[live], P2[live], P3[live], y[live], pen[live]
        th, ee, dd, ff = theta[live], e[live], d[live], f3[live]
        J = np.concatenate([az, a1, a2 * ff[..., None], a3 * dd[..., None]], axis=2)
        H = _gram(J, J)
        C = _gram(a2 * ee[..., None], a3)
        H[:, s2, s3] -= C
        H[:, s3, s2] -= np.swapaxes(C, 1, 2)
        H[:, diag, diag] += ap
        grad = np.matmul(np.swapaxes(J, 1, 2), ee[..., None])[..., 0] - ap * th  # -gradient/2
        scale = np.maximum(np.abs(H[:, diag, diag]), 1e-12)
        H[:, diag, diag] += mu[live, None] * scale  # damped in place (H is rebuilt each pass)
        try:
            step = np.linalg.solve(H, grad[..., None])[..., 0]
        except np.linalg.LinAlgError:  # a singular member: damp everyone harder and retry
            mu[live] *= 4.0
            continue
        new = th + step
        trial = list(feature_objective(new, az, a1, a2, a3, ay, ap, blocks))
        acc = full = np.isfinite(trial[0]) & (trial[0] <= obj[live])
        for k in range(BACKTRACK + 1):  # the others: Gauss-Newton step, then halvings of it
            bad = np.flatnonzero(~acc)
            if not bad.size:
                break
            if k == 0:  # Gauss-Newton (positive definite: always a descent direction)
                Hg = H[bad]
                Hg[:, s2, s3] += C[bad]
                Hg[:, s3, s2] += np.swapaxes(C[bad], 1, 2)
                try:
                    step[bad] = np.linalg.solve(Hg, grad[bad][..., None])[..., 0]
                except np.linalg.LinAlgError:
                    pass
            else:  # O(n p) per try, no new solve
                step[bad] *= 0.5
            new[bad] = th[bad] + step[bad]
            data = (a[bad] for a in (az, a1, a2, a3, ay, ap))
            for t, v in zip(trial, feature_objective(new[bad], *data, blocks)):
                t[bad] = v
            acc = np.isfinite(trial[0]) & (trial[0] <= obj[live])
            if k == 0:
                full = acc
        idx = live[acc]
        theta[idx], obj[idx], e[idx], d[idx], f3[idx] = (v[acc] for v in (new, *trial))
        mu[live[full]] = np.maximum(mu[live[full]] / 3.0, 1e-12)
        mu[live[~full]] *= 4.0  # a shortened or rejected step: damp more next time
        change = np.zeros(len(live))
        for s in blocks:
            if s.stop == s.start:
                continue
            den = np.maximum(np.abs(new[:, s]).max(axis=1), 1e-12)
            change = np.maximum(change, np.abs(step[:, s]).max(axis=1) / den)
        done = (acc & (change < tol)) | (mu[live] > MU_MAX)
        n_iter[live[done]] = it
        converged[live[done]] = True
        live = live[~done]
        history.append(obj.copy())
    return theta, n_iter, converged, np.asarray(history), blocks
