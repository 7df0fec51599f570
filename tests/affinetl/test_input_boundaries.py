"""Named source columns on DataFrames and numerically hopeless inputs, for every estimator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from affinetl import (
    AffineTransferCV,
    AffineTransferRegressor,
    LinearAffineTransferCV,
    LinearAffineTransferRegressor,
    LogDifferenceRegressor,
)
from affinetl.base import NumericalRangeError
from affinetl.baselines import (
    AugmentedRegressor,
    DirectRegressor,
    OffsetTransferRegressor,
    ScaleTransferRegressor,
    SourceOnlyRegressor,
)
from affinetl.exceptions import UsageError

SMALL_CV = dict(widths=[1.0], lambdas=[0.1, 1.0], ratios=[1.0], lambda2_path=[1.0])


def _estimators(source_columns):
    kw = dict(source_columns=source_columns)
    return [
        AffineTransferRegressor(max_iter=50, **kw),
        AffineTransferRegressor(form="offset_calibrated", **kw),
        LinearAffineTransferRegressor(lambda_ridge=0.3, **kw),
        LogDifferenceRegressor(**kw),
        DirectRegressor(**kw),
        SourceOnlyRegressor(**kw),
        AugmentedRegressor(**kw),
        OffsetTransferRegressor(**kw),
        ScaleTransferRegressor(**kw),
        AffineTransferCV(**SMALL_CV, max_iter=30, random_state=0, **kw),
        LinearAffineTransferCV(lambdas_ridge=[0.3, 3.0], max_iter=30, random_state=0, **kw),
    ]


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    n = 40
    x = rng.uniform(0.5, 1.5, size=(n, 3))
    md = 1.0 + 0.3 * x[:, 0] + 0.05 * rng.normal(size=n)
    y = 0.1 + 1.1 * md + 0.2 * x[:, 1] + 0.02 * rng.normal(size=n)
    # the source column sits in the middle: names, not positions, must find it
    X = pd.DataFrame({"a": x[:, 0], "md_density": md, "b": x[:, 1], "c": x[:, 2]})
    return X, y


@pytest.mark.parametrize("est", _estimators("md_density"), ids=lambda e: type(e).__name__)
def test_named_source_column_through_fit_clone_cv_and_pipeline(frame, est):
    X, y = frame
    positional = clone(est).set_params(source_columns=1)
    ref = positional.fit(X.to_numpy(), y).predict(X.to_numpy())
    got = clone(est).fit(X, y).predict(X)
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-10)
    scores = cross_val_score(clone(est), X, y, cv=KFold(3), error_score="raise")
    assert np.all(np.isfinite(scores))
    pipe = make_pipeline(FunctionTransformer(validate=False), clone(est))
    np.testing.assert_allclose(pipe.fit(X, y).predict(X), ref, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("est", _estimators(None), ids=lambda e: type(e).__name__)
def test_values_whose_squares_overflow_are_refused(frame, est):
    X, y = frame
    Xa = X.to_numpy().copy()
    Xa[:, 0] *= 1e300
    with pytest.raises(NumericalRangeError, match="overflow"):
        clone(est).fit(Xa, y)
    with pytest.raises(UsageError, match="rescale"):
        clone(est).fit(X.to_numpy(), y * 1e300)
    fitted = clone(est).fit(X.to_numpy(), y)
    with pytest.raises(NumericalRangeError):
        fitted.predict(Xa)


@pytest.mark.parametrize("cls", [AffineTransferCV, LinearAffineTransferCV])
def test_constant_source_column_is_handled(cls):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 3))
    X = np.hstack([x, np.ones((30, 1))])
    y = x[:, 0] + 0.1 * rng.normal(size=30)
    kw = SMALL_CV if cls is AffineTransferCV else {}
    m = cls(random_state=0, max_iter=30, **kw).fit(X, y)
    assert np.all(np.isfinite(m.predict(X)))
    with pytest.raises(ValueError, match="constant source column"):
        cls(forms=["source_linear"]).fit(X, y)
