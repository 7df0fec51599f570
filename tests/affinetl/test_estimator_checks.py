"""scikit-learn conformance: every estimator passes check_estimator."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from affinetl import (
    AffineTransferRegressor,
    AugmentedRegressor,
    DirectRegressor,
    LinearAffineTransferRegressor,
    LogDifferenceRegressor,
    OffsetTransferRegressor,
    ScaleTransferRegressor,
    SourceOnlyRegressor,
)

ESTIMATORS = [
    AffineTransferRegressor(max_iter=50, random_state=0),
    AffineTransferRegressor(form="const"),
    AffineTransferRegressor(form="g1_const", max_iter=50, random_state=0),
    AffineTransferRegressor(form="direct"),
    AffineTransferRegressor(approximation="nystroem", n_components=30, max_iter=50),
    AffineTransferRegressor(approximation="random_features", n_components=30, random_state=0),
    DirectRegressor(),
    SourceOnlyRegressor(),
    AugmentedRegressor(),
    OffsetTransferRegressor(),
    ScaleTransferRegressor(),
    LinearAffineTransferRegressor(max_iter=200),
    LogDifferenceRegressor(),
]


LOG_DIFFERENCE_NEEDS_POSITIVE = (
    "check_regressors_train",
    "check_regressors_train(readonly_memmap=True)",
    "check_regressors_train(readonly_memmap=True,X_dtype=float32)",
    "check_regressor_data_not_an_array",
    "check_regressors_int",
    "check_regressors_no_decision_function",
    "check_supervised_y_2d",
    "check_fit_idempotent",
    "check_n_features_in",
    "check_fit_check_is_fitted",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_estimators_dtypes",
    "check_fit_score_takes_y",
    "check_estimators_fit_returns_self",
    "check_estimators_fit_returns_self(readonly_memmap=True)",
    "check_pipeline_consistency",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_estimators_pickle(readonly_memmap=True)",
    "check_f_contiguous_array_estimator",
    "check_readonly_memmap_input",
    "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit",
    "check_dtype_object",
    "check_estimators_nan_inf",
    "check_fit2d_predict1d",
)


def _expected_failures(estimator):
    """Checks that cannot pass by design, each with the reason."""
    train = (
        "check_regressors_train",
        "check_regressors_train(readonly_memmap=True)",
        "check_regressors_train(readonly_memmap=True,X_dtype=float32)",
    )
    if isinstance(estimator, SourceOnlyRegressor):
        reason = (
            "SourceOnly uses only the source column of X (the last one by default); the check's "
            "data carry no signal there, so the training score stays below 0.5"
        )
        return dict.fromkeys(train, reason)
    if isinstance(estimator, ScaleTransferRegressor):
        reason = (
            "ratio learning y / f_s with the check's source column crossing zero: the clipped "
            "ratios are unbounded, so the training score stays below 0.5"
        )
        return dict.fromkeys(train, reason)
    if isinstance(estimator, LogDifferenceRegressor):
        reason = (
            "log(y) - log(f_s) needs positive targets and a positive source column; these "
            "checks fit on data from make_regression/iris with negative values, which the "
            "estimator rejects with a ValueError naming the problem"
        )
        return dict.fromkeys(LOG_DIFFERENCE_NEEDS_POSITIVE, reason)
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)
