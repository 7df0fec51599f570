"""The chain step: a repeat unit -> one chain with 3-D coordinates, before any charges.

:func:`make_chain` joins the repeat units (:func:`simdata.build.build_chain`), grows their
coordinates (:func:`simdata.build.grow_coordinates`) and caches the result as an RDKit
binary (atom properties ``unit`` and ``key`` included) under
``<cache>/built/<key>.rdkit``, keyed by canonical SMILES, degree of polymerisation,
tacticity, seed and the builder version. :func:`simdata.forcefield.parameterise` then
types it and adds charges.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .build import RepeatUnit, build_chain, degree_of_polymerisation, grow_coordinates

__all__ = ["CHAIN_VERSION", "Chain", "chain_spec", "make_chain"]

logger = logging.getLogger(__name__)

#: Version of the chain builder (the geometry). It is part of every cache key of the chain
#: and of its parameters: raised whenever the geometry changes, so stale entries are rebuilt.
#: Version 3: the builder joins middle units of tetramer templates (version 2 could stretch
#: backbone bonds at the joints to 2-3 Angstrom, which left polystyrene cells too light).
CHAIN_VERSION = 3


def chain_spec(
    ru: RepeatUnit, *, atoms_per_chain: int, min_dp: int, tacticity: str, seed: int
) -> dict:
    """What determines a chain: canonical SMILES, degree of polymerisation, tacticity, seed."""
    from rdkit import Chem

    return {
        "smiles": Chem.MolToSmiles(ru.mol),
        "dp": degree_of_polymerisation(ru, atoms_per_chain, min_dp),
        "tacticity": tacticity,
        "seed": int(seed),
        "version": CHAIN_VERSION,
    }


@dataclass(frozen=True)
class Chain:
    """One chain built from a repeat unit.

    Attributes
    ----------
    repeat_unit : RepeatUnit
        The validated repeat unit.
    mol : rdkit.Chem.Mol
        The chain with hydrogens and one conformer (Angstrom); atom properties ``unit``
        (repeat-unit number) and ``key`` (atom of the repeat unit), molecule property ``dp``.
    spec : dict
        :func:`chain_spec` of the chain.
    """

    repeat_unit: RepeatUnit
    mol: object
    spec: dict

    @property
    def dp(self) -> int:
        """Degree of polymerisation."""
        return int(self.spec["dp"])

    @property
    def n_atoms(self) -> int:
        """Atoms in the chain."""
        return int(self.mol.GetNumAtoms())


def _key(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


def make_chain(
    ru: RepeatUnit,
    *,
    atoms_per_chain: int,
    min_dp: int = 2,
    tacticity: str = "atactic",
    seed: int = 0,
    cache_dir: str | Path | None = None,
) -> Chain:
    """Build one chain (or load it from the cache).

    Parameters
    ----------
    ru : RepeatUnit
        Validated repeat unit (:func:`simdata.build.parse_repeat_unit`).
    atoms_per_chain : int
        Target chain size (atoms); the degree of polymerisation is the smallest that
        reaches it, at least ``min_dp``.
    min_dp : int
        Smallest degree of polymerisation.
    tacticity : str
        See :func:`simdata.build.build_chain`.
    seed : int
        Seed of tacticity and coordinates.
    cache_dir : str or Path, optional
        Cache folder (default :func:`simdata.forcefield.default_cache_dir`).

    Returns
    -------
    Chain
    """
    from rdkit import Chem

    from .forcefield import default_cache_dir

    spec = chain_spec(
        ru, atoms_per_chain=atoms_per_chain, min_dp=min_dp, tacticity=tacticity, seed=seed
    )
    cache = (Path(cache_dir) if cache_dir is not None else default_cache_dir()).resolve()
    path = cache / "built" / f"{_key(spec)}.rdkit"
    if path.exists():
        mol = Chem.Mol(path.read_bytes())
        return Chain(ru, mol, spec)
    mol = build_chain(ru, spec["dp"], tacticity=tacticity, seed=seed)
    grow_coordinates(ru, mol, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(mol.ToBinary(Chem.PropertyPickleOptions.AllProps))
    os.replace(tmp, path)
    logger.info("polymer %s: built a %d-mer (%d atoms)", ru.name, spec["dp"], mol.GetNumAtoms())
    return Chain(ru, mol, spec)
