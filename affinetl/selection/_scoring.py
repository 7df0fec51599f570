"""Cross-validation splits and scores: the splitter, the scorers and the closed-form hold-out
scores of the ridge-type forms."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import KFold, LeaveOneOut, check_cv

from .._solvers import eigh_psd, holdout_path

__all__ = ["SCORERS", "default_cv", "lazy_eigh", "positive", "ridge_scores", "safe_score", "splits"]

SCORERS = {
    "neg_mean_squared_error": lambda r: -float(np.mean(r * r)),
    "neg_mean_absolute_error": lambda r: -float(np.mean(np.abs(r))),
}


def default_cv(n_samples: int, random_state: Any = None):
    """The default splitter: leave-one-out below 20 samples, else shuffled 5-fold.

    Parameters
    ----------
    n_samples : int
    random_state : int, RandomState or None
        Seed of the 5-fold shuffle.

    Returns
    -------
    cv : LeaveOneOut or KFold
    """
    if n_samples < 20:
        return LeaveOneOut()
    return KFold(5, shuffle=True, random_state=random_state)


def splits(cv, X, y, groups, random_state) -> list[tuple[np.ndarray, np.ndarray]]:
    n = X.shape[0]
    splitter = default_cv(n, random_state) if cv is None else check_cv(cv, y, classifier=False)
    splits = [(np.asarray(tr), np.asarray(te)) for tr, te in splitter.split(X, y, groups)]
    if not splits:
        raise ValueError("the cross-validation splitter produced no splits")
    return splits


def _is_partition(splits, n: int) -> bool:
    """True when every split trains on exactly the complement of its test set."""
    return all(tr.size + te.size == n for tr, te in splits)


def ridge_scores(s_V, K, Z, t, y, lams, splits, score) -> np.ndarray:
    """Hold-out scores (n_lams, n_splits) of one partially linear ridge family."""
    n = y.shape[0]
    lams = np.asarray(lams, dtype=float)
    out = np.empty((lams.size, len(splits)))
    offset = y - t  # the part of the prediction not fitted (u for the offset form)
    if _is_partition(splits, n):
        s, V = s_V() if K is not None else (np.zeros(n), np.eye(n))
        preds = holdout_path(s, V, Z, t, lams, [te for _, te in splits])
        for j, ((_, te), pr) in enumerate(zip(splits, preds)):
            for i in range(lams.size):
                out[i, j] = safe_score(score, y[te] - offset[te] - pr[i])
        return out
    for j, (tr, te) in enumerate(splits):  # general splitters: sub-problem on train + test
        idx = np.concatenate([tr, te])
        m = tr.size
        if K is None:
            s, V = np.zeros(idx.size), np.eye(idx.size)
        else:
            s, V = eigh_psd(K[np.ix_(idx, idx)])
        pr = holdout_path(s, V, Z[idx], t[idx], lams, [np.arange(m, idx.size)])[0]
        for i in range(lams.size):
            out[i, j] = safe_score(score, y[te] - offset[te] - pr[i])
    return out


def lazy_eigh(K):
    cache: list = []

    def get():
        if not cache:
            cache.append(eigh_psd(K))
        return cache[0]

    return get


def safe_score(score, r: np.ndarray) -> float:
    return score(r) if np.all(np.isfinite(r)) else np.nan


def positive(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be a non-empty list of positive numbers, got {values!r}")
    return arr
