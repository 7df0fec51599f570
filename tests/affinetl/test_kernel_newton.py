"""The structured Newton solver of the kernel affine model (low-rank source kernels)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_affine_problem

from affinetl import AffineTransferRegressor
from affinetl._solvers import GramFactor, affine_objective, fit_affine_blocks
from affinetl._solvers._lowrank_newton import (
    _operators_general,
    _operators_scaled,
    fit_affine_newton,
    newton_applies,
)
from affinetl.kernels import gram_matrix


def _factors(n: int, seed: int = 0):
    X, y, _ = make_affine_problem(n, seed=seed)
    x = (X[:, :-1] - X[:, :-1].mean(0)) / X[:, :-1].std(0)
    u = (X[:, -1:] - X[:, -1:].mean()) / X[:, -1:].std()
    K1 = gram_matrix("rbf", u, None, None)
    K3 = gram_matrix("rbf", x, None, None)
    F1 = GramFactor(K1)
    return F1, F1, GramFactor(K3), y


def _fitted(F1, F2, F3, res):
    return res.intercept + F1.K @ res.alpha + (1 + F2.K @ res.beta) * (F3.K @ res.gamma)


@pytest.mark.parametrize("fit_h1", [True, False])
@pytest.mark.parametrize("lams", [(1.0, 1.0, 1.0), (1e-2, 1.0, 0.1), (0.3, 0.03, 0.03)])
def test_newton_reaches_the_converged_relaxation_optimum(fit_h1, lams):
    F1, F2, F3, y = _factors(150)
    assert F1.low_rank and not F3.low_rank and newton_applies(F1, F2, F3, fit_h1)
    tight = fit_affine_blocks(
        F1, F2, F3, y, lams, fit_h1=fit_h1, tol=1e-9, max_iter=20000, extrapolate=True
    )
    newton = fit_affine_newton(F1, F2, F3, y, lams, fit_h1=fit_h1)
    assert tight.converged and newton.converged
    assert newton.n_iter < 30 and newton.n_iter < tight.n_iter
    h = np.asarray(newton.objective_history)
    assert np.all(np.diff(h) <= 1e-12 * np.abs(h[:-1]))  # monotone
    assert h[-1] <= tight.objective_history[-1] * (1 + 1e-9)
    np.testing.assert_allclose(
        _fitted(F1, F2, F3, newton), _fitted(F1, F2, F3, tight), atol=1e-5 * np.ptp(y)
    )
    # the reported objective is that of the returned dual coefficients
    h1, h2, g3 = F1.K @ newton.alpha, F2.K @ newton.beta, F3.K @ newton.gamma
    pen = (newton.alpha @ h1, newton.beta @ h2, newton.gamma @ g3)
    obj = affine_objective(y, newton.intercept, h1, h2, g3, pen, lams)
    assert obj == pytest.approx(h[-1], rel=1e-9)
    if not fit_h1:
        assert not np.any(newton.alpha)


def test_first_step_is_the_const_solution():
    from affinetl._solvers import fit_const_affine

    F1, F2, F3, y = _factors(80)
    lams = (0.3, 1.0, 0.2)
    res = fit_affine_newton(F1, F2, F3, y, lams, max_iter=1)
    a0, alpha, gamma = fit_const_affine(F1.K, F3.K, y, lams[0], lams[2])
    const_fit = a0 + F1.K @ alpha + F3.K @ gamma
    assert not np.any(res.beta)
    np.testing.assert_allclose(_fitted(F1, F2, F3, res), const_fit, atol=1e-6 * np.ptp(y))


@pytest.mark.parametrize("scaled", [True, False])
def test_step_operators_match_the_dense_formulas(scaled):
    rng = np.random.default_rng(3)
    n, l3 = 60, 0.7
    x = rng.standard_normal((n, 3))
    K3 = gram_matrix("rbf", x, None, None)
    d = 1.0 + 0.4 * rng.standard_normal(n)
    d[0] = 0.05  # small but not zero
    X = rng.standard_normal((n, 5))
    N = np.diag(d**2) @ K3 + l3 * np.eye(n)
    NX_ref = np.linalg.solve(N, X)
    SX_ref = K3 @ NX_ref
    op = _operators_scaled if scaled else _operators_general
    NX, SX = op(K3, d, l3, X, np.empty((n, n)))
    np.testing.assert_allclose(NX, NX_ref, atol=1e-9 * np.abs(NX_ref).max())
    np.testing.assert_allclose(SX, SX_ref, atol=1e-9 * np.abs(SX_ref).max())
    if scaled:  # single precision factor (used where g2 stays away from zero): a perturbed step
        NX32, SX32 = op(K3, d, l3, X, np.empty((n, n), dtype=np.float32))
        np.testing.assert_allclose(SX32, SX_ref, atol=1e-3 * np.abs(SX_ref).max())


def test_estimator_picks_newton_where_it_applies(affine_problem):
    X, y, _ = affine_problem
    kw = dict(lambda1=1e-2, lambda2=1.0, lambda3=0.1, tol=1e-6)
    auto = AffineTransferRegressor(**kw).fit(X, y)
    assert auto.solver_ == "newton" and auto.converged_
    relax = AffineTransferRegressor(**kw, solver="relaxation", max_iter=20000).fit(X, y)
    assert relax.solver_ == "relaxation"
    assert auto.objective_history_[-1] <= relax.objective_history_[-1] * (1 + 1e-7)
    np.testing.assert_allclose(auto.predict(X), relax.predict(X), atol=1e-3 * np.ptp(y))
    parts = auto.predict_components(X)
    np.testing.assert_allclose(parts["g1"] + parts["g2"] * parts["g3"], auto.predict(X))
    low = AffineTransferRegressor(**kw, solver="lowrank_newton").fit(X, y)
    assert low.solver_ == "lowrank_newton" and low.converged_
    np.testing.assert_allclose(low.predict(X), auto.predict(X), atol=1e-3 * np.ptp(y))
    # pruning and the random start belong to the published relaxation
    assert AffineTransferRegressor(**kw, prune=True).fit(X, y).solver_ == "relaxation"
    assert AffineTransferRegressor(**kw, init="random").fit(X, y).solver_ == "relaxation"
    assert AffineTransferRegressor(**kw, form="const").fit(X, y).solver_ == "ridge"


def test_newton_solver_refused_where_it_does_not_apply(affine_problem):
    X, y, _ = affine_problem
    with pytest.raises(ValueError, match="need solver='relaxation'"):
        AffineTransferRegressor(solver="newton", prune=True).fit(X, y)
    # a linear kernel on x makes K3 low rank: not for the low-rank Newton solver
    with pytest.raises(ValueError, match="full-rank K3"):
        AffineTransferRegressor(solver="lowrank_newton", kernel3="linear").fit(X, y)
    with pytest.raises(ValueError, match="g1_linear=True"):
        AffineTransferRegressor(solver="relaxation", g1_linear=True).fit(X, y)
    model = AffineTransferRegressor(kernel3="linear").fit(X, y)
    assert model.solver_ == "newton"


def test_single_precision_only_for_well_conditioned_steps():
    from affinetl._solvers._lowrank_newton import _Linearisation

    F1, F2, F3, y = _factors(80)
    n = y.shape[0]
    A = np.column_stack([np.ones(n), F1.Phi])
    P2 = F2.Phi
    pen = np.ones(A.shape[1] + P2.shape[1])
    args = (A, P2, pen, y, F3.K)
    point = (np.zeros(A.shape[1]), np.zeros(P2.shape[1]), np.zeros(n), np.zeros(n))
    assert _Linearisation(*args, 1.0, *point, {}).single  # cond(M) <= 1 + 80 / 1
    assert not _Linearisation(*args, 1e-4, *point, {}).single  # up to 8e5: double precision
    assert not _Linearisation(*args, 1.0, *point, {}, precise=True).single
    # a badly conditioned g3 block still converges monotonically, in double precision
    res = fit_affine_newton(F1, F2, F3, y, (1e-2, 1.0, 1e-4))
    h = np.asarray(res.objective_history)
    assert res.converged and np.all(np.diff(h) <= 1e-12 * np.abs(h[:-1]))
