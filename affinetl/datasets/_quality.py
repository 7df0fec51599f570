"""Target data quality: flag suspect experimental values, never edit them.

Two documented rules, each giving a reason string (empty: nothing suspect):

- ``"out of bounds"``: the value lies outside the physical range of its class of polymer
  (:data:`PHYSICAL_BOUNDS`; e.g. an amorphous polymer made of carbon and hydrogen only is
  between 0.80 and 1.20 g/cm3, one that holds fluorine is above 1.0 g/cm3).
- ``"disagrees with MD"``: the value disagrees with an independent simulation of the same repeat
  unit (RadonPy's PI1070, matched by polymer identity) by far more than the usual spread of
  that disagreement: the modified z-score of Iglewicz and Hoaglin,
  ``|r - median(r)| / (1.4826 MAD(r)) > 3.5`` with ``r = experiment - simulation`` over every
  matched row, so a systematic force-field offset is not a reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = [
    "PHYSICAL_BOUNDS",
    "Z_CUT",
    "combine_reasons",
    "flag_bounds",
    "flag_disagreement",
    "polymer_class",
    "robust_z",
]

logger = logging.getLogger(__name__)

#: Modified z-score above which a value is an outlier (Iglewicz and Hoaglin 1993).
Z_CUT = 3.5

#: Physical range of a property per class of polymer: ``{prop: {class: (low, high)}}``;
#: density in g/cm3 (amorphous, about 300 K), Tg in K. Classes (:func:`polymer_class`):
#: ``"hydrocarbon"`` (C, H), ``"carbosilane"`` (C, H, Si), ``"CHO"`` (C, H, O),
#: ``"fluorinated"`` (holds F) and ``"any"``.
PHYSICAL_BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    "density": {
        "hydrocarbon": (0.80, 1.20),
        "carbosilane": (0.80, 1.20),
        "CHO": (0.80, 1.50),
        "fluorinated": (1.00, 2.40),
        "any": (0.75, 2.40),
    },
    "Tg": {"any": (120.0, 750.0)},
}

_CLASSES = (
    ("hydrocarbon", lambda el: el <= {"C", "H"}),
    ("carbosilane", lambda el: el <= {"C", "H", "Si"}),
    ("CHO", lambda el: el <= {"C", "H", "O"}),
    ("fluorinated", lambda el: "F" in el),
)


def _elements(smiles: str) -> frozenset[str] | None:
    from rdkit import Chem, RDLogger  # noqa: PLC0415

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    return frozenset(a.GetSymbol() for a in mol.GetAtoms() if a.GetAtomicNum() > 0) | {"H"}


def polymer_class(smiles: str) -> str:
    """The class of a repeat unit by its elements (the first that fits), else ``"any"``.

    Examples
    --------
    >>> [polymer_class(s) for s in ("*CC(*)c1ccccc1", "*[Si](C)(C)C*", "*OC*", "*CC(*)(F)F")]
    ['hydrocarbon', 'carbosilane', 'CHO', 'fluorinated']
    """
    elements = _elements(smiles)
    if elements is None:
        return "any"
    return next((label for label, fits in _CLASSES if fits(elements)), "any")


def robust_z(r: np.ndarray) -> np.ndarray:
    """Modified z-scores ``(r - median) / (1.4826 MAD)`` (NaN stays NaN).

    Examples
    --------
    >>> np.round(robust_z(np.array([0.0, 0.1, -0.1, 0.05, 5.0])), 1).tolist()
    [-0.7, 0.7, -2.0, 0.0, 66.8]
    """
    r = np.asarray(r, dtype=float)
    finite = r[np.isfinite(r)]
    if finite.size < 5:
        return np.full_like(r, np.nan)
    median = np.median(finite)
    scale = 1.4826 * np.median(np.abs(finite - median))
    if scale <= 0:
        return np.full_like(r, np.nan)
    return (r - median) / scale


def flag_bounds(
    values: pd.Series,
    smiles: pd.Series,
    prop: str,
    bounds: Mapping[str, Mapping[str, tuple[float, float]]] = PHYSICAL_BOUNDS,
) -> pd.Series:
    """Reasons for values outside the physical range of their polymer class.

    Parameters
    ----------
    values : pandas.Series
        The property (NaN is never flagged).
    smiles : pandas.Series
        Repeat units, same index.
    prop : str
        Key of ``bounds`` (``"density"``, ``"Tg"``); other properties get no flags.
    bounds : mapping, default=PHYSICAL_BOUNDS

    Returns
    -------
    pandas.Series of str
        ``""`` or ``"out of bounds: 1.92 outside [0.8, 1.2] for class hydrocarbon"``.

    Examples
    --------
    >>> flag_bounds(pd.Series([1.92, 1.05]), pd.Series(["*CC(*)c1ccccc1"] * 2), "density")[0]
    'out of bounds: 1.92 outside [0.8, 1.2] for class hydrocarbon'
    """
    out = pd.Series("", index=values.index, dtype=object)
    rules = bounds.get(prop)
    if not rules:
        return out
    for idx, value in values.items():
        if not np.isfinite(value):
            continue
        kind = polymer_class(str(smiles.loc[idx]))
        low, high = rules.get(kind, rules.get("any", (-np.inf, np.inf)))
        if not low <= value <= high:
            label = "any polymer" if kind == "any" or kind not in rules else f"class {kind}"
            out.loc[idx] = f"out of bounds: {value:.4g} outside [{low:g}, {high:g}] for {label}"
    return out


def flag_disagreement(
    values: pd.Series, simulated: pd.Series, *, label: str = "MD", z_cut: float = Z_CUT
) -> tuple[pd.Series, pd.Series]:
    """Reasons for values that disagree with an independent simulation of the same polymer.

    Parameters
    ----------
    values : pandas.Series
        Experimental values.
    simulated : pandas.Series
        Simulated value of the same repeat unit, same index (NaN where none was found).
    label : str, default="MD"
        Name of the simulation in the reason.
    z_cut : float, default=3.5
        Modified z-score cut.

    Returns
    -------
    reasons : pandas.Series of str
        ``""`` or ``"disagrees with MD: exp - MD = -0.929 (z = 14.7)"``.
    z : pandas.Series of float
        The modified z-score of ``values - simulated`` (NaN without a simulation).
    """
    r = (values - simulated).to_numpy(dtype=float)
    z = pd.Series(robust_z(r), index=values.index)
    out = pd.Series("", index=values.index, dtype=object)
    bad = z.abs() > z_cut
    for idx in z.index[bad.to_numpy()]:
        out.loc[idx] = (
            f"disagrees with {label}: exp - {label} = {values.loc[idx] - simulated.loc[idx]:+.3g} "
            f"(robust z = {z.loc[idx]:+.1f})"
        )
    return out, z


def combine_reasons(*reasons: pd.Series) -> pd.Series:
    """Join the non-empty reasons of each row with ``"; "``."""
    frame = pd.concat(reasons, axis=1)
    return frame.apply(lambda row: "; ".join(r for r in row if r), axis=1).astype(object)
