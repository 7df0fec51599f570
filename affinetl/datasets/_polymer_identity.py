"""Polymer identity for the data loaders: joins of SMILES tables on :func:`polymer_key`.

The repeat-unit parsing, macrocycles and identity live in one module shared with the generator
(:mod:`affinetl.polymer`); this module adds the table join and keeps the names the loaders have
always imported.
"""

from __future__ import annotations

import logging

import pandas as pd

from ..polymer import (
    PolymerSmilesError,
    canonical_repeat_unit,
    macrocycle_smiles,
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

logger = logging.getLogger(__name__)


def match_polymers(left, right, *, isomeric: bool = False, errors: str = "ignore"):
    """All pairs of rows of two SMILES lists that are the same polymer.

    Rows are joined on :func:`polymer_key`, so a join of thousands of rows takes seconds.

    Parameters
    ----------
    left, right : sequence of str or pandas.Series
        Repeat-unit SMILES. A Series' index labels are reported, else positions.
    isomeric : bool, default=False
        Also require equal stereochemistry.
    errors : {"ignore", "raise"}, default="ignore"
        What to do with invalid repeat units (``"ignore"`` skips them with a log message).

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

    def keys(series: pd.Series) -> dict[str, list[tuple[object, str]]]:
        out: dict[str, list[tuple[object, str]]] = {}
        for label, smiles in series.items():
            if not isinstance(smiles, str):
                continue
            try:
                key = polymer_key(smiles, isomeric=isomeric)
            except PolymerSmilesError as error:
                if errors == "raise":
                    raise
                logger.info("skipping %r: %s", smiles, error)
                continue
            out.setdefault(key, []).append((label, smiles))
        return out

    right_keys = keys(right_s)
    rows = [
        (label_a, label_b, smiles_a, smiles_b)
        for key, members in keys(left_s).items()
        for label_a, smiles_a in members
        for label_b, smiles_b in right_keys.get(key, [])
    ]
    return pd.DataFrame(rows, columns=["left", "right", "left_smiles", "right_smiles"])
