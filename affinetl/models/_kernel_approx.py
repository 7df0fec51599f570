"""Finite-dimensional kernel feature maps for the large-n mode of the kernel estimators.

A feature map ``phi`` with ``phi(a) . phi(b) ~ k(a, b)`` turns each RKHS block of the affine
model into a ridge-penalised linear model on ``m`` features, so a fit costs ``O(n m^2)`` instead
of ``O(n^3)``, and the ``n x n`` Gram matrices are never formed.

* :class:`NystroemMap`: Nystroem features whose landmarks are chosen greedily by a pivoted
  Cholesky factorisation computed column by column (each step takes the sample whose kernel
  row is worst reproduced by the landmarks so far). It works for every kernel that
  :func:`affinetl.kernels.gram_matrix` accepts, stops early when the kernel has low numerical
  rank (kernels on one or two source features need a few dozen landmarks) and reproduces the
  Gram matrix exactly once ``n_components >= n``. Kernels are evaluated as cross-kernels
  ``k(A, B)``, so a scikit-learn ``WhiteKernel`` term (which acts only on ``k(A)``) drops out.
* :class:`RandomFeatureMap`: random Fourier features of the RBF kernel
  (:class:`sklearn.kernel_approximation.RBFSampler`), cheaper to build, less accurate per
  feature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg

from ..kernels import default_gamma, gram_matrix

__all__ = ["NystroemMap", "RandomFeatureMap", "make_feature_map"]

#: Landmark selection stops when every residual kernel diagonal is below this fraction of the
#: largest diagonal entry (the numerical rank of the kernel on the training inputs).
NYSTROEM_RTOL = 1e-8
#: Rows per chunk when a kernel's diagonal must be evaluated through the Gram function.
_DIAG_CHUNK = 256


def _kernel_diagonal(kernel: Any, A: np.ndarray, gamma: float | None) -> np.ndarray:
    """``k(a_i, a_i)`` for every row of ``A`` without forming the Gram matrix."""
    if isinstance(kernel, str):
        if kernel == "linear":
            return np.einsum("ij,ij->i", A, A)
        if kernel == "rbf+linear":
            return 1.0 + np.einsum("ij,ij->i", A, A)
        return np.ones(A.shape[0])
    # kernel objects and callables: evaluated as a cross-kernel k(A, B) with B given, like the
    # feature map's columns (so a WhiteKernel term, which acts only when B is None, drops out)
    out = np.empty(A.shape[0])
    for s in range(0, A.shape[0], _DIAG_CHUNK):
        block = A[s : s + _DIAG_CHUNK]
        out[s : s + len(block)] = np.diag(gram_matrix(kernel, block, block.copy(), gamma))
    return out


class NystroemMap:
    """Nystroem feature map with landmarks from a greedy pivoted Cholesky factorisation.

    Parameters
    ----------
    kernel : str, sklearn kernel or callable
        As in :func:`affinetl.kernels.gram_matrix`.
    gamma : float or None
        Width of a named kernel (``None``: ``1 / (2 dim)``).
    n_components : int
        Largest number of landmarks (feature dimension).
    rtol : float
        Relative residual-diagonal tolerance that stops the selection early.

    Attributes
    ----------
    landmarks_ : ndarray of shape (m, n_dims)
        Selected training rows.
    n_components_ : int
        ``m``, the number of landmarks kept (at most ``n_components``).
    """

    def __init__(
        self, kernel: Any, gamma: float | None, n_components: int, rtol: float = NYSTROEM_RTOL
    ) -> None:
        self.kernel = kernel
        self.gamma = gamma
        self.n_components = n_components
        self.rtol = rtol

    def fit_transform(self, A: np.ndarray) -> np.ndarray:
        """Select landmarks on ``A`` and return its features, shape (n, m).

        The features satisfy ``Phi Phi' = K_nm K_mm^{-1} K_mn`` (the Nystroem approximation of the
        Gram matrix) and equal the pivoted Cholesky factor of the Gram matrix.
        """
        A = np.asarray(A, dtype=float)
        n = A.shape[0]
        gamma = self.gamma
        if isinstance(self.kernel, str) and self.kernel != "linear" and gamma is None:
            gamma = default_gamma(A.shape[1])
        self._gamma = gamma
        m_max = int(min(self.n_components, n))
        diag = _kernel_diagonal(self.kernel, A, gamma).copy()
        top = float(diag.max()) if n else 0.0
        L = np.zeros((m_max, n))  # row k = k-th Cholesky column (contiguous updates)
        pivots: list[int] = []
        for k in range(m_max):
            i = int(np.argmax(diag))
            if diag[i] <= self.rtol * top or diag[i] <= 0.0:
                break
            col = gram_matrix(self.kernel, A, A[i : i + 1], gamma)[:, 0]
            if k:
                col -= L[:k, i] @ L[:k]
            L[k] = col / np.sqrt(diag[i])
            diag -= L[k] ** 2
            diag[i] = 0.0
            pivots.append(i)
        m = len(pivots)
        if m == 0:  # a zero kernel: one constant-zero feature keeps shapes valid
            self.landmarks_ = A[:1]
            self._L11 = np.ones((1, 1))
            self._zero = True
            self.n_components_ = 1
            return np.zeros((n, 1))
        self._zero = False
        Phi = np.ascontiguousarray(L[:m].T)
        self.landmarks_ = A[pivots]
        self._L11 = Phi[pivots]  # lower triangular in pivot order
        self.n_components_ = m
        return Phi

    def transform(self, B: np.ndarray) -> np.ndarray:
        """Features of new rows, ``K(B, landmarks) L11^{-T}``, shape (n_b, m)."""
        B = np.asarray(B, dtype=float)
        if self._zero:
            return np.zeros((B.shape[0], 1))
        Kb = gram_matrix(self.kernel, self.landmarks_, B, self._gamma)
        return linalg.solve_triangular(self._L11, Kb, lower=True, check_finite=False).T


class RandomFeatureMap:
    """Random Fourier features of the RBF kernel ``exp(-gamma ||a - b||^2)``.

    For ``"rbf+linear"`` the inputs themselves are appended (the exact features of the linear
    part).

    Parameters
    ----------
    kernel : str
        ``"rbf"`` or ``"rbf+linear"``.
    gamma : float or None
        RBF width (``None``: ``1 / (2 dim)``).
    n_components : int
        Number of random features.
    random_state : int, RandomState or None
        Seeds the random frequencies.
    """

    def __init__(self, kernel: Any, gamma: float | None, n_components: int, random_state: Any):
        if kernel not in ("rbf", "rbf+linear"):
            raise ValueError(
                "approximation='random_features' supports kernel='rbf' (and 'rbf+linear') "
                f"only, got {kernel!r}; "
                "use approximation='nystroem', which works with every kernel"
            )
        self.kernel = kernel
        self.gamma = gamma
        self.n_components = n_components
        self.random_state = random_state

    def fit_transform(self, A: np.ndarray) -> np.ndarray:
        """Draw the frequencies for ``A``'s dimension and return its features, shape (n, m)."""
        from sklearn.kernel_approximation import RBFSampler

        A = np.asarray(A, dtype=float)
        self.n_components_ = self.n_components
        if A.shape[1] == 0:  # an input with no columns: the kernel is the constant 1
            self._sampler = None
            self.n_components_ = 1
            return np.ones((A.shape[0], 1))
        gamma = default_gamma(A.shape[1]) if self.gamma is None else self.gamma
        self._sampler = RBFSampler(
            gamma=gamma, n_components=self.n_components, random_state=self.random_state
        ).fit(A)
        if self.kernel == "rbf+linear":
            self.n_components_ = self.n_components + A.shape[1]
        return self.transform(A)

    def transform(self, B: np.ndarray) -> np.ndarray:
        """Features of new rows, shape (n_b, m)."""
        B = np.asarray(B, dtype=float)
        if self._sampler is None:
            return np.ones((B.shape[0], 1))
        if self.kernel == "rbf+linear":
            return np.hstack([self._sampler.transform(B), B])
        return self._sampler.transform(B)


def make_feature_map(
    approximation: str, kernel: Any, gamma: float | None, n_components: int, random_state: Any
) -> NystroemMap | RandomFeatureMap:
    """The feature map of one kernel block for ``approximation`` ("nystroem", "random_features")."""
    if approximation == "nystroem":
        return NystroemMap(kernel, gamma, n_components)
    if approximation == "random_features":
        return RandomFeatureMap(kernel, gamma, n_components, random_state)
    raise ValueError(f"unknown approximation {approximation!r}")
