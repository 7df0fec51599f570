"""Polymer featurisation from repeat-unit SMILES (affinetl.featurize)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from affinetl.datasets import PolymerSmilesError
from affinetl.featurize import featurize_polymers

PET_A = "*OCCOC(=O)c1ccc(C(*)=O)cc1"
PET_B = "*CCOC(=O)c1ccc(C(=O)O*)cc1"  # the same polymer, cyclic shift of the repeat unit


def test_shapes_and_column_names():
    F = featurize_polymers(["*CC*", "*CC(*)C"], kinds=("rdkit", "morgan"), n_bits=128)
    assert F.shape == (2, 20 + 128)
    assert F.columns[0].endswith("_per_atom") and F.columns[-1] == "morgan_127"


@pytest.mark.parametrize("a, b", [("*CC*", "*CCCC*"), ("*C*", "[*:1]CC[*:2]"), (PET_A, PET_B)])
def test_writings_of_one_polymer_get_the_same_features(a, b):
    F = featurize_polymers([a, b], kinds=("rdkit", "morgan"))
    np.testing.assert_allclose(F.iloc[0], F.iloc[1], atol=1e-12)


def test_polyethylene_known_answer():
    F = featurize_polymers(["*CC*"], kinds=("rdkit", "morgan"), n_bits=1024).iloc[0]
    # every carbon of the closed chain is alike: all carbon, no aromatic atoms, and one
    # Morgan environment per radius 0, 1, 2, each counted once per heavy atom
    assert F["frac_C"] == 1.0 and F["frac_aromatic"] == 0.0
    morgan = F[[c for c in F.index if c.startswith("morgan_")]].to_numpy()
    np.testing.assert_allclose(np.sort(morgan[morgan > 0]), [1.0, 1.0, 1.0])


def test_placeholder_conventions_agree():
    F = featurize_polymers(["[Ce]CC(C)[Th]", "*CC(*)C"], kinds=("rdkit",))
    np.testing.assert_allclose(F.iloc[0], F.iloc[1])


def test_bad_repeat_units_are_named():
    with pytest.raises(PolymerSmilesError, match=r"2 repeat units.*'CC'.*'\*C\(\*'"):
        featurize_polymers(["*CC*", "CC", "*C(*"])
    with pytest.raises(ValueError, match="kinds"):
        featurize_polymers(["*CC*"], kinds=("xyz",))


def test_cache_round_trip(tmp_path):
    smiles = ["*CC*", "*CC(*)c1ccccc1"]
    first = featurize_polymers(smiles, kinds=("rdkit", "morgan"), cache_dir=tmp_path)
    files = list(tmp_path.glob("features-*.csv"))
    assert len(files) == 1
    second = featurize_polymers(smiles, kinds=("rdkit", "morgan"), cache_dir=tmp_path)
    np.testing.assert_allclose(first.to_numpy(), second.to_numpy())
    assert list(first.columns) == list(second.columns)


@pytest.mark.skipif(
    importlib.util.find_spec("simdata.descriptors") is not None,
    reason="simdata.descriptors is installed",
)
def test_ffkm_without_the_generator_module_says_so():
    with pytest.raises(ImportError, match="simdata.descriptors"):
        featurize_polymers(["*CC*"], kinds=("ffkm",))


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("simdata.descriptors") is None, reason="needs simdata.descriptors"
)
def test_ffkm_from_the_generator():
    F = featurize_polymers(["*CC*", "*CCCC*"], kinds=("rdkit", "ffkm"))
    assert F.shape == (2, 20 + 190)
    assert all(c.startswith("ffkm_") for c in F.columns[20:])
    np.testing.assert_allclose(F.iloc[0], F.iloc[1], atol=1e-8)
