"""Standard errors of time averages with the autocorrelation accounted for.

Consecutive MD frames are correlated, so ``std / sqrt(n)`` understates the error of a
mean. Two estimators:

* :func:`statistical_inefficiency` -- ``g = 1 + 2 sum_t (1 - t/n) C(t)``, the integrated
  autocorrelation summed until ``C(t)`` first drops to zero or below (the estimator of
  pymbar's ``timeseries.statistical_inefficiency``, Chodera et al., JCTC 3, 26 (2007));
  ``n / g`` is the number of effectively independent samples;
* :func:`blocking_sem` -- Flyvbjerg and Petersen (J. Chem. Phys. 91, 461 (1989)): the
  series is halved by averaging neighbours until the standard error stops growing.

:func:`mean_sem` gives the mean with the first one's error. Properties that are
functionals of the whole series (fluctuation Cp, compressibility, ...) get their error
from :func:`block_jackknife` over blocks at least two correlation times long
(:func:`correlated_blocks` picks their number).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "statistical_inefficiency",
    "blocking_sem",
    "mean_sem",
    "correlated_blocks",
    "block_jackknife",
]


def statistical_inefficiency(x: ArrayLike, *, max_lag: int | None = None) -> float:
    """Statistical inefficiency ``g >= 1`` of a time series (1 for uncorrelated samples).

    Parameters
    ----------
    x : array_like of shape (n,)
        Equally spaced samples.
    max_lag : int, optional
        Largest lag summed (default ``n // 2``).

    Returns
    -------
    float
        ``g``; ``n / g`` is the number of effectively independent samples. A constant
        series gives 1.

    Examples
    --------
    >>> statistical_inefficiency([1.0, -1.0] * 50) == 1.0
    True
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n < 3:
        return 1.0
    dx = x - x.mean()
    var = float(dx @ dx) / n
    if var <= 0:
        return 1.0
    # autocovariance of all lags at once (FFT, zero padded against wrap-around)
    m = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(dx, m)
    acov = np.fft.irfft(f * np.conj(f), m)[:n] / np.arange(n, 0, -1)
    c = acov[1 : (max_lag or n // 2)] / var
    t = np.arange(1, len(c) + 1)
    stop = int(np.argmax(c <= 0)) if np.any(c <= 0) else len(c)
    g = 1.0 + 2.0 * float(np.sum(c[:stop] * (1.0 - t[:stop] / n)))
    return max(1.0, g)


def blocking_sem(x: ArrayLike, *, min_blocks: int = 8) -> tuple[float, int]:
    """Flyvbjerg-Petersen blocking estimate of the standard error of the mean.

    At each level the series is halved by averaging neighbours; the naive error
    ``sqrt(var / (m - 1))`` grows while blocks are shorter than the correlation time and
    then stays flat within its own error ``sem / sqrt(2 (m - 1))``. The first level whose
    error agrees with every later one (``min_blocks`` blocks at least) is the estimate.

    Parameters
    ----------
    x : array_like of shape (n,)
    min_blocks : int
        Fewest blocks a level may have.

    Returns
    -------
    sem : float
        NaN for fewer than ``2 * min_blocks`` samples.
    level : int
        Number of halvings of the chosen level (``2**level`` samples per block).
    """
    x = np.asarray(x, dtype=float)
    sems, errs = [], []
    while len(x) >= min_blocks:
        m = len(x)
        s = np.sqrt(np.var(x) / (m - 1))
        sems.append(s)
        errs.append(s / np.sqrt(2.0 * (m - 1)))
        x = 0.5 * (x[: m // 2 * 2 : 2] + x[1 : m // 2 * 2 : 2])
    if len(sems) < 2:
        return float("nan"), 0
    for k in range(len(sems)):
        later = np.array(sems[k + 1 :])
        if np.all(np.abs(later - sems[k]) <= 2.0 * np.hypot(errs[k], np.array(errs[k + 1 :]))):
            return float(sems[k]), k
    return float(sems[-1]), len(sems) - 1


def mean_sem(x: ArrayLike) -> tuple[float, float, float]:
    """Mean, its standard error and the number of effective samples ``n / g``.

    Examples
    --------
    >>> m, s, n_eff = mean_sem([1.0, 3.0] * 50)
    >>> (m, round(s, 3), n_eff)
    (2.0, 0.101, 100.0)
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n < 2:
        return (float(x.mean()) if n else float("nan")), float("nan"), float(n)
    g = statistical_inefficiency(x)
    return float(x.mean()), float(x.std(ddof=1) * np.sqrt(g / n)), float(n / g)


def correlated_blocks(*series: ArrayLike, max_blocks: int = 20, min_blocks: int = 4) -> int:
    """Number of contiguous blocks, each at least two correlation times long.

    ``min(max_blocks, n / (2 g))`` with ``g`` the largest statistical inefficiency of
    the series; at least ``min_blocks`` (the blocks are then shorter than wanted, which
    the caller may flag from ``n / g``).
    """
    n = len(np.asarray(series[0]))
    g = max(statistical_inefficiency(s) for s in series)
    return int(max(min_blocks, min(max_blocks, n // max(1, int(np.ceil(2 * g))))))


def block_jackknife(
    func: Callable[..., float], arrays: dict[str, np.ndarray], n_blocks: int
) -> tuple[float, float]:
    """Value of ``func(**arrays)`` and its delete-one-block jackknife standard error.

    Parameters
    ----------
    func : callable
        Statistic of whole series given as keyword arrays of equal length.
    arrays : dict
        The series.
    n_blocks : int
        Contiguous blocks (see :func:`correlated_blocks`).

    Returns
    -------
    value, sem : float
        ``sem`` is NaN for fewer than 2 blocks or fewer than 2 samples per block.
    """
    n = len(next(iter(arrays.values())))
    value = float(func(**arrays))
    size = n // n_blocks if n_blocks >= 2 else 0
    if size < 2:
        return value, float("nan")
    idx = np.arange(n_blocks * size)
    vals = []
    for b in range(n_blocks):
        keep = np.concatenate([idx[: b * size], idx[(b + 1) * size :]])
        vals.append(func(**{k: v[keep] for k, v in arrays.items()}))
    vals = np.asarray(vals, dtype=float)
    sem = np.sqrt((n_blocks - 1) / n_blocks * np.sum((vals - vals.mean()) ** 2))
    return value, float(sem)
