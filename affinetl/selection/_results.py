"""``cv_results_`` in scikit-learn's ``GridSearchCV`` format."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

__all__ = ["cv_results"]


def cv_results(candidates, scores, times, n_splits) -> dict[str, Any]:
    """``cv_results_`` in the GridSearchCV format from candidate dicts and (C, S) scores."""
    C = len(candidates)
    names = sorted({k for c in candidates for k in c})
    res: dict[str, Any] = {}
    for name in names:
        col = np.ma.MaskedArray(np.empty(C, dtype=object), mask=True)
        for i, c in enumerate(candidates):
            if name in c:
                col[i] = c[name]
        res[f"param_{name}"] = col
    res["params"] = [dict(c) for c in candidates]
    for j in range(n_splits):
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
