"""scikit-learn conformance of the selection estimators (small candidate grids)."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from affinetl import AffineTransferRegressor, LinearAffineTransferRegressor
from affinetl.selection import (
    AffineTransferCV,
    LinearAffineTransferCV,
)

#: A small kernel search (two penalties, one width, one full-form start).
SMALL_SEARCH = dict(
    widths=[1.0],
    lambdas=[0.1, 1.0],
    ratios=[1.0],
    lambda2_path=[1.0],
    n_full_starts=1,
    max_iter=20,
    random_state=0,
)

ESTIMATORS = [
    AffineTransferCV(**SMALL_SEARCH),
    AffineTransferCV(rule="average", **SMALL_SEARCH),
    LinearAffineTransferCV(lambdas_ridge=[0.3, 3.0], max_iter=20, random_state=0),
    AffineTransferRegressor(form="full", max_iter=20),
    AffineTransferRegressor(form="offset_calibrated"),
    LinearAffineTransferRegressor(form="full", max_iter=20),
    LinearAffineTransferRegressor(form="offset_calibrated"),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
