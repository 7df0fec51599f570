"""Cross-validation splits and scores: the splitter, the scorers, the closed-form hold-out
scores of the ridge-type forms and ``cv_results_`` in scikit-learn's ``GridSearchCV`` format.

Every candidate is scored on each held-out row; a split's score is the mean over its rows
(``cv_results_``, the candidate's ``mean_test_score``), and the row scores are what the
averaging rule pairs to compare forms (:mod:`~affinetl.selection._rules`)."""

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
    "row_scores",
    "score_ridge_tasks",
    "splits",
    "tabulate",
]

#: Score of each held-out row from its residual (higher is better); a split's score is the
#: mean over its rows.
SCORERS = {
    "neg_mean_squared_error": lambda r: -(r * r),
    "neg_mean_absolute_error": lambda r: -np.abs(r),
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


def ridge_scores(gram, Z, t, lams, y, splits, score) -> tuple[np.ndarray, np.ndarray, float]:
    """Hold-out scores of one partially linear ridge family: (n_lams, n_splits) split scores,
    (n_lams, n_held_out_rows) row scores (:func:`tabulate`) and seconds.

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
    per_split = [row_scores(score, y[te] - offset[te] - p) for (_, te), p in zip(splits, preds)]
    return *tabulate(per_split), time.perf_counter() - t0


def score_ridge_tasks(tasks, y, splits, score, n_jobs) -> tuple:
    """Score the ridge tasks ``(candidates, (gram, Z, t, lams))`` (:func:`ridge_scores`) in
    parallel: the candidates, their (n_candidates, n_splits) scores, fit times (a task's time
    shared equally among its candidates and splits) and (n_candidates, n_held_out_rows) row
    scores."""
    results = Parallel(n_jobs=n_jobs)(
        delayed(ridge_scores)(*args, y, splits, score) for _, args in tasks
    )
    candidates = [c for cands, _ in tasks for c in cands]
    m = sum(te.size for _, te in splits)
    scores = np.vstack([sc for sc, _, _ in results]) if results else np.empty((0, len(splits)))
    rows = np.vstack([r for _, r, _ in results]) if results else np.empty((0, m))
    times = np.array([dt / sc.size for sc, _, dt in results for _ in range(sc.shape[0])])
    return candidates, scores, times, rows


def path_candidates(starts, key, path, per_split, seconds) -> tuple:
    """The candidates ``{**start, key: value}`` of every start along a penalty ``path``, their
    (n_candidates, n_splits) scores, fit times (``seconds`` of each start shared equally among
    its fits) and row scores, from ``per_split[k][j]``, the (len(path), n_test_j) row scores
    of start ``k`` on split ``j`` (:func:`tabulate`)."""
    S, L = len(per_split[0]), len(path)
    candidates = [{**st, key: float(v)} for st in starts for v in path]
    times = np.repeat(np.asarray(seconds, dtype=float) / (S * L), L)
    scores, rows = (np.vstack(parts) for parts in zip(*map(tabulate, per_split)))
    return candidates, scores, times, rows


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


def row_scores(score, r: np.ndarray) -> np.ndarray:
    """``score`` of each held-out residual in ``r`` (..., n_test); NaN on every row of a fit
    with a non-finite residual (a failed fit scores NaN on its whole split)."""
    out = np.asarray(score(r), dtype=float)
    out[~np.all(np.isfinite(r), axis=-1)] = np.nan
    return out


def tabulate(per_split: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(n_candidates, n_splits) split scores (the mean over each split's rows) and the
    (n_candidates, n_held_out_rows) row scores, from each split's (n_candidates, n_test) row
    scores."""
    per_split = [np.atleast_2d(p) for p in per_split]
    return np.column_stack([p.mean(axis=1) for p in per_split]), np.hstack(per_split)


def positive(values, name: str, default: Any = None) -> np.ndarray:
    """``values`` (``default`` when None) as a non-empty array of positive numbers."""
    arr = np.asarray(default if values is None else values, dtype=float).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be a non-empty list of positive numbers, got {values!r}")
    return arr
