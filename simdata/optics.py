"""Refractive index from a repeat-unit polarisability (DFT-D4) and the MD density.

RadonPy computes the refractive index by the Lorentz-Lorenz equation from the static
polarisability of the repeat unit (DFT, wB97M-D3BJ/6-311+G(2d,p), with Psi4) and the
MD density:

    (n^2 - 1) / (n^2 + 2) = (4 pi / 3) (rho N_A / M_unit) alpha_unit

This module takes the polarisability from the DFT-D4 model instead (the ``dftd4``
package on PyPI, LGPL-3.0; Caldeweyher et al., J. Chem. Phys. 150, 154122 (2019)):
charge- and coordination-dependent static atomic polarisabilities, summed over the
atoms of the middle unit of an embedded trimer (so that the end caps do not count and
the unit's mass is the repeat unit's, as RadonPy's ``mol_weight_monomer``). D4
polarisabilities are additive atomic ones, so the extra polarisability of conjugated
pi systems is missed; ``docs/simdata.md`` gives the accuracy against PI1070.

In a job, :func:`write_unit_polarizability` runs once in the preparation (it needs RDKit
and ``dftd4``) and stores ``pack/optics.json`` with the cell; the MD half reads it back
(:func:`read_unit_polarizability`) and :func:`refractive_index_row` turns the row's
density and its standard error into ``refractive_index`` and ``refractive_index_sem``.
The error is the density's, propagated through the Lorentz-Lorenz equation: a sampling
error only, not the polarisability model's (systematic) one.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "BOHR_A",
    "lorentz_lorenz",
    "lorentz_lorenz_sem",
    "unit_polarizability",
    "refractive_index_columns",
    "write_unit_polarizability",
    "read_unit_polarizability",
    "refractive_index_row",
]

BOHR_A = 0.529177210903  # Angstrom per bohr
AVOGADRO = 6.02214076e23


def lorentz_lorenz(alpha_a3: float, density: float, mol_weight: float) -> float:
    """Refractive index from a polarisability (A^3), density (g/cm3) and molar mass (g/mol).

    Examples
    --------
    >>> round(lorentz_lorenz(3.984521, 0.837972, 28.054), 4)  # PI1070's polyethylene
    1.5123
    """
    x = 4.0 * np.pi / 3.0 * density * AVOGADRO / mol_weight * alpha_a3 * 1e-24
    if not 0 <= x < 1:
        return float("nan")
    return float(np.sqrt((1.0 + 2.0 * x) / (1.0 - x)))


def lorentz_lorenz_sem(n: float, density: float, density_sem: float) -> float:
    """Standard error of a Lorentz-Lorenz refractive index from its density's.

    The molar refraction term x = (n^2 - 1) / (n^2 + 2) is proportional to the density,
    and n = sqrt((1 + 2x) / (1 - x)) gives dn/dx = 3 / (2 n (1 - x)^2), so
    sem(n) = dn/dx x sem(rho) / rho (first order).

    Examples
    --------
    >>> n = lorentz_lorenz(3.984521, 0.837972, 28.054)
    >>> round(lorentz_lorenz_sem(n, 0.837972, 0.001), 6)
    0.000726
    """
    if not (math.isfinite(n) and density > 0):
        return float("nan")
    x = (n * n - 1.0) / (n * n + 2.0)
    return float(3.0 / (2.0 * n * (1.0 - x) ** 2) * x * density_sem / density)


def unit_polarizability(smiles: str, *, seed: int = 0) -> tuple[float, float]:
    """Static polarisability (A^3) and mass (g/mol) of one repeat unit (DFT-D4).

    The middle unit of an H-capped, ETKDG-embedded trimer.

    Raises
    ------
    ImportError
        Without the ``dftd4`` package (``pip install dftd4``).
    """
    from dftd4.interface import DispersionModel
    from rdkit.Chem import AllChem

    from .build import build_chain, parse_repeat_unit

    chain = build_chain(parse_repeat_unit(smiles), 3, seed=seed)
    if AllChem.EmbedMolecule(chain, randomSeed=seed) != 0:
        if AllChem.EmbedMolecule(chain, randomSeed=seed, useRandomCoords=True) != 0:
            raise ValueError(f"could not embed a trimer of {smiles!r}")
    x = chain.GetConformer().GetPositions() / BOHR_A
    z = np.array([a.GetAtomicNum() for a in chain.GetAtoms()])
    alpha = DispersionModel(z, x).get_properties()["polarizabilities"] * BOHR_A**3
    middle = np.array([a.GetIntProp("unit") == 1 for a in chain.GetAtoms()])
    mass = sum(a.GetMass() for a, m in zip(chain.GetAtoms(), middle, strict=True) if m)
    return float(alpha[middle].sum()), float(mass)


def refractive_index_columns(smiles: str, density: float) -> dict[str, float]:
    """``refractive_index`` and ``polarizability_unit`` (A^3) of a polymer row."""
    alpha, mass = unit_polarizability(smiles)
    return {
        "refractive_index": lorentz_lorenz(alpha, density, mass),
        "polarizability_unit": alpha,
    }


def write_unit_polarizability(path: str | Path, smiles: str, *, seed: int = 0) -> dict | None:
    """Compute the repeat unit's polarisability once and store it as JSON at ``path``.

    An existing file is read back instead. Without ``dftd4`` (or when the trimer cannot
    be embedded) nothing is written, a warning is logged and None is returned: the row
    then has no refractive index, and a later preparation with ``dftd4`` fills it in.

    Returns
    -------
    dict or None
        ``{"polarizability_unit": A^3, "mass_unit": g/mol, "source": ...}``.
    """
    path = Path(path)
    if path.exists():
        return read_unit_polarizability(path)
    try:
        alpha, mass = unit_polarizability(smiles, seed=seed)
    except (ImportError, ValueError) as exc:
        logger.warning("no refractive index for %r: %s", smiles, exc)
        return None
    out = {"polarizability_unit": alpha, "mass_unit": mass, "source": "dftd4"}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out))
    os.replace(tmp, path)
    return out


def read_unit_polarizability(path: str | Path) -> dict | None:
    """The contents of a file written by :func:`write_unit_polarizability`, or None."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None


def refractive_index_row(optics: dict | None, row: dict) -> dict[str, float]:
    """``refractive_index`` with ``_sem`` and ``_neff`` (the density's) for a result row.

    Parameters
    ----------
    optics : dict or None
        From :func:`read_unit_polarizability`; None gives no columns.
    row : dict
        Holds ``density`` and, where available, ``density_sem`` and ``density_neff``.

    Examples
    --------
    >>> out = refractive_index_row(
    ...     {"polarizability_unit": 3.984521, "mass_unit": 28.054},
    ...     {"density": 0.837972, "density_sem": 0.001, "density_neff": 40.0},
    ... )
    >>> round(out["refractive_index"], 4), out["refractive_index_neff"]
    (1.5123, 40.0)
    """
    if optics is None:
        return {}
    alpha, density = optics["polarizability_unit"], float(row.get("density", float("nan")))
    n = lorentz_lorenz(alpha, density, optics["mass_unit"]) if density > 0 else float("nan")
    out = {
        "refractive_index": n,
        "refractive_index_sem": lorentz_lorenz_sem(
            n, density, float(row.get("density_sem", float("nan")))
        ),
        "polarizability_unit": alpha,
    }
    if "density_neff" in row:
        out["refractive_index_neff"] = row["density_neff"]
    return out
