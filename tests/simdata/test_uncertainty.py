from __future__ import annotations

import numpy as np
import pytest

from simdata.uncertainty import (
    block_jackknife,
    blocking_sem,
    correlated_blocks,
    mean_sem,
    statistical_inefficiency,
)


def _ar1(phi: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0] / np.sqrt(1 - phi**2)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9])
def test_statistical_inefficiency_of_ar1(phi):
    """AR(1) has g = (1 + phi) / (1 - phi) and SEM = sqrt(g var / n)."""
    n = 100_000
    x = _ar1(phi, n, seed=1)
    g_true = (1 + phi) / (1 - phi)
    assert statistical_inefficiency(x) == pytest.approx(g_true, rel=0.15)
    sem_true = np.sqrt(g_true / (1 - phi**2) / n)
    assert mean_sem(x)[1] == pytest.approx(sem_true, rel=0.15)
    assert mean_sem(x)[2] == pytest.approx(n / g_true, rel=0.15)
    sem_b, level = blocking_sem(x)
    assert sem_b == pytest.approx(sem_true, rel=0.2)
    if phi > 0.5:  # blocks of single frames would understate the error by sqrt(19)
        assert level > 0


def test_sem_matches_spread_over_independent_runs():
    phi, n = 0.8, 2000
    means, sems = [], []
    for seed in range(80):
        m, s, _ = mean_sem(_ar1(phi, n, seed))
        means.append(m)
        sems.append(s)
    assert np.mean(sems) == pytest.approx(np.std(means, ddof=1), rel=0.25)


def test_degenerate_inputs():
    assert statistical_inefficiency(np.ones(100)) == 1.0
    assert statistical_inefficiency([1.0, 2.0]) == 1.0
    assert np.isnan(blocking_sem(np.arange(10.0))[0])
    m, s, n = mean_sem([3.0])
    assert m == 3.0 and np.isnan(s) and n == 1


def test_block_jackknife_of_the_mean_is_the_block_sem():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(1000)
    value, sem = block_jackknife(lambda x: x.mean(), {"x": x}, 10)
    block_means = x.reshape(10, -1).mean(1)
    assert value == pytest.approx(x.mean())
    assert sem == pytest.approx(block_means.std(ddof=1) / np.sqrt(10))
    assert np.isnan(block_jackknife(lambda x: x.mean(), {"x": x[:3]}, 2)[1])


def test_correlated_blocks_length():
    x = _ar1(0.9, 4000, seed=3)  # g ~ 19: blocks of >= 38 frames
    b = correlated_blocks(x)
    assert 4 <= b <= 4000 // 38
    assert correlated_blocks(np.random.default_rng(0).standard_normal(4000)) == 20
