"""Target data quality: the rules flag known wrong values and keep the right ones."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affinetl import datasets
from affinetl.datasets import _fetch, flag_bounds, flag_disagreement, robust_z

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def mirror(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(os.environ.get(_fetch.MIRROR_ENV) or REPO.parent / "shared" / "data")
    if not (path / "SHA256SUMS").is_file():
        pytest.skip(f"data mirror {path} not available")
    monkeypatch.setenv(_fetch.MIRROR_ENV, str(path))
    monkeypatch.setenv(_fetch.OFFLINE_ENV, "1")
    monkeypatch.setenv(_fetch.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "affinetl-cache"))
    return path


def test_robust_z_ignores_one_outlier_in_its_scale() -> None:
    r = np.r_[np.random.default_rng(0).normal(0.0, 0.05, 60), 1.0]
    z = robust_z(r)
    assert abs(z[-1]) > 10
    assert np.mean(np.abs(z[:-1]) > 3.5) < 0.05
    assert np.isnan(robust_z(np.array([1.0, np.nan]))).all()  # too few values: no scale


def test_bounds_flag_a_hydrocarbon_at_a_fluoropolymer_density() -> None:
    smiles = pd.Series(["*CC(*)c1ccccc1", "*CC(*)c1ccccc1", "*CC(*)(F)F", "*CC(C)(*)C"])
    values = pd.Series([1.92, 1.05, 1.78, np.nan])
    reasons = flag_bounds(values, smiles, "density")
    assert reasons[0].startswith("out of bounds") and "hydrocarbon" in reasons[0]
    assert reasons[1:].eq("").all()  # PS at 1.05, PVDF at 1.78 and a missing value are kept
    assert flag_bounds(values, smiles, "Cp").eq("").all()  # no bounds known: nothing flagged


def test_disagreement_uses_the_spread_not_the_offset() -> None:
    rng = np.random.default_rng(1)
    simulated = pd.Series(rng.uniform(0.9, 1.5, 40))
    # a systematic +0.06 offset with 0.03 noise is the usual disagreement, not a reason
    values = simulated + 0.06 + rng.normal(0.0, 0.03, 40)
    values[5] = simulated[5] + 0.5
    reasons, z = flag_disagreement(values, simulated)
    assert reasons[5].startswith("disagrees with MD")
    assert (reasons.drop(5) == "").all()
    assert z[5] > 3.5


def test_afzal2021_flags_the_known_wrong_densities(mirror: Path) -> None:
    data = datasets.load_afzal2021()
    names = data.extras["name"]
    published = data.extras["y_published"]["density_exp"]
    flagged = data.quality["density_exp"] != ""
    by_name = dict(zip(names[flagged], published[flagged]))
    # the values the issue names: polystyrene 1.92, polyisobutylene 1.30, PVDF 1.188
    assert by_name["Polystyrene"] == pytest.approx(1.92)
    assert by_name["Polyisobutylene"] == pytest.approx(1.30)
    assert by_name["Poly(vinylidene fluoride)"] == pytest.approx(1.188)
    assert "out of bounds" in data.quality.loc[names == "Polystyrene", "density_exp"].iloc[0]
    # flagged values are left out of y by default and never edited
    assert data.y.loc[flagged, "density_exp"].isna().all()
    assert int(data.y["density_exp"].notna().sum()) == 117 - int(flagged.sum())
    assert 5 <= int(flagged.sum()) <= 12
    kept = datasets.load_afzal2021(suspect="keep")
    assert int(kept.y["density_exp"].notna().sum()) == 117
    pd.testing.assert_series_equal(kept.y["density_exp"], published)
    assert (kept.quality == data.quality).all().all()


def test_afzal2021_keeps_the_right_densities(mirror: Path) -> None:
    data = datasets.load_afzal2021()
    names = data.extras["name"]
    # well-known values that agree with RadonPy MD within the usual spread stay
    for name in ("Poly(methyl methacrylate)", "Bisphenol-A polycarbonate", "Poly(vinyl acetate)"):
        row = names == name
        assert data.quality.loc[row, "density_exp"].iloc[0] == ""
        assert data.y.loc[row, "density_exp"].notna().all()
    assert (data.quality["Tg_exp"] == "").all()  # every Tg is within its bounds
    with pytest.raises(ValueError, match="suspect"):
        datasets.load_afzal2021(suspect="maybe")
