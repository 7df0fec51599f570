"""Closed-form hold-out predictions for ridge-type blocks along a whole penalty path.

Every special case of the affine model except AffineTL-full is a *partially linear ridge*
problem: an unpenalised design ``Z`` (intercept, calibration coefficients) plus one kernel block
with a fixed Gram matrix ``K``::

    min_{c, a}  ||y - Z c - K a||^2 + lam a'K a.

Its fitted values are a linear smoother of ``y``. With ``A = K + lam I`` the residual is
``e = lam P y`` where::

    P = A^{-1} - A^{-1} Z (Z'A^{-1} Z)^{-1} Z'A^{-1},

and deleting the samples ``S`` and refitting on the rest gives the hold-out residuals (the
block form of the leave-one-out identity; Hastie, Tibshirani & Friedman 2009, eq. 7.52, and
Cawley & Talbot 2004 for kernel ridge)::

    y_S - yhat_{-S}(S) = P_SS^{-1} (P y)_S.

``P`` for every penalty comes from one eigendecomposition ``K = V diag(s) V'``:
``A^{-1} = V diag(1 / (s + lam)) V'``. So one ``eigh`` per Gram matrix serves the whole penalty
path and every fold of any splitter whose test set is the complement of its training set
(K-fold, repeated K-fold, group K-fold, leave-one-out). Leave-one-out needs only the diagonal of
``P`` (``O(n^2)`` per penalty). Arrays in, arrays out.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg

__all__ = [
    "eigh_psd",
    "fit_partial_ridge",
    "holdout_path",
    "predict_partial_ridge",
]


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


def _loo(V, D, VZ, Vy, Z, y):
    """Leave-one-out residuals for each penalty row of ``D = 1 / (s + lam)`` (p, n)."""
    VD = V[None] * D[:, None, :]  # (p, n, n): V diag(1 / (s + lam))
    AinvZ = VD @ VZ  # (p, n, q)
    Ainvy = VD @ Vy  # (p, n)
    M = np.einsum("ik,pil->pkl", Z, AinvZ)  # (p, q, q)
    w = np.linalg.solve(M, np.einsum("ik,pi->pk", Z, Ainvy)[..., None])[..., 0]
    Py = Ainvy - np.einsum("pik,pk->pi", AinvZ, w)
    diagA = D @ (V * V).T  # (p, n)
    G = np.linalg.solve(M, AinvZ.transpose(0, 2, 1))  # (p, q, n)
    diagP = diagA - np.einsum("pik,pki->pi", AinvZ, G)
    with np.errstate(divide="ignore", invalid="ignore"):
        return Py / diagP


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
        Hold-out predictions per fold; NaN where the training part of a fold cannot identify
        the unpenalised coefficients.
    """
    lams = np.asarray(lams, dtype=float)
    D = 1.0 / (s[None, :] + lams[:, None])  # (p, n)
    VZ, Vy = V.T @ Z, V.T @ y
    n = y.shape[0]
    if len(tests) == n and all(t.size == 1 for t in tests):
        r = _loo(V, D, VZ, Vy, Z, y)
        return [(y[t] - r[:, t]) for t in tests]
    VD = V[None] * D[:, None, :]
    AinvZ = VD @ VZ
    Ainvy = VD @ Vy
    M = np.einsum("ik,pil->pkl", Z, AinvZ)
    Minv = np.linalg.inv(M)  # (p, q, q) with q <= 1 + dim(u): tiny
    w = np.einsum("pkl,pl->pk", Minv, Ainvy @ Z)  # (Z'A^{-1}Z)^{-1} Z'A^{-1} y
    Py = Ainvy - np.einsum("pik,pk->pi", AinvZ, w)
    out = []
    for t in tests:
        Bt = AinvZ[:, t]  # (p, m, q)
        Pss = VD[:, t] @ V[t].T - Bt @ Minv @ Bt.transpose(0, 2, 1)
        try:
            r = np.linalg.solve(Pss, Py[:, t, None])[..., 0]
        except np.linalg.LinAlgError:
            r = np.full((lams.size, t.size), np.nan)
        out.append(y[t] - r)
    return out


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
        c = linalg.lstsq(Z, y, check_finite=False)[0]
        return c, np.zeros(n)
    A = 0.5 * (K + K.T)
    A.flat[:: n + 1] += lam
    try:
        cf = linalg.cho_factor(A, lower=True, check_finite=False)
    except linalg.LinAlgError as exc:
        raise linalg.LinAlgError(
            f"K + lambda I is not positive definite at lambda={lam}; increase the penalty"
        ) from exc
    sol = linalg.cho_solve(cf, np.column_stack([y, Z]), check_finite=False)
    Ainvy, AinvZ = sol[:, 0], sol[:, 1:]
    c = linalg.lstsq(Z.T @ AinvZ, Z.T @ Ainvy, check_finite=False)[0]
    return c, Ainvy - AinvZ @ c


def predict_partial_ridge(
    K_eval: np.ndarray | None, Z_eval: np.ndarray, c: np.ndarray, a: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Split prediction ``Z c + K a`` into the design part and the kernel part, each (m,)."""
    kern = np.zeros(Z_eval.shape[0]) if K_eval is None else K_eval @ a
    return Z_eval @ c, kern
