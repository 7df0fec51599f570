"""Polymer identity for the data loaders: re-exported from :mod:`affinetl.polymer`.

The repeat-unit parsing, macrocycles and identity live in one module shared with the generator
(:mod:`affinetl.polymer`); this module keeps the names the loaders have always imported.
"""

from __future__ import annotations

from ..polymer import (
    PolymerSmilesError,
    canonical_repeat_unit,
    macrocycle_smiles,
    match_polymers,
    normalize_polymer_smiles,
    polymer_key,
    primitive_formula,
    same_polymer,
)

__all__ = [
    "PolymerSmilesError",
    "canonical_repeat_unit",
    "macrocycle_smiles",
    "match_polymers",
    "normalize_polymer_smiles",
    "polymer_key",
    "primitive_formula",
    "same_polymer",
]
