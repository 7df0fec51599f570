"""Baselines against closed-form oracles."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from affinetl import (
    AffineTransferRegressor,
    AugmentedRegressor,
    DirectRegressor,
    OffsetTransferRegressor,
    ScaleTransferRegressor,
    SourceOnlyRegressor,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    fs = 2.0 + x[:, 0] ** 2
    y = fs + 0.5 * x[:, 1] + 0.05 * rng.standard_normal(50)
    return np.column_stack([x, fs]), y


def test_direct_linear_kernel_equals_ridge_with_intercept(data):
    X, y = data
    ours = DirectRegressor(kernel="linear", alpha=0.7, standardize=False).fit(X, y)
    ref = Ridge(alpha=0.7).fit(X[:, :-1], y)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X[:, :-1]), rtol=1e-10)


def test_source_only_uses_only_source(data):
    X, y = data
    ours = SourceOnlyRegressor(kernel="linear", alpha=0.3, standardize=False).fit(X, y)
    ref = Ridge(alpha=0.3).fit(X[:, -1:], y)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X[:, -1:]), rtol=1e-10)


def test_augmented_sees_both(data):
    X, y = data
    ours = AugmentedRegressor(kernel="linear", alpha=0.3, standardize=False).fit(X, y)
    ref = Ridge(alpha=0.3).fit(X, y)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-10)


def test_offset_learns_residual(data):
    X, y = data
    ours = OffsetTransferRegressor(kernel="linear", alpha=0.3, standardize=False).fit(X, y)
    ref = Ridge(alpha=0.3).fit(X[:, :-1], y - X[:, -1])
    np.testing.assert_allclose(ours.predict(X), X[:, -1] + ref.predict(X[:, :-1]), rtol=1e-10)


def test_scale_learns_ratio_and_clips(data):
    X, y = data
    ours = ScaleTransferRegressor(kernel="linear", alpha=0.3, standardize=False).fit(X, y)
    ref = Ridge(alpha=0.3).fit(X[:, :-1], y / X[:, -1])
    np.testing.assert_allclose(ours.predict(X), X[:, -1] * ref.predict(X[:, :-1]), rtol=1e-10)
    Xz = X.copy()
    Xz[0, -1] = 0.0
    pred = ScaleTransferRegressor(clip=0.5).fit(Xz, y).predict(Xz)
    assert np.all(np.isfinite(pred))


def test_offset_needs_single_source(data):
    X, y = data
    with pytest.raises(ValueError, match="exactly one source feature"):
        OffsetTransferRegressor(source_columns=[2, 3]).fit(X, y)


def test_affine_const_with_linear_kernels_contains_offset_model(data):
    """AffineTL-const with a linear g1 and g3 is ridge on [u, x]: same as the Augmented oracle."""
    X, y = data
    lam = 0.5
    ours = AffineTransferRegressor(
        variant="const",
        kernel1="linear",
        kernel3="linear",
        lambda1=lam,
        lambda3=lam,
        standardize=False,
    ).fit(X, y)
    ref = Ridge(alpha=lam).fit(X, y)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-8)


@pytest.mark.parametrize(
    ("baseline", "form", "block"),
    [
        (DirectRegressor, "direct", 3),
        (SourceOnlyRegressor, "source_kernel", 1),
        (OffsetTransferRegressor, "offset", 3),
        (AugmentedRegressor, "direct", 3),
    ],
)
def test_baselines_are_forms_of_the_affine_model(data, baseline, form, block):
    """The documented special cases: same kernel, width, penalty and penalty scaling."""
    X, y = data
    kw = dict(kernel="rbf", gamma=0.3, alpha=0.05, lambda_scaling="n")
    ours = baseline(**kw).fit(X, y)
    ref = AffineTransferRegressor(
        form=form,
        **{f"kernel{block}": "rbf", f"gamma{block}": 0.3, f"lambda{block}": 0.05},
        lambda_scaling="n",
        input_columns="all" if baseline is AugmentedRegressor else "rest",
    ).fit(X, y)
    np.testing.assert_allclose(ours.predict(X[:7]), ref.predict(X[:7]), rtol=1e-10)
    assert ours.intercept_ == pytest.approx(ref.intercept_, rel=1e-10)


def test_scale_is_the_direct_form_of_the_ratio(data):
    """HTL-scale: the direct form fitted on ``y / f_s``, multiplied back by ``f_s``."""
    X, y = data
    scale = ScaleTransferRegressor(gamma=0.3, alpha=0.05, lambda_scaling="n").fit(X, y)
    direct = AffineTransferRegressor(form="direct", gamma3=0.3, lambda3=0.05, lambda_scaling="n")
    direct.fit(X, y / X[:, -1])
    np.testing.assert_allclose(scale.predict(X[:7]), X[:7, -1] * direct.predict(X[:7]), rtol=1e-10)
