"""The issue-23 stages on a real (tiny) polymer cell: structure stage, Tg scan, flags."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from simdata import Job, run_job
from simdata.optics import lorentz_lorenz
from simdata.quality import FLAGS


@pytest.mark.md
def test_structure_stage_and_tg_scan_on_tiny_polyethylene(tmp_path, tiny_preset, cache_dir):
    preset = tiny_preset.replace(
        tg_step_ps=1.0, tg_tmax=450.0, tg_tmin=250.0, tg_step=25.0, strict_equilibrium=True
    )
    row = run_job(Job("*CC*", "PE", preset, 0), tmp_path, cache_dir=cache_dir)
    assert row["status"] == "done", row["reason"]
    # RadonPy meanings: unweighted Rg (Angstrom), <R^2> (nm2), all-atom diffusion
    assert 2.0 < row["Rg"] < 30.0 and row["Rg_mass"] > 0
    assert 0.05 < row["r2"] < (26 * 0.154) ** 2  # below the fully stretched 26-bond chain
    assert 0 < row["nematic_order_parameter"] < 1
    assert row["self-diffusion"] >= 0 and "self_diffusion_chain" in row
    # polyethylene: CED of order 200-300 J/cm3 (delta ~ 16 MPa^0.5); a 2 ps run is rough
    assert 50 < row["cohesive_energy_density"] < 600
    assert np.isfinite(row["Tg"]) and row["Tg_fit"] in ("ok", "noisy", "no_transition")
    assert len(json.loads(row["Tg_scan"])) == 9
    assert isinstance(row["equilibrated_strict"], bool)
    if importlib.util.find_spec("dftd4") is not None:  # Lorentz-Lorenz from this row's density
        n = lorentz_lorenz(row["polarizability_unit"], row["density"], 28.054)
        assert row["refractive_index"] == pytest.approx(n, rel=1e-3)
        assert 0 < row["refractive_index_sem"] < row["density_sem"]
        assert "refractive_index_quality" in row
    flags = {k: v for k, v in row.items() if k.endswith("_quality")}
    assert {"density_quality", "Cp_quality", "Rg_quality", "Tg_quality"} <= set(flags)
    assert set(flags.values()) <= set(FLAGS)
    if not row["equilibrated_strict"]:  # strict_equilibrium=True: every flag says so
        assert all(v in ("missing", "not_equilibrated") for v in flags.values())
