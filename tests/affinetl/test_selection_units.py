"""The source in the target's units: ``source_as_is``, ``source_plus_const``, the parameter
``source_in_target_units``, the Pipeline check and the anchored average (issue 25)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from affinetl import AffineTransferRegressor, LinearAffineTransferRegressor
from affinetl.selection import AffineTransferCV, LinearAffineTransferCV
from affinetl.selection._rules import average_weights
from affinetl.selection._units import difference_test

UNIT_FORMS = ("source_as_is", "source_plus_const")


def _data(n=40, shift=0.0, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 3))
    u = 10.0 + 3.0 * np.sin(x[:, 0]) + x[:, 1]  # a source in the target's units
    y = u + shift + noise * rng.normal(size=n)
    return np.column_stack([x, u]), y


@pytest.mark.parametrize("cls", [AffineTransferRegressor, LinearAffineTransferRegressor])
@pytest.mark.parametrize("form,shift", [("source_as_is", 0.0), ("source_plus_const", 2.5)])
def test_unit_forms_fit_exactly(cls, form, shift):
    X, _ = _data()
    y = X[:, -1] + shift
    m = cls(form=form).fit(X, y)
    np.testing.assert_allclose(m.predict(X), y, atol=1e-10)
    c = m.predict_components(X)
    np.testing.assert_allclose(c["g1"], y, atol=1e-10)
    assert np.all(c["g2"] == 0) and np.all(c["g3"] == 0)
    assert m.intercept_ == pytest.approx(shift, abs=1e-12)


@pytest.mark.parametrize("form,shift", [("source_as_is", 0.0), ("source_plus_const", 2.5)])
def test_unit_forms_recovered_by_selection(form, shift):
    X, y = _data(shift=shift)
    m = AffineTransferCV(source_in_target_units=True, rule="one_se", random_state=0)
    m.fit(X, y)
    assert m.best_form_ == form
    avg = AffineTransferCV(source_in_target_units=True, random_state=0).fit(X, y)
    assert avg.form_weights_.get(form, 0.0) > 0.3
    Xt, yt = _data(shift=shift, seed=1)
    rmse = np.sqrt(np.mean((avg.predict(Xt) - (Xt[:, -1] + shift)) ** 2))
    assert rmse < 0.05  # the noise sd: the average is as good as the generating form


def _ratio_data(n=60, seed=0, calibrated=False):
    """``y = u (1 + g3(x))`` (HTL-scale) with a positive source in the target's units, or with
    the calibration ``1 + 0.7 u`` under it."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 3))
    u = 10.0 + 8.0 * np.sin(x[:, 0])
    g3 = 0.3 * np.cos(1.5 * x[:, 1]) + 0.2 * x[:, 2]
    g1 = 1.0 + 0.7 * u if calibrated else u
    return np.column_stack([x, u]), g1 + u * g3 + 0.05 * rng.normal(size=n), u, g3


@pytest.mark.parametrize("form", ["ratio", "ratio_calibrated"])
def test_scale_forms_fit_g2_as_the_source(form):
    X, y, u, g3 = _ratio_data(calibrated=form == "ratio_calibrated")
    m = AffineTransferRegressor(form=form, lambda3=0.01).fit(X, y)
    c = m.predict_components(X)
    np.testing.assert_allclose(c["g2"], u / np.sqrt(np.mean(u**2)))  # the source, unit RMS
    np.testing.assert_allclose(m.predict(X), c["g1"] + c["g2"] * c["g3"])
    Xt, yt, _, _ = _ratio_data(seed=1, calibrated=form == "ratio_calibrated")
    rmse = np.sqrt(np.mean((m.predict(Xt) - yt) ** 2))
    offset = AffineTransferRegressor(form="offset_calibrated", lambda3=0.01).fit(X, y)
    assert rmse < 0.9 * np.sqrt(np.mean((offset.predict(Xt) - yt) ** 2))  # 0.22-0.23 vs 0.27


def test_scale_forms_recovered_by_selection():
    X, y, _, _ = _ratio_data(n=80)
    m = AffineTransferCV(source_in_target_units=True, rule="one_se", random_state=0).fit(X, y)
    assert m.best_form_ in ("ratio", "ratio_calibrated")
    declared = AffineTransferCV(source_in_target_units=False, widths=[1.0], random_state=0)
    declared.fit(X, y)
    assert not {"ratio", "ratio_calibrated"} & set(declared.cv_results_["param_form"])


@pytest.mark.parametrize("form", ["ratio", "ratio_calibrated"])
def test_scale_forms_need_one_source_feature_before_the_search(form):
    X, y, _, _ = _ratio_data(n=30)
    X = np.column_stack([X, X[:, -1] + 1.0])
    m = AffineTransferCV(forms=[form], source_columns=[3, 4], widths=[1.0])
    with pytest.raises(ValueError, match="AffineTransferCV needs exactly one source feature"):
        m.fit(X, y)


def test_as_is_hold_out_scores_are_its_residuals():
    X, y = _data(shift=0.3)
    cv = KFold(5, shuffle=True, random_state=0)
    m = AffineTransferCV(forms=["source_as_is"], cv=cv).fit(X, y)
    r = y - X[:, -1]
    expected = np.mean([-np.mean(r[te] ** 2) for _, te in cv.split(X)])
    assert m.cv_results_["mean_test_score"][0] == pytest.approx(expected, rel=1e-12)


def test_unit_forms_searched_only_when_the_source_is_in_target_units():
    X, y = _data(n=30)
    kw = dict(widths=[1.0], lambdas=[0.1], ratios=[1.0], random_state=0)
    declared = AffineTransferCV(source_in_target_units=False, **kw).fit(X, y)
    assert not set(UNIT_FORMS) & set(declared.cv_results_["param_form"])
    assert declared.source_in_target_units_ is False
    for setting in (True, "auto"):  # the default finds it from the data
        units = AffineTransferCV(source_in_target_units=setting, **kw).fit(X, y)
        assert set(UNIT_FORMS) <= set(units.cv_results_["param_form"])
        assert units.source_in_target_units_ is True
        assert units.outside_range_keep_ == 0.0


@pytest.mark.parametrize("scale", [1e-3, 1e3, -1.0])
def test_auto_units_rejects_a_source_in_other_units(scale):
    """The same source in other units (or of the opposite sign): ``y - u`` then varies as
    much as ``y`` (a small ``u``) or as ``u`` (a large one), and the unit forms stay out."""
    X, y = _data(n=30)
    X[:, -1] *= scale
    kw = dict(widths=[1.0], lambdas=[0.1], ratios=[1.0], random_state=0)
    m = AffineTransferCV(**kw).fit(X, y)
    assert m.source_in_target_units_ is False
    assert not set(UNIT_FORMS) & set(m.cv_results_["param_form"])


def test_difference_test_on_the_splits():
    rng = np.random.default_rng(0)
    u = rng.normal(10.0, 2.0, size=40)
    splits = list(KFold(5, shuffle=True, random_state=0).split(u))
    assert difference_test(u, u + 3.0 + 0.5 * rng.normal(size=40), splits)
    assert difference_test(u, 0.7 * u + 0.5 * rng.normal(size=40), splits)  # slope 0.7
    assert not difference_test(u, 3.0 * u, splits)  # y - u varies more than u
    assert not difference_test(u, 0.3 * u, splits)  # ... more than y
    assert not difference_test(u, rng.normal(10.0, 2.0, size=40), splits)  # unrelated


def test_auto_units_needs_one_unscaled_source_feature():
    X, y = _data(n=30)
    kw = dict(widths=[1.0], lambdas=[0.1], ratios=[1.0], random_state=0)
    two = np.column_stack([X, X[:, -1]])
    m = AffineTransferCV(source_columns=[3, 4], **kw).fit(two, y)
    assert m.source_in_target_units_ is False
    pipe = make_pipeline(StandardScaler(), AffineTransferCV(**kw))
    with pytest.warns(UserWarning, match="pass the source column through unscaled"):
        pipe.fit(X, y)
    assert pipe[-1].source_in_target_units_ is False
    z = (y - y.mean()) / y.std()  # the target standardised too: no units left to compare
    m = AffineTransferCV(**kw).fit(StandardScaler().fit_transform(X), z)
    assert m.source_in_target_units_ is False
    assert "offset" in set(m.cv_results_["param_form"])


def test_units_need_one_source_feature():
    X, y = _data(n=30)
    with pytest.raises(ValueError, match="exactly one source feature"):
        AffineTransferCV(source_in_target_units=True, source_columns=[2, 3]).fit(X, y)


def test_standardised_source_in_pipeline_fails_loudly():
    X, y = _data(n=30)
    pipe = make_pipeline(StandardScaler(), AffineTransferCV(source_in_target_units=True))
    with pytest.raises(ValueError, match="source in the target's units"):
        pipe.fit(X, y)
    for units in (False, "auto"):
        quiet = make_pipeline(
            StandardScaler(),
            AffineTransferCV(source_in_target_units=units, widths=[1.0], lambdas=[0.1]),
        )
        with pytest.warns(UserWarning, match="the forms that use y - u are left out"):
            quiet.fit(X, y)
        assert "offset" not in set(quiet[-1].cv_results_["param_form"])
    named = make_pipeline(StandardScaler(), AffineTransferCV(forms=["offset", "direct"]))
    with pytest.warns(UserWarning, match="the forms that use y - u are searched as given"):
        named.fit(X, y)
    assert "offset" in set(named[-1].cv_results_["param_form"])


def test_unscaled_source_with_pipeline_works():
    from sklearn.compose import ColumnTransformer

    X, y = _data(n=30, shift=1.0)
    prep = ColumnTransformer([("x", StandardScaler(), [0, 1, 2])], remainder="passthrough")
    pipe = make_pipeline(prep, AffineTransferCV(source_in_target_units=True, random_state=0))
    pipe.fit(X, y)
    Xt, _ = _data(n=50, shift=1.0, seed=2)
    assert np.sqrt(np.mean((pipe.predict(Xt) - Xt[:, -1] - 1.0) ** 2)) < 0.05


def test_anchored_weights_favour_the_simple_form_on_a_tie():
    rng = np.random.default_rng(0)
    base = -1.0 + 0.1 * rng.normal(size=10)
    tied = base + 0.01 * rng.normal(size=10)  # a complex form the CV cannot tell apart
    better = base + 0.5  # a complex form that clearly beats the simple one
    scores = np.vstack([base, tied, better])
    mean = scores.mean(axis=1)
    labels = ["source_linear", "const", "full"]
    plain = average_weights(mean, scores, labels)
    anchored = average_weights(mean, scores, labels, simple=[True, False, False])
    assert plain == {2: 1.0} and anchored == {2: 1.0}  # a clear winner keeps everything
    scores = np.vstack([base, tied])
    mean = scores.mean(axis=1)
    plain = average_weights(mean, scores, labels[:2])
    anchored = average_weights(mean, scores, labels[:2], simple=[True, False])
    assert anchored[0] > plain[0] and anchored[1] < plain[1]
    z_a = np.mean(tied - base) / _se(tied - base)  # the tied form's gain over the anchor
    ratio = plain[1] / plain[0] * min(1.0, np.exp(z_a - 1.0))
    assert anchored[1] / anchored[0] == pytest.approx(ratio, rel=1e-9)


def _se(d):
    return float(np.std(d, ddof=1) / np.sqrt(d.size))


def test_constant_source_in_target_units_warns_nothing_from_numpy():
    """A constant source column: the calibrations score NaN and are left out; their
    ``form_scores_`` are NaN without a numpy "All-NaN slice" warning reaching the user."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3))
    y = 1.0 + 0.1 * x[:, 0] + 0.01 * rng.normal(size=12)
    X = np.column_stack([x, np.ones(12)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        m = AffineTransferCV(source_columns=[3], source_in_target_units=True).fit(X, y)
    assert np.isnan(m.form_scores_["source_linear"])
    assert np.isfinite(m.form_scores_["source_as_is"])
    assert "source_linear" not in m.form_weights_


def test_linear_selection_decides_the_units_as_the_kernel_one():
    X, y = _data(n=30, shift=1.0)
    m = LinearAffineTransferCV(random_state=0).fit(X, y)
    assert m.source_in_target_units_ is True
    assert set(UNIT_FORMS) <= set(m.cv_results_["param_form"])
    assert m.form_weights_.get("source_plus_const", 0.0) > 0.3
    Xt, _ = _data(n=50, shift=1.0, seed=2)
    assert np.sqrt(np.mean((m.predict(Xt) - Xt[:, -1] - 1.0) ** 2)) < 0.05
    X[:, -1] *= 1e3  # the same source in other units: the unit forms stay out
    other = LinearAffineTransferCV(random_state=0).fit(X, y)
    assert other.source_in_target_units_ is False
    assert not set(UNIT_FORMS) & set(other.cv_results_["param_form"])
    declared = LinearAffineTransferCV(source_in_target_units=False, random_state=0)
    assert not set(UNIT_FORMS) & set(declared.fit(*_data(n=30)).cv_results_["param_form"])
