"""Power-law learning curves ``E(N) = D N^-alpha + C``: the fit and its bootstrap intervals.

Arrays in, small frozen results out; nothing here knows about estimators, files or figures.
The fit is weighted nonlinear least squares on the mean error per ``N`` (weights ``1 / sem^2``
from the repetitions), started from a profile over ``alpha`` (``D`` and ``C`` enter linearly)
and polished with :func:`scipy.optimize.least_squares`. Intervals come from a bootstrap over
the repetitions.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, stats

__all__ = ["CNotIdentifiableWarning", "PowerLawFit", "fit_power_law", "power_law"]

logger = logging.getLogger(__name__)

#: Search range of the exponent.
ALPHA_BOUNDS = (1e-3, 4.0)
_ALPHA_GRID = np.geomspace(ALPHA_BOUNDS[0], ALPHA_BOUNDS[1], 400)


class CNotIdentifiableWarning(UserWarning):
    """The learning curve does not pin down its floor ``C`` (too flat, too short or too noisy)."""


def power_law(n: ArrayLike, D: float, alpha: float, C: float = 0.0) -> np.ndarray:
    """``D * n**-alpha + C``.

    Examples
    --------
    >>> float(power_law(100, 2.0, 0.5, 0.1))
    0.3
    """
    return D * np.asarray(n, dtype=float) ** (-alpha) + C


@dataclass(frozen=True)
class PowerLawFit:
    """A fitted learning curve ``E(N) = D N^-alpha + C`` (``C = 0`` for ``form="pure"``).

    Attributes
    ----------
    form : {"offset", "pure"}
    D, alpha, C : float
        Point estimates (``C`` is 0 for the pure power law).
    ci : dict of str to (float, float)
        Bootstrap percentile intervals of ``D``, ``alpha`` and ``C`` at ``level``.
    level : float
        Confidence level of ``ci``.
    percentile_level : float
        Level of the bootstrap percentiles that give ``ci`` (Hesterberg's expanded interval:
        wider than ``level`` for few repetitions).
    n : ndarray of shape (n_points,)
        The grid of ``N``.
    mean_error, sem : ndarray of shape (n_points,)
        Mean error and its standard error per ``N``.
    chi2 : float
        Weighted residual sum of squares.
    aicc : float
        Small-sample Akaike criterion ``chi2 + 2k + 2k(k+1)/(m-k-1)`` (``k`` parameters,
        ``m`` points; infinite when ``m <= k + 1``).
    bootstrap : ndarray of shape (n_boot, 3)
        ``(D, alpha, C)`` of each bootstrap refit.
    identifiable : bool
        Whether the data pin down ``C`` (always True for the pure form); see
        :func:`fit_power_law`.
    """

    form: str
    D: float
    alpha: float
    C: float
    ci: dict[str, tuple[float, float]]
    level: float
    percentile_level: float
    n: np.ndarray
    mean_error: np.ndarray
    sem: np.ndarray
    chi2: float
    aicc: float
    bootstrap: np.ndarray = field(repr=False)
    identifiable: bool = True

    @property
    def n_params(self) -> int:
        """Number of fitted parameters (3 or 2)."""
        return 3 if self.form == "offset" else 2

    def predict(self, n: ArrayLike) -> np.ndarray:
        """Fitted error at ``n`` (any shape)."""
        return power_law(n, self.D, self.alpha, self.C)

    def band(self, n: ArrayLike, level: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise bootstrap band of the fitted curve at ``n``.

        ``level`` is the percentile level (default: :attr:`percentile_level`, which matches
        the intervals of the parameters).

        Returns
        -------
        lower, upper : ndarray of shape ``np.shape(n)``
        """
        level = self.percentile_level if level is None else level
        n = np.asarray(n, dtype=float)
        b = self.bootstrap
        curves = b[:, 0, None] * n.ravel()[None, :] ** (-b[:, 1, None]) + b[:, 2, None]
        q = [(1 - level) / 2, (1 + level) / 2]
        lo, hi = np.quantile(curves, q, axis=0)
        return lo.reshape(n.shape), hi.reshape(n.shape)

    def summary(self) -> dict[str, float | str | bool]:
        """Flat dict of estimates and intervals (one row of a table)."""
        row: dict[str, float | str | bool] = {"form": self.form}
        for name in ("D", "alpha", "C"):
            row[name] = getattr(self, name)
            row[f"{name}_lo"], row[f"{name}_hi"] = self.ci[name]
        row.update(chi2=self.chi2, aicc=self.aicc, C_identifiable=self.identifiable)
        return row


# --- numerics on arrays -------------------------------------------------------------------------


def _rss_parts(Z: np.ndarray, M: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, ...]:
    """Weighted sums for ``m ~ D z + C``.

    ``M``, ``W`` of shape (B, m); ``Z`` of shape (A, m) (every candidate for every row: sums of
    shape (B, A)) or (B, m, 1)-paired as shape (B, m) with ``paired`` rows (sums (B, 1)).
    """
    WM = W * M
    if Z.ndim == 3:  # paired: one z per row
        Z = Z[..., 0]
        return (
            W.sum(1)[:, None],
            (W * Z * Z).sum(1)[:, None],
            (WM * Z).sum(1)[:, None],
            (W * Z).sum(1)[:, None],
            WM.sum(1)[:, None],
            (WM * M).sum(1)[:, None],
        )
    return (
        W.sum(1)[:, None],
        W @ (Z * Z).T,
        WM @ Z.T,
        W @ Z.T,
        WM.sum(1)[:, None],
        (WM * M).sum(1)[:, None],
    )


def _linear_fit(
    Z: np.ndarray, M: np.ndarray, W: np.ndarray, offset: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares of ``m ~ D z + C`` with ``D, C >= 0`` for every (B, A) pair.

    Returns ``D``, ``C`` and the residual sum of squares, each of shape (B, A).
    """
    sw, szz, szm, sz, sm, smm = _rss_parts(Z, M, W)

    def rss(D: np.ndarray, C: np.ndarray) -> np.ndarray:
        return smm - 2 * D * szm - 2 * C * sm + D * D * szz + 2 * D * C * sz + C * C * sw

    D0 = np.maximum(szm / szz, 0.0)
    C0 = np.zeros_like(D0)
    best_rss = rss(D0, C0)
    if not offset:
        return D0, C0, best_rss
    with np.errstate(divide="ignore", invalid="ignore"):
        det = sw * szz - sz * sz
        Du = (sw * szm - sz * sm) / det
        Cu = (szz * sm - sz * szm) / det
    ok = (det > 1e-12 * sw * szz) & (Du >= 0) & (Cu >= 0)
    Du, Cu = np.where(ok, Du, 0.0), np.where(ok, Cu, 0.0)
    rss_u = np.where(ok, rss(Du, Cu), np.inf)
    Cc = np.broadcast_to(np.maximum(sm / sw, 0.0), D0.shape)
    rss_c = rss(np.zeros_like(D0), Cc)
    D = np.where(rss_u <= best_rss, Du, D0)
    C = np.where(rss_u <= best_rss, Cu, C0)
    best_rss = np.minimum(rss_u, best_rss)
    use_c = rss_c < best_rss
    return (
        np.where(use_c, 0.0, D),
        np.where(use_c, Cc, C),
        np.maximum(np.minimum(rss_c, best_rss), 0.0),
    )


def _profile_fit(
    n: np.ndarray, M: np.ndarray, W: np.ndarray, offset: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Best ``(D, alpha, C, chi2)`` of each row of ``M`` (B, m): alpha grid + parabolic step."""
    logs = np.log(_ALPHA_GRID)
    _, _, rss = _linear_fit(n[None, :] ** (-_ALPHA_GRID[:, None]), M, W, offset)
    k = np.clip(np.argmin(rss, axis=1), 1, _ALPHA_GRID.size - 2)
    rows = np.arange(M.shape[0])
    y0, y1, y2 = rss[rows, k - 1], rss[rows, k], rss[rows, k + 1]
    h = logs[1] - logs[0]
    curv = y0 - 2 * y1 + y2
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(curv > 0, 0.5 * h * (y0 - y2) / curv, 0.0)
    alpha = np.exp(logs[k] + np.clip(step, -h, h))
    D, C, r = (
        v[:, 0] for v in _linear_fit((n[None, :] ** (-alpha[:, None]))[..., None], M, W, offset)
    )
    kk = np.argmin(rss, axis=1)
    a_grid = _ALPHA_GRID[kk]
    Dg, Cg, rg = (
        v[:, 0] for v in _linear_fit((n[None, :] ** (-a_grid[:, None]))[..., None], M, W, offset)
    )
    better = r <= rg
    return (
        np.where(better, D, Dg),
        np.where(better, alpha, a_grid),
        np.where(better, C, Cg),
        np.where(better, r, rg),
    )


def _polish(
    n: np.ndarray, m: np.ndarray, w: np.ndarray, start: tuple[float, float, float], offset: bool
) -> tuple[float, float, float, float]:
    """Joint weighted nonlinear least squares from ``start`` (bounds D, C >= 0)."""
    sw = np.sqrt(w)
    x0 = np.array(start[:3] if offset else start[:2], dtype=float)
    lower = [0.0, ALPHA_BOUNDS[0]] + ([0.0] if offset else [])
    upper = [np.inf, ALPHA_BOUNDS[1]] + ([np.inf] if offset else [])
    x0 = np.clip(x0, np.add(lower, 1e-12), np.subtract(upper, 1e-12))

    def resid(p: np.ndarray) -> np.ndarray:
        C = p[2] if offset else 0.0
        return sw * (power_law(n, p[0], p[1], C) - m)

    sol = optimize.least_squares(resid, x0, bounds=(lower, upper), x_scale="jac", method="trf")
    D, alpha = float(sol.x[0]), float(sol.x[1])
    C = float(sol.x[2]) if offset else 0.0
    return D, alpha, C, float(2 * sol.cost)


def _fit_arrays(
    n: np.ndarray, m: np.ndarray, w: np.ndarray, offset: bool
) -> tuple[float, float, float, float]:
    D, alpha, C, chi2 = (float(v[0]) for v in _profile_fit(n, m[None, :], w[None, :], offset))
    cand = _polish(n, m, w, (D, alpha, C), offset)
    if cand[3] < chi2:
        return cand
    return D, alpha, C, chi2


def _aicc(chi2: float, k: int, m: int) -> float:
    if m <= k + 1:
        return float("inf")
    return chi2 + 2 * k + 2 * k * (k + 1) / (m - k - 1)


def _errors_matrix(
    n: ArrayLike, errors: ArrayLike, reps: ArrayLike | None
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Group tidy ``(n, error, rep)`` into the sorted grid, per-N errors and per-N rep labels."""
    n = np.asarray(n, dtype=float).ravel()
    e = np.asarray(errors, dtype=float).ravel()
    if n.shape != e.shape:
        raise ValueError(f"n and errors must have the same length, got {n.size} and {e.size}")
    r = np.arange(n.size) if reps is None else np.asarray(reps).ravel()
    if r.shape != n.shape:
        raise ValueError(f"reps must have the length of n ({n.size}), got {r.size}")
    ok = np.isfinite(n) & np.isfinite(e)
    if not np.all(ok):
        logger.warning("dropping %d non-finite (n, error) pairs", int((~ok).sum()))
    n, e, r = n[ok], e[ok], r[ok]
    if np.any(n <= 0):
        raise ValueError("N must be positive")
    if np.any(e < 0):
        raise ValueError("errors must be non-negative (RMSE, MAE, ...)")
    grid = np.unique(n)
    return grid, [e[n == g] for g in grid], [r[n == g] for g in grid]


def _weights(mean: np.ndarray, sd: np.ndarray, count: np.ndarray, sem_floor: float) -> np.ndarray:
    """Standard errors (B, m) from per-N means and standard deviations, floored per row."""
    with np.errstate(invalid="ignore", divide="ignore"):
        sem = np.where(count > 1, sd / np.sqrt(count), np.nan)
    sem = np.where(np.all(~np.isfinite(sem), axis=1, keepdims=True), 1.0, sem)  # unweighted
    ref = np.nanmedian(sem, axis=1, keepdims=True)
    tiny = 1e-12 * np.maximum(np.max(np.abs(mean), axis=1, keepdims=True), 1.0)
    floor = np.maximum(sem_floor * ref, tiny)
    return np.where(np.isfinite(sem), np.maximum(sem, floor), ref)


def _moments(groups: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = np.array([g.mean() for g in groups])[None, :]
    sd = np.array([g.std(ddof=1) if g.size > 1 else np.nan for g in groups])[None, :]
    return mean, sd, np.array([g.size for g in groups])


def _boot_moments(
    groups: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Means and standard deviations (n_boot, m) of the errors resampled over repetitions."""
    first = np.sort(labels[0])
    joint = all(lab.size == first.size and np.array_equal(np.sort(lab), first) for lab in labels)
    means = np.empty((n_boot, len(groups)))
    sds = np.empty((n_boot, len(groups)))
    if joint:  # same repetitions at every N: resample them jointly (keeps their correlation)
        pick = rng.integers(0, first.size, (n_boot, first.size))
    for j, (g, lab) in enumerate(zip(groups, labels)):
        if joint:
            sample = g[np.argsort(lab)][pick]
        else:
            sample = g[rng.integers(0, g.size, (n_boot, g.size))]
        means[:, j] = sample.mean(1)
        sds[:, j] = sample.std(1, ddof=1) if g.size > 1 else np.nan
    return means, sds


def _expanded_level(level: float, n_reps: int) -> float:
    """Percentile level of Hesterberg's expanded bootstrap interval for ``n_reps`` repetitions.

    The plain percentile interval is too narrow for few repetitions; the expanded one uses the
    percentiles at ``Phi(sqrt(r / (r - 1)) t_{r-1})`` (Hesterberg 2015, Am. Stat. 69, 371).
    """
    if n_reps < 2:
        return level
    t = stats.t.ppf((1 + level) / 2, n_reps - 1) * np.sqrt(n_reps / (n_reps - 1))
    return float(2 * stats.norm.cdf(t) - 1)


def _quantiles(values: np.ndarray, level: float) -> tuple[float, float]:
    q = [(1 - level) / 2, (1 + level) / 2]
    lo, hi = np.quantile(values, q, method="inverted_cdf")
    return float(lo), float(hi)


def fit_power_law(
    n: ArrayLike,
    errors: ArrayLike,
    *,
    reps: ArrayLike | None = None,
    form: str = "offset",
    n_boot: int = 500,
    level: float = 0.95,
    c_tolerance: float = 0.5,
    min_alpha: float = 0.1,
    sem_floor: float = 0.1,
    random_state: int | np.random.Generator | None = 0,
    warn: bool = True,
) -> PowerLawFit:
    """Fit a learning curve ``E(N) = D N^-alpha + C`` (or ``D N^-alpha`` for ``form="pure"``).

    Parameters
    ----------
    n : array-like of shape (n_obs,)
        Size of the training database of each observation (several per ``N``: repetitions).
    errors : array-like of shape (n_obs,)
        Test error of each observation (RMSE, MAE: non-negative).
    reps : array-like of shape (n_obs,), optional
        Repetition label of each observation. When every ``N`` has the same labels (a design
        where repetition ``r`` shares its target split across ``N``), the bootstrap resamples
        labels jointly over ``N``; otherwise it resamples within each ``N``.
    form : {"offset", "pure"}, default="offset"
        ``"offset"`` fits ``D, alpha, C >= 0``; ``"pure"`` fixes ``C = 0``.
    n_boot : int, default=500
        Bootstrap refits over the repetitions (0: no intervals).
    level : float, default=0.95
        Confidence level of the percentile intervals.
    c_tolerance : float, default=0.5
        ``C`` counts as identified when there are at least 4 distinct ``N`` and the width of
        its interval is at most ``c_tolerance`` times the smallest mean error (with
        ``n_boot=0`` only the number of ``N`` is checked).
    min_alpha : float, default=0.1
        ``C`` also counts as not identified when the upper end of the interval of ``alpha``
        is below ``min_alpha``: such a curve is nearly ``(D + C) - D alpha log N`` over the
        observed range, where ``D`` and ``C`` cannot be told apart.
    sem_floor : float, default=0.1
        Standard errors are floored at this fraction of their median, so that one lucky ``N``
        with near-identical repetitions does not take all the weight.
    random_state : int, Generator or None, default=0
        Seed of the bootstrap.
    warn : bool, default=True
        Emit :class:`CNotIdentifiableWarning` when ``C`` is not identified.

    Returns
    -------
    PowerLawFit

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> N = np.repeat([30, 60, 120, 250, 500, 1000], 10)
    >>> E = power_law(N, 2.0, 0.6, 0.05) * (1 + 0.03 * rng.standard_normal(N.size))
    >>> fit = fit_power_law(N, E, n_boot=100)
    >>> round(fit.alpha, 1), round(fit.C, 2)
    (0.6, 0.05)
    """
    if form not in ("offset", "pure"):
        raise ValueError(f"form must be 'offset' or 'pure', got {form!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    offset = form == "offset"
    grid, groups, labels = _errors_matrix(n, errors, reps)
    k = 3 if offset else 2
    if grid.size < k:
        raise ValueError(
            f"a {form} power law has {k} parameters: need at least {k} distinct N, got {grid.size}"
        )
    mean, sd, count = _moments(groups)
    sem = _weights(mean, sd, count, sem_floor)
    mean, sem = mean[0], sem[0]
    D, alpha, C, chi2 = _fit_arrays(grid, mean, 1 / sem**2, offset)

    rng = np.random.default_rng(random_state)
    boots = np.empty((n_boot, 3))
    if n_boot:
        means, sds = _boot_moments(groups, labels, n_boot, rng)
        sems = _weights(means, sds, count, sem_floor)
        Db, ab, Cb, _ = _profile_fit(grid, means, 1 / sems**2, offset)
        boots = np.column_stack([Db, ab, Cb])
    boot_level = _expanded_level(level, int(np.median(count)))
    ci = {}
    for j, name in enumerate(("D", "alpha", "C")):
        lo, hi = _quantiles(boots[:, j], boot_level) if n_boot else (np.nan, np.nan)
        ci[name] = (lo, hi)

    identifiable = True
    if offset:
        width = ci["C"][1] - ci["C"][0]
        # without a bootstrap only the number of N can be checked
        narrow = n_boot == 0 or width <= c_tolerance * mean.min()
        # alpha ~ 0: D N^-alpha + C ~ (D + C) - D alpha log N, so D and C trade off
        curved = n_boot == 0 or ci["alpha"][1] >= min_alpha
        identifiable = bool(grid.size >= 4 and narrow and curved)
        if not identifiable and warn:
            why = "" if curved else f" and alpha < {min_alpha} (a nearly flat, log-linear curve)"
            warnings.warn(
                f"the learning curve does not identify its floor C: interval "
                f"[{ci['C'][0]:.4g}, {ci['C'][1]:.4g}]{why} with {grid.size} values of N "
                f"(smallest mean error {mean.min():.4g}). Extend N, add repetitions, or "
                "report the pure power law (form='pure').",
                CNotIdentifiableWarning,
                stacklevel=2,
            )
    return PowerLawFit(
        form=form,
        D=float(D),
        alpha=float(alpha),
        C=float(C),
        ci=ci,
        level=level,
        percentile_level=boot_level,
        n=grid,
        mean_error=mean,
        sem=sem,
        chi2=float(chi2),
        aicc=_aicc(chi2, k, grid.size),
        bootstrap=boots,
        identifiable=identifiable,
    )
