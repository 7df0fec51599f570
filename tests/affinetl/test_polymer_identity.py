"""Polymer identity on hand-made repeat units, and the PI1070 / Afzal join."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from affinetl import datasets, polymer
from affinetl.datasets import (
    PolymerSmilesError,
    _fetch,
    macrocycle_smiles,
    match_polymers,
    normalize_polymer_smiles,
    primitive_formula,
    same_polymer,
)

REPO = Path(__file__).resolve().parents[2]

SAME = [
    ("*CC*", "*C*"),  # multiple
    ("*CC*", "*CCCCCC*"),
    ("*CC(*)C", "*C(C)C*"),  # direction of writing
    ("*CC(*)C", "*CC(C)CC(C)*"),  # doubled unit
    ("*OCCOC(=O)c1ccc(C(*)=O)cc1", "*CCOC(=O)c1ccc(C(=O)O*)cc1"),  # PET, cyclic shift
    ("*OCCOC(=O)c1ccc(C(*)=O)cc1", "*C(=O)c1ccc(C(=O)OCCO*)cc1"),
    ("[Ce][Si](C)(C)O[Th]", "*O[Si](*)(C)C"),  # PDMS, Afzal placeholders
    ("[*:1]CC(c1ccccc1)[*:2]", "*C(c1ccccc1)C*"),  # atom-mapped ends
    ("[*]CC(C#N)[*]", "*C(C#N)C*"),
    ("*Oc1ccc(cc1)C(C)(C)c1ccc(cc1)OC(*)=O", "*C(=O)Oc1ccc(cc1)C(C)(C)c1ccc(cc1)O*"),  # PC
    ("*=CC=*", "*=CC=CC=CC=*"),  # polyacetylene with double-bond ends
    ("*C=C*", "*=CC=*"),  # polyacetylene cut at its single or at its double bonds
    ("*OCC*", "*COC*"),  # PEO, a cyclic shift through the ether oxygen
    ("*Oc1ccc(C*)cc1", "*c1ccc(OC*)cc1"),  # ring in the main chain, shifted and reversed
    ("*C(F)(F)C(*)(F)F", "*C(*)(F)F"),  # PTFE: a doubled unit whose ends are one atom
    ("[1*]CC[2*]", "*C*"),
    ("*CC(*)c1ccc([N+](=O)[O-])cc1", "*CC(*)c1ccc(N(=O)=O)cc1"),  # nitro, two notations
]
DIFFERENT = [
    ("*CC(*)C", "*CC*"),  # polypropylene vs polyethylene
    ("*CC(*)C", "*CCC*"),  # same formula C3H6, different chain
    ("*CC(*)OC", "*CCOC*"),  # methoxy side group vs ether in the chain (both C3H6O)
    ("*OCCCC*", "*OCCC*"),
    ("*CC(*)c1ccccc1", "*CC(*)C1CCCCC1"),
    ("*Oc1ccc(*)cc1", "*Oc1cccc(*)c1"),  # para vs meta
    ("*CC(*)C", "*CC(C)C(C)C*"),  # head-to-tail vs head-to-head polypropylene
    ("*CC(C)C(C)C*", "*CC(C)CC(C)*"),
    ("*OCC*", "*OCCC*"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_same_polymer(a: str, b: str) -> None:
    assert same_polymer(a, b)
    assert same_polymer(b, a)
    assert primitive_formula(a) == primitive_formula(b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_polymers(a: str, b: str) -> None:
    assert not same_polymer(a, b)


def test_peo_writings() -> None:
    # -CH2-O-CH2- repeated is -CH2-CH2-O-: every cyclic shift of PEO is PEO
    for writing in ("*OCC*", "*COC*", "*CCOCCO*", "[Ce]OCC[Th]"):
        assert same_polymer("*CCO*", writing)
    assert not same_polymer("*CCO*", "*CO*")  # polyoxymethylene


def test_stereo_is_ignored_unless_asked() -> None:
    cis, trans = "*C/C=C\\C*", "*C/C=C/C*"
    assert same_polymer(cis, trans)
    assert not same_polymer(cis, trans, isomeric=True)
    assert same_polymer(cis, cis, isomeric=True)


def test_macrocycle_and_normalisation() -> None:
    assert macrocycle_smiles("*CC*", 3) == macrocycle_smiles("*C*", 6) == "C1CCCCC1"
    assert normalize_polymer_smiles("[Ce]CC([Th])C") == "*CC(*)C"
    assert normalize_polymer_smiles("[1*]CC[2*]") == "*CC*"
    with pytest.raises(ValueError, match="too few"):
        macrocycle_smiles("*C*", 1)


@pytest.mark.parametrize("bad", ["*CC", "CC", "*C(*)C*", "*C1CC*", "", "*[Si](*)(C)(C)(C)C"])
def test_bad_repeat_units(bad: str) -> None:
    with pytest.raises(PolymerSmilesError):
        same_polymer(bad, "*CC*")


def test_match_polymers_blocks_and_labels() -> None:
    import pandas as pd

    left = pd.Series(["*CC*", "*CC(*)C", "not a smiles", "*OCC*"], index=["a", "b", "c", "d"])
    right = ["*C(C)C*", "[Ce]C[Th]", "*CCO*"]
    pairs = match_polymers(left, right)
    assert sorted(zip(pairs["left"], pairs["right"])) == [("a", 1), ("b", 0), ("d", 2)]
    with pytest.raises(PolymerSmilesError):
        match_polymers(left, right, errors="raise")


def test_pi1070_and_afzal_share_about_81_polymers(monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = Path(os.environ.get(_fetch.MIRROR_ENV) or REPO.parent / "shared" / "data")
    if not (mirror / "SHA256SUMS").is_file():
        pytest.skip(f"data mirror {mirror} not available")
    monkeypatch.setenv(_fetch.MIRROR_ENV, str(mirror))
    monkeypatch.setenv(_fetch.OFFLINE_ENV, "1")
    pi1070 = datasets.load_radonpy_pi1070()
    afzal = datasets.load_afzal2021(suspect="keep")
    with_density = afzal.smiles[afzal.y["density_exp"].notna()]
    pairs = match_polymers(pi1070.smiles, with_density)
    n_shared = pairs["right"].nunique()
    assert 78 <= n_shared <= 84
    # canonical SMILES of the repeat units alone finds clearly fewer
    from rdkit import Chem

    canon = {Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in pi1070.smiles}
    n_canonical = sum(Chem.MolToSmiles(Chem.MolFromSmiles(s)) in canon for s in with_density)
    assert n_canonical < n_shared - 10


@pytest.mark.parametrize(("a", "b"), SAME)
def test_one_key_per_polymer(a: str, b: str) -> None:
    key = polymer.polymer_key(a)
    assert key == polymer.polymer_key(b)
    assert polymer.same_polymer(key, a)  # the key is itself a repeat unit of the polymer


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_polymers_different_keys(a: str, b: str) -> None:
    assert polymer.polymer_key(a) != polymer.polymer_key(b)


def test_canonical_and_primitive_units() -> None:
    assert polymer.primitive_repeat_unit("*CCCC*") == "*C*"
    assert polymer.primitive_repeat_unit("*CC(C)CC(C)*") == "*CC(*)C"
    assert polymer.canonical_repeat_unit("*OCCOCC*") == polymer.canonical_repeat_unit("*CCO*")
    # stereo and isotopes separate polymers only when asked (the generator's job ids do)
    cis, trans = "*C/C=C\\C*", "*C/C=C/C*"
    assert polymer.polymer_key(cis) == polymer.polymer_key(trans)
    assert polymer.polymer_key(cis, isomeric=True) != polymer.polymer_key(trans, isomeric=True)
    assert polymer.polymer_key("*CC(*)C") == polymer.polymer_key("*C([2H])C(*)C")
    assert polymer.polymer_key("*CC(*)C", isomeric=True) != polymer.polymer_key(
        "*C([2H])C(*)C", isomeric=True
    )


def test_charge_separated_groups_accepted_net_charge_rejected() -> None:
    ru = polymer.parse_repeat_unit("*CC(*)c1ccc([N+](=O)[O-])cc1", name="nitro-PS")
    assert ru.n_heavy == 11 and ru.backbone == 2
    assert polymer.polymer_key("*CC(*)c1ccc([N+](=O)[O-])cc1")
    with pytest.raises(PolymerSmilesError, match=r"'P\+': net charge \+1"):
        polymer.parse_repeat_unit("*C[N+](C)(C)C*", name="P+")
    with pytest.raises(PolymerSmilesError, match="several fragments"):
        polymer.parse_repeat_unit("*CC*.[Na+].[Cl-]")


def test_one_error_type_for_bad_repeat_units() -> None:
    from affinetl.exceptions import UsageError

    assert issubclass(PolymerSmilesError, UsageError) and issubclass(PolymerSmilesError, ValueError)
    simdata_errors = pytest.importorskip("simdata.errors")
    assert issubclass(simdata_errors.PolymerSpecError, PolymerSmilesError)


def test_descriptor_block_names_written_once() -> None:
    assert datasets.FFKM_BLOCKS is polymer.FFKM_BLOCKS
    assert len(polymer.FFKM_NAMES) == 190
    assert polymer.FFKM_NAMES[:2] == ("mass_H", "mass_C") and polymer.FFKM_NAMES[-1] == "k_dih_19"
    descriptors = pytest.importorskip("simdata.descriptors")
    assert descriptors.FFKM_NAMES is polymer.FFKM_NAMES


def test_every_pi1070_repeat_unit_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = Path(os.environ.get(_fetch.MIRROR_ENV) or REPO.parent / "shared" / "data")
    if not (mirror / "SHA256SUMS").is_file():
        pytest.skip(f"data mirror {mirror} not available")
    monkeypatch.setenv(_fetch.MIRROR_ENV, str(mirror))
    monkeypatch.setenv(_fetch.OFFLINE_ENV, "1")
    smiles = datasets.load_radonpy_pi1070().smiles
    assert len(smiles) >= 1070
    charged = [s for s in smiles if "+" in s or "-]" in s]
    assert len(charged) >= 11  # nitro groups and other charge-separated forms
    for text in smiles:
        polymer.parse_repeat_unit(text)
    # the charge-separated units get identity keys too, and distinct ids stay distinct
    keys = {polymer.polymer_key(s, isomeric=True) for s in charged}
    assert len(keys) == len(set(charged))
