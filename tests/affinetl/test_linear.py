"""Linear affine transfer with fused ridge, and the log-difference baseline."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from affinetl import LinearAffineTransferRegressor, LogDifferenceRegressor
from affinetl._solvers import difference_matrix, fused_penalty


def test_difference_matrix_respects_blocks():
    D = difference_matrix(5, [2, 3])
    expected = np.array(
        [[-1, 1, 0, 0, 0], [0, 0, -1, 1, 0], [0, 0, 0, -1, 1]],
        dtype=float,
    )
    np.testing.assert_array_equal(D, expected)
    D_idx = difference_matrix(4, [[3, 1], [0, 2]])
    np.testing.assert_array_equal(D_idx, [[0, 1, 0, -1], [-1, 0, 1, 0]])


def test_bad_blocks():
    with pytest.raises(ValueError, match="sum to at most"):
        difference_matrix(3, [2, 2])
    with pytest.raises(ValueError, match="outside"):
        difference_matrix(3, [[0, 5]])


def _linear_problem(n=120, p=8, seed=0, noise=0.01):
    rng = np.random.default_rng(seed)
    x, u = rng.normal(size=(n, p)), rng.normal(size=n)
    gamma = np.sin(np.linspace(0, np.pi, p))
    y = 0.5 + 2.0 * u - (1.0 + 0.3 * u) * (x @ gamma) + noise * rng.standard_normal(n)
    return np.column_stack([x, u]), y, gamma


def test_linear_recovers_parameters_and_objective_decreases():
    X, y, gamma = _linear_problem()
    m = LinearAffineTransferRegressor(lambda_ridge=1e-2).fit(X, y)
    np.testing.assert_allclose(m.coef_, -gamma, atol=0.02)  # g3 = x @ coef_ = -x'gamma
    np.testing.assert_allclose(
        [m.intercept_, m.source_coef_[0], m.scale_coef_[0]], [0.5, 2.0, 0.3], atol=0.02
    )
    assert m.converged_
    h = m.objective_history_
    assert np.all(np.diff(h) <= 1e-10 * h[:-1])


def test_linear_gamma_block_matches_direct_minimisation():
    """With a0, a1, b fixed at the solution, gamma is the exact fused-ridge minimiser."""
    X, y, _ = _linear_problem(n=40, p=5, noise=0.3)
    m = LinearAffineTransferRegressor(lambda_ridge=0.7, lambda_fused=1.3, blocks=[2, 3]).fit(X, y)
    x, u = X[:, :-1], X[:, -1:]
    P = fused_penalty(5, 0.7, 1.3, [2, 3])

    def obj(g):
        res = y - m.intercept_ - u @ m.source_coef_ - (1 + u @ m.scale_coef_) * (x @ g)
        return res @ res + g @ P @ g

    ref = minimize(obj, np.zeros(5), method="BFGS", options={"gtol": 1e-10})
    assert obj(m.coef_) <= ref.fun + 1e-6


def test_fused_penalty_smooths_within_blocks():
    X, y, _ = _linear_problem(n=30, p=10, noise=1.0, seed=3)
    rough = LinearAffineTransferRegressor(lambda_ridge=0.1).fit(X, y).coef_
    smooth = LinearAffineTransferRegressor(lambda_ridge=0.1, lambda_fused=10.0).fit(X, y).coef_
    assert np.sum(np.diff(smooth) ** 2) < 0.2 * np.sum(np.diff(rough) ** 2)


def test_log_difference_recovers_ratio():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    fs = rng.uniform(1, 3, size=60)
    y = fs * np.exp(0.2 + x @ np.array([0.1, -0.2, 0.05]))
    m = LogDifferenceRegressor(lambda_ridge=1e-4).fit(np.column_stack([x, fs]), y)
    np.testing.assert_allclose(m.coef_, [0.1, -0.2, 0.05], atol=1e-3)
    np.testing.assert_allclose(m.predict(np.column_stack([x, fs])), y, rtol=1e-3)


def test_log_difference_rejects_non_positive():
    X = np.abs(np.random.default_rng(0).normal(size=(10, 3))) + 0.1
    with pytest.raises(ValueError, match="positive targets"):
        LogDifferenceRegressor().fit(X, -np.ones(10))
    X[0, -1] = -1.0
    with pytest.raises(ValueError, match="positive source"):
        LogDifferenceRegressor().fit(X, np.ones(10))


def _small_n_problem(seed=0, n=10, p=20):
    rng = np.random.default_rng(seed)
    x, u = rng.standard_normal((n, p)), rng.standard_normal(n)
    y = 1.0 + 2.0 * u + 0.3 * (1 + 0.5 * u) * (x @ rng.standard_normal(p))
    return np.c_[x, u], y + 0.3 * rng.standard_normal(n)


def test_unpenalised_scale_has_no_minimiser_at_small_n():
    """b unpenalised (the paper's model): with n < p, b -> t b, w -> w / t interpolates the data
    as t grows, so b runs off and the objective goes to 0 with the iterations; the default ridge
    of b (lambda_scale=1) has a minimiser, reached in a few Newton steps."""
    from sklearn.exceptions import ConvergenceWarning

    X, y = _small_n_problem()
    fits = []
    for max_iter in (50, 200):
        with pytest.warns(ConvergenceWarning, match="lambda_scale > 0"):
            fits.append(
                LinearAffineTransferRegressor(
                    lambda_ridge=10.0, lambda_scale=0.0, solver="newton", max_iter=max_iter
                ).fit(X, y)
            )
    short, long = fits
    assert abs(long.scale_coef_[0]) > 5 * abs(short.scale_coef_[0]) > 1000
    assert (
        long.objective_history_[-1]
        < short.objective_history_[-1]
        < 0.01 * np.sum((y - y.mean()) ** 2)
    )
    pen = LinearAffineTransferRegressor(lambda_ridge=10.0).fit(X, y)
    assert pen.converged_ and pen.n_iter_ < 20 and pen.solver_ == "newton"
    assert abs(pen.scale_coef_[0]) < 5  # the data's b is 0.5


@pytest.mark.parametrize("lambda_scale", [1.0, 0.1])
def test_newton_and_relaxation_reach_one_optimum(lambda_scale):
    """Both solvers minimise the same objective (the ridge of b included)."""
    from affinetl._solvers import fused_penalty, linear_objective, scale_penalty

    X, y, _ = _linear_problem(n=40, p=6, noise=0.5, seed=2)
    kw = dict(lambda_ridge=0.5, lambda_fused=1.0, lambda_scale=lambda_scale, tol=1e-12)
    newton = LinearAffineTransferRegressor(**kw).fit(X, y)
    relax = LinearAffineTransferRegressor(**kw, solver="relaxation", max_iter=100000).fit(X, y)
    assert (newton.solver_, relax.solver_) == ("newton", "relaxation")
    assert newton.converged_ and relax.converged_ and newton.n_iter_ < relax.n_iter_
    np.testing.assert_allclose(newton.predict(X), relax.predict(X), rtol=1e-6, atol=1e-8)
    x, u = X[:, :-1], X[:, -1:]
    obj = linear_objective(
        x,
        u,
        y,
        np.array([newton.intercept_]),
        newton.source_coef_[None],
        newton.scale_coef_[None],
        newton.coef_[None],
        fused_penalty(6, 0.5, 1.0)[None],
        scale_penalty(u, y, lambda_scale),
    )[0]
    np.testing.assert_allclose(obj, newton.objective_history_[-1], rtol=1e-10)
    assert np.all(np.diff(newton.objective_history_) <= 1e-10 * newton.objective_history_[:-1])


def test_linear_solver_choice():
    X, y, _ = _linear_problem(n=40, p=6)
    assert LinearAffineTransferRegressor(lambda_ridge=0.0).fit(X, y).solver_ == "relaxation"
    # b unpenalised: no minimiser in general, the published relaxation (stopped at max_iter)
    assert LinearAffineTransferRegressor(lambda_scale=0.0).fit(X, y).solver_ == "relaxation"
    assert LinearAffineTransferRegressor(form="direct").fit(X, y).solver_ == "ridge"
    with pytest.raises(ValueError, match="lambda_ridge > 0"):
        LinearAffineTransferRegressor(lambda_ridge=0.0, solver="newton").fit(X, y)
