"""SARCOS inverse dynamics (GPML): 21 joint states and 7 joint torques."""

from __future__ import annotations

import logging
import warnings
from typing import Literal

import numpy as np
import pandas as pd
import scipy.io

from ._container import CaseStudyData
from ._fetch import DataUnavailableError, fetch

__all__ = ["SARCOS_PROXY_POOL", "load_sarcos"]

logger = logging.getLogger(__name__)

#: Offline proxy: the first rows of the GPML test file form the training pool.
SARCOS_PROXY_POOL = 3000

_TRAIN = "sarcos/sarcos_inv.mat"
_TEST = "sarcos/sarcos_inv_test.mat"
_STATES = (
    [f"position_{j}" for j in range(1, 8)]
    + [f"velocity_{j}" for j in range(1, 8)]
    + [f"acceleration_{j}" for j in range(1, 8)]
)
_TORQUES = [f"torque_{j}" for j in range(1, 8)]


def _read(name: str, variable: str) -> np.ndarray:
    matrix = scipy.io.loadmat(fetch(name))[variable]
    if matrix.ndim != 2 or matrix.shape[1] != 28:
        raise ValueError(f"{name}: expected a (n, 28) matrix, got {matrix.shape}")
    return np.asarray(matrix, dtype=np.float64)


def load_sarcos(training: Literal["auto", "full", "proxy"] = "auto") -> CaseStudyData:
    """SARCOS robot-arm inverse dynamics: joint states and torques.

    Parameters
    ----------
    training : {"auto", "full", "proxy"}, default="auto"
        ``"full"``: the GPML training file (44,484 rows, downloaded on first use) is the pool of
        training points and the GPML test file (4,449 rows) the test set. ``"proxy"``: the
        documented offline proxy, pool = first 3,000 rows of the test file, test = the other
        1,449. ``"auto"``: ``"full"`` when the training file can be had (mirror, cache or
        download), else the proxy with a warning.

    Returns
    -------
    CaseStudyData
        ``X``: 21 joint states (7 positions, 7 velocities, 7 accelerations); ``y``: the 7
        torques; ``source`` is empty (in the case study the other six torques are the source
        features of each torque); ``extras["split"]``: ``"pool"`` or ``"test"`` per row;
        ``extras["proxy"]``: whether the offline proxy is in use (also said in ``notes``).

    Examples
    --------
    >>> data = load_sarcos("proxy")  # doctest: +SKIP
    >>> (data.extras["split"] == "test").sum()  # doctest: +SKIP
    1449
    """
    if training not in ("auto", "full", "proxy"):
        raise ValueError(f"training must be 'auto', 'full' or 'proxy', got {training!r}")
    test = _read(_TEST, "sarcos_inv_test")
    pool: np.ndarray | None = None
    if training != "proxy":
        try:
            pool = _read(_TRAIN, "sarcos_inv")
        except DataUnavailableError as error:
            if training == "full":
                raise
            warnings.warn(
                f"SARCOS training file unavailable ({error}); using the offline proxy "
                f"(pool = first {SARCOS_PROXY_POOL} rows of the test file, test = the rest)",
                UserWarning,
                stacklevel=2,
            )
    proxy = pool is None
    if proxy:
        pool, test = test[:SARCOS_PROXY_POOL], test[SARCOS_PROXY_POOL:]
        notes: tuple[str, ...] = (
            "OFFLINE PROXY: the GPML training file sarcos_inv.mat was not used. Training pool = "
            f"first {SARCOS_PROXY_POOL} rows of sarcos_inv_test.mat, test set = its remaining "
            f"{len(test)} rows. Numbers are not comparable one-to-one with the paper's.",
        )
    else:
        notes = ()
    table = np.vstack([pool, test])
    index = pd.RangeIndex(len(table), name="row")
    split = pd.Series(["pool"] * len(pool) + ["test"] * len(test), index=index, name="split")
    return CaseStudyData(
        name="sarcos",
        X=pd.DataFrame(table[:, :21], columns=_STATES, index=index),
        source=pd.DataFrame(index=index),
        y=pd.DataFrame(table[:, 21:], columns=_TORQUES, index=index),
        ids=pd.Series(np.arange(len(table)), index=index, name="row"),
        units={"position": "rad", "velocity": "rad/s", "acceleration": "rad/s^2", "torque": "Nm"},
        citation=(
            "Vijayakumar and Schaal, 'Locally weighted projection regression', ICML 2000; "
            "Rasmussen and Williams, Gaussian Processes for Machine Learning, MIT Press 2006 "
            "(data: gaussianprocess.org/gpml/data)."
        ),
        licence="Distributed by the GPML book web site for research use.",
        description=(
            "Inverse dynamics of a 7-degree-of-freedom SARCOS anthropomorphic robot arm: 21 joint "
            "states in, 7 joint torques out."
        ),
        notes=notes,
        extras={"split": split, "proxy": proxy},
    )
