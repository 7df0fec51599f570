"""Theoretical and empirical excess-risk rates.

Under polynomial eigenvalue decay with exponent ``s`` (see :mod:`affinetl.theory._spectra`) and
regularisation ``lambda ~ n ** (-1 / (1 + s))`` on the averaged loss, the excess risk of the
kernel affine-transfer estimator is ``O(n ** (-1 / (1 + s)))``. :func:`fit_rate` measures the
empirical exponent from a learning curve, with a bootstrap confidence interval, so the two can be
compared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["RateFit", "fit_rate", "lambda_schedule", "theoretical_rate", "theoretical_slope"]


def _check_s(s: float) -> float:
    s = float(s)
    if not np.isfinite(s) or s < 0:
        raise ValueError(f"decay exponent s must be finite and non-negative, got {s}")
    return s


def theoretical_slope(s: float) -> float:
    """Log-log slope ``-1 / (1 + s)`` of the excess-risk bound ``n ** (-1 / (1 + s))``.

    Parameters
    ----------
    s : float
        Eigenvalue decay exponent (``s >= 0``). For the affine transfer model use the slowest
        of the three decays, ``max(s(K1), s(K3), s(K2 o K3))``.

    Returns
    -------
    slope : float
        In ``[-1, 0)``.

    Examples
    --------
    >>> theoretical_slope(0.25)
    -0.8
    """
    return -1.0 / (1.0 + _check_s(s))


def theoretical_rate(n: ArrayLike, s: float, scale: float = 1.0) -> np.ndarray:
    """Excess-risk bound ``scale * n ** (-1 / (1 + s))``.

    Parameters
    ----------
    n : array-like of shape (m,)
        Training-set sizes (positive).
    s : float
        Eigenvalue decay exponent.
    scale : float, default 1.0
        Constant in front of the rate.

    Returns
    -------
    rate : ndarray of shape (m,)

    Examples
    --------
    >>> theoretical_rate([1, 16], 0.0).tolist()
    [1.0, 0.0625]
    """
    n = np.asarray(n, dtype=float)
    if np.any(n <= 0) or not np.all(np.isfinite(n)):
        raise ValueError("sample sizes n must be positive and finite")
    return scale * n ** theoretical_slope(s)


def lambda_schedule(n: ArrayLike, s: float, scale: float = 1.0) -> np.ndarray:
    """Regularisation ``scale * n ** (-1 / (1 + s))`` that attains the theoretical rate.

    This is the schedule for the averaged loss ``(1/n) sum (y_i - f(x_i))^2``. For a solver that
    minimises the summed loss (``lambda_scaling="none"``), multiply by ``n``.

    Parameters
    ----------
    n : array-like of shape (m,)
        Training-set sizes.
    s : float
        Eigenvalue decay exponent.
    scale : float, default 1.0
        Constant, e.g. a value tuned at the smallest ``n``.

    Returns
    -------
    lam : ndarray of shape (m,)

    Examples
    --------
    >>> lambda_schedule([100], 1.0).tolist()
    [0.1]
    """
    return theoretical_rate(n, s, scale)


@dataclass(frozen=True)
class RateFit:
    """Fitted power law ``risk ~ exp(intercept) * n ** slope`` with a bootstrap interval.

    Attributes
    ----------
    slope : float
        Least-squares slope of ``log risk`` against ``log n``.
    intercept : float
        Intercept of the same line.
    ci_low, ci_high : float
        Percentile bootstrap interval for the slope.
    confidence : float
        Level of the interval.
    n_bootstrap : int
        Number of bootstrap refits.
    """

    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    confidence: float
    n_bootstrap: int

    def contains(self, slope: float) -> bool:
        """Whether ``slope`` lies inside the confidence interval (inclusive)."""
        return bool(self.ci_low <= slope <= self.ci_high)


def _ols_slopes(logn: np.ndarray, logr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise OLS of ``logr[b]`` on ``logn[b]``; both of shape (B, m)."""
    xm = logn.mean(axis=1, keepdims=True)
    ym = logr.mean(axis=1, keepdims=True)
    dx = logn - xm
    slope = np.sum(dx * (logr - ym), axis=1) / np.sum(dx * dx, axis=1)
    return slope, ym[:, 0] - slope * xm[:, 0]


def fit_rate(
    n: ArrayLike,
    risk: ArrayLike,
    *,
    n_bootstrap: int = 2000,
    confidence: float = 0.95,
    random_state: int | np.random.Generator | None = None,
) -> RateFit:
    """Empirical rate: slope of ``log risk`` against ``log n`` with a bootstrap interval.

    Parameters
    ----------
    n : array-like of shape (m,)
        Training-set sizes, at least two distinct values.
    risk : array-like of shape (m,) or (m, n_repeats)
        Positive excess risks. With repetitions, all ``m * n_repeats`` points enter one
        least-squares fit and the bootstrap resamples repetitions within each ``n`` (stratified);
        without, it resamples the ``(n, risk)`` pairs (at least three distinct ``n`` needed;
        resamples holding a single distinct ``n`` are redrawn).
    n_bootstrap : int, default 2000
        Number of bootstrap refits.
    confidence : float, default 0.95
        Level of the percentile interval.
    random_state : int, Generator or None, default None
        Seed of the bootstrap.

    Returns
    -------
    RateFit

    Examples
    --------
    >>> import numpy as np
    >>> n = np.array([25, 50, 100, 200])
    >>> fit = fit_rate(n, 3.0 * n ** -0.8, random_state=0)
    >>> round(fit.slope, 10), round(fit.ci_low, 10), round(fit.ci_high, 10)
    (-0.8, -0.8, -0.8)
    """
    n = np.asarray(n, dtype=float)
    r = np.asarray(risk, dtype=float)
    if n.ndim != 1:
        raise ValueError(f"n must be 1-D, got shape {n.shape}")
    if r.ndim == 1:
        r = r[:, None]
    if r.ndim != 2 or r.shape[0] != n.size:
        raise ValueError(
            f"risk must have shape ({n.size},) or ({n.size}, n_repeats), got {r.shape}"
        )
    if np.any(n <= 0) or not np.all(np.isfinite(n)):
        raise ValueError("sample sizes n must be positive and finite")
    if np.any(r <= 0) or not np.all(np.isfinite(r)):
        raise ValueError("risks must be positive and finite to take logarithms")
    if np.unique(n).size < 2:
        raise ValueError("need at least two distinct sample sizes to fit a rate")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
    m, k = r.shape
    rng = np.random.default_rng(random_state)
    logn_full = np.repeat(np.log(n), k)
    logr = np.log(r)
    slope, intercept = _ols_slopes(logn_full[None], logr.reshape(1, -1))

    if k > 1:
        cols = rng.integers(0, k, size=(n_bootstrap, m, k))
        boot_r = np.take_along_axis(np.broadcast_to(logr, (n_bootstrap, m, k)), cols, axis=2)
        boot_x = np.broadcast_to(logn_full, (n_bootstrap, m * k))
        bs, _ = _ols_slopes(boot_x, boot_r.reshape(n_bootstrap, -1))
    else:
        if np.unique(n).size < 3:
            raise ValueError(
                "without repetitions the pairs bootstrap needs at least three distinct n"
            )
        logx = np.log(n)
        rows = rng.integers(0, m, size=(n_bootstrap, m))
        # a resample holding a single distinct n has no slope: redraw those resamples
        for _ in range(100):
            bad = np.flatnonzero(np.ptp(logx[rows], axis=1) == 0)
            if bad.size == 0:
                break
            rows[bad] = rng.integers(0, m, size=(bad.size, m))
        else:
            raise ValueError("could not draw non-degenerate bootstrap resamples; add sample sizes")
        bs, _ = _ols_slopes(logx[rows], logr[rows, 0])
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(bs, [alpha, 1.0 - alpha])
    return RateFit(
        slope=float(slope[0]),
        intercept=float(intercept[0]),
        ci_low=float(lo),
        ci_high=float(hi),
        confidence=float(confidence),
        n_bootstrap=int(n_bootstrap),
    )
