"""Glass transition temperature from a stepwise cooling scan.

The cell is heated to ``tg_tmax`` and cooled in steps of ``tg_step`` K down to
``tg_tmin``; at each temperature it runs ``tg_step_ps`` of NPT, the first
``TG_DISCARD`` of which is discarded. Tg is the breakpoint of a continuous two-line
(bilinear) fit of specific volume against temperature (the glass line below, the rubber
or melt line above), chosen by least squares over a fine grid of breakpoints; its
uncertainty comes from a residual bootstrap of the whole fit.

MD cooling rates (here ~20 K per 100-1000 ps, 10^10-10^11 K/s) are 10 orders of magnitude
faster than a DSC scan's, so MD Tg lies above experiment (about 3 K per decade of
cooling rate, WLF); compare with other MD Tg values of similar cooling rate
(PolyOmics, RadonPy-style workflows), and use it as a Sim2Real source label, not as
an experimental Tg.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["TG_DISCARD", "bilinear_fit", "glass_transition", "cooling_temperatures", "cooling_scan"]

#: Fraction of each cooling step discarded as relaxation.
TG_DISCARD = 0.3


def _fit_at(t: np.ndarray, y: np.ndarray, w: np.ndarray, tb: np.ndarray) -> tuple:
    """Weighted least squares of y = a + b (T - tb) + c max(T - tb, 0) for each breakpoint
    of ``tb`` at once (normal equations); coefficients (G, 3) and SSE (G,)."""
    d = t[None, :] - tb[:, None]
    design = np.stack([np.ones_like(d), d, np.maximum(d, 0.0)], axis=-1)  # (G, n, 3)
    wx = design * w[None, :, None]
    coef = np.linalg.solve(
        np.einsum("gni,gnj->gij", wx, design), np.einsum("gni,n->gi", wx, y)[..., None]
    )[..., 0]
    resid = y[None, :] - np.einsum("gni,gi->gn", design, coef)
    return coef, (w[None, :] * resid**2).sum(1)


def bilinear_fit(
    temperature: ArrayLike, value: ArrayLike, sigma: ArrayLike | None = None, *, min_points: int = 3
) -> dict[str, float]:
    """Continuous two-line fit with the breakpoint chosen by least squares.

    Parameters
    ----------
    temperature : array_like of shape (n,)
        K.
    value : array_like of shape (n,)
        E.g. specific volume (cm3/g).
    sigma : array_like of shape (n,), optional
        Standard errors of ``value`` (weights ``1 / sigma**2``).
    min_points : int
        Fewest points on each side of the breakpoint.

    Returns
    -------
    dict
        ``breakpoint`` (K), ``slope_low``, ``slope_high`` (value per K below and above),
        ``value_at_break``, ``sse`` and ``sse_one_line`` (the best single line's SSE).

    Raises
    ------
    ValueError
        With fewer than ``2 * min_points`` temperatures.
    """
    t = np.asarray(temperature, dtype=float)
    y = np.asarray(value, dtype=float)
    order = np.argsort(t)
    t, y = t[order], y[order]
    if len(t) < 2 * min_points:
        raise ValueError(
            f"a bilinear fit needs at least {2 * min_points} temperatures, got {len(t)}"
        )
    if sigma is None:
        w = np.ones_like(y)
    else:
        s = np.asarray(sigma, dtype=float)[order]
        # an error at round-off level (identical frames: a barostat that never moved in a
        # short step) is no error estimate, and its weight would make the fit singular
        usable = np.isfinite(s) & (s > 1e-9 * np.abs(y))
        w = 1.0 / s**2 if np.all(usable) else np.ones_like(y)
    lo, hi = t[min_points - 1], t[-min_points]
    grid = np.linspace(lo, hi, 60)
    k = int(np.argmin(_fit_at(t, y, w, grid)[1]))
    # refine around the best grid point
    fine = np.linspace(grid[max(0, k - 1)], grid[min(len(grid) - 1, k + 1)], 41)
    coefs, sse = _fit_at(t, y, w, fine)
    j = int(np.argmin(sse))
    coef, best = coefs[j], float(sse[j])
    one = np.polyfit(t, y, 1, w=np.sqrt(w))
    sse_one = float(np.sum(w * (y - np.polyval(one, t)) ** 2))
    return {
        "breakpoint": float(fine[j]),
        "slope_low": float(coef[1]),
        "slope_high": float(coef[1] + coef[2]),
        "value_at_break": float(coef[0]),
        "sse": best,
        "sse_one_line": sse_one,
    }


def glass_transition(
    temperature: ArrayLike,
    specific_volume: ArrayLike,
    sigma: ArrayLike | None = None,
    *,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Tg (K) from specific volume against temperature, with a bootstrap standard error.

    The bilinear fit (:func:`bilinear_fit`) is refitted to ``n_boot`` data sets made of
    the fitted curve plus resampled residuals; ``Tg_sem`` is the spread of those
    breakpoints. ``Tg_fit`` is ``"no_transition"`` when the two slopes differ by
    less than 20% or the second line does not improve the fit (F-test, 1 extra
    parameter, p > 0.05), ``"noisy"`` when ``Tg_sem`` exceeds 25 K, else ``"ok"``.

    Parameters
    ----------
    temperature : array_like of shape (n,)
        K.
    specific_volume : array_like of shape (n,)
        cm3/g (or any volume per mass).
    sigma : array_like, optional
        Standard errors of the volumes.
    n_boot : int
        Bootstrap replicates.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    dict
        ``Tg``, ``Tg_sem`` (K), ``Tg_fit``, ``expansion_glass``, ``expansion_rubber``
        (volumetric expansion coefficients below and above Tg, 1/K).

    Examples
    --------
    >>> t = np.arange(200.0, 601.0, 20.0)
    >>> v = 1.0 + 2e-4 * (t - 400) + 3e-4 * np.maximum(t - 400, 0)
    >>> round(glass_transition(t, v, n_boot=20)["Tg"])
    400
    """
    from scipy import stats

    t = np.asarray(temperature, dtype=float)
    v = np.asarray(specific_volume, dtype=float)
    fit = bilinear_fit(t, v, sigma)
    tb = fit["breakpoint"]
    design = np.column_stack([np.ones_like(t), t - tb, np.maximum(t - tb, 0.0)])
    coef = np.array([fit["value_at_break"], fit["slope_low"], fit["slope_high"] - fit["slope_low"]])
    curve = design @ coef
    resid = v - curve
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        y = curve + rng.choice(resid, size=len(resid), replace=True)
        boots.append(bilinear_fit(t, y, sigma)["breakpoint"])
    tg_sem = float(np.std(boots, ddof=1)) if n_boot > 1 else float("nan")
    n = len(t)
    dof = n - 4  # three coefficients plus the breakpoint
    if fit["sse"] > 0 and dof > 0:
        f_stat = (fit["sse_one_line"] - fit["sse"]) / (fit["sse"] / dof)
        p_value = float(stats.f.sf(f_stat, 2, dof))
    else:
        p_value = 0.0
    lo, hi = fit["slope_low"], fit["slope_high"]
    contrast = (hi - lo) / max(abs(hi), abs(lo), 1e-300)
    if contrast < 0.2 or p_value > 0.05:
        quality = "no_transition"
    elif not np.isfinite(tg_sem) or tg_sem > 25.0:
        quality = "noisy"
    else:
        quality = "ok"
    v_tg = fit["value_at_break"]
    return {
        "Tg": tb,
        "Tg_sem": tg_sem,
        "Tg_fit": quality,
        "Tg_p_value": p_value,
        "expansion_glass": lo / v_tg,
        "expansion_rubber": hi / v_tg,
    }


def cooling_temperatures(tmax: float, tmin: float, step: float) -> list[float]:
    """Temperatures of the scan, from ``tmax`` down to ``tmin`` (both included).

    Examples
    --------
    >>> cooling_temperatures(400, 300, 50)
    [400.0, 350.0, 300.0]
    """
    if step <= 0 or tmax <= tmin:
        raise ValueError(f"need tg_tmax > tg_tmin and tg_step > 0, got {tmax}, {tmin}, {step}")
    n = int(np.floor((tmax - tmin) / step + 1e-9))
    return [float(tmax - i * step) for i in range(n + 1)]


def cooling_scan(runner, *, tmax: float, tmin: float, step: float, step_ps: float) -> dict:
    """Run the stepwise cooling scan on an :class:`~simdata.protocol.MDRunner` and fit Tg.

    Starts from the runner's current state (the end of production), runs ``2 * step_ps``
    at ``tmax`` to melt it, then ``step_ps`` at each temperature going down. Each step
    writes ``tg_<T>.json`` (mean density and its standard error) and its end state
    ``tg_<T>.xml``; a resumed scan continues after the last finished step. The starting
    state and the production conditions are restored at the end.

    Returns
    -------
    dict
        :func:`glass_transition` output plus ``Tg_scan`` (JSON: temperatures, densities,
        errors) and ``Tg_scan_ps``.
    """
    from .reporters import ObservableReporter
    from .uncertainty import mean_sem

    p = runner.preset
    temps = cooling_temperatures(tmax, tmin, step)
    sim = runner.sim
    start = sim.context.getState(getPositions=True, getVelocities=True, getParameters=True)
    points: list[dict[str, float]] = []
    last_done = None  # state file of the last finished step, loaded before the next one
    for i, temp in enumerate(temps):
        path = runner.workdir / f"tg_{temp:.1f}.json"
        state = runner.workdir / f"tg_{temp:.1f}.xml"
        if path.exists() and state.exists():
            points.append(json.loads(path.read_text()))
            last_done = state
            continue
        if last_done is not None:
            sim.loadState(str(last_done))
            last_done = None
        runner.set_conditions(temp, p.pressure_bar)
        length = step_ps * (2.0 if i == 0 else 1.0)
        runner.run_ps(length * TG_DISCARD, stage=f"tg_{temp:.0f}")
        rep = ObservableReporter(
            max(1, round(p.report_ps * p.steps_per_ps)), runner.masses, positions=False
        )
        sim.reporters.append(rep)
        try:
            runner.run_ps(length * (1 - TG_DISCARD), stage=f"tg_{temp:.0f}")
        finally:
            sim.reporters.remove(rep)
        rho, rho_sem, n_eff = mean_sem(rep.arrays()["density"])
        point = {"T": temp, "density": rho, "density_sem": rho_sem, "n_eff": n_eff}
        points.append(point)
        tmp_xml = state.with_suffix(".xml.tmp")
        sim.saveState(str(tmp_xml))
        os.replace(tmp_xml, state)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(point))
        os.replace(tmp, path)
    sim.context.setState(start)
    runner.set_conditions(p.temperature, p.pressure_bar)
    t = np.array([q["T"] for q in points])
    rho = np.array([q["density"] for q in points])
    rho_sem = np.array([q["density_sem"] for q in points])
    out = glass_transition(t, 1.0 / rho, rho_sem / rho**2)
    out["Tg_scan"] = json.dumps(points)
    out["Tg_scan_ps"] = float(step_ps * (len(temps) + 1))
    return out
