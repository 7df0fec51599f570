"""Shared fixtures for the estimator tests: small problems with known components."""

from __future__ import annotations

import pytest

from affinetl.synthetic import make_affine_transfer


def make_affine_problem(n: int, seed: int = 0, noise: float = 0.05):
    """Synthetic Sim2Real problem with known g1, g2, g3 (last column of X = source feature)."""
    p = make_affine_transfer(n, noise=noise, random_state=seed)
    return p.X, p.y, p.components


@pytest.fixture
def affine_problem():
    return make_affine_problem(150, seed=0)


@pytest.fixture
def affine_test_set():
    return make_affine_problem(1000, seed=1, noise=0.0)
