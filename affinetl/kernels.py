"""Kernel specifications to Gram matrices.

A kernel is either a name (``"rbf"``, ``"laplacian"``, ``"matern12"``, ``"matern32"``,
``"matern52"``, ``"linear"``, ``"rbf+linear"``), any scikit-learn kernel object (``RBF(1.0) + WhiteKernel()``), or
any callable ``k(A, B) -> ndarray of shape (len(A), len(B))``. Named kernels take a width
``gamma``; the default ``gamma = 1 / (2 * dim)`` is the published choice on standardised inputs,
with ``dim`` the number of columns of that kernel's own input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.gaussian_process.kernels import Kernel

from .base import StrOptions

__all__ = ["KERNEL_NAMES", "default_gamma", "gram_matrix", "kernel_constraint"]

KERNEL_NAMES = ("rbf", "laplacian", "matern12", "matern32", "matern52", "linear", "rbf+linear")

#: Constraint list for a kernel parameter (sklearn ``_parameter_constraints`` syntax).
kernel_constraint: list[Any] = [StrOptions(set(KERNEL_NAMES)), callable]


def default_gamma(n_dims: int) -> float:
    """Published default width ``1 / (2 * n_dims)`` (1.0 for an input with no columns)."""
    return 1.0 / (2.0 * n_dims) if n_dims > 0 else 1.0


def _matern(d: np.ndarray, nu: float) -> np.ndarray:
    if nu == 0.5:
        return np.exp(-d)
    if nu == 1.5:
        s = np.sqrt(3.0) * d
        return (1.0 + s) * np.exp(-s)
    s = np.sqrt(5.0) * d
    return (1.0 + s + s * s / 3.0) * np.exp(-s)


def gram_matrix(
    kernel: str | Kernel | Callable[[np.ndarray, np.ndarray], np.ndarray],
    A: np.ndarray,
    B: np.ndarray | None = None,
    gamma: float | None = None,
) -> np.ndarray:
    """Gram matrix ``K[i, j] = k(A[i], B[j])``.

    Parameters
    ----------
    kernel : str, sklearn kernel or callable
        ``"rbf"``: ``exp(-gamma ||a - b||^2)``; ``"laplacian"``: ``exp(-gamma ||a - b||_1)``;
        ``"matern12" | "matern32" | "matern52"``: Matern with nu = 1/2, 3/2, 5/2 and length scale
        ``1 / sqrt(2 gamma)`` (the RBF's, so widths are comparable); ``"linear"``: ``a . b``;
        ``"rbf+linear"``: their sum, a smooth function plus a linear trend (it extrapolates
        linearly instead of reverting to a constant away from the data).
        Kernel objects and callables are called as ``kernel(A, B)`` and ``gamma`` is ignored.
    A : ndarray of shape (n_a, n_dims)
    B : ndarray of shape (n_b, n_dims), default None
        ``None`` means ``B = A`` (the symmetric Gram matrix).
    gamma : float, default None
        Width of a named kernel; ``None`` uses :func:`default_gamma` of ``n_dims``.

    Returns
    -------
    K : ndarray of shape (n_a, n_b)

    Examples
    --------
    >>> import numpy as np
    >>> K = gram_matrix("rbf", np.zeros((2, 3)))
    >>> K.tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    A = np.asarray(A, dtype=float)
    Bm = A if B is None else np.asarray(B, dtype=float)
    if A.ndim != 2 or Bm.ndim != 2 or A.shape[1] != Bm.shape[1]:
        raise ValueError(
            f"kernel inputs must be 2-D with the same number of columns, got {A.shape} and "
            f"{Bm.shape}"
        )
    if not isinstance(kernel, str):
        if not callable(kernel):
            raise TypeError(
                f"kernel must be a name, a sklearn kernel or a callable, got {kernel!r}"
            )
        K = np.asarray(kernel(A, Bm), dtype=float)
        if K.shape != (A.shape[0], Bm.shape[0]):
            raise ValueError(
                f"kernel {kernel!r} returned shape {K.shape}, expected {(A.shape[0], Bm.shape[0])}"
            )
        return K
    if kernel not in KERNEL_NAMES:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {KERNEL_NAMES}")
    if kernel == "linear":
        return A @ Bm.T
    g = default_gamma(A.shape[1]) if gamma is None else float(gamma)
    if g <= 0:
        raise ValueError(f"kernel width gamma must be positive, got {g}")
    if A.shape[1] == 0:
        return np.ones((A.shape[0], Bm.shape[0]))
    if kernel == "laplacian":
        return np.exp(-g * cdist(A, Bm, "cityblock"))
    sq = cdist(A, Bm, "sqeuclidean")
    if kernel == "rbf":
        return np.exp(-g * sq)
    if kernel == "rbf+linear":
        return np.exp(-g * sq) + A @ Bm.T
    nu = {"matern12": 0.5, "matern32": 1.5, "matern52": 2.5}[kernel]
    return _matern(np.sqrt(2.0 * g * sq), nu)
