"""Learning-curve runner of affinetl.scaling: cells, resume from the cache, methods."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from affinetl._solvers import GramFactor, kernel_ridge_intercept
from affinetl.kernels import gram_matrix
from affinetl.scaling import TRANSFER_METHODS, LooKernelRidge, learning_curve


def _problem(n_source=150, n_target=40, seed=0):
    rng = np.random.default_rng(seed)
    Xs, Xt = rng.normal(size=(n_source, 3)), rng.normal(size=(n_target, 3))

    def f(X):
        return np.sin(X[:, 0]) + 0.3 * X[:, 1] ** 2

    return Xs, f(Xs), Xt, 1.2 * f(Xt) + 0.3 + 0.1 * Xt[:, 2]


class CountingMethod:
    """Source-only kernel ridge that counts its calls (to see which cells were computed)."""

    __name__ = "counting"

    def __init__(self):
        self.calls = 0

    def __call__(self, Xs, ys, Xt, yt, Xtest, seed):
        self.calls += 1
        return LooKernelRidge().fit(Xs, ys).predict(Xtest)


def test_resume_skips_finished_cells(tmp_path):
    Xs, ys, Xt, yt = _problem()
    method = CountingMethod()
    kwargs = dict(n_source_grid=[20, 40, 80], methods=[method], n_reps=2, progress=False)
    first = learning_curve(Xs, ys, Xt, yt, cache_dir=tmp_path, **kwargs)
    assert method.calls == 6 and not first["cached"].any()
    assert len(list(tmp_path.glob("*.json"))) == 6
    # everything cached: nothing recomputed, same numbers
    second = learning_curve(Xs, ys, Xt, yt, cache_dir=tmp_path, **kwargs)
    assert method.calls == 6 and second["cached"].all()
    pd.testing.assert_series_equal(first["rmse"], second["rmse"])
    # an interrupted run: two cells lost -> exactly those two are recomputed
    for path in sorted(tmp_path.glob("*.json"))[:2]:
        path.unlink()
    third = learning_curve(Xs, ys, Xt, yt, cache_dir=tmp_path, **kwargs)
    assert method.calls == 8 and int((~third["cached"]).sum()) == 2
    pd.testing.assert_series_equal(first["rmse"], third["rmse"])
    # a torn cache file is recomputed, not trusted
    victim = sorted(tmp_path.glob("*.json"))[0]
    victim.write_text('{"method": ')
    learning_curve(Xs, ys, Xt, yt, cache_dir=tmp_path, **kwargs)
    assert method.calls == 9
    assert json.loads(victim.read_text())["rmse"] > 0
    # another setting (different seed) never reuses a cell
    learning_curve(Xs, ys, Xt, yt, cache_dir=tmp_path, random_state=1, **kwargs)
    assert method.calls == 15


def test_table_layout_and_common_test_split():
    Xs, ys, Xt, yt = _problem()
    table = learning_curve(
        Xs,
        ys,
        Xt,
        yt,
        n_source_grid=[30, 120],
        methods=["source-only", "offset", "target-only"],
        n_target=10,
        n_target_grid=[5, 10, 20],
        n_test=15,
        n_reps=2,
        progress=False,
    )
    assert set(table.columns) >= {"method", "n_source", "n_target", "rep", "rmse", "mae", "bias"}
    counts = table.groupby("method").size()
    assert counts["offset"] == 4 and counts["source-only"] == 4 and counts["target-only"] == 6
    assert (table.loc[table.method == "target-only", "n_source"] == 0).all()
    assert (table["n_test"] == 15).all()
    # the target has a shift the source model cannot know: offset learning must beat it
    mean = table.groupby("method")["rmse"].mean()
    assert mean["offset"] < mean["source-only"]


@pytest.mark.slow
def test_parallel_matches_serial():
    Xs, ys, Xt, yt = _problem(seed=1)
    kwargs = dict(n_source_grid=[20, 60], methods=["source-only"], n_reps=2, progress=False)
    serial = learning_curve(Xs, ys, Xt, yt, **kwargs)
    parallel = learning_curve(Xs, ys, Xt, yt, n_jobs=2, **kwargs)
    np.testing.assert_allclose(serial["rmse"], parallel["rmse"])


@pytest.mark.parametrize("name", sorted(TRANSFER_METHODS))
def test_every_builtin_method_predicts(name):
    Xs, ys, Xt, yt = _problem(n_source=60, n_target=30)
    pred = TRANSFER_METHODS[name](Xs, ys, Xt[:12], yt[:12], Xt[12:], 0)
    assert pred.shape == (18,) and np.all(np.isfinite(pred))


def test_loo_kernel_ridge_matches_the_package_solver():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = np.sin(X[:, 0]) + 0.1 * rng.normal(size=50)
    model = LooKernelRidge(standardize=False).fit(X, y)
    b, c = kernel_ridge_intercept(
        GramFactor(gram_matrix("rbf", X, None, model.gamma_)), y, model.alpha_
    )
    X_new = rng.normal(size=(7, 3))
    expected = b + gram_matrix("rbf", X_new, X, model.gamma_) @ c
    np.testing.assert_allclose(model.predict(X_new), expected, atol=1e-8)


def test_bad_input_is_named():
    Xs, ys, Xt, yt = _problem()
    with pytest.raises(ValueError, match="n_source_grid"):
        learning_curve(Xs, ys, Xt, yt, n_source_grid=[500], methods=["source-only"])
    with pytest.raises(ValueError, match="unknown transfer method"):
        learning_curve(Xs, ys, Xt, yt, n_source_grid=[20], methods=["magic"])
    with pytest.raises(ValueError, match="same columns"):
        learning_curve(Xs[:, :2], ys, Xt, yt, n_source_grid=[20])
    bad = yt.copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match="y_target holds NaN"):
        learning_curve(Xs, ys, Xt, bad, n_source_grid=[20])


@pytest.mark.slow
def test_dask_client_matches_serial():
    distributed = pytest.importorskip("distributed")
    Xs, ys, Xt, yt = _problem(seed=2)
    kwargs = dict(n_source_grid=[20, 40], methods=["source-only"], n_reps=2, progress=False)
    serial = learning_curve(Xs, ys, Xt, yt, **kwargs)
    with distributed.Client(
        processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None
    ) as client:
        remote = learning_curve(Xs, ys, Xt, yt, client=client, **kwargs)
    np.testing.assert_allclose(serial["rmse"], remote["rmse"])
