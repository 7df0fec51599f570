"""Descriptors of polymers computed from repeat-unit SMILES with RDKit."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..polymer import macrocycle_smiles, parse_repeat_unit

__all__ = ["polymer_descriptors"]

#: Backbone atoms of the macrocycle on which descriptors are computed.
RING_BACKBONE = 12

#: RDKit descriptors used by ``kind="rdkit"``; extensive ones are divided by the heavy atoms.
_RDKIT_INTENSIVE = (
    "FractionCSP3",
    "NumAromaticRings",
    "NumRotatableBonds",
    "NumHDonors",
    "NumHAcceptors",
    "RingCount",
    "NumHeteroatoms",
    "TPSA",
    "MolMR",
    "MolLogP",
    "LabuteASA",
    "MolWt",
)


def _ring(smiles: str):  # noqa: ANN202 - rdkit Mol
    from rdkit import Chem  # noqa: PLC0415

    backbone = parse_repeat_unit(smiles).backbone
    ring = macrocycle_smiles(smiles, max(1, math.ceil(RING_BACKBONE / backbone)))
    return Chem.MolFromSmiles(ring)


def polymer_descriptors(
    smiles: Sequence[str] | pd.Series,
    *,
    kind: str = "rdkit",
    radius: int = 2,
    n_bits: int = 512,
) -> pd.DataFrame:
    """Per-atom descriptors of polymers from repeat-unit SMILES.

    Each repeat unit is closed head-to-tail into a macrocycle of ``ceil(12 / backbone)``
    copies (no artificial end groups), whose descriptors are divided by its heavy-atom count:
    cyclic shifts and multiples of a repeat unit give (nearly) the same values.

    Parameters
    ----------
    smiles : sequence of str
        Repeat-unit SMILES (``*``, ``[*:n]`` or ``[Ce]``/``[Th]`` ends).
    kind : {"rdkit", "morgan"}, default="rdkit"
        ``"rdkit"``: 12 RDKit descriptors per heavy atom, plus the element fractions of
        C, N, O, F, Si, S, Cl and the aromatic-atom fraction (20 columns). ``"morgan"``:
        folded Morgan count fingerprint divided by the heavy-atom count (``n_bits`` columns).
    radius : int, default=2
        Morgan radius.
    n_bits : int, default=512
        Morgan fingerprint length.

    Returns
    -------
    pandas.DataFrame of shape (n_polymers, n_descriptors)
        Index of ``smiles`` when it is a Series.

    Examples
    --------
    >>> d = polymer_descriptors(["*CC*", "*CCCC*"])
    >>> bool(np.allclose(d.iloc[0], d.iloc[1]))
    True
    """
    from rdkit.Chem import Descriptors, rdFingerprintGenerator  # noqa: PLC0415

    if kind not in ("rdkit", "morgan"):
        raise ValueError(f"kind must be 'rdkit' or 'morgan', got {kind!r}")
    series = smiles if isinstance(smiles, pd.Series) else pd.Series(list(smiles))
    rows = []
    generator = (
        rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
        if kind == "morgan"
        else None
    )
    for text in series:
        mol = _ring(text)
        heavy = max(mol.GetNumHeavyAtoms(), 1)
        if generator is not None:
            counts = np.asarray(generator.GetCountFingerprintAsNumPy(mol), dtype=float)
            rows.append(counts / heavy)
            continue
        values = [getattr(Descriptors, name)(mol) / heavy for name in _RDKIT_INTENSIVE]
        symbols = [a.GetSymbol() for a in mol.GetAtoms()]
        values += [symbols.count(el) / heavy for el in ("C", "N", "O", "F", "Si", "S", "Cl")]
        values.append(sum(a.GetIsAromatic() for a in mol.GetAtoms()) / heavy)
        rows.append(values)
    if kind == "morgan":
        columns = [f"morgan_{i}" for i in range(n_bits)]
    else:
        columns = [f"{n}_per_atom" for n in _RDKIT_INTENSIVE] + [
            f"frac_{el}" for el in ("C", "N", "O", "F", "Si", "S", "Cl")
        ]
        columns.append("frac_aromatic")
    return pd.DataFrame(np.asarray(rows, dtype=float), columns=columns, index=series.index)
