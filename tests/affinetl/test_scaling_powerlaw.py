"""Known-answer tests of the power-law fits of affinetl.scaling."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from affinetl.scaling import (
    CNotIdentifiableWarning,
    compare_power_laws,
    equivalent_samples,
    fit_power_law,
    n_for_target_error,
    power_law,
)

GRID = np.array([30, 50, 100, 200, 400, 700, 1000])


def synthetic_curve(D, alpha, C, rel_noise, seed, grid=GRID, reps=10):
    """Per-repetition errors around a known law, multiplicative Gaussian noise."""
    rng = np.random.default_rng(seed)
    n = np.repeat(grid, reps)
    rep = np.tile(np.arange(reps), grid.size)
    err = power_law(n, D, alpha, C) * (1 + rel_noise * rng.standard_normal(n.size))
    return n, err, rep


@pytest.mark.parametrize("form", ["offset", "pure"])
def test_exact_data_recovers_parameters(form):
    C = 0.05 if form == "offset" else 0.0
    n = np.repeat(GRID, 3)
    err = power_law(n, 1.7, 0.6, C)
    fit = fit_power_law(n, err, form=form, n_boot=0)
    assert fit.D == pytest.approx(1.7, rel=1e-4)
    assert fit.alpha == pytest.approx(0.6, rel=1e-4)
    assert fit.C == pytest.approx(C, abs=1e-6)


def test_intervals_cover_truth_in_most_trials():
    """Issue criterion: alpha and C inside their 95% intervals in >= 90% of seeded trials."""
    D, alpha, C = 1.0, 0.5, 0.05
    hits_alpha = hits_C = 0
    trials = 40
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CNotIdentifiableWarning)
        for seed in range(trials):
            n, err, rep = synthetic_curve(D, alpha, C, 0.05, seed)
            fit = fit_power_law(n, err, reps=rep, n_boot=300, random_state=seed)
            hits_alpha += fit.ci["alpha"][0] <= alpha <= fit.ci["alpha"][1]
            hits_C += fit.ci["C"][0] <= C <= fit.ci["C"][1]
            assert fit.ci["D"][0] < fit.D < fit.ci["D"][1]
    assert hits_alpha / trials >= 0.9
    assert hits_C / trials >= 0.9


def test_flat_short_curve_warns_that_C_is_not_identifiable():
    # a pure power law seen over one decade with noisy repetitions: any floor fits
    n, err, rep = synthetic_curve(1.0, 0.3, 0.0, 0.15, 3, grid=np.array([30, 60, 120, 250]))
    with pytest.warns(CNotIdentifiableWarning, match="does not identify its floor C"):
        fit = fit_power_law(n, err, reps=rep, n_boot=200)
    assert not fit.identifiable


def test_plateau_is_identified_without_warning():
    n, err, rep = synthetic_curve(3.0, 1.0, 0.1, 0.02, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CNotIdentifiableWarning)
        fit = fit_power_law(n, err, reps=rep, n_boot=200)
    assert fit.identifiable
    assert fit.ci["C"][0] <= 0.1 <= fit.ci["C"][1]


def test_model_comparison_prefers_the_true_form():
    n, err, rep = synthetic_curve(3.0, 1.0, 0.1, 0.02, 1)
    table = compare_power_laws(
        fit_power_law(n, err, reps=rep, n_boot=0),
        fit_power_law(n, err, reps=rep, form="pure", n_boot=0),
    )
    assert table.loc["offset", "preferred"]
    assert table.loc["offset", "p_C_zero"] < 1e-3
    n, err, rep = synthetic_curve(1.0, 0.5, 0.0, 0.02, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CNotIdentifiableWarning)
        off = fit_power_law(n, err, reps=rep, n_boot=0)
    table = compare_power_laws(off, fit_power_law(n, err, reps=rep, form="pure", n_boot=0))
    assert table.loc["pure", "preferred"]


def test_n_for_target_error_inverts_the_law():
    n = np.repeat(GRID, 4)
    fit = fit_power_law(n, power_law(n, 2.0, 0.5, 0.1), n_boot=0)
    N, _, _ = n_for_target_error(fit, 0.2)
    assert N == pytest.approx(400.0, rel=1e-3)  # 2 / sqrt(400) + 0.1 = 0.2
    assert n_for_target_error(fit, 0.05)[0] == np.inf  # below the floor
    with pytest.raises(ValueError, match="positive"):
        n_for_target_error(fit, -1.0)


def test_n_for_target_error_interval_brackets_point():
    n, err, rep = synthetic_curve(2.0, 0.5, 0.1, 0.03, 5)
    fit = fit_power_law(n, err, reps=rep, n_boot=300)
    N, lo, hi = n_for_target_error(fit, 0.2)
    assert lo <= N <= hi


def test_equivalent_samples_known_answer():
    # target-only: E_t(n) = 1 / sqrt(n) + 0.05; transfer: E(N) = 0.5 N^-0.5 + 0.07
    n_t = np.repeat([10, 20, 40, 80], 3)
    target = fit_power_law(n_t, power_law(n_t, 1.0, 0.5, 0.05), n_boot=0)
    n_s = np.repeat(GRID, 3)
    transfer = fit_power_law(n_s, power_law(n_s, 0.5, 0.5, 0.07), n_boot=0)
    eq = equivalent_samples(transfer, target, [100])
    # E(100) = 0.12 -> n = (1 / (0.12 - 0.05))^2 = 204.08
    assert eq.loc[0, "n_equivalent"] == pytest.approx(1 / 0.07**2, rel=1e-3)
    assert bool(eq.loc[0, "extrapolated"])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="at least 3 distinct N"):
        fit_power_law([10, 20, 10, 20], [1.0, 0.5, 1.1, 0.6])
    with pytest.raises(ValueError, match="non-negative"):
        fit_power_law([10, 20, 40], [1.0, -0.5, 0.2])
    with pytest.raises(ValueError, match="form"):
        fit_power_law([10, 20, 40], [1.0, 0.5, 0.2], form="exp")
