"""The linear affine model ``y ~ a0 + a1'u + (1 + b'u) x'w``: fused-ridge penalties, the
penalised least-squares solve, the batched block relaxation and the Newton solve.

The penalty on ``w`` (length ``p``) is::

    lambda_ridge^2 ||w||^2 + lambda_fused^2 sum_blocks sum_j (w_{j+1} - w_j)^2

where the differences run over consecutive features *within* each user-given block (for example
the 20 kernel-mean bins of one force-field parameter), never across block boundaries. ``a0, a1``
are unpenalised; ``b`` carries the ridge ``sum_j s_j b_j^2`` (``scale_penalty``,
:func:`scale_penalty`). With ``s = 0`` (the published model) the objective has no minimiser at
small n: ``b -> t b``, ``w -> w / t`` keeps the interaction ``(b'u)(x'w)`` while the penalty of
``w`` vanishes as ``t`` grows, so the fit is whatever the solver reached when it stopped.

Two solvers of one objective (:func:`linear_objective`): :func:`linear_affine_relaxation`, the
published algorithm (the polymer heat-capacity reproduction; from ``(a0, a1)`` by least squares
and ``b = 0``, ``w = 0``, each sweep replaces ``w`` (penalised least squares), ``b`` and
``(a0, a1)`` by their exact block minimisers, so the objective never increases; many penalty
matrices advance together, converged members are frozen; the ``w`` block is solved in the input
space or, given the inverse penalties, in the sample space, :func:`scaled_ridge_step`), and
:func:`linear_affine_newton`, the damped Newton steps of the kernel model on feature maps
(:func:`~._newton.newton_features`: ``Z = [1, u]``, ``h2`` features ``u``, ``g3`` features
``x L^{-T}`` with ``P = L L'``), a few to tens of steps where the relaxation often needs
hundreds of sweeps or more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from scipy import linalg

from ._newton import newton_features
from ._objective import rel_change

__all__ = [
    "LinearAffineFit",
    "difference_matrix",
    "fused_inverses",
    "fused_penalty",
    "fused_ridge_path",
    "linear_affine_newton",
    "linear_affine_relaxation",
    "linear_objective",
    "scale_penalty",
    "scaled_ridge_step",
    "solve_penalized_lsq",
]


def _block_indices(blocks: Sequence | None, n_features: int) -> list[np.ndarray]:
    if blocks is None:
        return [np.arange(n_features)]
    blocks = list(blocks)
    if all(isinstance(b, (Integral, np.integer)) for b in blocks):
        sizes = [int(b) for b in blocks]
        if any(s < 1 for s in sizes) or sum(sizes) > n_features:
            raise ValueError(
                f"block sizes {sizes} must be positive and sum to at most {n_features} features"
            )
        edges = np.cumsum([0, *sizes])
        return [np.arange(a, b) for a, b in zip(edges[:-1], edges[1:])]
    out = []
    for b in blocks:
        idx = np.asarray(b, dtype=int).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= n_features):
            raise ValueError(f"block {idx.tolist()} has indices outside 0..{n_features - 1}")
        out.append(idx)
    return out


def difference_matrix(n_features: int, blocks: Sequence | None = None) -> np.ndarray:
    """First-difference operator within blocks.

    Parameters
    ----------
    n_features : int
    blocks : sequence of int or sequence of index sequences, default None
        Block sizes of consecutive features, or explicit ordered index lists. ``None`` is one
        block of all features in their column order.

    Returns
    -------
    D : ndarray of shape (n_differences, n_features)
        Row ``k`` is ``e_{j+1} - e_j`` for one consecutive pair inside a block.

    Examples
    --------
    >>> difference_matrix(3).tolist()
    [[-1.0, 1.0, 0.0], [0.0, -1.0, 1.0]]
    """
    rows = []
    for idx in _block_indices(blocks, n_features):
        for a, b in zip(idx[:-1], idx[1:]):
            row = np.zeros(n_features)
            row[a], row[b] = -1.0, 1.0
            rows.append(row)
    return np.array(rows).reshape(len(rows), n_features)


def fused_penalty(
    n_features: int, lambda_ridge: float, lambda_fused: float, blocks: Sequence | None = None
) -> np.ndarray:
    """Penalty matrix ``P = lambda_ridge^2 I + lambda_fused^2 D'D`` of shape (p, p)."""
    P = lambda_ridge**2 * np.eye(n_features)
    if lambda_fused > 0 and n_features > 1:
        D = difference_matrix(n_features, blocks)
        P += lambda_fused**2 * (D.T @ D)
    return P


def solve_penalized_lsq(A: np.ndarray, r: np.ndarray, P: np.ndarray | None = None) -> np.ndarray:
    """Minimise ``||r - A c||^2 + c'P c`` (``P`` symmetric PSD, ``A'A + P`` positive definite).

    ``A`` (n, k), ``r`` (n,), ``P`` (k, k), or batches (s, n, k), (s, n), (s, k, k). Normal
    equations by Cholesky; ``P = None`` is least squares, minimum-norm where ``A'A`` is singular.
    """
    if A.ndim == 3:
        out = np.empty(A.shape[::2])
        for i in range(len(A)):
            out[i] = solve_penalized_lsq(A[i], r[i], None if P is None else P[i])
        return out
    if A.shape[1] == 0:
        return np.zeros(0)
    M = A.T @ A if P is None else A.T @ A + P
    try:
        return linalg.solve(M, A.T @ r, assume_a="pos", check_finite=False)
    except (linalg.LinAlgError, ValueError) as exc:
        if P is None:
            return linalg.lstsq(A, r, check_finite=False)[0]
        raise linalg.LinAlgError(
            "the fused-ridge system is singular; use a positive lambda_ridge"
        ) from exc


def scaled_ridge_step(
    x: np.ndarray, e: np.ndarray, r: np.ndarray, P: np.ndarray | None, Pinv: np.ndarray | None
) -> np.ndarray:
    """``argmin_w ||r - e o (x w)||^2 + w'P w`` for every member of a batch.

    ``x`` (n, p) is shared; ``e`` and ``r`` are (s, n), ``P`` or its inverse ``Pinv``
    (s, p, p). Given ``Pinv`` the step is solved in sample space (``n x n``: the push-through
    identity ``w = P^{-1} x'E c`` with ``(E x P^{-1} x'E + I) c = r``), else in the input space
    (:func:`solve_penalized_lsq`). Returns ``w`` of shape (s, p).
    """
    if Pinv is None:
        return solve_penalized_lsq(e[:, :, None] * x[None], r, P)
    G = Pinv @ x.T  # (s, p, n)
    M = (x @ G) * (e[:, :, None] * e[:, None, :])
    idx = np.arange(x.shape[0])
    M[:, idx, idx] += 1.0
    c = np.linalg.solve(M, r[:, :, None])[:, :, 0]
    return np.einsum("spn,sn->sp", G, e * c)


def fused_inverses(n_features: int, blocks: list | None, grid: np.ndarray) -> np.ndarray:
    """``P^{-1}`` of shape (q, p, p) for a grid of ``(lambda_ridge, lambda_fused)`` pairs."""
    grid = np.atleast_2d(np.asarray(grid, dtype=float))
    D = difference_matrix(n_features, blocks)
    w, W = np.linalg.eigh(D.T @ D)
    w = np.clip(w, 0.0, None)
    diag = 1.0 / (grid[:, :1] ** 2 + grid[:, 1:] ** 2 * w[None, :])  # (q, p)
    return np.einsum("ij,qj,kj->qik", W, diag, W)


def fused_ridge_path(
    x: np.ndarray, r: np.ndarray, x_eval: np.ndarray, Pinv: np.ndarray
) -> np.ndarray:
    """Fused ridge with an unpenalised intercept on ``r`` for every inverse penalty in ``Pinv``.

    Solved in sample space (``n x n`` per penalty, :func:`scaled_ridge_step` with unit
    scale) on the centred data. Returns predictions at ``x_eval`` of shape (q, m).
    """
    xm, rm = x.mean(axis=0), r.mean()
    ones = np.ones((len(Pinv), len(r)))
    coef = scaled_ridge_step(x - xm, ones, np.broadcast_to(r - rm, ones.shape), None, Pinv)
    return rm + coef @ (x_eval - xm).T


def scale_penalty(u: np.ndarray, y: np.ndarray, lambda_scale: float) -> np.ndarray:
    """Ridge weights ``s`` (k,) of ``b``: ``lambda_scale^2 var(y) var(u_j)``.

    The ridge of ``b`` on the source features scaled to unit standard deviation, in the units
    of the target's variance (``b'u`` is unit-free, ``g2 = 1 + b'u``): with ``lambda_scale = 1``
    a change of ``b'u`` by one standard deviation of ``u`` costs as much as one training point
    off by one standard deviation of ``y``. It does not follow ``lambda_ridge``, so that a
    small penalty of ``w`` does not free ``b``. ``lambda_scale = 0``: ``b`` unpenalised.
    """
    var_u = np.var(u, axis=0)
    var_y = float(np.var(y))
    return lambda_scale**2 * (var_y if var_y > 0 else 1.0) * np.where(var_u > 0, var_u, 1.0)


@dataclass
class LinearAffineFit:
    """Output of :func:`linear_affine_relaxation` (``q`` penalty matrices) or
    :func:`linear_affine_newton` (``q = 1``).

    ``intercept`` (q,), ``source_coef`` and ``scale_coef`` (q, k), ``coef`` (q, p) with
    ``g3 = x @ coef``; ``n_iter`` (q,), ``converged`` (q,), ``objective_history`` (steps + 1, q).
    """

    intercept: np.ndarray
    source_coef: np.ndarray
    scale_coef: np.ndarray
    coef: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    objective_history: np.ndarray


def linear_objective(x, u, y, a0, a1, b, w, P, s=None) -> np.ndarray:
    """The penalised objective of every member: ``a0`` (q,), ``a1``, ``b`` (q, k), ``w``
    (q, p), ``P`` (q, p, p), ``s`` (k,) the ridge weights of ``b`` (None: 0)."""
    xw = w @ x.T
    res = y[None] - a0[:, None] - a1 @ u.T - (1.0 + b @ u.T) * xw
    obj = np.einsum("sn,sn->s", res, res) + np.einsum("sp,spq,sq->s", w, P, w)
    return obj if s is None else obj + (b * b) @ s


def linear_affine_newton(
    x: np.ndarray,
    u: np.ndarray,
    y: np.ndarray,
    P: np.ndarray,
    *,
    scale_penalty: np.ndarray | None = None,
    start: tuple[np.ndarray, ...] | None = None,
    max_iter: int = 200,
    tol: float = 1e-6,
) -> LinearAffineFit:
    """Fit ``y ~ a0 + a1'u + (1 + b'u) x'w`` by damped Newton steps (one penalty matrix).

    The model is the kernel model's feature-space objective with the unpenalised design
    ``[1, u]``, no ``h1``, ``h2`` features ``u`` (ridge ``scale_penalty``) and ``g3`` features
    ``x L^{-T}`` (``P = L L'``, so that ``w'P w`` is a plain ridge), solved by
    :func:`~._newton.newton_features` from the offset-calibrated fit (``b = 0``) or ``start``.

    Parameters
    ----------
    x : ndarray of shape (n, p)
    u : ndarray of shape (n, k)
    y : ndarray of shape (n,)
    P : ndarray of shape (p, p)
        Positive-definite penalty of ``w`` (:func:`fused_penalty` with ``lambda_ridge > 0``).
    scale_penalty : ndarray of shape (k,), optional
        Ridge weights of ``b`` (:func:`scale_penalty`); None leaves ``b`` unpenalised.
    start : (a0, a1, b, w), optional
        Warm start (a neighbouring penalty's solution).
    max_iter, tol : int, float
        See :func:`~._newton.newton_features`.

    Returns
    -------
    LinearAffineFit

    Raises
    ------
    numpy.linalg.LinAlgError
        When ``P`` is not positive definite.
    """
    n, p = x.shape
    k = u.shape[1]
    try:
        L = np.linalg.cholesky(P)
    except np.linalg.LinAlgError as exc:
        raise np.linalg.LinAlgError(
            "the Newton solve needs a positive-definite penalty of w; use a positive "
            "lambda_ridge (or solver='relaxation')"
        ) from exc
    s = np.zeros(k) if scale_penalty is None else np.asarray(scale_penalty, dtype=float)
    # b's ridge sum_j s_j b_j^2 as a plain ridge of the scaled coefficients sqrt(s_j) b_j
    if np.all(s > 0):
        su, l2 = np.sqrt(s), 1.0
    elif not np.any(s):
        su, l2 = np.ones(k), 0.0
    else:
        raise ValueError("scale_penalty must be positive for every source feature, or all 0")
    x3 = linalg.solve_triangular(L, x.T, lower=True, check_finite=False).T  # x L^{-T}
    Z = np.hstack([np.ones((n, 1)), u])
    theta0 = None
    if start is not None:
        a0, a1, b, w = (np.asarray(v, dtype=float).ravel() for v in start)
        theta0 = np.concatenate([a0[:1], a1, b * su, L.T @ w])[None]
    theta, n_iter, converged, history, (s0, _, s2, s3) = newton_features(
        Z[None],
        np.zeros((1, n, 0)),
        (u / su)[None],
        x3[None],
        y[None],
        [[1.0, l2, 1.0]],
        start=theta0,
        max_iter=max_iter,
        tol=tol,
    )
    t = theta[0]
    w = linalg.solve_triangular(L.T, t[s3], lower=False, check_finite=False)
    c = t[s0]  # the design [1, u]: (a0, a1)
    return LinearAffineFit(
        c[:1], c[None, 1:], (t[s2] / su)[None], w[None], n_iter, converged, history
    )


def linear_affine_relaxation(
    x: np.ndarray,
    u: np.ndarray,
    y: np.ndarray,
    P: np.ndarray | None,
    *,
    Pinv: np.ndarray | None = None,
    scale_penalty: np.ndarray | None = None,
    start: tuple[np.ndarray, ...] | None = None,
    max_iter: int = 1000,
    tol: float = 1e-6,
) -> LinearAffineFit:
    """Fit ``y ~ a0 + a1'u + (1 + b'u) x'w`` with penalty ``w'P w`` for every ``P``.

    Parameters
    ----------
    x : ndarray of shape (n, p)
    u : ndarray of shape (n, k)
    y : ndarray of shape (n,)
    P : ndarray of shape (q, p, p) or (p, p), or None
        Penalty matrices (symmetric PSD, ``x'x + P`` positive definite); None with ``Pinv``
        (no objective history is then recorded).
    Pinv : ndarray of shape (q, p, p), optional
        Their inverses: the ``w`` block is then solved in sample space.
    scale_penalty : ndarray of shape (k,), optional
        Ridge weights of ``b`` (:func:`scale_penalty`), shared by the members; None leaves
        ``b`` unpenalised (the published model).
    start : (a0, a1, b, w), optional
        Warm start of shapes (q,), (q, k), (q, k), (q, p); default ``(a0, a1)`` by least
        squares, ``b = 0``, ``w = 0``.
    max_iter, tol : int, float
        Stop a member when the largest absolute change of ``(a0, a1, b, w)`` is below ``tol``
        times their largest absolute old value.

    Returns
    -------
    LinearAffineFit
    """
    if P is not None:
        P = np.asarray(P, dtype=float)
        P = P[None] if P.ndim == 2 else P
    q = len(P) if P is not None else len(Pinv)
    n, p, k = y.shape[0], x.shape[1], u.shape[1]
    Zu = np.hstack([np.ones((n, 1)), u])
    if start is None:
        coef = solve_penalized_lsq(Zu[None], y[None])[0]
        a0, a1 = np.full(q, coef[0]), np.tile(coef[1:], (q, 1))
        b, w = np.zeros((q, k)), np.zeros((q, p))
    else:
        a0, a1, b, w = (np.array(v, dtype=float).reshape(q, -1) for v in start)
        a0 = a0[:, 0]
    unpenalised = scale_penalty is None or not np.any(scale_penalty)
    Pb = None if unpenalised else np.diag(np.asarray(scale_penalty, dtype=float))
    history = [] if P is None else [linear_objective(x, u, y, a0, a1, b, w, P, scale_penalty)]
    n_iter = np.full(q, max_iter)
    converged = np.zeros(q, dtype=bool)
    live = np.ones(q, dtype=bool)
    for it in range(1, max_iter + 1):
        act = np.flatnonzero(live)
        old = np.column_stack([a0[act], a1[act], b[act], w[act]])
        r = y[None] - a0[act, None] - a1[act] @ u.T  # (s, n)
        e = 1.0 + b[act] @ u.T
        w_new = scaled_ridge_step(
            x, e, r, None if P is None else P[act], None if Pinv is None else Pinv[act]
        )
        xw = w_new @ x.T
        A = u[None] * xw[:, :, None]
        b_new = np.zeros((len(act), k))
        moving = np.any(xw != 0, axis=1)
        if moving.any():
            pb = None if Pb is None else np.broadcast_to(Pb, (int(moving.sum()), k, k))
            b_new[moving] = solve_penalized_lsq(A[moving], (r - xw)[moving], pb)
        target = y[None] - (1.0 + b_new @ u.T) * xw
        coef = solve_penalized_lsq(np.broadcast_to(Zu, (len(act), n, k + 1)), target)
        a0[act], a1[act], b[act], w[act] = coef[:, 0], coef[:, 1:], b_new, w_new
        if P is not None:
            history.append(linear_objective(x, u, y, a0, a1, b, w, P, scale_penalty))
        new = np.column_stack([a0[act], a1[act], b[act], w[act]])
        done = rel_change(new, old) < tol
        n_iter[act[done]] = it
        converged[act[done]] = True
        live[act[done]] = False
        if not live.any():
            break
    return LinearAffineFit(a0, a1, b, w, n_iter, converged, np.asarray(history))
