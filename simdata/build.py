"""Repeat-unit SMILES -> RDKit chain with 3-D coordinates."""

from __future__ import annotations

import logging
import random

import numpy as np

from affinetl.polymer import PolymerSmilesError, RepeatUnit, macrocycle, polymer_key
from affinetl.polymer import parse_repeat_unit as _parse_shared

from .errors import PolymerSpecError

__all__ = [
    "ALLOWED_ELEMENTS",
    "RepeatUnit",
    "parse_repeat_unit",
    "canonical_smiles",
    "degree_of_polymerisation",
    "build_chain",
    "embed",
    "relax",
    "grow_coordinates",
    "cyclic_oligomer",
    "backbone_length",
]

logger = logging.getLogger(__name__)

#: Elements covered by GAFF2.
ALLOWED_ELEMENTS = ("H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I")


def parse_repeat_unit(smiles: str, name: str | None = None) -> RepeatUnit:
    """Validate a repeat-unit SMILES for simulation: two ``*``, GAFF2 elements, neutral.

    Parsing, end markers (``*``, ``[*:n]``, ``[Ce]``/``[Th]``) and the net-charge check are
    those of :func:`affinetl.polymer.parse_repeat_unit`; neutral charge-separated groups such
    as nitro (``[N+](=O)[O-]``) are accepted. The generator also needs GAFF2 elements and
    single bonds to the ``*``.

    Parameters
    ----------
    smiles : str
        Repeat unit, PoLyInfo/RadonPy convention (``*CC(*)c1ccccc1``).
    name : str, optional
        Name of the polymer, quoted in errors (defaults to the SMILES).

    Returns
    -------
    RepeatUnit

    Raises
    ------
    PolymerSpecError
        Invalid SMILES, not exactly two ``*``, a ``*`` with more than one bond or a
        multiple bond, unsupported elements, a net charge or several fragments.

    Examples
    --------
    >>> ru = parse_repeat_unit("*CC(*)C", name="PP")
    >>> ru.head, ru.tail
    (1, 2)
    """
    from rdkit import Chem

    label = name or str(smiles)
    try:
        ru = _parse_shared(smiles, name)
    except PolymerSmilesError as exc:
        raise PolymerSpecError(str(exc)) from exc
    mol = ru.mol
    bad = sorted(
        {a.GetSymbol() for a in mol.GetAtoms() if a.GetAtomicNum() > 0} - set(ALLOWED_ELEMENTS)
    )
    if bad:
        raise PolymerSpecError(
            f"polymer {label!r}: element(s) {bad} not covered by GAFF2 "
            f"(supported: {', '.join(ALLOWED_ELEMENTS)})"
        )
    for s in ru.stars:
        if mol.GetAtomWithIdx(s).GetBonds()[0].GetBondType() != Chem.BondType.SINGLE:
            raise PolymerSpecError(
                f"polymer {label!r}: each '*' must have one single bond ({smiles!r})"
            )
    return ru


def canonical_smiles(smiles: str, name: str | None = None) -> str:
    """Identity of a validated repeat unit: one string per polymer.

    :func:`affinetl.polymer.polymer_key` with stereochemistry and isotopes kept (cis and
    trans, or deuterated, polymers are simulated separately): cyclic shifts, multiples and
    spellings of one polymer give one string.

    Examples
    --------
    >>> canonical_smiles("*OCC*") == canonical_smiles("*COC*") == canonical_smiles("*CCOCCO*")
    True
    """
    parse_repeat_unit(smiles, name)
    return polymer_key(smiles, isomeric=True)


def degree_of_polymerisation(ru: RepeatUnit, atoms_per_chain: int, min_dp: int = 2) -> int:
    """Smallest degree of polymerisation whose chain reaches ``atoms_per_chain`` atoms."""
    per_unit = ru.n_atoms
    return max(min_dp, int(np.ceil((atoms_per_chain - 2) / per_unit)))


def _hands(dp: int, tacticity: str, seed: int) -> list[int]:
    if tacticity == "atactic":
        rng = random.Random(seed)
        return [rng.randrange(2) for _ in range(dp)]
    if tacticity == "isotactic":
        return [0] * dp
    if tacticity == "syndiotactic":
        return [u % 2 for u in range(dp)]
    raise ValueError(f"unknown tacticity {tacticity!r}; choose atactic, isotactic or syndiotactic")


def build_chain(
    ru: RepeatUnit,
    dp: int,
    *,
    tacticity: str = "atactic",
    seed: int = 0,
):
    """Join ``dp`` repeat units head-to-tail, cap the ends with H, add hydrogens.

    Parameters
    ----------
    ru : RepeatUnit
        Validated repeat unit.
    dp : int
        Degree of polymerisation (>= 1).
    tacticity : {"atactic", "isotactic", "syndiotactic"}
        Handedness of the stereocentres of each repeat unit: random (seeded), all
        equal, alternating.
    seed : int
        Seed of the atactic assignment.

    Returns
    -------
    rdkit.Chem.Mol
        Chain with explicit hydrogens and no coordinates. Every atom carries integer
        properties ``unit`` (repeat-unit index) and ``key`` (position in its unit;
        hydrogens ``1000 * (k + 1) + heavy_key``), used to transfer charges and
        coordinates; the molecule property ``hands`` lists each unit's handedness.

    Examples
    --------
    >>> chain = build_chain(parse_repeat_unit("*CC*"), 3)
    >>> chain.GetNumAtoms()
    20
    """
    if dp < 1:
        raise PolymerSpecError(f"polymer {ru.name!r}: degree of polymerisation must be >= 1")
    return _chain_mol(ru, _hands(dp, tacticity, seed))


def _chain_mol(ru: RepeatUnit, hands: list[int], units: list[RepeatUnit] | None = None):
    """Chain of ``len(hands)`` units: all ``ru``, or ``units[u]`` at position u (copolymers)."""
    from rdkit import Chem

    units = units or [ru] * len(hands)
    kinds = {id(x): k for k, x in enumerate(dict.fromkeys(units, None))}
    # Each unit is joined in its Kekule form and the chain's aromaticity is perceived again by
    # the sanitisation below. Copying aromatic flags fails at the chain ends: an aromatic
    # nitrogen written ``n(*)`` (imides of PI1009, PI1090) loses its substituent there and,
    # aromatic with no hydrogen, cannot be kekulized; in Kekule form it takes an implicit H.
    kekule = {}
    for unit in units:
        if id(unit) not in kekule:
            kekule[id(unit)] = Chem.RWMol(unit.mol)
            try:
                Chem.Kekulize(kekule[id(unit)], clearAromaticFlags=True)
            except Exception as exc:  # RDKit raises several kekulization error types
                raise PolymerSpecError(
                    f"polymer {unit.name!r}: repeat unit cannot be kekulized: {exc}"
                ) from exc
    rw = Chem.RWMol()
    offsets, tails = [], []
    for u, unit in enumerate(units):
        base = kekule[id(unit)]
        keep = [i for i in range(base.GetNumAtoms()) if i not in unit.stars]
        local = {old: new for new, old in enumerate(keep)}
        off = rw.GetNumAtoms()
        offsets.append(off)
        for old in keep:
            a = Chem.Atom(base.GetAtomWithIdx(old))
            a.SetIntProp("unit", u)
            a.SetIntProp("key", local[old])
            a.SetIntProp("monomer", kinds[id(unit)])
            rw.AddAtom(a)
        for b in base.GetBonds():
            i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
            if i in unit.stars or j in unit.stars:
                continue
            rw.AddBond(off + local[i], off + local[j], b.GetBondType())
        if u > 0:
            rw.AddBond(tails[-1], off + local[unit.head], Chem.BondType.SINGLE)
        tails.append(off + local[unit.tail])
    mol = rw.GetMol()
    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:  # RDKit raises several sanitisation error types
        raise PolymerSpecError(f"polymer {ru.name!r}: chain fails sanitisation: {exc}") from exc
    centres = [
        si.centeredOn
        for si in Chem.FindPotentialStereo(mol)
        if si.type == Chem.StereoType.Atom_Tetrahedral
    ]
    tags = (Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW)
    for idx in centres:
        atom = mol.GetAtomWithIdx(idx)
        if atom.GetChiralTag() == Chem.ChiralType.CHI_UNSPECIFIED:
            atom.SetChiralTag(tags[hands[atom.GetIntProp("unit")]])
    mol = Chem.AddHs(mol)
    for a in mol.GetAtoms():
        if a.GetAtomicNum() == 1 and not a.HasProp("unit"):
            heavy = a.GetNeighbors()[0]
            k = sum(
                1
                for n in heavy.GetNeighbors()
                if n.GetAtomicNum() == 1 and not n.HasProp("unit") and n.GetIdx() < a.GetIdx()
            )
            k += sum(1 for n in heavy.GetNeighbors() if n.GetAtomicNum() == 1 and n.HasProp("unit"))
            a.SetIntProp("unit", heavy.GetIntProp("unit"))
            a.SetIntProp("key", 1000 * (k + 1) + heavy.GetIntProp("key"))
    mol.SetProp("_Name", ru.name if len(set(map(id, units))) == 1 else "copolymer")
    mol.SetIntProp("dp", len(hands))
    mol.SetProp("hands", "".join(str(h) for h in hands))
    return mol


def embed(mol, *, seed: int = 0, max_iters: int = 500):
    """3-D coordinates of a small molecule: ETKDG followed by MMFF (or UFF) relaxation.

    Parameters
    ----------
    mol : rdkit.Chem.Mol
        Molecule with explicit hydrogens.
    seed : int
        Random seed of the embedding.
    max_iters : int
        Force-field relaxation iterations (0 skips the relaxation).

    Returns
    -------
    rdkit.Chem.Mol
        The same molecule with one conformer (Angstrom).

    Raises
    ------
    PolymerSpecError
        When no conformer can be embedded.
    """
    from rdkit import Chem
    from rdkit.Chem import AllChem

    name = mol.GetProp("_Name") if mol.HasProp("_Name") else Chem.MolToSmiles(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    cid = AllChem.EmbedMolecule(mol, params)
    if cid < 0:
        params.useRandomCoords = True
        cid = AllChem.EmbedMolecule(mol, params)
    if cid < 0:
        raise PolymerSpecError(f"polymer {name!r}: RDKit could not embed 3-D coordinates")
    relax(mol, max_iters=max_iters)
    return mol


def relax(mol, *, max_iters: int = 500) -> None:
    """Relax the conformer in place with MMFF94 (UFF when MMFF lacks parameters)."""
    from rdkit.Chem import AllChem

    if max_iters <= 0:
        return
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol, maxIters=max_iters)
    else:
        AllChem.UFFOptimizeMolecule(mol, maxIters=max_iters)


def _kabsch(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation ``r`` and shift ``t`` minimising ``|p @ r.T + t - q|``."""
    pc, qc = p.mean(0), q.mean(0)
    h = (p - pc).T @ (q - qc)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return r, qc - pc @ r.T


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def _unit_coords(mol, unit: int) -> dict[int, np.ndarray]:
    pos = mol.GetConformer().GetPositions()
    return {
        a.GetIntProp("key"): pos[a.GetIdx()] for a in mol.GetAtoms() if a.GetIntProp("unit") == unit
    }


#: Embedded conformers per template of :func:`grow_coordinates`.
N_TEMPLATES = 4
#: Closest approach (Angstrom) of a new unit to earlier atoms four or more bonds away.
CLEARANCE = 1.8
#: Dead ends of the walk that may be undone, per repeat unit of the chain.
MAX_BACKTRACKS = 4
#: Pseudo-keys of a template unit: the next unit's head and the previous unit's tail.
_NEXT, _PREV = -1, -2
#: Bond lengths (Angstrom) of the end caps' hydrogens.
_X_H_LENGTH = {"C": 1.09, "N": 1.01, "O": 0.96, "S": 1.34, "Si": 1.48, "P": 1.42}


def grow_coordinates(ru: RepeatUnit, chain, *, seed: int = 0, relax_iters: int = 0):
    """3-D coordinates of a long chain by a self-avoiding random walk of repeat units.

    For every pair of unit handedness ``(a, b)`` the tetramer ``a a b b`` is embedded with
    ETKDG (``N_TEMPLATES`` conformers); its two middle units give the unit-to-unit transform.
    Only middle units are used: end units can lose their stereocentre (PMMA's first unit
    carries two methyls), so their embedded configuration is arbitrary. Each new unit is placed
    by superposing the template's first middle unit on the previous unit at the joining atom,
    its backbone neighbour and its free valence, then rotated about the joining bond: one of
    the 24 torsions x ``N_TEMPLATES`` conformers, drawn at random among those that keep it
    ``CLEARANCE`` Angstrom from all earlier atoms four or more bonds away. At a dead end (no
    such choice: the walk has curled into itself) the last two units are regrown, up to
    ``MAX_BACKTRACKS`` times per unit; after that the choice with the most room is taken. The
    end caps are hydrogens along the end units' free valences. Bond lengths and angles at the
    joints are those of the embedded templates. Cost is linear in the chain length, where
    ETKDG on a whole 400-atom chain takes minutes.

    Parameters
    ----------
    ru : RepeatUnit
        The repeat unit the chain was built from.
    chain : rdkit.Chem.Mol
        Output of :func:`build_chain`.
    seed : int
        Seed of the embedding and of the torsion choices.
    relax_iters : int
        MMFF/UFF iterations on the grown chain (0: none; the MD minimiser relaxes it).

    Returns
    -------
    rdkit.Chem.Mol
        ``chain`` with one conformer (Angstrom).
    """
    from rdkit import Chem

    hands = [int(h) for h in chain.GetProp("hands")]
    dp = len(hands)
    rng = np.random.default_rng(seed)
    if dp <= 2:
        return embed(chain, seed=seed, max_iters=max(relax_iters, 200))
    kinds = sorted(set(hands))
    head_key, tail_key = _local_index(ru, ru.head), _local_index(ru, ru.tail)
    # several conformers per handedness pair: a unit's own backbone torsions come from its
    # template, so one template alone can force a coil that no joint torsion keeps apart. Each
    # middle unit also records where its neighbours' joining atoms sit (pseudo-keys _NEXT, the
    # next unit's head, and _PREV, the previous unit's tail): its free valences.
    middle: dict[tuple[int, int], list[tuple[dict, dict]]] = {}
    for a in kinds:
        for b in kinds:
            middle[a, b] = []
            for k in range(N_TEMPLATES):
                tetramer = embed(_chain_mol(ru, [a, a, b, b]), seed=seed + k, max_iters=200)
                u = [_unit_coords(tetramer, i) for i in range(4)]
                for i in (1, 2):
                    u[i][_NEXT], u[i][_PREV] = u[i + 1][head_key], u[i - 1][tail_key]
                middle[a, b].append((u[1], u[2]))
    # A new unit is placed by superposing its template's first middle unit on the previous
    # unit at three uniquely defined points: the joining (tail) atom, its backbone neighbour
    # and the free valence where the next head goes. Substituents cannot be used: two
    # hydrogens or fluorines of one carbon are interchangeable between embeddings, and a fit
    # on them can mirror the joint (PTFE's and PMMA's backbone bonds came out at 2.2-2.3 A).
    path = Chem.GetShortestPath(ru.mol, ru.head, ru.tail) if ru.head != ru.tail else ()
    backbone = _local_index(ru, path[-2]) if len(path) >= 2 else _PREV
    junction = [tail_key, backbone, _NEXT]

    units: dict[int, list[tuple[int, int]]] = {}
    for atom in chain.GetAtoms():
        units.setdefault(atom.GetIntProp("unit"), []).append(
            (atom.GetIdx(), atom.GetIntProp("key"))
        )

    def with_cap(unit: dict, keys: list[int], atom: int, toward: int) -> dict:
        """``unit`` plus its end cap: a hydrogen on ``atom`` along its free valence ``toward``."""
        v = unit[toward] - unit[atom]
        length = _X_H_LENGTH.get(ru.mol.GetAtomWithIdx(keep[atom]).GetSymbol(), 1.0)
        cap = unit[atom] + length * v / np.linalg.norm(v)
        return {**{k: cap for k in keys if k not in unit}, **unit}

    keep = [i for i in range(ru.mol.GetNumAtoms()) if i not in ru.stars]
    topo = Chem.GetDistanceMatrix(chain)
    pos = np.zeros((chain.GetNumAtoms(), 3))
    first = [key for _, key in units[0]]
    placed = [with_cap(middle[hands[0], hands[1]][0][0], first, head_key, _PREV)]
    for idx, key in units[0]:
        pos[idx] = placed[0][key]
    # each template unit as an array, rows in the order of its keys (pseudo-keys included)
    arrays = {
        pair: [
            (list(t1), np.array(list(t1.values())), list(t2), np.array(list(t2.values())))
            for t1, t2 in confs
        ]
        for pair, confs in middle.items()
    }
    angles = np.arange(24) * (np.pi / 12)
    backtracks, u = 0, 1
    while u < dp:
        prev = placed[u - 1]
        chain_keys = [key for _, key in units[u]]
        done = np.concatenate([[i for i, _ in units[v]] for v in range(u)]).astype(int)
        prev_xyz = pos[done]
        pivot = prev[tail_key]
        trials, clearance = [], []
        confs = arrays[hands[u - 1], hands[u]]
        keys1, keys2 = confs[0][0], confs[0][2]  # every conformer has the same keys
        rows = [keys1.index(j) for j in junction]
        inside = [keys2.index(k) for k in chain_keys if k in keys2]  # caps come later
        far = topo[np.ix_([i for i, k in units[u] if k in keys2], done)] >= 4
        anchor = np.array([prev[j] for j in junction])
        for _, xyz1, _, xyz2 in confs:
            r, t = _kabsch(xyz1[rows], anchor)
            cand = xyz2 @ r.T + t
            axis = cand[keys2.index(head_key)] - pivot
            for angle in angles:
                trial = (cand - pivot) @ _rotation(axis, angle).T + pivot
                d2 = ((trial[inside][:, None, :] - prev_xyz[None, :, :]) ** 2).sum(-1)
                trials.append((keys2, trial))
                clearance.append(float(np.sqrt(d2[far].min())) if far.any() else np.inf)
        clearance = np.asarray(clearance)
        free = np.flatnonzero(clearance > CLEARANCE)
        if not free.size and u > 1 and backtracks < MAX_BACKTRACKS * dp:
            # a dead end (the walk curled into its own earlier units): regrow the last two
            backtracks += 1
            u = max(1, u - 2)
            del placed[u:]
            continue
        pick = rng.choice(free) if free.size else int(np.argmax(clearance))
        keys2, trial = trials[pick]
        choice = dict(zip(keys2, trial))
        if u == dp - 1:
            choice = with_cap(choice, chain_keys, tail_key, _NEXT)
        placed.append(choice)
        for idx, key in units[u]:
            pos[idx] = choice[key]
        u += 1
    if backtracks:
        logger.debug("chain %s grown with %d backtracks", ru.name, backtracks)
    conf = Chem.Conformer(chain.GetNumAtoms())
    for i, p in enumerate(pos):
        conf.SetAtomPosition(i, p.tolist())
    chain.RemoveAllConformers()
    chain.AddConformer(conf, assignId=True)
    relax(chain, max_iters=relax_iters)
    return chain


def _keys_near(dimer, key: int, radius: int, unit: int) -> list[int]:
    """Keys of the atoms of one dimer unit within ``radius`` bonds of the atom ``key``."""
    from rdkit import Chem

    topo = Chem.GetDistanceMatrix(dimer)
    atoms = [a for a in dimer.GetAtoms() if a.GetIntProp("unit") == unit]
    centre = next(a.GetIdx() for a in atoms if a.GetIntProp("key") == key)
    return [a.GetIntProp("key") for a in atoms if topo[centre, a.GetIdx()] <= radius]


def _local_index(ru: RepeatUnit, atom_idx: int) -> int:
    keep = [i for i in range(ru.mol.GetNumAtoms()) if i not in ru.stars]
    return keep.index(atom_idx)


def cyclic_oligomer(ru: RepeatUnit, n: int, *, add_hs: bool = True):
    """Macrocycle of ``n`` repeat units joined head-to-tail (no end groups).

    :func:`affinetl.polymer.macrocycle` with the repeat unit's own aromaticity kept (no
    perception of the whole ring, which grows steeply with its size). Used for end-free
    descriptors.

    Examples
    --------
    >>> from rdkit import Chem
    >>> a = cyclic_oligomer(parse_repeat_unit("*CC*"), 3, add_hs=False)
    >>> b = cyclic_oligomer(parse_repeat_unit("*C*"), 6, add_hs=False)
    >>> Chem.MolToSmiles(a) == Chem.MolToSmiles(b)
    True
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    try:
        return macrocycle(ru, n, sanitize=False, add_hs=add_hs)
    except (ValueError, PolymerSmilesError) as exc:
        raise PolymerSpecError(
            f"polymer {ru.name!r}: cannot close a ring of {n} unit(s): {exc}"
        ) from exc


def backbone_length(ru: RepeatUnit) -> int:
    """Atoms on the shortest path between the two connection points (``*CC*``: 2)."""
    from rdkit import Chem

    return len(Chem.GetShortestPath(ru.mol, ru.stars[0], ru.stars[1])) - 2
