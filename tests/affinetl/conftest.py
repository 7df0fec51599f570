"""Shared fixtures for the estimator tests: small problems with known components."""

from __future__ import annotations

import numpy as np
import pytest


def make_affine_problem(n: int, seed: int = 0, noise: float = 0.05):
    """Synthetic Sim2Real problem with known g1, g2, g3 (last column of X = source feature)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 5))
    # the source: a rough function of x that few samples cannot learn directly
    u = np.sin(2 * x[:, 0]) * np.cos(2 * x[:, 1]) + 0.5 * np.sin(3 * x[:, 2])
    g1 = 1.0 + 2.0 * u
    g2 = 1.0 + 0.5 * np.tanh(u)
    g3 = np.cos(1.5 * x[:, 3]) + 0.5 * x[:, 4]
    y = g1 + g2 * g3 + noise * rng.standard_normal(n)
    return np.column_stack([x, u]), y, {"g1": g1, "g2": g2, "g3": g3}


@pytest.fixture
def affine_problem():
    return make_affine_problem(150, seed=0)


@pytest.fixture
def affine_test_set():
    return make_affine_problem(1000, seed=1, noise=0.0)
