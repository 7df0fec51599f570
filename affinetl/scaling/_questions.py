"""Questions answered by fitted power laws: which form, how large N, how many experiments.

:func:`compare_power_laws` weighs the offset form against the pure one;
:func:`n_for_target_error` inverts a fitted law; :func:`equivalent_samples` converts a source
size into the number of experiments a target-only model needs for the same error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from ._powerlaw import PowerLawFit, _quantiles

__all__ = ["compare_power_laws", "equivalent_samples", "n_for_target_error"]


def compare_power_laws(offset_fit: PowerLawFit, pure_fit: PowerLawFit) -> pd.DataFrame:
    """Compare ``D N^-alpha + C`` with ``D N^-alpha`` fitted to the same curve.

    Reports the weighted chi-square, AICc and its difference to the best form, and the
    likelihood-ratio p-value of ``C = 0`` (half the chi-square(1) tail: ``C = 0`` lies on the
    boundary of ``C >= 0``).

    Parameters
    ----------
    offset_fit, pure_fit : PowerLawFit
        Fits of ``form="offset"`` and ``form="pure"`` to the same data.

    Returns
    -------
    pandas.DataFrame
        One row per form: ``chi2``, ``n_params``, ``aicc``, ``delta_aicc``, ``p_C_zero``
        (offset row only), ``preferred``.
    """
    if offset_fit.form != "offset" or pure_fit.form != "pure":
        raise ValueError("pass the offset fit first and the pure fit second")
    if not np.array_equal(offset_fit.n, pure_fit.n):
        raise ValueError("the two fits were made on different grids of N")
    lr = max(pure_fit.chi2 - offset_fit.chi2, 0.0)
    rows = []
    for fit in (offset_fit, pure_fit):
        rows.append(
            {
                "form": fit.form,
                "chi2": fit.chi2,
                "n_params": fit.n_params,
                "aicc": fit.aicc,
                "p_C_zero": 0.5 * stats.chi2.sf(lr, 1) if fit is offset_fit else np.nan,
            }
        )
    table = pd.DataFrame(rows).set_index("form")
    table["delta_aicc"] = table["aicc"] - table["aicc"].min()
    table["preferred"] = table["delta_aicc"] == 0
    return table


def _invert(D: np.ndarray, alpha: np.ndarray, C: np.ndarray, error: np.ndarray) -> np.ndarray:
    """``N`` with ``D N^-alpha + C = error`` (inf where ``error <= C``)."""
    gap = error - C
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        out = np.where(gap > 0, (D / np.where(gap > 0, gap, 1.0)) ** (1 / alpha), np.inf)
    return np.where(D <= 0, np.where(gap >= 0, 1.0, np.inf), out)


def n_for_target_error(fit: PowerLawFit, target: float) -> tuple[float, float, float]:
    """Database size ``N`` at which the fitted curve reaches ``target`` error.

    ``N = (D / (target - C))^(1 / alpha)``; infinite when ``target <= C`` (the floor cannot be
    beaten by more data).

    Parameters
    ----------
    fit : PowerLawFit
    target : float
        Error to reach, in the units of the fitted errors.

    Returns
    -------
    N, lower, upper : float
        Point estimate and bootstrap interval matching ``fit.ci`` (``inf`` allowed).

    Examples
    --------
    >>> fit = fit_power_law([10, 100, 1000], [1.0, 0.1, 0.01], form="pure", n_boot=0)
    >>> round(n_for_target_error(fit, 0.05)[0])
    200
    """
    if not np.isfinite(target) or target <= 0:
        raise ValueError(f"target error must be a positive number, got {target}")
    point = float(_invert(np.array(fit.D), np.array(fit.alpha), np.array(fit.C), target))
    if fit.bootstrap.shape[0] == 0:
        return point, float("nan"), float("nan")
    b = fit.bootstrap
    lo, hi = _quantiles(
        _invert(b[:, 0], b[:, 1], b[:, 2], np.asarray(target)), fit.percentile_level
    )
    return point, lo, hi


def equivalent_samples(
    transfer_fit: PowerLawFit, target_fit: PowerLawFit, n_source: ArrayLike
) -> pd.DataFrame:
    """How many experimental samples a database of ``n_source`` simulations is worth.

    The transfer curve ``E(N) = D N^-alpha + C`` (source size ``N``, fixed experimental
    training set) is matched against the target-only curve ``E_t(n) = D' n^-beta + C'``:
    ``n_eq(N) = (D' / (E(N) - C'))^(1 / beta)`` experimental samples give a target-only model
    the error that transfer reaches with ``N`` simulations. Intervals pair the bootstrap
    refits of the two curves by index.

    Parameters
    ----------
    transfer_fit : PowerLawFit
        Curve in the source size ``N``.
    target_fit : PowerLawFit
        Target-only curve in the number of experimental samples ``n``.
    n_source : array-like of shape (n_values,)
        Source sizes to evaluate.

    Returns
    -------
    pandas.DataFrame
        Columns ``n_source``, ``error`` (fitted transfer error), ``n_equivalent``,
        ``n_equivalent_lo``, ``n_equivalent_hi`` (``inf`` where the transfer error is below
        the target-only floor ``C'``) and ``extrapolated`` (``n_equivalent`` outside the range
        of ``n`` that the target-only curve was fitted on).
    """
    N = np.atleast_1d(np.asarray(n_source, dtype=float))
    if np.any(N <= 0):
        raise ValueError("n_source must be positive")
    err = transfer_fit.predict(N)
    point = _invert(np.array(target_fit.D), np.array(target_fit.alpha), np.array(target_fit.C), err)
    bt, bs = target_fit.bootstrap, transfer_fit.bootstrap
    m = min(bt.shape[0], bs.shape[0])
    lo = np.full(N.shape, np.nan)
    hi = np.full(N.shape, np.nan)
    level = max(transfer_fit.percentile_level, target_fit.percentile_level)
    if m:
        e_b = bs[:m, 0, None] * N[None, :] ** (-bs[:m, 1, None]) + bs[:m, 2, None]
        n_b = _invert(bt[:m, 0, None], bt[:m, 1, None], bt[:m, 2, None], e_b)
        for j in range(N.size):
            lo[j], hi[j] = _quantiles(n_b[:, j], level)
    n_min, n_max = target_fit.n.min(), target_fit.n.max()
    return pd.DataFrame(
        {
            "n_source": N,
            "error": err,
            "n_equivalent": point,
            "n_equivalent_lo": lo,
            "n_equivalent_hi": hi,
            "extrapolated": (point < n_min) | (point > n_max),
        }
    )
