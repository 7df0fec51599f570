from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rdkit")
from rdkit import Chem  # noqa: E402

from simdata.build import (  # noqa: E402
    backbone_length,
    build_chain,
    canonical_smiles,
    cyclic_oligomer,
    degree_of_polymerisation,
    grow_coordinates,
    parse_repeat_unit,
)
from simdata.errors import PolymerSpecError  # noqa: E402


@pytest.mark.parametrize(
    ("smiles", "message"),
    [
        ("C1CC", "invalid SMILES"),
        ("*CC", "exactly two '*'"),
        ("*CC(*)C*", "exactly two '*'"),
        ("CCC", "found 0"),
        ("*C[Si](C)(C)*", "['Si'] not covered by GAFF2"),
        ("*CC(*)[Na]", "not covered by GAFF2"),
        ("*C=*", "one single bond"),
        ("*CC*.C", "several fragments"),
        ("*C[N+](C)(C)*", "charged"),
    ],
)
def test_bad_repeat_units_name_the_polymer(smiles, message):
    with pytest.raises(PolymerSpecError) as err:
        parse_repeat_unit(smiles, name="P-bad")
    assert "P-bad" in str(err.value)
    assert message in str(err.value)


def test_chain_composition_and_caps():
    ru = parse_repeat_unit("*CC*", "PE")
    chain = build_chain(ru, 3)
    # hexane: C6H14
    assert Chem.MolToSmiles(Chem.RemoveHs(chain)) == "CCCCCC"
    assert chain.GetNumAtoms() == 20
    units = sorted({a.GetIntProp("unit") for a in chain.GetAtoms()})
    assert units == [0, 1, 2]


def test_head_to_tail_polystyrene():
    ru = parse_repeat_unit("*CC(*)c1ccccc1", "PS")
    chain = build_chain(ru, 2)
    # head-to-tail: CH3-CH(Ph)-CH2-CH2(Ph)... the two phenyls are 1,3 on the backbone
    smi = Chem.MolToSmiles(Chem.RemoveHs(chain), isomericSmiles=False)
    assert smi == Chem.CanonSmiles("CC(c1ccccc1)CCc1ccccc1")


@pytest.mark.parametrize(
    ("tacticity", "expected"), [("isotactic", "00000"), ("syndiotactic", "01010")]
)
def test_tacticity_patterns(tacticity, expected):
    chain = build_chain(parse_repeat_unit("*CC(*)C"), 5, tacticity=tacticity)
    assert chain.GetProp("hands") == expected


def test_atactic_is_seeded():
    ru = parse_repeat_unit("*CC(*)C")
    a = build_chain(ru, 30, seed=1).GetProp("hands")
    b = build_chain(ru, 30, seed=1).GetProp("hands")
    c = build_chain(ru, 30, seed=2).GetProp("hands")
    assert a == b and a != c
    assert 0 < a.count("1") < 30
    with pytest.raises(ValueError, match="tacticity"):
        build_chain(ru, 3, tacticity="random")


def test_degree_of_polymerisation():
    ru = parse_repeat_unit("*CC*")
    assert ru.n_atoms == 6
    assert degree_of_polymerisation(ru, 100) == 17  # 17 * 6 + 2 = 104 atoms
    assert degree_of_polymerisation(ru, 10, min_dp=5) == 5


@pytest.mark.parametrize(
    "smiles",
    [
        "*CC(*)c1ccccc1",  # PS: ring side group
        "*CC(C)(*)C(=O)OC",  # PMMA: the first unit has no stereocentre (two methyls)
        "*CC(*)OC(C)=O",  # PVAc: flexible ester side group
        "*CCCCCC(=O)N*",  # nylon-6: long flexible unit, N at the joint
        "*C(F)(F)C(F)(F)*",  # PTFE: two interchangeable fluorines at each joint
    ],
)
@pytest.mark.parametrize("tacticity", ["isotactic", "atactic"])
def test_grown_chain_geometry(smiles, tacticity):
    """Every bond of a grown chain, the joints and the end caps included, has a normal length."""
    ru = parse_repeat_unit(smiles)
    chain = build_chain(ru, 12, tacticity=tacticity, seed=1)
    grow_coordinates(ru, chain, seed=3)
    x = chain.GetConformer().GetPositions()
    topo = Chem.GetDistanceMatrix(chain)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    for bond in chain.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        with_h = 1 in (bond.GetBeginAtom().GetAtomicNum(), bond.GetEndAtom().GetAtomicNum())
        # C-H 1.09, N-H 1.01; C-C 1.54 at most, C-N and C-O shorter
        assert 0.9 < d[i, j] < (1.2 if with_h else 1.65), (smiles, i, j, d[i, j])
    assert d[topo >= 4].min() > 0.5  # no atoms on top of each other


def test_cyclic_oligomer_matches_rewritings():
    def key(smi, n):
        return Chem.MolToSmiles(cyclic_oligomer(parse_repeat_unit(smi), n, add_hs=False))

    assert key("*CC(*)C", 4) == key("*C(C*)C", 4)
    assert key("*OCC*", 3) == key("*CCO*", 3)
    assert backbone_length(parse_repeat_unit("*CC(*)c1ccccc1")) == 2
    assert canonical_smiles("*C(C*)C") == canonical_smiles("*CC(*)C")


def test_nitro_accepted_net_charge_rejected():
    from affinetl.polymer import PolymerSmilesError

    ru = parse_repeat_unit("*CC(*)c1ccc([N+](=O)[O-])cc1", "nitro-PS")
    assert ru.n_atoms == 18  # C8H7NO2
    chain = build_chain(ru, 2)
    assert sum(a.GetFormalCharge() for a in chain.GetAtoms()) == 0
    with pytest.raises(PolymerSpecError, match=r"'P\+': net charge \+1") as err:
        parse_repeat_unit("*CC(*)[N+](C)(C)C", "P+")
    assert isinstance(err.value, PolymerSmilesError) and isinstance(err.value, ValueError)


def test_job_id_from_polymer_identity_and_protocol(monkeypatch):
    from simdata import Job, get_preset, provenance
    from simdata.job import make_job_id

    p = get_preset("fast")
    peo = {Job(s, "PEO", p).job_id for s in ("*OCC*", "*COC*", "*CCOCCO*", "[Ce]OCC[Th]")}
    assert len(peo) == 1
    assert Job("*OCCC*", "P", p).job_id not in peo
    assert Job("*CC(*)C", "PP", p).job_id != Job("*CC(C)C(C)C*", "hh-PP", p).job_id
    cis, trans = Job("*C/C=C\\C*", "cis", p), Job("*C/C=C/C*", "trans", p)
    assert cis.job_id != trans.job_id  # the generator keeps stereo and isotopes apart
    assert Job("*OCC*", "PEO", p, seed=1).job_id not in peo
    assert Job("*OCC*", "PEO", get_preset("fast", n_chains=5)).job_id not in peo
    before = make_job_id("*CCO*", p, 0)
    monkeypatch.setattr(provenance, "PROTOCOL_VERSION", provenance.PROTOCOL_VERSION + 1)
    monkeypatch.setattr("simdata.job.PROTOCOL_VERSION", provenance.PROTOCOL_VERSION)
    assert make_job_id("*CCO*", p, 0) != before  # a protocol change never reuses rows


def test_rows_record_provenance(tmp_path):
    from simdata import Job, run_job
    from simdata.provenance import PROTOCOL_VERSION

    row = run_job(Job("*C[Si]*", "bad"), tmp_path)
    assert row["status"] == "failed"
    assert row["protocol_version"] == PROTOCOL_VERSION
    assert row["code_version"]
    for key in ("gpu_model", "gpu_driver", "cuda_version"):
        assert key in row  # None on a host without nvidia-smi


@pytest.mark.parametrize(
    ("kind", "kwargs", "expected"),
    [
        ("alternating", {"dp": 6}, [0, 1, 0, 1, 0, 1]),
        ("block", {"blocks": [2, 3]}, [0, 0, 1, 1, 1]),
    ],
)
def test_copolymer_sequences(kind, kwargs, expected):
    from simdata.copolymer import copolymer_sequence

    assert copolymer_sequence(kind, 2, **kwargs) == expected


def test_random_copolymer_sequence_is_seeded_and_follows_fractions():
    from simdata.copolymer import copolymer_sequence

    seq = copolymer_sequence("random", 2, 2000, fractions=[3, 1], seed=1)
    assert seq == copolymer_sequence("random", 2, 2000, fractions=[3, 1], seed=1)
    assert abs(np.mean(seq) - 0.25) < 0.03
    with pytest.raises(PolymerSpecError, match="fractions"):
        copolymer_sequence("random", 2, 10, fractions=[1, -1])
    with pytest.raises(PolymerSpecError, match="block length"):
        copolymer_sequence("block", 2, blocks=[3])
    with pytest.raises(PolymerSpecError, match="choose one of"):
        copolymer_sequence("graft", 2, 4)


def test_copolymer_chains_join_units_in_order():
    from simdata.build import embed
    from simdata.copolymer import build_copolymer, copolymer_sequence

    pe, pvc, ps = (parse_repeat_unit(s) for s in ("*CC*", "*CC(*)Cl", "*CC(*)c1ccccc1"))
    block = build_copolymer([pe, pvc], copolymer_sequence("block", 2, blocks=[2, 2]))
    # ethylene, ethylene, then two vinyl chlorides head to tail, H caps at both ends
    assert Chem.MolToSmiles(Chem.RemoveHs(block), isomericSmiles=False) == Chem.CanonSmiles(
        "CCCCCC(Cl)CCCl"
    )
    assert [a.GetIntProp("monomer") for a in block.GetAtoms() if a.GetAtomicNum() > 1][:4] == [
        0,
        0,
        0,
        0,
    ]
    three = build_copolymer([pe, pvc, ps], copolymer_sequence("alternating", 3, 6))
    from rdkit.Chem import rdMolDescriptors

    formula = rdMolDescriptors.CalcMolFormula(three)
    assert formula == "C24H32Cl2"  # 2 x (C2H4 + C2H3Cl + C8H8) + 2 H caps
    assert embed(three, seed=0).GetNumConformers() == 1
    with pytest.raises(PolymerSpecError, match="refers to unit"):
        build_copolymer([pe, pvc], [0, 2])


@pytest.mark.parametrize(
    ("name", "smiles"),
    [
        # aromatic imide nitrogen written n(*) (validation set, simdata/examples)
        ("PI1090", "*c1ccc(C(=O)Oc2ccc(-n3c(=O)c4cc5c(=O)n(*)c(=O)c5cc4c3=O)cc2)cc1"),
        # Kekule imide N(*) on an aromatic core
        ("PI952", "*c1ccc(S(=O)(=O)c2ccc(N3C(=O)c4cc5C(=O)N(*)C(=O)c5cc4C3=O)cc2)cc1"),
    ],
)
def test_imide_nitrogen_at_the_chain_end_kekulizes(name, smiles):
    # both failed with "Can't kekulize mol": the end unit's n(*) had no substituent and no H
    ru = parse_repeat_unit(smiles, name)
    monomer = Chem.AddHs(Chem.MolFromSmiles(smiles.replace("(*)", "([H])").replace("*", "[H]")))
    one = build_chain(ru, 1)
    assert Chem.MolToSmiles(Chem.RemoveHs(one)) == Chem.MolToSmiles(Chem.RemoveHs(monomer))
    chain = build_chain(ru, 3)
    assert chain.GetNumAtoms() == 3 * monomer.GetNumAtoms() - 4  # two H lost per joint
    # the end unit's imide nitrogen is capped with H, the other imide nitrogens are not
    nh = [a for a in chain.GetAtoms() if a.GetSymbol() == "N" and a.GetTotalNumHs(True) == 1]
    assert [a.GetIntProp("unit") for a in nh] == [2]
