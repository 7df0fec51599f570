"""AffineTransferRegressor: recovery of known components, monotone objective, API and errors."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from affinetl import AffineTransferRegressor, DirectRegressor, SourceOnlyRegressor

FAST = dict(lambda1=1e-2, lambda2=1.0, lambda3=0.1, max_iter=300, random_state=0)


def _fit_quiet(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def _mse(a, b):
    return float(np.mean((a - b) ** 2))


def test_recovers_components_and_beats_baselines(affine_problem, affine_test_set):
    X, y, _ = affine_problem
    Xt, yt, truth = affine_test_set
    model = _fit_quiet(AffineTransferRegressor(**FAST), X, y)
    comps = model.predict_components(Xt)
    for name in ("g1", "g2", "g3"):
        corr = np.corrcoef(comps[name], truth[name])[0, 1]
        assert corr > 0.9, (name, corr)
    err = _mse(model.predict(Xt), yt)
    for baseline in (DirectRegressor(alpha=1e-2), SourceOnlyRegressor(alpha=1e-2)):
        assert err < _mse(baseline.fit(X, y).predict(Xt), yt)


@pytest.mark.parametrize("variant", ["full", "g1_const"])
@pytest.mark.parametrize("seed", [0, 1])
def test_objective_non_increasing(affine_problem, variant, seed):
    X, y, _ = affine_problem
    model = _fit_quiet(
        AffineTransferRegressor(
            form=variant, lambda1=0.1, lambda2=0.1, lambda3=0.1, max_iter=60, random_state=seed
        ),
        X[:80],
        y[:80],
    )
    h = model.objective_history_
    assert h.shape == (model.n_iter_ + 1,)
    assert np.all(np.diff(h) <= 1e-9 * np.abs(h[:-1]))


def test_predict_equals_components(affine_problem):
    X, y, _ = affine_problem
    model = _fit_quiet(AffineTransferRegressor(**FAST), X, y)
    c = model.predict_components(X[:10])
    np.testing.assert_allclose(model.predict(X[:10]), c["g1"] + c["g2"] * c["g3"])


def test_const_variant_has_unit_scale(affine_problem):
    X, y, _ = affine_problem
    model = AffineTransferRegressor(form="const", lambda1=0.1, lambda3=0.1).fit(X, y)
    np.testing.assert_array_equal(model.predict_components(X)["g2"], 1.0)
    assert model.converged_ and model.n_iter_ == 1


def test_variant_is_a_deprecated_alias_of_form(affine_problem):
    X, y, _ = affine_problem
    with pytest.warns(FutureWarning, match="variant='const' is deprecated"):
        old = AffineTransferRegressor(variant="const", lambda1=0.1, lambda3=0.1).fit(X, y)
    new = AffineTransferRegressor(form="const", lambda1=0.1, lambda3=0.1).fit(X, y)
    assert old.form_ == new.form_ == "const"
    np.testing.assert_array_equal(old.predict(X), new.predict(X))


def test_lambda_scaling_n_equals_multiplied_penalties(affine_problem):
    X, y, _ = affine_problem
    n = X.shape[0]
    a = AffineTransferRegressor(form="const", lambda1=0.01, lambda3=0.02, lambda_scaling="n")
    b = AffineTransferRegressor(form="const", lambda1=0.01 * n, lambda3=0.02 * n)
    np.testing.assert_allclose(a.fit(X, y).predict(X), b.fit(X, y).predict(X))


def test_convergence_warning_and_flags(affine_problem):
    X, y, _ = affine_problem
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        model = AffineTransferRegressor(max_iter=2, random_state=0).fit(X, y)
    assert not model.converged_ and model.n_iter_ == 2


def test_pruning_removes_g2_when_target_ignores_x():
    rng = np.random.default_rng(0)
    x, u = rng.normal(size=(80, 2)), rng.normal(size=(80, 1))
    y = 2.0 + np.sin(u[:, 0])
    model = _fit_quiet(
        AffineTransferRegressor(
            lambda1=1e-3, lambda2=10.0, lambda3=1e4, prune=True, random_state=0
        ),
        np.hstack([x, u]),
        y,
    )
    assert "g2" in model.pruned_
    np.testing.assert_array_equal(model.predict_components(np.hstack([x, u]))["g2"], 0.0)


def test_source_model_equals_source_column(affine_problem):
    X, y, _ = affine_problem
    x = X[:, :-1]
    source = LinearRegression().fit(x, X[:, -1])  # a fitted source model f_s
    u = source.predict(x)[:, None]
    via_model = _fit_quiet(AffineTransferRegressor(**FAST, source=source), x, y)
    via_column = _fit_quiet(AffineTransferRegressor(**FAST), np.hstack([x, u]), y)
    np.testing.assert_allclose(via_model.predict(x), via_column.predict(np.hstack([x, u])))
    callable_source = _fit_quiet(AffineTransferRegressor(**FAST, source=source.predict), x, y)
    np.testing.assert_allclose(callable_source.predict(x), via_model.predict(x))


def test_named_source_column_in_dataframe(affine_problem):
    X, y, _ = affine_problem
    df = pd.DataFrame(X, columns=["a", "sps", "b", "c", "d", "e"])
    by_name = _fit_quiet(AffineTransferRegressor(**FAST, source_columns="sps"), df, y)
    by_index = _fit_quiet(AffineTransferRegressor(**FAST, source_columns=1), X, y)
    np.testing.assert_allclose(by_name.predict(df), by_index.predict(X))


@pytest.mark.parametrize(
    ("kwargs", "X_fn", "match"),
    [
        ({}, lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X), "NaN"),
        ({"source_columns": "sps"}, lambda X: X, "column name"),
        ({"source_columns": 9}, lambda X: X, "out of range"),
        ({"source": lambda X: np.ones(3)}, lambda X: X, "does not match X"),
        ({"source": lambda X: np.full(len(X), np.nan)}, lambda X: X, "NaN or infinite"),
        ({"source": lambda X: X[:, 0], "source_columns": 0}, lambda X: X, "not both"),
    ],
)
def test_bad_input_errors(affine_problem, kwargs, X_fn, match):
    X, y, _ = affine_problem
    with pytest.raises(ValueError, match=match):
        AffineTransferRegressor(**kwargs).fit(X_fn(X.copy()), y)


def test_wrong_length_target(affine_problem):
    X, y, _ = affine_problem
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        AffineTransferRegressor().fit(X, y[:-1])


def test_sklearn_kernel_object_and_callable(affine_problem):
    from sklearn.gaussian_process.kernels import RBF, WhiteKernel

    X, y, _ = affine_problem
    model = AffineTransferRegressor(
        form="const", kernel1=RBF(2.0), kernel3=RBF(1.0) + WhiteKernel(1e-3)
    ).fit(X, y)
    assert model.score(X, y) > 0.9


def test_grid_search_pipeline_and_pickle(affine_problem):
    X, y, _ = affine_problem
    pipe = make_pipeline(FunctionTransformer(), AffineTransferRegressor(form="const"))
    search = GridSearchCV(
        pipe, {"affinetransferregressor__lambda3": [1e-2, 1.0]}, cv=3, n_jobs=2
    ).fit(X, y)
    restored = pickle.loads(pickle.dumps(search.best_estimator_))
    np.testing.assert_allclose(restored.predict(X), search.predict(X))


def test_extrapolation_reaches_same_optimum_in_fewer_sweeps(affine_problem):
    X, y, _ = affine_problem
    kw = dict(lambda1=1e-2, lambda2=1.0, lambda3=0.1, max_iter=3000, tol=1e-4)
    kw["solver"] = "relaxation"
    plain = AffineTransferRegressor(**kw, extrapolate=False).fit(X[:100], y[:100])
    fast = AffineTransferRegressor(**kw, extrapolate=True).fit(X[:100], y[:100])
    assert fast.converged_ and fast.n_iter_ < plain.n_iter_ / 2
    h = fast.objective_history_
    assert np.all(np.diff(h) <= 1e-9 * np.abs(h[:-1]))
    assert h[-1] <= plain.objective_history_[-1] * (1 + 1e-4)
    np.testing.assert_allclose(fast.predict(X), plain.predict(X), rtol=0, atol=5e-3 * np.ptp(y))


def test_pruned_scale_block_stays_removed_with_extrapolation():
    rng = np.random.default_rng(1)
    x, u = rng.normal(size=(60, 2)), rng.normal(size=(60, 1))
    y = 1.0 + np.cos(u[:, 0])
    X = np.hstack([x, u])
    model = _fit_quiet(
        AffineTransferRegressor(
            lambda1=1e-3, lambda2=1e3, lambda3=10.0, prune=True, extrapolate=True, max_iter=200
        ),
        X,
        y,
    )
    if "h2" in model.pruned_:
        np.testing.assert_array_equal(model.beta_, 0.0)
    if "g2" in model.pruned_:
        np.testing.assert_array_equal(model.gamma_, 0.0)
    assert model.pruned_
