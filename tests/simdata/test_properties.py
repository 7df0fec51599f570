from __future__ import annotations

import numpy as np
import pytest

from simdata.errors import SimulationBlowUp
from simdata.properties import (
    AVOGADRO,
    KB,
    block_average,
    compute_properties,
    dielectric_constant,
    finite_difference_properties,
    fluctuation_properties,
    self_diffusion,
)
from simdata.reporters import equilibrated


def test_block_average_known_answer():
    mean, sem = block_average(np.repeat([1.0, 2.0, 3.0, 4.0], 5), 4)
    assert mean == 2.5
    assert sem == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)


def test_fluctuation_formulas_on_synthetic_ensemble():
    rng = np.random.default_rng(0)
    n, temp, mass = 200_000, 300.0, 10_000.0
    # enthalpy in kJ/mol with a chosen variance; volume correlated with it
    h_sd_kj = 5.0
    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    pot = -1000 + h_sd_kj * z1
    vol = 30.0 + 0.3 * (0.6 * z1 + 0.8 * z2)
    out = fluctuation_properties(
        pot, np.zeros(n), vol, temperature=temp, pressure_bar=0.0, mass_amu=mass
    )
    m_kg = mass / AVOGADRO / 1000
    h_sd_j = h_sd_kj * 1000 / AVOGADRO
    assert out["Cp"] == pytest.approx(h_sd_j**2 / (KB * temp**2) / m_kg, rel=0.02)
    v_sd = 0.3e-27
    assert out["compressibility"] == pytest.approx(v_sd**2 / (KB * temp * 30e-27), rel=0.02)
    assert out["bulk_modulus"] == pytest.approx(1 / out["compressibility"], rel=1e-9)
    alpha = 0.6 * v_sd * h_sd_j / (KB * temp**2 * 30e-27)
    assert out["volume_expansion"] == pytest.approx(alpha, rel=0.03)
    assert out["linear_expansion"] == pytest.approx(alpha / 3, rel=0.03)
    assert out["Cv"] < out["Cp"]
    assert out["Cp_sem"] > 0


def test_finite_difference_exact_line():
    mass = 6022.14076  # amu -> 6.022 kg/mol * 1e-3
    scan = {t: {"enthalpy": 2.0 * t, "volume": 10 + 0.01 * t} for t in (280.0, 300.0, 320.0)}
    out = finite_difference_properties(scan, mass_amu=mass)
    assert out["Cp_fd"] == pytest.approx(2.0 * 1000 / (mass / 1000))
    assert out["volume_expansion_fd"] == pytest.approx(0.01 / 13.0)
    with pytest.raises(ValueError):
        finite_difference_properties({300.0: scan[300.0]}, mass_amu=mass)


def test_dielectric_of_fixed_dipole_is_one():
    eps, _ = dielectric_constant(np.ones((100, 3)), np.full(100, 27.0), temperature=300)
    assert eps == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    m = rng.standard_normal((50_000, 3)) * 2.0  # e nm
    eps, _ = dielectric_constant(m, np.full(len(m), 27.0), temperature=300)
    expected = 1 + 3 * (2.0 * 1.602176634e-19 * 1e-9) ** 2 / (
        3 * 8.8541878128e-12 * 27e-27 * KB * 300
    )
    assert eps == pytest.approx(expected, rel=0.02)


def test_isentropic_compressibility_is_isothermal_times_cv_over_cp():
    rng = np.random.default_rng(4)
    n = 20_000
    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    pot, vol = -1000 + 5.0 * z1, 30.0 + 0.3 * (0.6 * z1 + 0.8 * z2)
    out = fluctuation_properties(
        pot, np.zeros(n), vol, temperature=300.0, pressure_bar=1.0, mass_amu=10_000.0
    )
    ratio = out["isentropic_compressibility"] / out["compressibility"]
    assert ratio == pytest.approx(out["Cv"] / out["Cp"], rel=1e-9)
    assert 0 < ratio < 1
    assert out["isentropic_bulk_modulus"] == pytest.approx(1 / out["isentropic_compressibility"])


def test_fluctuation_errors_account_for_autocorrelation():
    """Correlated enthalpy (AR(1), tau ~ 20 frames): the jackknife error of Cp must match
    the spread of Cp over independent runs, where 5 plain blocks of a short run do not."""
    rng = np.random.default_rng(5)
    phi, n, runs = 0.95, 2000, 40
    cps, sems = [], []
    for _ in range(runs):
        from scipy.signal import lfilter

        h = lfilter([1.0], [1.0, -phi], rng.standard_normal(n + 500))[500:]
        out = fluctuation_properties(
            h, np.zeros(n), 30 + 0.01 * rng.standard_normal(n),
            temperature=300.0, pressure_bar=0.0, mass_amu=1e4,
        )  # fmt: skip
        cps.append(out["Cp"])
        sems.append(out["Cp_sem"])
        assert out["Cp_neff"] < n / 10  # the inefficiency (1 + phi) / (1 - phi) = 39 is seen
    assert np.mean(sems) == pytest.approx(np.std(cps, ddof=1), rel=0.35)


def test_self_diffusion_of_random_walk():
    rng = np.random.default_rng(2)
    d_nm2_ps, dt, n = 0.01, 0.5, 2000
    steps = rng.standard_normal((n, 400, 3)) * np.sqrt(2 * d_nm2_ps * dt)
    com = np.cumsum(steps, axis=0)
    d = self_diffusion(np.arange(n) * dt, com)
    assert d == pytest.approx(d_nm2_ps * 1e-6, rel=0.1)


def test_compute_properties_columns():
    rng = np.random.default_rng(3)
    n = 100
    frames = {
        "time": np.arange(n) * 0.1,
        "potential": -500 + rng.standard_normal(n),
        "kinetic": 300 + rng.standard_normal(n),
        "volume": 30 + 0.1 * rng.standard_normal(n),
        "density": 0.9 + 0.01 * rng.standard_normal(n),
        "rg": np.full(n, 1.0),
    }
    out = compute_properties(frames, temperature=300, pressure_bar=1.0, mass_amu=16000)
    # the production Rg is mass-weighted: it must not carry RadonPy's name
    assert out["Rg_mass"] == pytest.approx(10.0) and "Rg" not in out
    for col in (
        "density",
        "Cp",
        "Cv",
        "compressibility",
        "bulk_modulus",
        "isentropic_compressibility",
        "isentropic_bulk_modulus",
        "volume_expansion",
    ):
        assert np.isfinite(out[col]) and np.isfinite(out[f"{col}_sem"]) and out[f"{col}_neff"] > 0
    # a blow-up recovered by restarts leaves NaN frames: the job fails instead of reporting
    frames["potential"][40] = np.nan
    with pytest.raises(SimulationBlowUp, match="1 non-finite values over 100 frames"):
        compute_properties(frames, temperature=300, pressure_bar=1.0, mass_amu=16000)


def test_equilibrium_check():
    flat = np.full(50, 0.9)
    assert equilibrated(flat, flat - 10, density_tol=0.01, energy_tol=0.01)[0]
    rising = np.linspace(0.8, 0.9, 50)
    ok, info = equilibrated(rising, flat - 10, density_tol=0.01, energy_tol=0.01)
    assert not ok and info["density_drift"] > 0.01
