"""Cross-validation splits and scores: the splitter, the scorers, the closed-form hold-out
scores of the ridge-type forms and ``cv_results_`` in scikit-learn's ``GridSearchCV`` format."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from scipy.stats import rankdata
from sklearn.model_selection import KFold, LeaveOneOut, check_cv

from .._solvers import eigh_psd, holdout_path

__all__ = [
    "SCORERS",
    "cv_results",
    "Gram",
    "default_cv",
    "path_candidates",
    "positive",
    "ridge_scores",
    "safe_score",
    "score_ridge_tasks",
    "splits",
]

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


class Gram:
    """A Gram matrix ``K`` and its ``eigh_psd``, computed on the first call only (one
    eigendecomposition for all the forms and penalties that share ``K``)."""

    def __init__(self, K: np.ndarray) -> None:
        self.K, self._eigh = K, None

    def eigh(self) -> tuple[np.ndarray, np.ndarray]:
        if self._eigh is None:
            self._eigh = eigh_psd(self.K)
        return self._eigh


def ridge_scores(gram, Z, t, lams, y, splits, score) -> tuple[np.ndarray, float]:
    """Hold-out scores (n_lams, n_splits) of one partially linear ridge family, and seconds.

    The ridge of the target ``t`` on the design ``Z`` and the :class:`Gram` matrix ``gram``
    (None: least squares on ``Z``) for the penalties ``lams``, scored on ``y`` (``y - t`` is
    the part of the prediction not fitted: ``u`` for the offset forms). When every split trains
    on the complement of its test set, one eigendecomposition serves all folds
    (:func:`~affinetl._solvers.holdout_path`); other splitters solve each fold's sub-problem on
    its training and test samples.
    """
    t0, n = time.perf_counter(), y.shape[0]
    if all(tr.size + te.size == n for tr, te in splits):
        folds = [(np.arange(n), [te for _, te in splits], True)]
    else:
        folds = [
            (np.concatenate([tr, te]), [np.arange(tr.size, tr.size + te.size)], False)
            for tr, te in splits
        ]
    preds = []
    for idx, tests, whole in folds:
        if gram is None:
            s, V = np.zeros(idx.size), np.eye(idx.size)
        else:
            s, V = gram.eigh() if whole else eigh_psd(gram.K[np.ix_(idx, idx)])
        preds += holdout_path(s, V, Z[idx], t[idx], lams, tests)
    offset = y - t
    out = [
        [safe_score(score, y[te] - offset[te] - p) for p in pr]
        for (_, te), pr in zip(splits, preds)
    ]
    return np.array(out, dtype=float).T, time.perf_counter() - t0


def score_ridge_tasks(tasks, y, splits, score, n_jobs) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """Score the ridge tasks ``(candidates, (gram, Z, t, lams))`` (:func:`ridge_scores`) in
    parallel: the candidates, their (n_candidates, n_splits) scores and fit times (a task's
    time shared equally among its candidates and splits)."""
    results = Parallel(n_jobs=n_jobs)(
        delayed(ridge_scores)(*args, y, splits, score) for _, args in tasks
    )
    candidates = [c for cands, _ in tasks for c in cands]
    scores = np.vstack([sc for sc, _ in results]) if results else np.empty((0, len(splits)))
    times = np.array([dt / sc.size for sc, dt in results for _ in range(sc.shape[0])])
    return candidates, scores, times


def path_candidates(starts, key, path, table, seconds) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """The candidates ``{**start, key: value}`` of every start along a penalty ``path``, their
    (n_candidates, n_splits) scores from ``table`` (n_starts, n_splits, len(path)) and fit
    times (``seconds`` of each start shared equally among its fits)."""
    n_starts, S, L = table.shape
    candidates = [{**st, key: float(v)} for st in starts for v in path]
    times = np.repeat(np.asarray(seconds, dtype=float) / (S * L), L)
    return candidates, table.transpose(0, 2, 1).reshape(n_starts * L, S), times


def cv_results(candidates, scores, times) -> dict[str, Any]:
    """``cv_results_`` in the GridSearchCV format from candidate dicts and (C, S) scores."""
    C = len(candidates)
    res: dict[str, Any] = {}
    for name in sorted({k for c in candidates for k in c}):
        col = np.ma.MaskedArray(np.empty(C, dtype=object), mask=[name not in c for c in candidates])
        col.data[:] = [c.get(name) for c in candidates]
        res[f"param_{name}"] = col
    res["params"] = [dict(c) for c in candidates]
    for j in range(scores.shape[1]):
        res[f"split{j}_test_score"] = scores[:, j]
    mean = np.mean(scores, axis=1)
    res["mean_test_score"] = mean
    res["std_test_score"] = np.std(scores, axis=1)
    # ties share the smallest rank, as GridSearchCV; non-finite scores rank last
    filled = np.where(np.isfinite(mean), mean, -np.inf)
    res["rank_test_score"] = rankdata(-filled, method="min").astype(np.int32)
    res["mean_fit_time"] = np.asarray(times, dtype=float)
    res["std_fit_time"] = np.zeros(C)
    res["mean_score_time"] = np.zeros(C)
    res["std_score_time"] = np.zeros(C)
    return res


def safe_score(score, r: np.ndarray) -> float:
    return score(r) if np.all(np.isfinite(r)) else np.nan


def positive(values, name: str, default: Any = None) -> np.ndarray:
    """``values`` (``default`` when None) as a non-empty array of positive numbers."""
    arr = np.asarray(default if values is None else values, dtype=float).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be a non-empty list of positive numbers, got {values!r}")
    return arr
