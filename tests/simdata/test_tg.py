from __future__ import annotations

import numpy as np
import pytest

from simdata.tg import bilinear_fit, cooling_temperatures, glass_transition


def test_bilinear_fit_recovers_exact_breakpoint():
    t = np.arange(200.0, 601.0, 20.0)
    v = 0.9 + 1.5e-4 * (t - 373.0) + 2.5e-4 * np.maximum(t - 373.0, 0)
    fit = bilinear_fit(t, v)
    assert fit["breakpoint"] == pytest.approx(373.0, abs=0.5)
    assert fit["slope_low"] == pytest.approx(1.5e-4, rel=1e-3)
    assert fit["slope_high"] == pytest.approx(4.0e-4, rel=1e-3)
    with pytest.raises(ValueError, match="at least 6"):
        bilinear_fit(t[:5], v[:5])


def test_glass_transition_with_noise_has_honest_error():
    """Synthetic specific volume with a known Tg of 420 K and noise: the estimate lies
    within 3 bootstrap errors, and the error shrinks with less noise."""
    t = np.arange(250.0, 601.0, 25.0)
    truth = 0.95 + 2e-4 * (t - 420.0) + 3.5e-4 * np.maximum(t - 420.0, 0)
    errs, hits = [], 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        out = glass_transition(t, truth + rng.normal(0, 2e-3, len(t)), n_boot=60, seed=seed)
        errs.append(out["Tg_sem"])
        hits += abs(out["Tg"] - 420.0) < 3 * out["Tg_sem"]
        assert out["expansion_rubber"] > out["expansion_glass"] > 0
    assert hits >= 8
    quiet = glass_transition(t, truth + np.random.default_rng(0).normal(0, 2e-4, len(t)))
    assert quiet["Tg_sem"] < np.median(errs)
    assert quiet["Tg_fit"] == "ok" and quiet["Tg"] == pytest.approx(420.0, abs=5.0)


def test_no_transition_is_flagged():
    t = np.arange(250.0, 601.0, 25.0)
    v = 0.95 + 3e-4 * t + np.random.default_rng(1).normal(0, 1e-3, len(t))
    assert glass_transition(t, v, n_boot=50)["Tg_fit"] == "no_transition"


def test_cooling_temperatures():
    assert cooling_temperatures(600, 200, 100) == [600.0, 500.0, 400.0, 300.0, 200.0]
    with pytest.raises(ValueError, match="tg_tmax > tg_tmin"):
        cooling_temperatures(200, 600, 20)


def test_round_off_errors_do_not_make_the_fit_singular():
    # a short step whose frames all hold one density has a standard error of ~1e-16:
    # such a point is not weighted 1e32 times the others (a singular fit before)
    t = np.arange(250.0, 451.0, 25.0)
    v = 1.25 + 2e-4 * (t - 350) + 4e-4 * np.maximum(t - 350, 0)
    sigma = np.full(len(t), 5e-3)
    sigma[[1, 3]] = 1e-16
    fit = bilinear_fit(t, v, sigma)
    assert fit["breakpoint"] == pytest.approx(350.0, abs=1.0)
    assert np.isfinite(glass_transition(t, v, sigma, n_boot=20)["Tg"])
