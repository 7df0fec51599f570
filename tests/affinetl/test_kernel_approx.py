"""Large-n mode: kernel feature maps and the feature-space affine fit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.gaussian_process.kernels import RBF, WhiteKernel

from affinetl import AffineTransferRegressor
from affinetl._solvers import newton_features
from affinetl.kernels import gram_matrix
from affinetl.models._kernel_approx import NystroemMap, RandomFeatureMap


def _problem(n: int, seed: int = 0, d: int = 3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    u = np.tanh(x[:, 0]) + 0.1 * rng.standard_normal(n)
    y = 0.5 + 2.0 * u + (1.0 + 0.5 * u**2) * np.sin(x[:, 1]) + 0.05 * rng.standard_normal(n)
    return np.column_stack([x, u]), y


@pytest.mark.parametrize(
    "kernel",
    [
        "rbf",
        "laplacian",
        "matern32",
        "linear",
        RBF(0.7) + WhiteKernel(0.1),
        lambda a, b: (a @ b.T) ** 2,
    ],
)
def test_nystroem_with_all_landmarks_reproduces_the_gram_matrix(kernel):
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((60, 3)), rng.standard_normal((15, 3))
    fmap = NystroemMap(kernel, None, n_components=60)
    Phi = fmap.fit_transform(A)
    K = gram_matrix(kernel, A, A.copy())  # cross-kernel form (a WhiteKernel term drops out)
    np.testing.assert_allclose(Phi @ Phi.T, K, atol=1e-6 * np.abs(K).max())
    # new rows: phi(b) . phi(a) = k(b, a) on the span of the landmarks (here all of A)
    Kba = gram_matrix(kernel, B, A)
    if fmap.n_components_ == 60:  # full-rank kernels reproduce cross-kernels exactly
        np.testing.assert_allclose(fmap.transform(B) @ Phi.T, Kba, atol=1e-5 * np.abs(K).max())
    np.testing.assert_allclose(fmap.transform(A), Phi, atol=1e-6)


def test_nystroem_stops_at_the_numerical_rank():
    u = np.linspace(-2, 2, 400)[:, None]
    fmap = NystroemMap("rbf", None, n_components=400)
    Phi = fmap.fit_transform(u)
    assert fmap.n_components_ < 40  # a smooth kernel on one feature has a tiny numerical rank
    K = gram_matrix("rbf", u)
    assert np.abs(Phi @ Phi.T - K).max() < 1e-6
    linear = NystroemMap("linear", None, n_components=50)
    assert linear.fit_transform(np.random.default_rng(0).standard_normal((50, 4))).shape == (50, 4)


def test_random_features_approximate_the_rbf_kernel_and_refuse_other_kernels():
    A = np.random.default_rng(2).standard_normal((80, 2))
    fmap = RandomFeatureMap("rbf", 0.25, n_components=4000, random_state=0)
    Phi = fmap.fit_transform(A)
    assert np.abs(Phi @ Phi.T - gram_matrix("rbf", A, gamma=0.25)).max() < 0.1
    with pytest.raises(ValueError, match="supports kernel='rbf'"):
        RandomFeatureMap("matern32", None, 10, 0)


def test_feature_fit_is_stationary():
    X, y = _problem(120)
    rng = np.random.default_rng(3)
    P1, P2, P3 = (rng.standard_normal((120, m)) / 3 for m in (5, 4, 12))
    lams = (0.5, 0.3, 0.2)
    Z = np.ones((120, 1))
    theta, _, conv, _, (s0, s1, s2, s3) = newton_features(
        Z[None], P1[None], P2[None], P3[None], y[None], [lams], max_iter=200, tol=1e-12
    )
    assert conv[0]
    t = theta[0]
    a0, w1, w2, w3 = t[s0][0], t[s1], t[s2], t[s3]
    # gradient of the objective vanishes at the solution
    d, f3 = 1 + P2 @ w2, P3 @ w3
    e = y - a0 - P1 @ w1 - d * f3
    grads = [
        e.sum(),
        P1.T @ e - lams[0] * w1,
        (P2 * f3[:, None]).T @ e - lams[1] * w2,
        (P3 * d[:, None]).T @ e - lams[2] * w3,
    ]
    assert max(np.abs(g).max() for g in grads) < 1e-6 * np.abs(y).sum()


@pytest.mark.parametrize("variant", ["full", "const", "g1_const"])
def test_nystroem_with_all_landmarks_matches_the_exact_fit(variant):
    X, y = _problem(150)
    kw = dict(form=variant, lambda1=0.1, lambda2=0.1, lambda3=0.1, tol=1e-10, max_iter=20000)
    # the feature-space Newton against the (slower) block relaxation of the exact model
    exact = AffineTransferRegressor(**kw, solver="relaxation").fit(X, y)
    approx = AffineTransferRegressor(approximation="nystroem", n_components=150, **kw).fit(X, y)
    Xt, _ = _problem(50, seed=9)
    np.testing.assert_allclose(approx.predict(Xt), exact.predict(Xt), rtol=1e-4, atol=1e-4)
    assert approx.objective_history_[-1] <= exact.objective_history_[-1] * (1 + 1e-6)
    assert exact.n_iter_ >= approx.n_iter_
    parts = approx.predict_components(Xt)
    np.testing.assert_allclose(parts["g1"] + parts["g2"] * parts["g3"], approx.predict(Xt))
    assert approx.alpha_ is None and approx.coef3_.shape == (approx.feature_maps_[2].n_components_,)


def test_fewer_components_cost_little_accuracy_on_a_smooth_problem():
    X, y = _problem(600)
    Xt, yt = _problem(400, seed=5)
    exact = AffineTransferRegressor().fit(X, y)
    mse_exact = np.mean((exact.predict(Xt) - yt) ** 2)
    for approximation in ("nystroem", "random_features"):
        model = AffineTransferRegressor(
            approximation=approximation, n_components=150, random_state=0
        ).fit(X, y)
        assert np.mean((model.predict(Xt) - yt) ** 2) < 1.5 * mse_exact + 1e-3


def test_large_n_mode_rejects_pruning():
    X, y = _problem(40)
    with pytest.raises(ValueError, match="prune=True"):
        AffineTransferRegressor(approximation="nystroem", prune=True).fit(X, y)
