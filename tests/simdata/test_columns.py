from __future__ import annotations

import json

import numpy as np

from simdata.columns import COLUMNS, describe, parquet_metadata, write_sidecar
from simdata.properties import compute_properties
from simdata.quality import REL_SEM


def test_every_property_column_is_described():
    assert set(REL_SEM) <= set(COLUMNS)
    rng = np.random.default_rng(0)
    n = 200
    frames = {
        "time": np.arange(n) * 0.4,
        "potential": -500 + rng.standard_normal(n),
        "kinetic": 300 + rng.standard_normal(n),
        "volume": 30 + 0.1 * rng.standard_normal(n),
        "density": 0.9 + 0.01 * rng.standard_normal(n),
        "dipole": rng.standard_normal((n, 3)),
        "rg": np.full(n, 1.0),
        "e2e": np.full(n, 3.0),
        "com": np.cumsum(rng.standard_normal((n, 4, 3)), axis=0),
    }
    out = compute_properties(frames, temperature=300, pressure_bar=1.0, mass_amu=16000)
    assert all(describe(c) is not None for c in out), [c for c in out if describe(c) is None]
    assert describe("no_such_column") is None


def test_sidecar_and_parquet_metadata(tmp_path):
    path = write_sidecar(tmp_path / "rows.csv", ["density", "density_sem", "name"])
    meta = json.loads(path.read_text())
    assert path.name == "rows.csv.columns.json"
    assert meta["density_sem"]["unit"] == "g/cm3" and "name" not in meta
    md = json.loads(parquet_metadata(["Cp"])[b"simdata.columns"])
    assert md["Cp"]["unit"] == "J/(kg K)"
