"""Tests of affinetl.theory on spectra, rates and Gram matrices with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from affinetl.theory import (
    HadamardDecay,
    affine_complexity,
    compare_sources,
    decay_exponent,
    envelope_exponent,
    fit_rate,
    gram_spectrum,
    hadamard_decay,
    lambda_schedule,
    local_rademacher,
    loglog_exponent,
    rademacher_bound,
    rademacher_monte_carlo,
    theoretical_rate,
    theoretical_slope,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _rbf(a: np.ndarray, width: float = 1.0) -> np.ndarray:
    d2 = ((a[:, None, :] - a[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2 / (2.0 * width**2))


def _with_spectrum(mu: np.ndarray, seed: int = 0) -> np.ndarray:
    Q = ortho_group.rvs(mu.size, random_state=seed)
    K = (Q * mu) @ Q.T
    return (K + K.T) / 2.0


# --------------------------------------------------------------------------- spectra


@pytest.mark.parametrize("s", [0.1, 0.25, 0.5, 1.0, 2.0])
def test_envelope_first_recovers_exact_power_law(s: float) -> None:
    mu = np.arange(1, 201) ** (-1.0 / s)
    assert envelope_exponent(mu, reference="first") == pytest.approx(s, rel=1e-12)


@pytest.mark.parametrize("s", [0.25, 0.5, 1.0])
def test_envelope_trace_closed_form_and_tight(s: float) -> None:
    n = 100
    i = np.arange(1, n + 1)
    mu = 3.0 * i ** (-1.0 / s)
    trace = mu.sum()
    # log(tr / mu_i) / log i = 1/s + log(tr / 3) / log i is smallest at i = n
    expected = 1.0 / (1.0 / s + np.log(trace / 3.0) / np.log(n))
    got = envelope_exponent(mu)
    assert got == pytest.approx(expected, rel=1e-12)
    envelope = trace * i ** (-1.0 / got)
    assert np.all(mu <= envelope * (1 + 1e-12))
    assert np.isclose(mu, envelope, rtol=1e-10).any()  # tight: touches somewhere


def test_envelope_skips_zero_and_roundoff_eigenvalues() -> None:
    mu = np.arange(1, 31) ** -2.0
    padded = np.concatenate([mu, np.zeros(10), [-1e-18, 1e-19]])
    assert envelope_exponent(padded, reference="first") == pytest.approx(0.5, rel=1e-12)
    assert loglog_exponent(padded) == pytest.approx(0.5, rel=1e-12)


def test_envelope_order_invariant_and_explicit_constant(rng: np.random.Generator) -> None:
    mu = np.arange(1, 51) ** -1.5
    shuffled = rng.permutation(mu)
    assert envelope_exponent(shuffled) == envelope_exponent(mu)
    assert envelope_exponent(mu, reference=1.0) == pytest.approx(1 / 1.5)
    with pytest.raises(ValueError, match=">= mu_1"):
        envelope_exponent(mu, reference=0.5)
    with pytest.raises(ValueError, match="reference"):
        envelope_exponent(mu, reference="max")


def test_envelope_degenerate_spectra() -> None:
    assert envelope_exponent([5.0, 0.0, 0.0]) == 0.0  # rank one: any s works
    assert decay_exponent(np.eye(10)) == pytest.approx(1.0)  # log(10)/log(10)
    with pytest.raises(ValueError, match="no positive"):
        envelope_exponent([0.0, -1.0])
    with pytest.raises(ValueError, match="1-D"):
        envelope_exponent(np.ones((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        envelope_exponent([1.0, np.nan])


@pytest.mark.parametrize("s", [0.2, 0.5, 1.0])
def test_loglog_recovers_exact_power_law(s: float) -> None:
    mu = 7.0 * np.arange(1, 101) ** (-1.0 / s)
    assert loglog_exponent(mu) == pytest.approx(s, rel=1e-10)
    assert loglog_exponent(mu, index_range=(5, 40)) == pytest.approx(s, rel=1e-10)


def test_loglog_range_and_errors() -> None:
    # two regimes: the range picks the one asked for
    i = np.arange(1, 101)
    mu = np.where(i <= 50, i**-1.0, 50.0 * i**-2.0)
    assert loglog_exponent(mu, index_range=(1, 50)) == pytest.approx(1.0)
    assert loglog_exponent(mu, index_range=(51, 100)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="two positive"):
        loglog_exponent([1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="index_range"):
        loglog_exponent(mu, index_range=(0, 5))


def test_decay_exponent_of_gram_with_known_spectrum() -> None:
    mu = np.arange(1, 61) ** -2.0
    K = _with_spectrum(mu)
    np.testing.assert_allclose(gram_spectrum(K), mu, atol=1e-13)
    assert decay_exponent(K) == pytest.approx(envelope_exponent(mu), rel=1e-8)
    # eigenvalues of 1e-4 are well above round-off, so least squares sees the full power law
    assert decay_exponent(K, method="lstsq") == pytest.approx(0.5, rel=1e-6)
    with pytest.raises(ValueError, match="method"):
        decay_exponent(K, method="svd")


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.ones((3, 2)), "square"),
        (np.array([[1.0, 2.0], [0.0, 1.0]]), "symmetric"),
        (np.array([[1.0, np.inf], [np.inf, 1.0]]), "NaN or infinite"),
        (np.zeros((0, 0)), "empty"),
    ],
)
def test_gram_validation(bad: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        decay_exponent(bad)


def test_hadamard_decay_of_diagonal_matrices_is_product_spectrum() -> None:
    a = np.arange(1, 41) ** -1.0
    b = np.arange(1, 41) ** -2.0
    res = hadamard_decay(np.diag(a), np.diag(b))
    assert res.s2 == pytest.approx(envelope_exponent(a))
    assert res.s3 == pytest.approx(envelope_exponent(b))
    assert res.s23 == pytest.approx(envelope_exponent(a * b))


def test_hadamard_of_independent_rbf_decays_slower(rng: np.random.Generator) -> None:
    x, u = rng.normal(size=(80, 2)), rng.normal(size=(80, 2))
    res = hadamard_decay(_rbf(u), _rbf(x))
    assert res.s23 > max(res.s2, res.s3)
    with pytest.raises(ValueError, match="same shape"):
        hadamard_decay(np.eye(3), np.eye(4))


def test_hadamard_within_bounds_is_strict() -> None:
    assert HadamardDecay(0.2, 0.3, 0.4).within_bounds
    assert not HadamardDecay(0.2, 0.3, 0.3).within_bounds
    assert not HadamardDecay(0.2, 0.3, 0.5).within_bounds


# --------------------------------------------------------------------------- rates


def test_theoretical_rate_and_schedule() -> None:
    assert theoretical_slope(0.0) == -1.0
    assert theoretical_slope(1.0) == -0.5
    np.testing.assert_allclose(theoretical_rate([1.0, 4.0, 16.0], 1.0, scale=2.0), [2, 1, 0.5])
    np.testing.assert_allclose(lambda_schedule([10.0, 1000.0], 0.5), [10 ** (-2 / 3), 0.01])
    with pytest.raises(ValueError, match="non-negative"):
        theoretical_slope(-0.1)
    with pytest.raises(ValueError, match="positive"):
        theoretical_rate([0.0, 1.0], 0.5)


@pytest.mark.parametrize("slope", [-1.0, -0.8, -0.5])
def test_fit_rate_exact_power_law(slope: float) -> None:
    n = np.array([25, 50, 100, 200, 400, 800])
    risk = 0.3 * n**slope
    fit = fit_rate(n, risk, n_bootstrap=200, random_state=0)
    assert fit.slope == pytest.approx(slope, abs=1e-12)
    assert fit.intercept == pytest.approx(np.log(0.3), abs=1e-12)
    assert fit.ci_high - fit.ci_low < 1e-10
    reps = fit_rate(n, np.repeat(risk[:, None], 5, axis=1), n_bootstrap=200, random_state=0)
    assert reps.slope == pytest.approx(slope, abs=1e-12)
    assert reps.ci_low == pytest.approx(slope, abs=1e-12)
    assert reps.contains(reps.slope)


def test_fit_rate_interval_covers_truth() -> None:
    n = np.array([25, 50, 100, 200, 400, 800, 1600])
    covered = 0
    n_trials = 60
    for seed in range(n_trials):
        noise = np.random.default_rng(seed).lognormal(0.0, 0.4, size=(n.size, 20))
        fit = fit_rate(n, 2.0 * n[:, None] ** -0.7 * noise, n_bootstrap=400, random_state=seed)
        assert fit.ci_low < fit.slope < fit.ci_high
        covered += fit.contains(-0.7)
    assert covered / n_trials >= 0.85  # nominal 0.95


def test_fit_rate_without_repeats_uses_pairs() -> None:
    n = np.array([10, 20, 40, 80, 160])
    noise = np.random.default_rng(3).lognormal(0.0, 0.1, size=n.size)
    fit = fit_rate(n, n**-0.5 * noise, random_state=0)
    assert fit.ci_low < -0.5 < fit.ci_high
    with pytest.raises(ValueError, match="three distinct"):
        fit_rate([10, 20], [0.1, 0.05])


@pytest.mark.parametrize(
    ("n", "risk", "match"),
    [
        ([10, 20, 40], [0.1, 0.0, 0.01], "positive"),
        ([10, 20, 40], [0.1, 0.05], "shape"),
        ([10, 10, 10], [0.1, 0.05, 0.02], "two distinct"),
        ([-1, 20, 40], [0.1, 0.05, 0.02], "sample sizes"),
    ],
)
def test_fit_rate_validation(n: list, risk: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit_rate(n, risk)


# --------------------------------------------------------------------------- complexity


def test_rademacher_on_scaled_identity_is_exact() -> None:
    K = 4.0 * np.eye(25)  # sigma' K sigma = 4 n for every sign vector
    expected = 2.0 * np.sqrt(4.0 * 25) / 25
    assert rademacher_bound(K, radius=2.0) == pytest.approx(expected)
    assert rademacher_monte_carlo(K, radius=2.0, n_draws=5, random_state=0) == pytest.approx(
        expected
    )


def test_rademacher_monte_carlo_between_khintchine_bounds(rng: np.random.Generator) -> None:
    K = _rbf(rng.normal(size=(60, 3)), width=2.0)
    upper = rademacher_bound(K)
    est = rademacher_monte_carlo(K, n_draws=4000, random_state=1)
    assert upper / np.sqrt(2.0) <= est <= upper


def test_local_rademacher_limits(rng: np.random.Generator) -> None:
    K = _rbf(rng.normal(size=(40, 2)))
    assert local_rademacher(K, 1e6) == pytest.approx(np.sqrt(2.0) * rademacher_bound(K))
    r = 1e-12  # below every eigenvalue / n: each term is r
    assert local_rademacher(K, r, radius=3.0) == pytest.approx(3.0 * np.sqrt(2.0 * r))
    values = [local_rademacher(K, r) for r in np.logspace(-4, 1, 8)]
    assert np.all(np.diff(values) >= 0)
    with pytest.raises(ValueError, match="localisation"):
        local_rademacher(K, 0.0)


def test_affine_complexity_terms(rng: np.random.Generator) -> None:
    x, u = rng.normal(size=(30, 2)), rng.normal(size=(30, 1))
    K1, K2 = 2.0 * _rbf(u), _rbf(u)
    K3 = x @ x.T
    c = affine_complexity(K1, K2, K3, radii=(1.0, 2.0, 3.0), r=0.01)
    assert c.term1 == pytest.approx(np.sqrt(2.0 * 30) / 30)
    assert c.term3 == pytest.approx(3.0 * np.sqrt(np.trace(K3)) / 30)
    # tr(K2 o K3) = sum_i K2_ii K3_ii = tr K3 for a unit-diagonal K2
    assert c.term23 == pytest.approx(6.0 * np.sqrt(np.trace(K3)) / 30)
    assert c.total == pytest.approx(c.term1 + c.term3 + c.term23)
    assert c.local_total == pytest.approx(c.local1 + c.local3 + c.local23)
    assert c.s == max(c.s1, c.s3, c.s23)
    assert affine_complexity(K1, K2, K3).local_total is None
    with pytest.raises(ValueError, match="share one shape"):
        affine_complexity(K1, K2, np.eye(3))


def test_compare_sources_prefers_source_sharing_input_directions(
    rng: np.random.Generator,
) -> None:
    x = rng.normal(size=(60, 4))
    K3 = _rbf(x, width=2.0)
    related = _rbf(x[:, :2], width=2.0)
    unrelated = _rbf(rng.normal(size=(60, 2)), width=2.0)
    table = compare_sources(
        K3, {"unrelated": (unrelated, unrelated), "related": (related, related)}
    )
    assert list(table.index) == ["related", "unrelated"]
    assert table.loc["related", "s23"] < table.loc["unrelated", "s23"]
    np.testing.assert_allclose(table["theoretical_slope"], -1.0 / (1.0 + table["s"]))
    with pytest.raises(ValueError, match="empty"):
        compare_sources(K3, {})
