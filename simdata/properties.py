"""Thermophysical properties from NPT frames, with autocorrelation-aware uncertainties.

Units and column names follow RadonPy's ``PI1070.csv``: density g/cm3, Cp and Cv
J/(kg K), compressibility and isentropic_compressibility 1/Pa, bulk_modulus and
isentropic_bulk_modulus Pa, volume_expansion and linear_expansion 1/K,
thermal_conductivity W/(m K), thermal_diffusivity m2/s. A column never carries a
RadonPy name with another meaning: the production run's mass-weighted radius of
gyration is ``Rg_mass`` and its chain centre-of-mass diffusion ``self_diffusion_chain``;
``Rg``, ``r2`` and ``self-diffusion`` with RadonPy's meanings come from the structure
stage (:mod:`simdata.analysis`). Column meanings and units: :mod:`simdata.columns`.

Errors (``<name>_sem``): means use the statistical inefficiency of their series
(:func:`simdata.uncertainty.mean_sem`); fluctuation properties a delete-one-block
jackknife over blocks at least two correlation times long
(:func:`simdata.uncertainty.correlated_blocks`). ``<name>_neff`` is the number of
effectively independent samples, used by the quality flags (:mod:`simdata.quality`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .uncertainty import block_jackknife, correlated_blocks, mean_sem, statistical_inefficiency

__all__ = [
    "KB",
    "mean_sem",
    "block_average",
    "fluctuation_properties",
    "finite_difference_properties",
    "structure_properties",
    "dielectric_constant",
    "self_diffusion",
    "thermal_diffusivity",
    "compute_properties",
]

KB = 1.380649e-23  # J/K
AVOGADRO = 6.02214076e23
R_KJ = KB * AVOGADRO / 1000.0  # kJ/(mol K)
EPS0 = 8.8541878128e-12  # F/m
E_CHARGE = 1.602176634e-19  # C
BAR_NM3_KJ_MOL = 0.0602214076  # 1 bar * 1 nm3 in kJ/mol


def block_average(x: ArrayLike, n_blocks: int = 5) -> tuple[float, float]:
    """Mean and standard error from ``n_blocks`` contiguous block means.

    Examples
    --------
    >>> block_average([1.0, 1.0, 3.0, 3.0], 2)
    (2.0, 1.0)
    """
    x = np.asarray(x, dtype=float)
    n = len(x) // n_blocks * n_blocks
    if n_blocks < 2 or n < n_blocks:
        return float(x.mean()), float("nan")
    means = x[:n].reshape(n_blocks, -1).mean(1)
    return float(x.mean()), float(means.std(ddof=1) / np.sqrt(n_blocks))


def _with_error(func, arrays: dict[str, np.ndarray], n_blocks: int) -> tuple[float, float]:
    """Value and jackknife error over blocks two correlation times long (>= ``n_blocks``)."""
    n = len(next(iter(arrays.values())))
    if n_blocks < 2 or n < 4 * n_blocks:
        return float(func(**arrays)), float("nan")
    series = [a if a.ndim == 1 else (a**2).reshape(len(a), -1).sum(1) for a in arrays.values()]
    blocks = correlated_blocks(*series, min_blocks=n_blocks)
    return block_jackknife(func, arrays, blocks)


def _neff(*series: np.ndarray) -> float:
    """Effective samples of a functional of several series: n / (largest inefficiency)."""
    n = len(series[0])
    return float(n / max(statistical_inefficiency(s) for s in series))


def fluctuation_properties(
    potential: ArrayLike,
    kinetic: ArrayLike,
    volume: ArrayLike,
    *,
    temperature: float,
    pressure_bar: float,
    mass_amu: float,
    n_blocks: int = 5,
) -> dict[str, float]:
    """Cp, Cv, compressibilities, bulk moduli, expansion from NPT fluctuations.

    Cp = var(H) / (kB T^2 m);  kappa_T = var(V) / (kB T <V>);
    alpha_V = cov(V, H) / (kB T^2 <V>);  Cv = Cp - T <V> alpha_V^2 / (kappa_T m);
    kappa_S = kappa_T Cv / Cp = kappa_T - T <V> alpha_V^2 / (m Cp) (isentropic, as
    RadonPy's ``isentropic_compressibility``); bulk moduli are the inverses.

    Parameters
    ----------
    potential, kinetic : array_like of shape (n_frames,)
        Energies, kJ/mol.
    volume : array_like of shape (n_frames,)
        Volumes, nm3.
    temperature : float
        K.
    pressure_bar : float
        bar.
    mass_amu : float
        Mass of the cell, amu.
    n_blocks : int
        Fewest blocks of the jackknife standard errors (``<name>_sem``); blocks are
        made at least two correlation times long when the run allows it.

    Returns
    -------
    dict
        ``Cp``, ``Cv`` (J/(kg K)), ``compressibility``, ``isentropic_compressibility``
        (1/Pa), ``bulk_modulus``, ``isentropic_bulk_modulus`` (Pa), ``volume_expansion``,
        ``linear_expansion`` (1/K), each with ``_sem`` and ``_neff``.
    """
    kt = KB * temperature
    m_kg = mass_amu / AVOGADRO / 1000.0
    u = np.asarray(potential, float) + np.asarray(kinetic, float)
    v = np.asarray(volume, float)
    h = (u + BAR_NM3_KJ_MOL * pressure_bar * v) * 1000.0 / AVOGADRO  # J per cell
    v_m3 = v * 1e-27

    def cp(h, v):
        return np.var(h, ddof=1) / (kt * temperature) / m_kg

    def kappa(h, v):
        return np.var(v, ddof=1) / (kt * v.mean())

    def alpha(h, v):
        return np.cov(v, h)[0, 1] / (kt * temperature * v.mean())

    def cv(h, v):
        a, k = alpha(h, v), kappa(h, v)
        return cp(h, v) - temperature * v.mean() * a**2 / k / m_kg

    def kappa_s(h, v):
        return kappa(h, v) - temperature * v.mean() * alpha(h, v) ** 2 / (m_kg * cp(h, v))

    arr = {"h": h, "v": v_m3}
    neff = {"h": _neff(h), "v": _neff(v_m3), "hv": _neff(h, v_m3)}
    out: dict[str, float] = {}
    for name, f, which in (
        ("Cp", cp, "h"),
        ("Cv", cv, "hv"),
        ("compressibility", kappa, "v"),
        ("bulk_modulus", lambda h, v: 1.0 / kappa(h, v), "v"),
        ("isentropic_compressibility", kappa_s, "hv"),
        ("isentropic_bulk_modulus", lambda h, v: 1.0 / kappa_s(h, v), "hv"),
        ("volume_expansion", alpha, "hv"),
        ("linear_expansion", lambda h, v: alpha(h, v) / 3.0, "hv"),
    ):
        out[name], out[f"{name}_sem"] = _with_error(f, arr, n_blocks)
        out[f"{name}_neff"] = neff[which]
    return out


def finite_difference_properties(
    scan: dict[float, dict[str, float]], *, mass_amu: float
) -> dict[str, float]:
    """Cp and expansion coefficients from mean enthalpy and volume at several temperatures.

    A straight line is fitted to H(T) and V(T) (weighted by their standard errors
    when available); Cp = dH/dT / m, alpha_V = dV/dT / <V>.

    Parameters
    ----------
    scan : dict
        ``{T: {"enthalpy": kJ/mol, "enthalpy_sem", "volume": nm3, "volume_sem"}}``
        with at least two temperatures.
    mass_amu : float
        Mass of the cell, amu.

    Returns
    -------
    dict
        ``Cp_fd`` (J/(kg K)), ``volume_expansion_fd``, ``linear_expansion_fd`` (1/K),
        each with ``_sem``.
    """
    temps = np.array(sorted(scan))
    if len(temps) < 2:
        raise ValueError("finite differences need at least two temperatures")
    h = np.array([scan[t]["enthalpy"] for t in temps])
    v = np.array([scan[t]["volume"] for t in temps])
    hs = np.array([scan[t].get("enthalpy_sem", np.nan) for t in temps])
    vs = np.array([scan[t].get("volume_sem", np.nan) for t in temps])

    def slope(y, s):
        x = temps - temps.mean()
        w = 1.0 / s**2 if np.all(np.isfinite(s)) and np.all(s > 0) else np.ones_like(y)
        b = np.sum(w * x * (y - np.average(y, weights=w))) / np.sum(w * x * x)
        var = 1.0 / np.sum(w * x * x) if np.all(np.isfinite(s)) and np.all(s > 0) else np.nan
        return b, np.sqrt(var)

    m_kg_mol = mass_amu / 1000.0
    dh, dhe = slope(h, hs)  # kJ/mol/K
    dv, dve = slope(v, vs)  # nm3/K
    vm = v.mean()
    return {
        "Cp_fd": dh * 1000.0 / m_kg_mol,
        "Cp_fd_sem": dhe * 1000.0 / m_kg_mol,
        "volume_expansion_fd": dv / vm,
        "volume_expansion_fd_sem": dve / vm,
        "linear_expansion_fd": dv / vm / 3.0,
        "linear_expansion_fd_sem": dve / vm / 3.0,
    }


def dielectric_constant(
    dipole: ArrayLike, volume: ArrayLike, *, temperature: float, n_blocks: int = 5
) -> tuple[float, float]:
    """Static dielectric constant from dipole fluctuations (conducting boundary).

    eps = 1 + (<M^2> - <M>^2) / (3 eps0 <V> kB T).

    Parameters
    ----------
    dipole : array_like of shape (n_frames, 3)
        Cell dipole, e nm.
    volume : array_like of shape (n_frames,)
        nm3.
    """
    m = np.asarray(dipole, float) * E_CHARGE * 1e-9
    v = np.asarray(volume, float) * 1e-27

    def eps(m, v):
        fluct = (m**2).sum(1).mean() - (m.mean(0) ** 2).sum()
        return 1.0 + fluct / (3.0 * EPS0 * v.mean() * KB * temperature)

    return _with_error(eps, {"m": m, "v": v}, n_blocks)


def self_diffusion(time_ps: ArrayLike, com: ArrayLike) -> float:
    """Self-diffusion coefficient (m2/s) of chain centres of mass (Einstein relation).

    Stored as ``self_diffusion_chain``: RadonPy's ``self-diffusion`` is the all-atom one
    (:func:`simdata.structure.msd_diffusion`, structure stage).

    The mean square displacement (system drift removed) is fitted linearly over
    lags from 10% to 50% of the run; D = slope / 6.

    Parameters
    ----------
    time_ps : array_like of shape (n_frames,)
    com : array_like of shape (n_frames, n_chains, 3)
        Unwrapped centres of mass, nm.
    """
    t = np.asarray(time_ps, float)
    x = np.asarray(com, float)
    x = x - x.mean(1, keepdims=True)
    n = len(t)
    lags = np.unique(np.linspace(max(1, n // 10), max(2, n // 2), 10).astype(int))
    msd = np.array([((x[lag:] - x[:-lag]) ** 2).sum(-1).mean() for lag in lags])
    dt = t[lags] - t[0]
    slope = np.polyfit(dt, msd, 1)[0]  # nm2/ps
    return float(max(slope, 0.0) / 6.0 * 1e-6)


def structure_properties(rg: ArrayLike, e2e: ArrayLike | None = None) -> dict[str, float]:
    """Mass-weighted radius of gyration ``Rg_mass`` and mean end-to-end distance
    ``end_to_end`` (Angstrom, chain averages of the production frames) with errors.

    Examples
    --------
    >>> structure_properties([1.0, 1.0, 1.0])["Rg_mass"]
    10.0
    """
    out: dict[str, float] = {}
    m, s, n = mean_sem(rg)
    out["Rg_mass"], out["Rg_mass_sem"], out["Rg_mass_neff"] = 10 * m, 10 * s, n
    if e2e is not None and len(e2e):
        m, s, n = mean_sem(e2e)
        out["end_to_end"], out["end_to_end_sem"], out["end_to_end_neff"] = 10 * m, 10 * s, n
    return out


def thermal_diffusivity(props: dict[str, float]) -> float:
    """Thermal diffusivity kappa / (rho Cp), m2/s, from a row of properties.

    Uses ``Cp`` (enthalpy fluctuations: the validated Cp, within 5-9% of RadonPy), and
    ``Cp_fd`` only where ``Cp`` is missing; NaN without a thermal conductivity.

    Examples
    --------
    >>> round(thermal_diffusivity({"thermal_conductivity": 0.2, "density": 1.0, "Cp": 2000.0}), 12)
    1e-07
    """
    kappa = props.get("thermal_conductivity", float("nan"))
    cp = props.get("Cp", float("nan"))
    if not np.isfinite(cp):
        cp = props.get("Cp_fd", float("nan"))
    return float(kappa / (props["density"] * 1000.0 * cp))


def compute_properties(
    frames: dict[str, np.ndarray],
    *,
    temperature: float,
    pressure_bar: float,
    mass_amu: float,
    n_blocks: int = 5,
    scan: dict[float, dict[str, float]] | None = None,
) -> dict[str, float]:
    """All properties of a production run (and optional temperature scan).

    Parameters
    ----------
    frames : dict
        From :class:`~simdata.reporters.ObservableReporter` (``time``, ``potential``,
        ``kinetic``, ``volume``, ``density``, optionally ``dipole``, ``rg``, ``e2e``, ``com``).
    temperature, pressure_bar, mass_amu, n_blocks
        See :func:`fluctuation_properties`.
    scan : dict, optional
        Output of :func:`simdata.protocol.temperature_scan`, the production
        temperature included.

    Returns
    -------
    dict
        Column name -> value, units as in ``PI1070.csv``.

    Raises
    ------
    SimulationBlowUp
        If any frame holds a NaN or infinite value (a blow-up during sampling).
    """
    bad = sum(int(np.size(v) - np.isfinite(v).sum()) for v in frames.values())
    if bad:
        from .errors import SimulationBlowUp

        n = len(frames["density"])
        raise SimulationBlowUp(
            f"the production trajectory holds {bad} non-finite values over {n} frames: the "
            "cell blew up during sampling (recovered by restarts, but the frames are corrupt); "
            "no properties are reported from it"
        )
    out: dict[str, float] = {}
    out["density"], out["density_sem"], out["density_neff"] = mean_sem(frames["density"])
    out.update(
        fluctuation_properties(
            frames["potential"],
            frames["kinetic"],
            frames["volume"],
            temperature=temperature,
            pressure_bar=pressure_bar,
            mass_amu=mass_amu,
            n_blocks=n_blocks,
        )
    )
    if "dipole" in frames:
        out["static_dielectric_const"], out["static_dielectric_const_sem"] = dielectric_constant(
            frames["dipole"], frames["volume"], temperature=temperature, n_blocks=n_blocks
        )
        m2 = (np.asarray(frames["dipole"], float) ** 2).sum(1)
        out["static_dielectric_const_neff"] = _neff(m2)
    if "rg" in frames:
        out.update(structure_properties(frames["rg"], frames.get("e2e")))
    if "com" in frames and len(frames["com"]) >= 20:
        out["self_diffusion_chain"] = self_diffusion(frames["time"], frames["com"])
    if scan and len(scan) >= 2:
        out.update(finite_difference_properties(scan, mass_amu=mass_amu))
    return out
