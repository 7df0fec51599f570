"""Ridge with an unpenalised design: fits, penalty paths and closed-form hold-out errors.

Kernel ridge with an intercept, AffineTL-const (``g2 = 1``: kernel ridge with the summed kernel
``K1 / l1 + K3 / l3``), the calibration forms and the baselines are all one problem, solved here
once. Every special case of the affine model except AffineTL-full is a *partially linear ridge*
problem: an unpenalised design ``Z`` (intercept, calibration coefficients) plus one kernel block
with a fixed Gram matrix ``K``::

    min_{c, a}  ||y - Z c - K a||^2 + lam a'K a.

With ``A = K + lam I`` its solution is ``c = (Z'A^{-1} Z)^{-1} Z'A^{-1} y`` and
``a = A^{-1} (y - Z c) = P y``, and the residual is ``e = lam P y`` where::

    P = A^{-1} - A^{-1} Z (Z'A^{-1} Z)^{-1} Z'A^{-1}.

Deleting the samples ``S`` and refitting on the rest gives the hold-out residuals (the
block form of the leave-one-out identity; Hastie, Tibshirani & Friedman 2009, eq. 7.52, and
Cawley & Talbot 2004 for kernel ridge)::

    y_S - yhat_{-S}(S) = P_SS^{-1} (P y)_S.

Two solvers of ``A^{-1}`` serve every function: the eigendecomposition ``K = V diag(s) V'``
(:func:`_eigen_path`: ``A^{-1} = V diag(1 / (s + lam)) V'`` for a whole penalty path and every
fold of any splitter whose test set is the complement of its training set, K-fold, repeated
K-fold, group K-fold, leave-one-out; leave-one-out needs only the diagonal of ``P``, ``O(n^2)``
per penalty), and one Cholesky (or low-rank Woodbury) solve for a single penalty
(:func:`_design_solve`). Arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg

from ._gram import GramFactor

__all__ = [
    "PINV_RTOL",
    "affine_const_path",
    "eigh_psd",
    "fit_const_affine",
    "fit_partial_ridge",
    "holdout_path",
    "kernel_ridge_intercept",
    "loo_residuals",
    "ridge_path",
]

#: Eigenvalues of ``K + lam I`` below this fraction of the largest are treated as zero by
#: :func:`ridge_path` (penalty 0 is then the minimum-norm interpolant, the published
#: pseudo-inverse).
PINV_RTOL = 1e-10


def eigh_psd(K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigendecomposition of a symmetric PSD matrix, negative round-off clipped to 0.

    Parameters
    ----------
    K : ndarray of shape (n, n)

    Returns
    -------
    s : ndarray of shape (n,)
        Eigenvalues (ascending, non-negative).
    V : ndarray of shape (n, n)
        Orthonormal eigenvectors in the columns.
    """
    s, V = linalg.eigh(0.5 * (K + K.T), check_finite=False)
    return np.clip(s, 0.0, None), V


def _eigen_path(V: np.ndarray, D: np.ndarray, Z: np.ndarray, y: np.ndarray):
    """The partially linear ridge for every row of ``D = 1 / (s + lam)`` (p, n).

    Returns ``c`` (p, q), the dual coefficients ``a = P y`` (p, n), ``A^{-1} Z`` (p, n, q) and
    ``Z'A^{-1} Z`` (p, q, q). Raises ``LinAlgError`` when ``Z'A^{-1} Z`` is singular.
    """
    VZ, Vy = V.T @ Z, V.T @ y
    DVZ = D[:, :, None] * VZ[None]  # V'A^{-1} Z
    M = np.einsum("iq,pir->pqr", VZ, DVZ)
    c = np.linalg.solve(M, np.einsum("pir,i->pr", DVZ, Vy)[..., None])[..., 0]
    a = (D * (Vy[None] - c @ VZ.T)) @ V.T
    return c, a, V @ DVZ, M


def loo_residuals(
    s: np.ndarray, V: np.ndarray, Z: np.ndarray, y: np.ndarray, lams: ArrayLike
) -> np.ndarray:
    """Leave-one-out residuals ``y_i - yhat_{-i}(x_i)`` for a whole penalty path.

    The closed form of the module docstring with one sample per fold: ``O(n^2)`` per penalty
    from one eigendecomposition. This is the leave-one-out kernel ridge (with an unpenalised
    design ``Z``, e.g. a column of ones for the intercept) that other packages should call.

    Parameters
    ----------
    s, V : ndarray of shape (n,) and (n, n)
        Eigendecomposition of the Gram matrix (:func:`eigh_psd`).
    Z : ndarray of shape (n, q)
        Unpenalised design.
    y : ndarray of shape (n,)
    lams : array-like of shape (p,)
        Positive penalties.

    Returns
    -------
    ndarray of shape (p, n)
    """
    D = 1.0 / (s[None, :] + np.asarray(lams, dtype=float)[:, None])
    _, a, AinvZ, M = _eigen_path(V, D, Z, y)
    diagP = D @ (V * V).T - np.einsum("pik,pki->pi", AinvZ, np.linalg.solve(M, AinvZ.mT))
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / diagP  # (P y)_i / P_ii


def holdout_path(
    s: np.ndarray,
    V: np.ndarray,
    Z: np.ndarray,
    y: np.ndarray,
    lams: ArrayLike,
    tests: list[np.ndarray],
) -> list[np.ndarray]:
    """Hold-out predictions of the partially linear ridge for a penalty path and many folds.

    Each fold fits on every sample outside its test set, with the same absolute penalty.

    Parameters
    ----------
    s, V : ndarray of shape (n,) and (n, n)
        Eigendecomposition of the Gram matrix ``K`` (see :func:`eigh_psd`); ``s = 0`` and
        ``V = I`` give ordinary least squares on ``Z``.
    Z : ndarray of shape (n, q)
        Unpenalised design (first column: ones).
    y : ndarray of shape (n,)
    lams : array-like of shape (p,)
        Positive penalties.
    tests : list of ndarray of int
        Test indices of each fold.

    Returns
    -------
    predictions : list of ndarray of shape (p, len(test))
        Hold-out predictions per fold; NaN where the training part of a fold (or the whole
        data, e.g. a constant source column) cannot identify the unpenalised coefficients.
    """
    lams = np.asarray(lams, dtype=float)
    D = 1.0 / (s[None, :] + lams[:, None])  # (p, n)
    try:
        if len(tests) == y.shape[0] and all(t.size == 1 for t in tests):
            r = loo_residuals(s, V, Z, y, lams)
            return [(y[t] - r[:, t]) for t in tests]
        _, a, AinvZ, M = _eigen_path(V, D, Z, y)
    except np.linalg.LinAlgError:  # the design cannot be identified (e.g. a constant source)
        return [np.full((lams.size, t.size), np.nan) for t in tests]
    Minv = np.linalg.inv(M)  # (p, q, q) with q <= 1 + dim(u): tiny
    out = []
    for t in tests:
        Bt = AinvZ[:, t]  # (p, m, q)
        Pss = (V[t] * D[:, None, :]) @ V[t].T - Bt @ Minv @ Bt.mT
        try:
            r = np.linalg.solve(Pss, a[:, t, None])[..., 0]
        except np.linalg.LinAlgError:
            r = np.full((lams.size, t.size), np.nan)
        out.append(y[t] - r)
    return out


def _design_solve(
    solve: Callable[[np.ndarray], np.ndarray], Z: np.ndarray | None, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``c`` and ``a = A^{-1} (y - Z c)`` for one penalty, from ``solve(v) = A^{-1} v``.

    ``Z = None`` is the intercept alone, whose 1 x 1 system ``1'A^{-1} 1 c = 1'A^{-1} y`` is a
    division.
    """
    ones = Z is None
    sol = solve(np.column_stack([y, np.ones_like(y) if ones else Z]))
    Ainvy, AinvZ = sol[:, 0], sol[:, 1:]
    if ones:
        c = np.array([Ainvy.sum() / AinvZ[:, 0].sum()])
    else:
        c = linalg.lstsq(Z.T @ AinvZ, Z.T @ Ainvy, check_finite=False)[0]
    return c, Ainvy - AinvZ @ c


def fit_partial_ridge(
    K: np.ndarray | None, Z: np.ndarray, y: np.ndarray, lam: float
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``min ||y - Z c - K a||^2 + lam a'K a`` on all samples.

    Parameters
    ----------
    K : ndarray of shape (n, n) or None
        Gram matrix; ``None`` fits ordinary least squares on ``Z`` (``a = 0``).
    Z : ndarray of shape (n, q)
    y : ndarray of shape (n,)
    lam : float
        Positive penalty.

    Returns
    -------
    c : ndarray of shape (q,)
    a : ndarray of shape (n,)
        Dual coefficients.
    """
    n = y.shape[0]
    if K is None:
        c = linalg.lstsq(Z, y, check_finite=False)[0] if Z.shape[1] else np.zeros(0)
        return c, np.zeros(n)
    A = 0.5 * (K + K.T)
    A.flat[:: n + 1] += lam
    try:
        cf = linalg.cho_factor(A, lower=True, check_finite=False)
    except linalg.LinAlgError as exc:
        raise linalg.LinAlgError(
            f"K + lambda I is not positive definite at lambda={lam}; increase the penalty"
        ) from exc
    return _design_solve(lambda v: linalg.cho_solve(cf, v, check_finite=False), Z, y)


def kernel_ridge_intercept(
    factor: GramFactor, r: np.ndarray, lam: float
) -> tuple[float, np.ndarray]:
    """Kernel ridge with an unpenalised intercept: ``min ||r - a0 - K a||^2 + lam a'K a``.

    :func:`fit_partial_ridge` with ``Z = 1``, solved through the factorised ``K``
    (:meth:`GramFactor.ridge_solve`: cached Cholesky, or Woodbury when ``K`` has low rank).

    Parameters
    ----------
    factor : GramFactor
        The fixed Gram matrix ``K`` of shape (n, n).
    r : ndarray of shape (n,)
    lam : float
        Positive penalty.

    Returns
    -------
    a0 : float
    a : ndarray of shape (n,)
        Dual coefficients (supported on the pivots in the low-rank case).
    """
    c, a = _design_solve(lambda v: factor.ridge_solve(v, lam), None, r)
    if factor.low_rank:
        a = factor.dual_from_features(factor.Phi.T @ a)
    return float(c[0]), a


def fit_const_affine(
    K1: np.ndarray, K3: np.ndarray, y: np.ndarray, l1: float, l3: float
) -> tuple[float, np.ndarray, np.ndarray]:
    """AffineTL-const (``g2 = 1``) as one joint linear system.

    ``min ||y - a0 - K1 alpha - K3 gamma||^2 + l1 alpha'K1 alpha + l3 gamma'K3 gamma`` has the
    stationary point ``alpha = c / l1``, ``gamma = c / l3`` with ``c`` the kernel ridge solution
    for the summed kernel ``K = K1 / l1 + K3 / l3`` and unit penalty.

    Returns
    -------
    a0 : float
    alpha, gamma : ndarray of shape (n,)
    """
    a0, c = kernel_ridge_intercept(GramFactor(K1 / l1 + K3 / l3), y, 1.0)
    return a0, c / l1, c / l3


def ridge_path(K: np.ndarray, y: np.ndarray, K_eval: np.ndarray, lams: ArrayLike) -> np.ndarray:
    """Kernel ridge with an unpenalised intercept for many penalties at once.

    Minimises ``||y - a0 - K a||^2 + lam a'K a`` for each ``lam`` from one eigendecomposition
    of ``K`` (:func:`_eigen_path` with ``Z = 1``); eigenvalues of ``K + lam I`` below
    ``PINV_RTOL`` of the largest are dropped, so ``lam = 0`` is the minimum-norm interpolant.

    Parameters
    ----------
    K : ndarray of shape (n, n)
        Training Gram matrix.
    y : ndarray of shape (n,)
    K_eval : ndarray of shape (m, n)
        Gram matrix between evaluation and training points.
    lams : array-like of shape (p,)
        Non-negative penalties.

    Returns
    -------
    ndarray of shape (p, m)
        Predictions at the evaluation points for each penalty.
    """
    lams = np.asarray(lams, dtype=float)
    s, V = np.linalg.eigh(0.5 * (K + K.T))
    shifted = np.clip(s, 0.0, None)[None, :] + lams[:, None]  # (p, n)
    keep = shifted > PINV_RTOL * shifted.max(axis=1, keepdims=True)
    D = np.where(keep, 1.0 / np.where(shifted > 0, shifted, 1.0), 0.0)
    c, a, _, _ = _eigen_path(V, D, np.ones((y.shape[0], 1)), y)
    return c + a @ K_eval.T


def affine_const_path(
    K1: np.ndarray,
    K3: np.ndarray,
    y: np.ndarray,
    K1_eval: np.ndarray,
    K3_eval: np.ndarray,
    grid: ArrayLike,
) -> np.ndarray:
    """AffineTL-const predictions for a grid of ``(l1, l3)`` pairs.

    ``min ||y - a0 - K1 alpha - K3 gamma||^2 + l1 alpha'K1 alpha + l3 gamma'K3 gamma`` is kernel
    ridge with the kernel ``K1 / l1 + K3 / l3`` and unit penalty (:func:`ridge_path`).

    Parameters
    ----------
    K1, K3 : ndarray of shape (n, n)
    y : ndarray of shape (n,)
    K1_eval, K3_eval : ndarray of shape (m, n)
    grid : array-like of shape (p, 2)
        Positive ``(l1, l3)`` pairs.

    Returns
    -------
    ndarray of shape (p, m)
    """
    grid = np.atleast_2d(np.asarray(grid, dtype=float))
    out = np.empty((len(grid), K1_eval.shape[0]))
    for j, (l1, l3) in enumerate(grid):
        out[j] = ridge_path(K1 / l1 + K3 / l3, y, K1_eval / l1 + K3_eval / l3, [1.0])[0]
    return out
