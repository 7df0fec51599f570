from __future__ import annotations

import numpy as np

from simdata.quality import MIN_NEFF, NOT_VALIDATED, REL_SEM, quality_flags, strict_equilibrium


def _row(**kw):
    return {"equilibrated": True, **kw}


def test_each_flag():
    f = quality_flags(
        _row(
            density=1.05, density_sem=0.001, density_neff=200,
            Cp=1500.0, Cp_sem=400.0,
            compressibility=-1e-10, compressibility_sem=1e-11,
            Rg_mass=12.0, Rg_mass_sem=0.1, Rg_mass_neff=MIN_NEFF / 2,
            static_dielectric_const=float("nan"),
            volume_expansion=6e-4, volume_expansion_sem=1e-5,
            nematic_order_parameter=0.05, nematic_order_parameter_sem=0.03,
        )
    )  # fmt: skip
    assert f == {
        "density_quality": "ok",
        "Cp_quality": "noisy",
        "compressibility_quality": "unphysical",
        "Rg_mass_quality": "few_samples",
        "static_dielectric_const_quality": "missing",
        "volume_expansion_quality": "not_validated",
        "nematic_order_parameter_quality": "noisy",
    }
    assert set(NOT_VALIDATED) <= set(REL_SEM)


def test_not_equilibrated_and_strict():
    row = _row(density=1.0, density_sem=0.001)
    assert quality_flags({**row, "equilibrated": False})["density_quality"] == "not_equilibrated"
    assert quality_flags(row, strict=True)["density_quality"] == "not_equilibrated"
    strict_ok = {**row, "equilibrated_strict": True}
    assert quality_flags(strict_ok, strict=True)["density_quality"] == "ok"


def test_dielectric_noise_is_relative_to_eps_minus_one():
    row = _row(static_dielectric_const=1.2, static_dielectric_const_sem=0.1)
    assert quality_flags(row)["static_dielectric_const_quality"] == "noisy"
    row["static_dielectric_const_sem"] = 0.02
    assert quality_flags(row)["static_dielectric_const_quality"] == "not_validated"


def test_tg_quality_from_fit():
    row = _row(Tg=420.0, Tg_sem=5.0, Tg_fit="no_transition")
    assert quality_flags(row)["Tg_quality"] == "noisy"
    row["Tg_fit"] = "ok"
    assert quality_flags(row)["Tg_quality"] == "not_validated"


def test_strict_equilibrium_on_drift_and_noise():
    rng = np.random.default_rng(0)
    flat = {"density": 1.0 + 0.002 * rng.standard_normal(400)}
    ok, info = strict_equilibrium(flat)
    assert ok and info["density_sma_spread"] < 0.001
    drifting = {"density": np.linspace(0.95, 1.0, 400)}
    ok, info = strict_equilibrium(drifting)
    assert not ok and info["density_sma_spread"] > 0.001
    # energies: the bond energy drifts by 5% over the run, density is flat
    series = {**flat, "bond": 5000 * (1 + np.linspace(0, 0.05, 400))}
    assert not strict_equilibrium(series)[0]
    assert not strict_equilibrium({})[0]  # nothing checked: no pass
