"""Meaning and unit of every result column, written into the output files' metadata.

:data:`COLUMNS` maps a property column to ``(unit, meaning)``. Derived columns follow
patterns: ``<name>_sem`` (standard error, same unit), ``<name>_neff`` (effectively
independent samples), ``<name>_quality`` (flag, see :mod:`simdata.quality`).
:func:`describe` resolves any column; :func:`write_sidecar` writes
``<table>.columns.json`` next to a CSV or Parquet file; :func:`parquet_metadata` gives
the same as Parquet schema metadata (``pyarrow`` key ``b"simdata.columns"``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["COLUMNS", "describe", "column_metadata", "write_sidecar", "parquet_metadata"]

#: Property columns: unit and meaning (RadonPy's ``PI1070.csv`` names where the meaning
#: is RadonPy's; other names where it is not).
COLUMNS: dict[str, tuple[str, str]] = {
    "density": ("g/cm3", "mean density of the NPT production run"),
    "Cp": ("J/(kg K)", "isobaric heat capacity from enthalpy fluctuations, var(H)/(kB T^2 m)"),
    "Cp_fd": ("J/(kg K)", "isobaric heat capacity, slope of mean enthalpy over T-dT, T, T+dT"),
    "Cv": ("J/(kg K)", "isochoric heat capacity, Cp - T V alpha_V^2 / (kappa_T m)"),
    "compressibility": ("1/Pa", "isothermal compressibility from volume fluctuations"),
    "bulk_modulus": ("Pa", "isothermal bulk modulus, 1 / compressibility"),
    "isentropic_compressibility": ("1/Pa", "isentropic compressibility, kappa_T Cv / Cp"),
    "isentropic_bulk_modulus": ("Pa", "isentropic bulk modulus, 1 / isentropic_compressibility"),
    "volume_expansion": ("1/K", "volumetric thermal expansion from cov(V, H) fluctuations"),
    "linear_expansion": ("1/K", "linear thermal expansion, volume_expansion / 3"),
    "volume_expansion_fd": ("1/K", "volumetric thermal expansion, slope of mean V over T"),
    "linear_expansion_fd": ("1/K", "linear thermal expansion, volume_expansion_fd / 3"),
    "static_dielectric_const": ("1", "static dielectric constant from cell dipole fluctuations"),
    "Rg": ("Angstrom", "unweighted radius of gyration per chain, chain mean (structure stage)"),
    "Rg_mass": ("Angstrom", "mass-weighted radius of gyration per chain (production run)"),
    "end_to_end": ("Angstrom", "mean end-to-end distance |R| of the chains (production run)"),
    "r2": ("nm2", "mean square end-to-end distance <R^2> of the chains (structure stage)"),
    "nematic_order_parameter": (
        "1",
        "largest eigenvalue of the Q tensor of backbone bond vectors (structure stage)",
    ),
    "self-diffusion": ("m2/s", "all-atom self-diffusion, MSD slope / 6 (structure stage)"),
    "self_diffusion_chain": ("m2/s", "chain centre-of-mass self-diffusion (production run)"),
    "cohesive_energy_density": (
        "J/cm3",
        "-(cell energy - sum of isolated-chain energies) / volume (structure stage)",
    ),
    "solubility_parameter": ("MPa^0.5", "Hildebrand solubility parameter, sqrt(CED)"),
    "Tg": ("K", "glass transition temperature, bilinear fit of specific volume in a cooling scan"),
    "Tg_fit": ("-", "fit diagnosis: ok, noisy or no_transition (see simdata.tg)"),
    "expansion_glass": ("1/K", "volumetric expansion below Tg from the cooling scan"),
    "expansion_rubber": ("1/K", "volumetric expansion above Tg from the cooling scan"),
    "refractive_index": (
        "1",
        "Lorentz-Lorenz from the density and the DFT-D4 repeat-unit polarisability",
    ),
    "polarizability_unit": ("Angstrom3", "static polarisability of one repeat unit (DFT-D4)"),
    "thermal_conductivity": ("W/(m K)", "reverse non-equilibrium MD (Muller-Plathe)"),
    "thermal_diffusivity": ("m2/s", "thermal_conductivity / (density Cp)"),
    "equilibrated": ("-", "the NPT equilibrium check passed (relative window-half changes)"),
    "equilibrated_strict": ("-", "RadonPy's strict equilibrium check passed (simdata.quality)"),
    "temp": ("K", "target temperature"),
    "press": ("atm", "target pressure"),
    "DP": ("1", "degree of polymerisation of each chain"),
    "n_mol": ("1", "chains in the cell"),
    "n_atoms": ("1", "atoms in the cell"),
    "ns_per_day": ("ns/day", "speed of the production run"),
    "wall_s": ("s", "wall time of the job"),
}


def describe(column: str) -> dict[str, str] | None:
    """Unit and meaning of a column (patterns ``_sem``, ``_neff``, ``_quality`` resolved).

    Examples
    --------
    >>> describe("Cp_sem")["unit"]
    'J/(kg K)'
    >>> describe("density_quality")["unit"]
    '-'
    """
    if column in COLUMNS:
        unit, meaning = COLUMNS[column]
        return {"unit": unit, "meaning": meaning}
    for suffix, unit, what in (
        ("_sem", None, "standard error (autocorrelation accounted for) of"),
        ("_neff", "1", "effectively independent samples behind"),
        ("_quality", "-", "quality flag (ok, noisy, few_samples, ...; simdata.quality) of"),
    ):
        base = column[: -len(suffix)]
        if column.endswith(suffix) and base in COLUMNS:
            return {"unit": unit or COLUMNS[base][0], "meaning": f"{what} {base}"}
    return None


def column_metadata(columns: Iterable[str]) -> dict[str, dict[str, str]]:
    """``{column: {"unit", "meaning"}}`` for the columns that :func:`describe` knows."""
    return {c: d for c in columns if (d := describe(c)) is not None}


def write_sidecar(table_path: str | Path, columns: Iterable[str]) -> Path:
    """Write ``<table_path>.columns.json`` (atomically) and return its path."""
    path = Path(f"{table_path}.columns.json")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(column_metadata(columns), indent=1) + "\n")
    os.replace(tmp, path)
    return path


def parquet_metadata(columns: Iterable[str]) -> dict[bytes, bytes]:
    """Schema metadata for ``pyarrow`` (``table.replace_schema_metadata``)."""
    return {b"simdata.columns": json.dumps(column_metadata(columns)).encode()}
