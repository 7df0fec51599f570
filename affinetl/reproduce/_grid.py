"""Case-study utilities: the RBF Gram matrix, the training standardisation and unshuffled folds.

The grid-batched solvers of the case studies (penalty paths, AffineTL-const, batched Newton and
block relaxation) live in :mod:`affinetl._solvers`.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

__all__ = ["kfold_indices", "rbf", "standardize"]


def rbf(A: np.ndarray, B: np.ndarray, gamma: float) -> np.ndarray:
    """RBF Gram matrix ``exp(-gamma ||a - b||^2)`` of shape (len(A), len(B))."""
    return np.exp(-gamma * cdist(A, B, "sqeuclidean"))


def standardize(train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Standardise columns with the training mean and sample sd (sd 0 -> 1)."""
    mean = train.mean(axis=0)
    sd = train.std(axis=0, ddof=1) if len(train) > 1 else np.ones(train.shape[1:])
    sd = np.where(sd > 0, sd, 1.0)
    return tuple((a - mean) / sd for a in (train, *others))


def kfold_indices(n: int, n_folds: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """Unshuffled K-fold splits (scikit-learn's ``KFold(n_folds)`` order)."""
    if n < n_folds:
        raise ValueError(f"{n_folds}-fold CV needs at least {n_folds} samples, got {n}")
    sizes = np.full(n_folds, n // n_folds)
    sizes[: n % n_folds] += 1
    stops = np.cumsum(sizes)
    folds = []
    for stop, size in zip(stops, sizes):
        test = np.arange(stop - size, stop)
        folds.append((np.setdiff1d(np.arange(n), test), test))
    return folds
