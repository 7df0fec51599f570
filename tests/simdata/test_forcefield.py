from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("rdkit")
if shutil.which("antechamber") is None:
    import sys
    from pathlib import Path

    if not (Path(sys.executable).parent / "antechamber").exists():
        pytest.skip("AmberTools not installed", allow_module_level=True)

from simdata.build import parse_repeat_unit  # noqa: E402
from simdata.forcefield import (  # noqa: E402
    parameterise_chain,
    read_mol2_charges,
    write_system_prmtop,
)
from simdata.pack import box_length_nm, pack_chains, read_pdb_positions  # noqa: E402


def test_gasteiger_chain_prmtop_and_pack(tmp_path, cache_dir):
    openmm_app = pytest.importorskip("openmm.app")
    ru = parse_repeat_unit("*CC(*)Cl", "PVC")
    params = parameterise_chain(
        ru, atoms_per_chain=40, charge_method="gasteiger", cache_dir=cache_dir
    )
    assert params.dp == 7 and params.n_atoms == 7 * 6 + 2
    q = read_mol2_charges(params.mol2)
    assert abs(q.sum()) < 1e-3  # neutral chain
    types = {
        line.split()[5]
        for line in params.mol2.read_text()
        .split("@<TRIPOS>ATOM")[1]
        .split("@")[0]
        .strip()
        .splitlines()
    }
    assert {"c3", "cl", "hc", "h1"} <= types  # GAFF2 types
    again = parameterise_chain(
        ru, atoms_per_chain=40, charge_method="gasteiger", cache_dir=cache_dir
    )
    assert again.mol2 == params.mol2  # cached by canonical SMILES
    packed = pack_chains(params.pdb, 3, params.mass_amu, 0.2, tmp_path / "pack")
    assert packed.n_atoms == 3 * params.n_atoms
    xyz = read_pdb_positions(packed.pdb)
    assert xyz.min() >= 0 and xyz.max() <= packed.box_nm * 10 + 1e-6
    prmtop = write_system_prmtop(params, 3, packed.box_nm, tmp_path / "pack")
    top = openmm_app.AmberPrmtopFile(str(prmtop))
    assert top.topology.getNumAtoms() == packed.n_atoms
    assert top.topology.getNumResidues() == 3  # one residue per chain


def test_am1bcc_charges_transfer(cache_dir):
    ru = parse_repeat_unit("*CC(*)C#N", "PAN")
    params = parameterise_chain(
        ru,
        atoms_per_chain=60,
        charge_method="am1bcc",
        charge_oligomer_atoms=40,
        cache_dir=cache_dir,
    )
    q = read_mol2_charges(params.mol2)
    assert abs(q.sum()) < 1e-3
    lines = params.mol2.read_text().split("@<TRIPOS>ATOM")[1].split("@")[0].strip().splitlines()
    nitrile_n = np.array([float(x.split()[8]) for x in lines if x.split()[5] == "n1"])
    # every repeat unit got the same (transferred) nitrile charge, clearly negative
    assert len(nitrile_n) == params.dp
    assert nitrile_n.max() < -0.3 and np.ptp(nitrile_n[1:-1]) < 1e-6


def test_box_length():
    assert box_length_nm(602.214076, 1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        box_length_nm(10, 0)
