"""Copolymers: random, alternating and block chains of two or more repeat units.

As RadonPy's ``random_copolymerize_rw``, ``alternating``/``block`` builders: a sequence of
repeat-unit types (:func:`copolymer_sequence`), then one chain with the units joined
head-to-tail in that order and H caps (:func:`build_copolymer`). Atoms carry ``unit``,
``key`` and ``monomer`` (the unit's type), like :func:`simdata.build.build_chain`'s.
"""

from __future__ import annotations

import numpy as np

from .build import RepeatUnit, _chain_mol, _hands
from .errors import PolymerSpecError

__all__ = ["COPOLYMER_KINDS", "build_copolymer", "copolymer_sequence"]


#: Copolymer sequence kinds of :func:`copolymer_sequence` (RadonPy's random, alternating and
#: block copolymers).
COPOLYMER_KINDS = ("random", "alternating", "block")


def copolymer_sequence(
    kind: str,
    n_types: int,
    dp: int | None = None,
    *,
    fractions: list[float] | None = None,
    blocks: list[int] | None = None,
    seed: int = 0,
) -> list[int]:
    """Order of repeat-unit types along a copolymer chain.

    Parameters
    ----------
    kind : {"random", "alternating", "block"}
        ``"random"``: each position drawn independently with probabilities ``fractions``
        (default equal); ``"alternating"``: ``0, 1, ..., n_types - 1, 0, 1, ...``;
        ``"block"``: ``blocks[0]`` units of type 0, then ``blocks[1]`` of type 1, ...
    n_types : int
        Number of repeat-unit types (>= 2).
    dp : int, optional
        Chain length in repeat units (random and alternating; a block chain's length is
        ``sum(blocks)``).
    fractions : list of float, optional
        Probability of each type (random); normalised.
    blocks : list of int
        Length of each block (block).
    seed : int
        Seed of the random sequence.

    Returns
    -------
    list of int
        One type index per position.

    Raises
    ------
    PolymerSpecError
        An unknown kind or inconsistent lengths, counts or fractions.

    Examples
    --------
    >>> copolymer_sequence("alternating", 2, 5)
    [0, 1, 0, 1, 0]
    >>> copolymer_sequence("block", 2, blocks=[2, 3])
    [0, 0, 1, 1, 1]
    """
    if kind not in COPOLYMER_KINDS:
        raise PolymerSpecError(f"copolymer kind {kind!r}: choose one of {COPOLYMER_KINDS}")
    if n_types < 2:
        raise PolymerSpecError(f"a copolymer needs at least 2 repeat units, got {n_types}")
    if kind == "block":
        if blocks is None or len(blocks) != n_types or min(blocks) < 1:
            raise PolymerSpecError(
                f"block copolymer: give one block length >= 1 per repeat unit, got {blocks}"
            )
        return [t for t, n in enumerate(blocks) for _ in range(int(n))]
    if dp is None or dp < 2:
        raise PolymerSpecError(f"copolymer chain length must be >= 2, got {dp}")
    if kind == "alternating":
        return [u % n_types for u in range(dp)]
    p = np.full(n_types, 1.0 / n_types) if fractions is None else np.asarray(fractions, float)
    if p.shape != (n_types,) or not np.all(np.isfinite(p)) or p.min() < 0 or p.sum() <= 0:
        raise PolymerSpecError(
            f"random copolymer: give {n_types} non-negative fractions, got {fractions}"
        )
    rng = np.random.default_rng(seed)
    return [int(t) for t in rng.choice(n_types, size=dp, p=p / p.sum())]


def build_copolymer(
    units: list[RepeatUnit],
    sequence: list[int],
    *,
    tacticity: str = "atactic",
    seed: int = 0,
):
    """Join repeat units of several types head-to-tail in the given order, H-capped.

    Parameters
    ----------
    units : list of RepeatUnit
        The repeat-unit types (from :func:`simdata.build.parse_repeat_unit`).
    sequence : list of int
        Type index of each position (:func:`copolymer_sequence`).
    tacticity : {"atactic", "isotactic", "syndiotactic"}
        Handedness of the stereocentres, per position as in :func:`simdata.build.build_chain`.
    seed : int
        Seed of the atactic assignment.

    Returns
    -------
    rdkit.Chem.Mol
        As :func:`simdata.build.build_chain`; every atom also carries ``monomer`` (its unit's type). The
        3-D builder :func:`simdata.build.grow_coordinates` handles homopolymers; embed a short copolymer
        with :func:`simdata.build.embed`.

    Examples
    --------
    >>> from rdkit import Chem
    >>> from simdata.build import parse_repeat_unit
    >>> units = [parse_repeat_unit("*CC*"), parse_repeat_unit("*CC(*)C")]
    >>> chain = build_copolymer(units, copolymer_sequence("alternating", 2, 4))
    >>> Chem.MolToSmiles(Chem.RemoveHs(chain), isomericSmiles=False)
    'CCCCCC(C)CCC'
    """
    if len(units) < 1 or not sequence:
        raise PolymerSpecError("a copolymer needs repeat units and a sequence")
    bad = sorted({t for t in sequence if not 0 <= int(t) < len(units)})
    if bad:
        raise PolymerSpecError(f"copolymer sequence refers to unit(s) {bad}; {len(units)} given")
    chain_units = [units[int(t)] for t in sequence]
    return _chain_mol(units[0], _hands(len(sequence), tacticity, seed), chain_units)
