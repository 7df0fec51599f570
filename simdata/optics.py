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
"""

from __future__ import annotations

import numpy as np

__all__ = ["BOHR_A", "lorentz_lorenz", "unit_polarizability", "refractive_index_columns"]

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
