from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rdkit")
if (
    shutil.which("antechamber") is None
    and not (Path(sys.executable).parent / "antechamber").exists()
):
    pytest.skip("AmberTools not installed", allow_module_level=True)

from simdata.descriptors import FFKM_NAMES, RADONPY_RANGES, ff_parameters, ffkm, load_gaff2  # noqa: E402


@pytest.fixture(scope="module")
def table():
    return load_gaff2()


def test_gaff2_table(table):
    assert table.bonds[("c3", "c3")][1] == pytest.approx(1.535, abs=0.01)
    assert ("X", "c3", "c3", "X") in table.dihedrals
    eps, sigma = table.lj["c3"]
    assert 0.05 < eps < 0.2 and 3.0 < sigma < 3.6


def test_polyethylene_parameters_and_kernel_means(table):
    vals = ff_parameters("*CC*", cyclic=10, table=table)
    assert len(vals["mass"]) == 60 and len(vals["k_bond"]) == 60  # ring of 20 C + 40 H
    assert len(vals["k_angle"]) == 20 * 6  # each CH2 has 6 angles
    assert len(vals["k_dih"]) == 20 * 9  # 9 dihedrals about each C-C bond
    assert abs(vals["charge"].sum()) < 1e-6
    x = ffkm("*CC*", table=table)
    assert x.shape == (190,) == (len(FFKM_NAMES),)
    # Gaussians (width 0.05) at the scaled masses of H and C, averaged over 40 H + 20 C
    lo, hi = RADONPY_RANGES["mass"]
    d = (12.011 - 1.008) / (hi - lo)
    overlap = np.exp(-(d**2) / (2 * 0.05**2))
    assert x[FFKM_NAMES.index("mass_H")] == pytest.approx(40 / 60 + overlap / 3, abs=1e-3)
    assert x[FFKM_NAMES.index("mass_C")] == pytest.approx(20 / 60 + 2 * overlap / 3, abs=1e-3)
    assert x[FFKM_NAMES.index("mass_I")] < 1e-6
    assert np.all((x >= 0) & (x <= 1))


def test_ranges_option(table):
    with pytest.raises(ValueError, match="ranges"):
        ffkm("*CC*", table=table, ranges="nope")
    a = ffkm("*CC*", table=table, ranges=RADONPY_RANGES)
    b = ffkm("*CC*", table=table)
    np.testing.assert_allclose(a, b)
