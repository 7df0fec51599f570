"""Fused-ridge penalties over ordered descriptor blocks, and the penalised least-squares solve.

The penalty on a coefficient vector ``gamma`` of length ``p`` is::

    lambda_ridge^2 ||gamma||^2 + lambda_fused^2 sum_blocks sum_j (gamma_{j+1} - gamma_j)^2

where the differences run over consecutive features *within* each user-given block (for example
the 20 kernel-mean bins of one force-field parameter), never across block boundaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
from scipy import linalg

__all__ = [
    "difference_matrix",
    "fused_inverses",
    "fused_penalty",
    "fused_ridge_path",
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
