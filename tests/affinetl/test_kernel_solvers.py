"""Each block update is the exact minimiser of its block (oracle: scipy.optimize.minimize)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from affinetl._solvers import (
    GramFactor,
    ScaledBlockSolver,
    fit_affine_blocks,
    fit_const_affine,
    kernel_ridge_intercept,
)
from affinetl.kernels import gram_matrix

N = 20


def _gram(kind: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "dense":  # full rank RBF on 3-d inputs
        return gram_matrix("rbf", rng.normal(size=(N, 3)), gamma=0.5)
    return gram_matrix("linear", rng.normal(size=(N, 2)))  # rank 2: low-rank path


@pytest.mark.parametrize("kind", ["dense", "lowrank"])
def test_gram_factor_path(kind):
    factor = GramFactor(_gram(kind, 0))
    assert factor.low_rank == (kind == "lowrank")
    if factor.low_rank:
        np.testing.assert_allclose(factor.Phi @ factor.Phi.T, factor.K, atol=1e-8)


@pytest.mark.parametrize("kind", ["dense", "lowrank"])
@pytest.mark.parametrize("lam", [1e-2, 1.0])
def test_scaled_block_is_exact_minimiser(kind, lam):
    rng = np.random.default_rng(1)
    K = _gram(kind, 2)
    d, r = rng.normal(size=N), rng.normal(size=N)

    def block(theta):
        res = r - d * (K @ theta)
        return res @ res + lam * theta @ K @ theta

    def grad(theta):
        res = r - d * (K @ theta)
        return -2 * K @ (d * res) + 2 * lam * K @ theta

    theta = ScaledBlockSolver(GramFactor(K), lam, "block").solve(d, r)  # a direct solve
    ref = minimize(block, np.zeros(N), jac=grad, method="BFGS", options={"gtol": 1e-10})
    assert block(theta) <= ref.fun + 1e-8 * max(1.0, abs(ref.fun))
    np.testing.assert_allclose(np.linalg.norm(grad(theta)), 0.0, atol=1e-6)


@pytest.mark.parametrize("kind", ["dense", "lowrank"])
def test_kernel_ridge_intercept_is_exact_minimiser(kind):
    rng = np.random.default_rng(3)
    K, r, lam = _gram(kind, 4), rng.normal(size=N) + 3.0, 0.3

    def block(p):
        res = r - p[0] - K @ p[1:]
        return res @ res + lam * p[1:] @ K @ p[1:]

    a0, a = kernel_ridge_intercept(GramFactor(K), r, lam)
    ref = minimize(block, np.zeros(N + 1), method="BFGS", options={"gtol": 1e-10})
    assert block(np.r_[a0, a]) <= ref.fun + 1e-8 * max(1.0, abs(ref.fun))


def test_relaxation_blocks_reach_block_minima():
    """Inside the loop, every update leaves no improvement for scipy on that block."""
    rng = np.random.default_rng(5)
    K1, K2, K3 = _gram("dense", 6), _gram("dense", 7), _gram("dense", 8)
    y = rng.normal(size=N)
    lams = (0.1, 0.2, 0.3)
    states = []
    fit_affine_blocks(
        GramFactor(K1),
        GramFactor(K2),
        GramFactor(K3),
        y,
        lams,
        beta0=rng.normal(size=N),
        gamma0=rng.normal(size=N),
        max_iter=3,
        tol=0.0,
        callback=lambda name, s: states.append((name, {k: np.copy(v) for k, v in s.items()})),
    )

    def objective(a0, alpha, beta, gamma):
        res = y - a0 - K1 @ alpha - (1 + K2 @ beta) * (K3 @ gamma)
        pen = lams[0] * alpha @ K1 @ alpha + lams[1] * beta @ K2 @ beta
        return res @ res + pen + lams[2] * gamma @ K3 @ gamma

    def block_objective(name, s):
        if name == "beta":
            return lambda b: objective(s["a0"], s["alpha"], b, s["gamma"]), s["beta"]
        if name == "gamma":
            return lambda g: objective(s["a0"], s["alpha"], s["beta"], g), s["gamma"]
        return lambda p: objective(p[0], p[1:], s["beta"], s["gamma"]), np.r_[s["a0"], s["alpha"]]

    for name, s in states:
        base = objective(s["a0"], s["alpha"], s["beta"], s["gamma"])
        f, x0 = block_objective(name, s)
        ref = minimize(f, x0 + 0.1, method="BFGS", options={"gtol": 1e-9})
        assert base <= ref.fun + 1e-7 * max(1.0, abs(ref.fun)), name


@pytest.mark.parametrize("kind", ["dense", "lowrank"])
def test_gram_factor_matvec(kind):
    """``matvec`` is ``K @ v``, also through the pivot columns for pivot-supported ``v``."""
    factor = GramFactor(_gram(kind, 1))
    rng = np.random.default_rng(2)
    v = rng.normal(size=N)
    np.testing.assert_allclose(factor.matvec(v), factor.K @ v, atol=1e-12)
    if factor.low_rank:
        w = np.zeros(N)
        w[factor.pivots] = rng.normal(size=factor.rank)  # as the low-rank duals are
        np.testing.assert_allclose(factor.matvec(w), factor.K @ w, atol=1e-12)


def test_const_variant_is_stationary_point():
    rng = np.random.default_rng(9)
    K1, K3, y = _gram("dense", 10), _gram("dense", 11), rng.normal(size=N) + 2
    l1, l3 = 0.5, 0.2
    a0, alpha, gamma = fit_const_affine(K1, K3, y, l1, l3)
    res = y - a0 - K1 @ alpha - K3 @ gamma
    np.testing.assert_allclose(l1 * alpha, res, atol=1e-10)
    np.testing.assert_allclose(l3 * gamma, res, atol=1e-10)
    assert abs(res.sum()) < 1e-10


def test_scaled_block_solver_matches_direct_solves_as_scale_drifts():
    """The preconditioned CG path returns the exact block minimiser sweep after sweep."""
    rng = np.random.default_rng(12)
    K = gram_matrix("rbf", rng.normal(size=(60, 4)), gamma=0.3)
    factor = GramFactor(K)
    assert not factor.low_rank
    solver = ScaledBlockSolver(factor, 0.05, "test")
    d = 1.0 + 0.1 * rng.normal(size=60)
    for _ in range(6):
        d = d + 0.002 * rng.normal(size=60)  # a slowly changing scale, as in the relaxation
        r = rng.normal(size=60)
        np.testing.assert_allclose(
            solver.solve(d, r),
            ScaledBlockSolver(factor, 0.05, "direct").solve(d, r),
            rtol=1e-8,
            atol=1e-10,
        )
    assert solver.n_factorisations < 6 and solver.n_cg_steps > 0


def test_relaxation_defaults_to_the_const_start():
    """Without beta0/gamma0 the relaxation starts at AffineTL-const (beta = 0)."""
    from affinetl._solvers import GramFactor, fit_affine_blocks, fit_const_affine

    rng = np.random.default_rng(3)
    u, x = rng.normal(size=(25, 1)), rng.normal(size=(25, 2))
    K1 = np.exp(-0.5 * (u - u.T) ** 2)
    K3 = np.exp(-0.25 * ((x[:, None] - x[None]) ** 2).sum(-1))
    y = u[:, 0] + np.sin(x[:, 0]) * (1 + 0.3 * u[:, 0])
    lams = (0.1, 1.0, 0.1)
    F1, F3 = GramFactor(K1), GramFactor(K3)
    a0, alpha, gamma = fit_const_affine(K1, K3, y, lams[0], lams[2])
    kw = dict(max_iter=3, tol=0.0)
    explicit = fit_affine_blocks(
        F1, F1, F3, y, lams, beta0=np.zeros(25), gamma0=gamma, alpha0=(a0, alpha), **kw
    )
    default = fit_affine_blocks(F1, F1, F3, y, lams, **kw)
    np.testing.assert_array_equal(default.gamma, explicit.gamma)
    np.testing.assert_array_equal(default.objective_history, explicit.objective_history)
    with pytest.raises(ValueError, match="both beta0 and gamma0"):
        fit_affine_blocks(F1, F1, F3, y, lams, beta0=np.zeros(25))
