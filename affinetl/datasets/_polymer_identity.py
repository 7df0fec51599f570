"""Polymer identity: are two repeat-unit SMILES the same polymer?

One polymer has many repeat-unit writings: cyclic shifts (``*OCCOC(=O)c1ccc(C(*)=O)cc1`` vs
``*CCOC(=O)c1ccc(C(=O)O*)cc1``), multiples (``*CC*`` vs ``*C*``) and different placeholder
conventions (``*``, ``[*]``, ``[*:1]``, Afzal et al.'s ``[Ce]`` head / ``[Th]`` tail). Canonical
SMILES of the repeat unit cannot see through these. Joining ``k`` copies of the unit head-to-tail
into a macrocycle can: two writings are the same polymer exactly when their macrocycles with the
same number of atoms are the same molecule, which canonical SMILES decides.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import pandas as pd

__all__ = [
    "PolymerSmilesError",
    "macrocycle_smiles",
    "match_polymers",
    "normalize_polymer_smiles",
    "primitive_formula",
    "same_polymer",
]

logger = logging.getLogger(__name__)

#: Smallest backbone (atoms along the chain) of a comparison macrocycle.
MIN_RING_BACKBONE = 6

_PLACEHOLDER = re.compile(r"\[(?:Ce|Th|\*(?::\d+)?|\d*\*(?::\d+)?)\]")


class PolymerSmilesError(ValueError):
    """A repeat-unit SMILES that cannot be parsed or has not exactly two ends."""


def _chem():  # noqa: ANN202 - rdkit is an optional dependency
    try:
        from rdkit import Chem, RDLogger  # noqa: PLC0415
    except ImportError as error:  # pragma: no cover - rdkit is in the md extra
        raise ImportError(
            "polymer identity needs RDKit: pip install 'affinetl[md]' (or pip install rdkit)"
        ) from error
    RDLogger.DisableLog("rdApp.*")
    return Chem


def normalize_polymer_smiles(smiles: str) -> str:
    """Write a repeat unit with plain ``*`` ends (head first where the input says which).

    ``[Ce]`` (head) and ``[Th]`` (tail) placeholders of Afzal et al., ``[*]`` and atom-mapped
    ``[*:n]`` become ``*``.

    Parameters
    ----------
    smiles : str
        Repeat-unit SMILES with two end markers.

    Returns
    -------
    str
        The same string with every placeholder replaced by ``*``.

    Examples
    --------
    >>> normalize_polymer_smiles("[Ce][Si](C)(C)O[Th]")
    '*[Si](C)(C)O*'
    >>> normalize_polymer_smiles("[*:1]CC[*:2]")
    '*CC*'
    """
    if not isinstance(smiles, str) or not smiles.strip():
        raise PolymerSmilesError(f"expected a repeat-unit SMILES string, got {smiles!r}")
    return _PLACEHOLDER.sub("*", smiles.strip())


@lru_cache(maxsize=65536)
def _unit(smiles: str):  # noqa: ANN202 - (mol, head, tail, n_heavy, backbone, bond)
    Chem = _chem()
    mol = Chem.MolFromSmiles(normalize_polymer_smiles(smiles))
    if mol is None:
        raise PolymerSmilesError(f"RDKit cannot parse the repeat unit {smiles!r}")
    dummies = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 0]
    if len(dummies) != 2:
        raise PolymerSmilesError(
            f"repeat unit {smiles!r} must have exactly two ends (*), found {len(dummies)}"
        )
    ends = []
    for idx in dummies:
        atom = mol.GetAtomWithIdx(idx)
        if atom.GetDegree() != 1:
            raise PolymerSmilesError(f"end marker {idx} of {smiles!r} must have one neighbour")
        ends.append(atom.GetNeighbors()[0].GetIdx())
    bond = mol.GetBondBetweenAtoms(dummies[0], ends[0]).GetBondType()
    if ends[0] == ends[1]:
        backbone = 1
    else:
        backbone = len(Chem.GetShortestPath(mol, ends[0], ends[1]))
    return mol, tuple(dummies), tuple(ends), mol.GetNumHeavyAtoms(), backbone, bond


def primitive_formula(smiles: str) -> str:
    """Element counts of the repeat unit divided by their greatest common divisor.

    Equal for all writings of one polymer (cyclic shifts and multiples), so it is a cheap
    necessary condition and a blocking key for joins.

    Examples
    --------
    >>> primitive_formula("*CC*"), primitive_formula("*C*")
    ('C1H2', 'C1H2')
    """
    Chem = _chem()
    mol = Chem.AddHs(_unit(smiles)[0])
    counts = Counter(a.GetSymbol() for a in mol.GetAtoms() if a.GetAtomicNum() > 0)
    divisor = math.gcd(*counts.values()) if counts else 1
    return "".join(f"{el}{counts[el] // divisor}" for el in sorted(counts))


@lru_cache(maxsize=65536)
def macrocycle_smiles(smiles: str, copies: int, isomeric: bool = False) -> str:
    """Canonical SMILES of ``copies`` repeat units joined head-to-tail into one ring.

    Parameters
    ----------
    smiles : str
        Repeat-unit SMILES with two ends.
    copies : int
        Number of repeat units in the ring (>= 1).
    isomeric : bool, default=False
        Keep stereochemistry and isotopes in the canonical SMILES.

    Returns
    -------
    str
        Canonical SMILES of the macrocycle.

    Examples
    --------
    >>> macrocycle_smiles("*CC*", 3)
    'C1CCCCC1'
    """
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    Chem = _chem()
    mol, dummies, ends, _, _, bond = _unit(smiles)
    core = Chem.RWMol(mol)
    for idx in sorted(dummies, reverse=True):
        core.RemoveAtom(idx)
    core_mol = core.GetMol()

    # indices of the head and tail atoms after the two dummies were removed
    def shifted(i: int) -> int:
        return i - sum(d < i for d in dummies)

    head, tail = shifted(ends[0]), shifted(ends[1])
    n = core_mol.GetNumAtoms()
    ring = Chem.RWMol(core_mol)
    for _ in range(copies - 1):
        ring.InsertMol(core_mol)
    for c in range(copies):
        a, b = c * n + tail, ((c + 1) % copies) * n + head
        if a == b or ring.GetBondBetweenAtoms(a, b) is not None:
            # a one-atom unit in a one-copy ring (or a two-copy ring of single atoms): the
            # macrocycle would need a self loop or a double edge; callers avoid this by
            # using enough copies.
            raise ValueError(f"{copies} copies of {smiles!r} are too few to close a ring")
        ring.AddBond(a, b, bond)
    out = ring.GetMol()
    try:
        Chem.SanitizeMol(out)
    except Exception as error:  # RDKit raises several sanitisation exception types
        raise PolymerSmilesError(f"cannot build a ring from {smiles!r}: {error}") from error
    return Chem.MolToSmiles(out, isomericSmiles=isomeric)


def _copies(unit_a: tuple, unit_b: tuple) -> tuple[int, int]:
    """Copies of each unit giving rings of equal size with a backbone of >= 6 atoms."""
    n_a, n_b = unit_a[3], unit_b[3]
    total = math.lcm(n_a, n_b)
    k_a, k_b = total // n_a, total // n_b
    backbone = min(k_a * unit_a[4], k_b * unit_b[4])
    scale = max(1, math.ceil(MIN_RING_BACKBONE / max(backbone, 1)))
    return k_a * scale, k_b * scale


def same_polymer(smiles_a: str, smiles_b: str, *, isomeric: bool = False) -> bool:
    """Whether two repeat-unit SMILES describe the same polymer.

    Cyclic shifts of the repeat unit, multiples of it, and the placeholder conventions ``*``,
    ``[*]``, ``[*:n]``, ``[Ce]``/``[Th]`` are all recognised.

    Parameters
    ----------
    smiles_a, smiles_b : str
        Repeat-unit SMILES, each with exactly two ends.
    isomeric : bool, default=False
        Also require equal stereochemistry and isotopes.

    Returns
    -------
    bool

    Raises
    ------
    PolymerSmilesError
        If a SMILES cannot be parsed or does not have exactly two ends.

    Examples
    --------
    >>> same_polymer("*CC*", "*C*")
    True
    >>> same_polymer("*OCCOC(=O)c1ccc(C(*)=O)cc1", "*CCOC(=O)c1ccc(C(=O)O*)cc1")
    True
    >>> same_polymer("*CC(*)C", "*CC*")
    False
    """
    unit_a, unit_b = _unit(smiles_a), _unit(smiles_b)
    if primitive_formula(smiles_a) != primitive_formula(smiles_b):
        return False
    k_a, k_b = _copies(unit_a, unit_b)
    return macrocycle_smiles(smiles_a, k_a, isomeric) == macrocycle_smiles(smiles_b, k_b, isomeric)


def match_polymers(
    left: Sequence[str] | pd.Series,
    right: Sequence[str] | pd.Series,
    *,
    isomeric: bool = False,
    errors: str = "ignore",
) -> pd.DataFrame:
    """All pairs of rows of two SMILES lists that are the same polymer.

    Rows are blocked by :func:`primitive_formula` and compared with :func:`same_polymer`
    inside each block, so a join of thousands of rows takes seconds.

    Parameters
    ----------
    left, right : sequence of str or pandas.Series
        Repeat-unit SMILES. A Series' index labels are reported, else positions.
    isomeric : bool, default=False
        Also require equal stereochemistry.
    errors : {"ignore", "raise"}, default="ignore"
        What to do with unparsable SMILES or units without two ends (``"ignore"`` skips them
        with a log message).

    Returns
    -------
    pandas.DataFrame
        Columns ``left``, ``right`` (index labels or positions) and ``left_smiles``,
        ``right_smiles``; one row per matching pair.

    Examples
    --------
    >>> match_polymers(["*CC*", "*CC(*)C"], ["[Ce]C[Th]", "*O*"])[["left", "right"]]
       left  right
    0     0      0
    """
    if errors not in ("ignore", "raise"):
        raise ValueError(f"errors must be 'ignore' or 'raise', got {errors!r}")
    left_s = left if isinstance(left, pd.Series) else pd.Series(list(left))
    right_s = right if isinstance(right, pd.Series) else pd.Series(list(right))

    def blocks(series: pd.Series) -> dict[str, list[tuple[object, str]]]:
        out: dict[str, list[tuple[object, str]]] = {}
        for label, smiles in series.items():
            if not isinstance(smiles, str):
                continue
            try:
                key = primitive_formula(smiles)
            except PolymerSmilesError as error:
                if errors == "raise":
                    raise
                logger.info("skipping %r: %s", smiles, error)
                continue
            out.setdefault(key, []).append((label, smiles))
        return out

    right_blocks = blocks(right_s)
    rows = []
    for key, members in blocks(left_s).items():
        for label_a, smiles_a in members:
            for label_b, smiles_b in right_blocks.get(key, []):
                try:
                    same = same_polymer(smiles_a, smiles_b, isomeric=isomeric)
                except (PolymerSmilesError, ValueError) as error:
                    if errors == "raise":
                        raise
                    logger.info("cannot compare %r and %r: %s", smiles_a, smiles_b, error)
                    continue
                if same:
                    rows.append((label_a, label_b, smiles_a, smiles_b))
    return pd.DataFrame(rows, columns=["left", "right", "left_smiles", "right_smiles"])
