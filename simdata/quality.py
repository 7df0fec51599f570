"""Per-row quality flags of the property columns, and a strict equilibrium check.

Every property ``<name>`` of a result row gets a ``<name>_quality`` column holding the
first flag that applies, in this order:

``missing``
    the value is NaN or absent;
``not_equilibrated``
    the row failed the equilibrium check (``equilibrated`` False, or, with
    ``strict_equilibrium`` on, ``equilibrated_strict`` False);
``unphysical``
    the value breaks a sign bound (:data:`BOUNDS`: e.g. a negative compressibility or
    heat capacity, a dielectric constant below 1);
``noisy``
    its standard error exceeds the threshold of :data:`REL_SEM` relative to the value
    (to ``epsilon - 1`` for the dielectric constant; absolute for the nematic order);
``few_samples``
    fewer than :data:`MIN_NEFF` effectively independent samples entered it (the
    ``<name>_neff`` column, where the property has one);
``not_validated``
    the method has not met its accuracy target against RadonPy's PI1070 in the
    measurements in ``docs/simdata.md`` (:data:`NOT_VALIDATED` gives the evidence): the
    value may be precise but biased, use it only as a relative scale;
``ok``
    none of the above.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "FLAGS",
    "REL_SEM",
    "BOUNDS",
    "MIN_NEFF",
    "NOT_VALIDATED",
    "STRICT_CRITERIA",
    "quality_flags",
    "strict_equilibrium",
]

FLAGS = ("missing", "not_equilibrated", "unphysical", "noisy", "few_samples", "not_validated", "ok")

#: Largest standard error relative to the value accepted as ``ok``.
REL_SEM: dict[str, float] = {
    "density": 0.005,
    "Cp": 0.10,
    "Cp_fd": 0.10,
    "Cv": 0.10,
    "compressibility": 0.20,
    "bulk_modulus": 0.20,
    "isentropic_compressibility": 0.20,
    "isentropic_bulk_modulus": 0.20,
    "volume_expansion": 0.30,
    "linear_expansion": 0.30,
    "volume_expansion_fd": 0.30,
    "linear_expansion_fd": 0.30,
    "static_dielectric_const": 0.30,  # relative to epsilon - 1
    "Rg": 0.05,
    "Rg_mass": 0.05,
    "end_to_end": 0.10,
    "r2": 0.20,
    "nematic_order_parameter": 0.02,  # absolute
    "self-diffusion": 0.50,
    "self_diffusion_chain": 0.50,
    "cohesive_energy_density": 0.05,
    "solubility_parameter": 0.05,
    "Tg": 0.05,
    "thermal_conductivity": 0.15,
    "thermal_diffusivity": 0.20,
    "refractive_index": 0.002,  # n's relative error is ~0.4 x the density's: its 0.5%
}

#: (lower, upper) bounds a value must lie within (None: unbounded).
BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "density": (0.0, None),
    "Cp": (0.0, None),
    "Cp_fd": (0.0, None),
    "Cv": (0.0, None),
    "compressibility": (0.0, None),
    "bulk_modulus": (0.0, None),
    "isentropic_compressibility": (0.0, None),
    "isentropic_bulk_modulus": (0.0, None),
    # amorphous polymers expand on heating at 300 K; a negative value is noise
    "volume_expansion": (0.0, None),
    "linear_expansion": (0.0, None),
    "volume_expansion_fd": (0.0, None),
    "linear_expansion_fd": (0.0, None),
    "static_dielectric_const": (1.0, None),
    "Rg": (0.0, None),
    "Rg_mass": (0.0, None),
    "r2": (0.0, None),
    "nematic_order_parameter": (0.0, 1.0),
    "self-diffusion": (0.0, None),
    "self_diffusion_chain": (0.0, None),
    "cohesive_energy_density": (0.0, None),
    "solubility_parameter": (0.0, None),
    "Tg": (0.0, None),
    "thermal_conductivity": (0.0, None),
    "thermal_diffusivity": (0.0, None),
    "refractive_index": (1.0, None),
}

#: Fewest effective samples (``<name>_neff``) accepted as ``ok``.
MIN_NEFF = 10.0

#: Methods that missed their accuracy target against PI1070, with the measurement.
NOT_VALIDATED: dict[str, str] = {
    "compressibility": "volume fluctuations: MAPE 34%, Spearman -0.48 vs PI1070 (fast, 8 polymers)",
    "bulk_modulus": "volume fluctuations: MAPE 43% (fast) / 20% (standard) vs PI1070",
    "isentropic_compressibility": "from the isothermal one, which is not validated",
    "isentropic_bulk_modulus": "from the isothermal one, which is not validated",
    "volume_expansion": "cov(V, H): MAPE ~100%, negative values for PMMA and PS",
    "linear_expansion": "cov(V, H): MAPE ~100%, negative values for PMMA and PS",
    "volume_expansion_fd": "V(T) over +-20 K: MAPE 59% (fast) / 21% (standard)",
    "linear_expansion_fd": "V(T) over +-20 K: MAPE 59% (fast) / 21% (standard)",
    "Cp_fd": "H(T) over +-20 K: 10-12% low in both presets",
    "Cv": "from Cp and the expansion and compressibility, which are not validated",
    "static_dielectric_const": "dipole fluctuations: epsilon - 1 off by -89% to +58% vs PI1070",
    "thermal_conductivity": "reverse NEMD on ~1,200-atom cubic cells: about half of RadonPy's",
    "thermal_diffusivity": "from the thermal conductivity, which is not validated",
    "Rg": "not yet compared with PI1070 (no finished run with the structure stage)",
    "r2": "not yet compared with PI1070 (no finished run with the structure stage)",
    "nematic_order_parameter": "backbone bonds, not RadonPy's repeat-unit axes; not compared",
    "self-diffusion": "not yet compared with PI1070 (no finished run with the structure stage)",
    "cohesive_energy_density": "no reference values compared yet",
    "solubility_parameter": "no reference values compared yet",
    "Tg": "cooling-rate dependent MD Tg; not yet compared with PolyOmics or experiment",
}

#: RadonPy's strict equilibrium criteria: largest standard deviation of the simple
#: moving average over the last window, relative to the mean (``lammps.Analyze``).
STRICT_CRITERIA: dict[str, float] = {
    "density": 0.001,
    "total_energy": 0.0005,
    "kinetic": 0.0005,
    "bond": 0.001,
    "angle": 0.001,
    "dihedral": 0.002,
    "nonbonded": 0.001,
}


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _flag(name: str, row: Mapping[str, Any], equilibrated: bool) -> str:
    value = row.get(name)
    if not _finite(value):
        return "missing"
    value = float(value)
    if not equilibrated:
        return "not_equilibrated"
    lo, hi = BOUNDS.get(name, (None, None))
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return "unphysical"
    sem = row.get(f"{name}_sem")
    limit = REL_SEM.get(name)
    if limit is not None and _finite(sem):
        scale = {"static_dielectric_const": value - 1.0, "nematic_order_parameter": 1.0}.get(
            name, value
        )
        if abs(scale) == 0 or float(sem) > limit * abs(scale):
            return "noisy"
    elif limit is not None and not _finite(sem):
        return "noisy"  # no error estimate: cannot be trusted as a label
    neff = row.get(f"{name}_neff")
    if _finite(neff) and float(neff) < MIN_NEFF:
        return "few_samples"
    if name == "Tg" and row.get("Tg_fit") not in (None, "ok"):
        return "noisy"  # no clear kink in V(T), or a breakpoint error above 25 K
    if name in NOT_VALIDATED:
        return "not_validated"
    return "ok"


def quality_flags(row: Mapping[str, Any], *, strict: bool = False) -> dict[str, str]:
    """``<name>_quality`` for every property of :data:`REL_SEM` present in ``row``.

    Parameters
    ----------
    row : mapping
        Result row with values, ``<name>_sem``, optional ``<name>_neff``, and
        ``equilibrated`` (and ``equilibrated_strict`` when ``strict``).
    strict : bool
        Use the strict equilibrium check as well.

    Examples
    --------
    >>> quality_flags({"density": 1.0, "density_sem": 0.001, "equilibrated": True})
    {'density_quality': 'ok'}
    >>> quality_flags({"Cp": 1500.0, "Cp_sem": 400.0, "equilibrated": True})
    {'Cp_quality': 'noisy'}
    """
    eq = bool(row.get("equilibrated", True))
    if strict:
        eq = eq and bool(row.get("equilibrated_strict", False))
    return {f"{name}_quality": _flag(name, row, eq) for name in REL_SEM if name in row}


def strict_equilibrium(
    series: Mapping[str, np.ndarray], *, criteria: Mapping[str, float] | None = None
) -> tuple[bool, dict[str, float]]:
    """RadonPy's equilibrium check on time series of one run.

    For every series with a criterion, the simple moving average over a window of a
    quarter of the run is taken, and the standard deviation of that average over the
    last window, relative to the mean of the series, must stay below the criterion
    (:data:`STRICT_CRITERIA`: 0.1% for density, 0.05% for total and kinetic energy, 0.1%
    for bond, angle and nonbonded energy, 0.2% for dihedral energy).

    Returns
    -------
    ok : bool
        True when every checked series passes (False when none could be checked).
    spread : dict
        ``<series>_sma_spread`` (relative) of each checked series.

    Examples
    --------
    >>> ok, info = strict_equilibrium({"density": np.ones(40)})
    >>> ok, info["density_sma_spread"] < 1e-12
    (True, True)
    """
    crit = dict(STRICT_CRITERIA if criteria is None else criteria)
    out: dict[str, float] = {}
    ok = True
    checked = 0
    for name, limit in crit.items():
        if name not in series:
            continue
        x = np.asarray(series[name], dtype=float)
        w = max(2, len(x) // 4)
        if len(x) < 2 * w:
            continue
        sma = np.convolve(x, np.ones(w) / w, mode="valid")
        spread = float(np.std(sma[-w:]) / max(abs(x.mean()), 1e-300))
        out[f"{name}_sma_spread"] = spread
        ok = ok and spread < limit
        checked += 1
    return bool(ok and checked), out
