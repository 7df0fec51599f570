"""Polymer repeat units: parsing, canonical form, macrocycles and identity.

The one module that reads repeat-unit SMILES, used by :mod:`affinetl.datasets`,
:mod:`affinetl.featurize` and the generator :mod:`simdata` (chain building, job ids).

A repeat unit is a SMILES with two end markers: ``*``, ``[*]``, atom-mapped ``[*:n]``,
isotope-labelled ``[1*]`` or Afzal et al.'s ``[Ce]`` (head) / ``[Th]`` (tail). One polymer has
many writings: cyclic shifts (``*OCC*`` and ``*COC*`` are both poly(ethylene oxide)),
multiples (``*CC*`` and ``*C*``), reversed direction and different placeholders.
:func:`polymer_key` maps every writing of one polymer to one string, by

1. reducing the unit to its primitive period: a unit that is ``d`` copies of a smaller unit
   (checked on macrocycles: ``d k`` copies of the smaller unit and ``k`` copies of the unit are
   the same molecule) is replaced by the smaller one, then
2. taking, among all its cyclic shifts (cut at every acyclic bond of the main chain and joined
   at the old end), the shortest, then alphabetically first, canonical SMILES.

Different polymers never share a key (head-to-head vs head-to-tail, ``*OCC*`` vs ``*OCCC*``,
para vs meta): the key is a repeat unit of the polymer, so two polymers with one key have the
same infinite chain. RDKit is imported on first use; this module needs neither torch nor
pandas at import.

The force-field descriptor block names (:data:`FFKM_BLOCKS`, :data:`FFKM_NAMES`) live here
too, so that the generator and the data loaders name the 190 FFKM columns alike.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .exceptions import UsageError

__all__ = [
    "FFKM_BLOCKS",
    "FFKM_ELEMENTS",
    "FFKM_KINDS",
    "FFKM_NAMES",
    "PolymerSmilesError",
    "RepeatUnit",
    "canonical_repeat_unit",
    "macrocycle",
    "macrocycle_smiles",
    "normalize_polymer_smiles",
    "parse_repeat_unit",
    "polymer_key",
    "primitive_formula",
    "primitive_repeat_unit",
    "same_polymer",
]

#: Elements of the 10 mass features of the FFKM descriptors (GAFF2's elements).
FFKM_ELEMENTS: tuple[str, ...] = ("H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I")
#: Force-field parameter kinds with 20 kernel-mean features each.
FFKM_KINDS: tuple[str, ...] = (
    "charge",
    "epsilon",
    "sigma",
    "k_bond",
    "r0",
    "polar",
    "k_angle",
    "theta0",
    "k_dih",
)
#: The 10 blocks of the 190 force-field kernel-mean descriptors (column-name prefixes).
FFKM_BLOCKS: tuple[str, ...] = ("mass", *FFKM_KINDS)
#: The 190 FFKM descriptor names in order: ``mass_<element>``, then ``<kind>_<0..19>``.
FFKM_NAMES: tuple[str, ...] = tuple(
    [f"mass_{e}" for e in FFKM_ELEMENTS] + [f"{k}_{i}" for k in FFKM_KINDS for i in range(20)]
)

#: Smallest number of heavy atoms of a comparison macrocycle.
MIN_RING_HEAVY_ATOMS = 12

_PLACEHOLDER = re.compile(r"\[(?:Ce|Th|\*(?::\d+)?|\d*\*(?::\d+)?)\]")


class PolymerSmilesError(UsageError):
    """A repeat-unit SMILES that does not describe a linear polymer.

    Unparsable SMILES, not exactly two ends, an end with more than one bond, several
    fragments or a net charge. A :class:`~affinetl.exceptions.UsageError` (a ``ValueError``);
    the generator's ``simdata.PolymerSpecError`` is a subclass.
    """


def _chem():  # noqa: ANN202 - rdkit is an optional dependency
    try:
        from rdkit import Chem, RDLogger  # noqa: PLC0415
    except ImportError as error:  # pragma: no cover - rdkit is in the md extra
        raise ImportError(
            "repeat-unit SMILES need RDKit: pip install 'affinetl[md]' (or pip install rdkit)"
        ) from error
    RDLogger.DisableLog("rdApp.*")
    return Chem


def normalize_polymer_smiles(smiles: str) -> str:
    """Write a repeat unit with plain ``*`` ends (head first where the input says which).

    ``[Ce]`` (head) and ``[Th]`` (tail) placeholders of Afzal et al., ``[*]``, ``[1*]`` and
    atom-mapped ``[*:n]`` become ``*``.

    Parameters
    ----------
    smiles : str
        Repeat-unit SMILES with two end markers.

    Returns
    -------
    str
        The same string with every placeholder replaced by ``*``.

    Raises
    ------
    PolymerSmilesError
        If ``smiles`` is not a non-empty string.

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


@dataclass(frozen=True)
class RepeatUnit:
    """A parsed repeat unit.

    Attributes
    ----------
    smiles : str
        SMILES as given.
    name : str
        Polymer name used in messages (the SMILES when none was given).
    mol : rdkit.Chem.Mol
        Heavy-atom molecule with the two ``*`` dummies (atomic number 0).
    head, tail : int
        Indices of the atoms bonded to the first and the second ``*``.
    stars : tuple of int
        Indices of the two ``*`` atoms.
    bond : rdkit.Chem.BondType
        Type of the bond from the head to its ``*`` (the bond between units).
    """

    smiles: str
    name: str
    mol: Any
    head: int
    tail: int
    stars: tuple[int, int]
    bond: Any

    @property
    def n_atoms(self) -> int:
        """Atoms per repeat unit with hydrogens, without the dummies."""
        return _chem().AddHs(self.mol).GetNumAtoms() - 2

    @property
    def n_heavy(self) -> int:
        """Heavy atoms per repeat unit."""
        return self.mol.GetNumHeavyAtoms()

    @property
    def backbone(self) -> int:
        """Atoms on the shortest path from head to tail (``*CC*``: 2, ``*C(*)C``: 1)."""
        if self.head == self.tail:
            return 1
        return len(_chem().GetShortestPath(self.mol, self.head, self.tail))


def parse_repeat_unit(smiles: str, name: str | None = None) -> RepeatUnit:
    """Parse and check a repeat-unit SMILES with two ends.

    Neutral charge-separated groups (nitro ``[N+](=O)[O-]``, N-oxides) are accepted; a net
    formal charge is not.

    Parameters
    ----------
    smiles : str
        Repeat unit with two end markers (see :func:`normalize_polymer_smiles`).
    name : str, optional
        Name of the polymer, quoted in errors (defaults to the SMILES).

    Returns
    -------
    RepeatUnit

    Raises
    ------
    PolymerSmilesError
        Invalid SMILES, not exactly two ends, an end with more than one bond, several
        fragments or a net charge; the message names the polymer.

    Examples
    --------
    >>> ru = parse_repeat_unit("*CC(*)C", name="PP")
    >>> ru.head, ru.tail, ru.backbone
    (1, 2, 2)
    >>> parse_repeat_unit("*CC(*)c1ccc([N+](=O)[O-])cc1").n_heavy
    11
    """
    label = name or str(smiles)
    if not isinstance(smiles, str) or not smiles.strip():
        raise PolymerSmilesError(f"polymer {label!r}: empty or missing SMILES")
    return _parse(smiles, label)


@lru_cache(maxsize=65536)
def _parse(smiles: str, label: str) -> RepeatUnit:
    Chem = _chem()
    mol = Chem.MolFromSmiles(normalize_polymer_smiles(smiles))
    if mol is None:
        raise PolymerSmilesError(f"polymer {label!r}: invalid SMILES {smiles!r}")
    stars = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 0]
    if len(stars) != 2:
        raise PolymerSmilesError(
            f"polymer {label!r}: a linear repeat unit needs exactly two '*' connection points, "
            f"found {len(stars)} in {smiles!r}"
        )
    if len(Chem.GetMolFrags(mol)) != 1:
        raise PolymerSmilesError(f"polymer {label!r}: SMILES has several fragments ({smiles!r})")
    charge = sum(a.GetFormalCharge() for a in mol.GetAtoms())
    if charge:
        raise PolymerSmilesError(
            f"polymer {label!r}: net charge {charge:+d}; charged repeat units are not supported "
            f"(neutral charge-separated groups such as nitro are) ({smiles!r})"
        )
    ends = []
    for s in stars:
        atom = mol.GetAtomWithIdx(s)
        if atom.GetDegree() != 1:
            raise PolymerSmilesError(
                f"polymer {label!r}: each '*' must have exactly one bond ({smiles!r})"
            )
        ends.append(atom.GetNeighbors()[0].GetIdx())
    bond = mol.GetBondBetweenAtoms(stars[0], ends[0]).GetBondType()
    return RepeatUnit(
        smiles=smiles,
        name=label,
        mol=mol,
        head=ends[0],
        tail=ends[1],
        stars=(stars[0], stars[1]),
        bond=bond,
    )


def macrocycle(ru: RepeatUnit, copies: int, *, sanitize: bool = True, add_hs: bool = False):
    """``copies`` repeat units joined head-to-tail into one ring (no end groups).

    Parameters
    ----------
    ru : RepeatUnit
        Parsed repeat unit.
    copies : int
        Number of units in the ring (>= 1).
    sanitize : bool, default=True
        Full RDKit sanitisation (aromaticity perceived on the whole ring). ``False`` keeps
        the repeat unit's own aromaticity and only updates valences and ring info, which is
        much faster on large rings (the generator's force-field descriptors).
    add_hs : bool, default=False
        Add explicit hydrogens.

    Returns
    -------
    rdkit.Chem.Mol
        Every atom carries integer properties ``unit`` (copy index) and ``key`` (its index
        in the unit without the dummies).

    Raises
    ------
    ValueError
        If ``copies`` is too small to close a ring (one one-atom unit).
    PolymerSmilesError
        If the ring fails sanitisation.

    Examples
    --------
    >>> Chem = _chem()
    >>> Chem.MolToSmiles(macrocycle(parse_repeat_unit("*CC*"), 3))
    'C1CCCCC1'
    """
    Chem = _chem()
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    base = ru.mol
    keep = [i for i in range(base.GetNumAtoms()) if i not in ru.stars]
    local = {old: new for new, old in enumerate(keep)}
    size = len(keep)
    rw = Chem.RWMol()
    for u in range(copies):
        for old in keep:
            atom = Chem.Atom(base.GetAtomWithIdx(old))
            atom.SetIntProp("unit", u)
            atom.SetIntProp("key", local[old])
            rw.AddAtom(atom)
        for b in base.GetBonds():
            i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
            if i in ru.stars or j in ru.stars:
                continue
            rw.AddBond(u * size + local[i], u * size + local[j], b.GetBondType())
            if b.GetIsAromatic():
                rw.GetBondBetweenAtoms(u * size + local[i], u * size + local[j]).SetIsAromatic(True)
    for u in range(copies):
        i = u * size + local[ru.tail]
        j = ((u + 1) % copies) * size + local[ru.head]
        if i == j or rw.GetBondBetweenAtoms(i, j) is not None:
            raise ValueError(f"polymer {ru.name!r}: {copies} copies are too few to close a ring")
        rw.AddBond(i, j, ru.bond)
    mol = rw.GetMol()
    try:
        if sanitize:
            Chem.SanitizeMol(mol)
        else:
            mol.UpdatePropertyCache(strict=True)
            Chem.FastFindRings(mol)
            Chem.SetHybridization(mol)
    except Exception as error:  # RDKit raises several sanitisation error types
        raise PolymerSmilesError(
            f"polymer {ru.name!r}: a ring of {copies} unit(s) fails sanitisation: {error}"
        ) from error
    return Chem.AddHs(mol) if add_hs else mol


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

    Examples
    --------
    >>> macrocycle_smiles("*CC*", 3)
    'C1CCCCC1'
    """
    mol = macrocycle(parse_repeat_unit(smiles), copies)
    return _chem().MolToSmiles(mol, isomericSmiles=isomeric)


def primitive_formula(smiles: str) -> str:
    """Element counts of the repeat unit divided by their greatest common divisor.

    Equal for all writings of one polymer (cyclic shifts and multiples): a cheap necessary
    condition and a blocking key for joins.

    Examples
    --------
    >>> primitive_formula("*CC*"), primitive_formula("*C*")
    ('C1H2', 'C1H2')
    """
    counts = _element_counts(parse_repeat_unit(smiles))
    divisor = math.gcd(*counts.values()) if counts else 1
    return "".join(f"{el}{counts[el] // divisor}" for el in sorted(counts))


def _element_counts(ru: RepeatUnit) -> Counter:
    mol = _chem().AddHs(ru.mol)
    return Counter(a.GetSymbol() for a in mol.GetAtoms() if a.GetAtomicNum() > 0)


def _path_bonds(ru: RepeatUnit) -> list[tuple[int, int]]:
    """Bonds (atom pairs) of the head-to-tail shortest path, head first."""
    if ru.head == ru.tail:
        return []
    path = _chem().GetShortestPath(ru.mol, ru.head, ru.tail)
    return list(zip(path[:-1], path[1:]))


def _cut(mol, bond: int, keep_atom: int, isomeric: bool) -> str:
    """SMILES of the fragment holding ``keep_atom`` after cutting ``bond`` (a dummy there)."""
    Chem = _chem()
    frag = Chem.FragmentOnBonds(mol, [bond], addDummies=True, dummyLabels=[(0, 0)])
    mapping: list = []
    pieces = Chem.GetMolFrags(frag, asMols=True, fragsMolAtomMapping=mapping, sanitizeFrags=False)
    piece = next(p for p, atoms in zip(pieces, mapping) if keep_atom in atoms)
    return Chem.MolToSmiles(piece, isomericSmiles=isomeric)


def _divides(mol, start: int, i: int, j: int, counts: Counter, d: int) -> bool:
    """Whether the part on ``start``'s side of bond (i, j) has 1/d of the unit's atoms.

    A cheap necessary condition for a d-fold unit, checked before building macrocycles.
    """
    seen, todo = {start}, [start]
    while todo:
        atom = mol.GetAtomWithIdx(todo.pop())
        for nb in atom.GetNeighbors():
            k = nb.GetIdx()
            if k in seen or {atom.GetIdx(), k} == {i, j}:
                continue
            seen.add(k)
            todo.append(k)
    part: Counter = Counter()
    for k in seen:
        atom = mol.GetAtomWithIdx(k)
        if atom.GetAtomicNum() > 0:
            part[atom.GetSymbol()] += 1
            part["H"] += atom.GetTotalNumHs()
    return all(part[el] * d == n for el, n in counts.items())


def _ring_check_copies(n_heavy: int) -> int:
    return max(3, math.ceil(MIN_RING_HEAVY_ATOMS / max(n_heavy, 1)))


@lru_cache(maxsize=65536)
def _primitive(smiles: str, isomeric: bool) -> str:
    Chem = _chem()
    ru = parse_repeat_unit(smiles)
    counts = _element_counts(ru)
    g = math.gcd(*counts.values()) if counts else 1
    bonds = _path_bonds(ru)
    n_path = len(bonds) + 1
    mol = ru.mol
    k = _ring_check_copies(ru.n_heavy)
    reference = None
    stereo = any(b.GetStereo() != Chem.BondStereo.STEREONONE for b in mol.GetBonds()) or any(
        a.GetChiralTag() != Chem.ChiralType.CHI_UNSPECIFIED for a in mol.GetAtoms()
    )
    if isomeric and stereo:
        g = 1  # rings do not carry stereo labels: a stereo unit is not reduced
    for d in sorted((d for d in range(2, g + 1) if g % d == 0 and n_path % d == 0), reverse=True):
        # a d-fold unit splits its main chain into d equal stretches joined by bridges
        i, j = bonds[n_path // d - 1]
        bond = mol.GetBondBetweenAtoms(i, j)
        if bond.IsInRing() or not _divides(mol, ru.stars[0], i, j, counts, d):
            continue
        candidate = _cut(mol, bond.GetIdx(), ru.stars[0], isomeric)
        if reference is None:
            reference = macrocycle_smiles(smiles, k, isomeric)
        try:
            if macrocycle_smiles(candidate, k * d, isomeric) == reference:
                return candidate
        except (ValueError, PolymerSmilesError):
            continue
    return Chem.MolToSmiles(mol, isomericSmiles=isomeric)


def primitive_repeat_unit(smiles: str, *, isomeric: bool = False) -> str:
    """The smallest repeat unit of the polymer, as canonical SMILES (``*CCCC*`` -> ``*C*``).

    Parameters
    ----------
    smiles : str
        Repeat unit with two ends.
    isomeric : bool, default=False
        Keep stereochemistry.

    Returns
    -------
    str

    Examples
    --------
    >>> primitive_repeat_unit("*CC(C)CC(C)*")
    '*CC(*)C'
    """
    return _primitive(normalize_polymer_smiles(smiles), bool(isomeric))


@lru_cache(maxsize=1 << 20)
def _canonical(smiles: str, isomeric: bool) -> str:
    Chem = _chem()
    unit = _primitive(smiles, isomeric)
    ru = parse_repeat_unit(unit)
    options = {unit}
    for i, j in _path_bonds(ru):
        bond = ru.mol.GetBondBetweenAtoms(i, j)
        if bond.IsInRing() or (isomeric and bond.GetBondType() != Chem.BondType.SINGLE):
            continue  # a ring cannot be cut; a cut double bond would lose its cis/trans label
        # cut at the bond, then join the old tail to the old head: one cyclic shift
        frag = Chem.RWMol(
            Chem.FragmentOnBonds(ru.mol, [bond.GetIdx()], addDummies=True, dummyLabels=[(0, 0)])
        )
        for star in ru.stars:
            frag.GetAtomWithIdx(star).SetAtomMapNum(1)
        options.add(Chem.MolToSmiles(Chem.molzip(frag), isomericSmiles=isomeric))
    return min(options, key=lambda s: (len(s), s))


def canonical_repeat_unit(smiles: str, *, isomeric: bool = False) -> str:
    """One repeat unit per polymer: every writing of a polymer gives the same string.

    The primitive unit's cyclic shift with the shortest, then alphabetically first,
    canonical SMILES.

    Parameters
    ----------
    smiles : str
        Repeat unit with two ends (any placeholder convention).
    isomeric : bool, default=False
        Keep stereochemistry (cis and trans polydienes then differ).

    Returns
    -------
    str
        A repeat-unit SMILES with two ``*``.

    Raises
    ------
    PolymerSmilesError
        If ``smiles`` is not a valid repeat unit.

    Examples
    --------
    >>> canonical_repeat_unit("*OCC*") == canonical_repeat_unit("*COC*")
    True
    >>> canonical_repeat_unit("*CCCC*")
    '*C*'
    """
    text = normalize_polymer_smiles(smiles)
    parse_repeat_unit(text)  # raise on bad input before the cached work
    return _canonical(text, bool(isomeric))


def polymer_key(smiles: str, *, isomeric: bool = False) -> str:
    """Identity key of a polymer: equal for two writings exactly when they are one polymer.

    Currently the :func:`canonical_repeat_unit` (readable, and itself a valid repeat unit);
    compare keys only when computed by the same RDKit version.

    Examples
    --------
    >>> polymer_key("[Ce]CC([Th])C") == polymer_key("*C(C)C*")
    True
    >>> polymer_key("*CC(*)C") == polymer_key("*CC(C)C(C)C*")  # head-to-tail vs head-to-head
    False
    """
    return canonical_repeat_unit(smiles, isomeric=isomeric)


def same_polymer(smiles_a: str, smiles_b: str, *, isomeric: bool = False) -> bool:
    """Whether two repeat-unit SMILES describe the same polymer.

    Cyclic shifts of the repeat unit, multiples of it, the direction of writing and the
    placeholder conventions ``*``, ``[*]``, ``[*:n]``, ``[Ce]``/``[Th]`` are all recognised.

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
        If a SMILES is not a valid repeat unit.

    Examples
    --------
    >>> same_polymer("*CC*", "*C*")
    True
    >>> same_polymer("*OCCOC(=O)c1ccc(C(*)=O)cc1", "*CCOC(=O)c1ccc(C(=O)O*)cc1")
    True
    >>> same_polymer("*CC(*)C", "*CC*")
    False
    """
    a = polymer_key(smiles_a, isomeric=isomeric)
    return a == polymer_key(smiles_b, isomeric=isomeric)
