"""The learned domain shift: ``g1(u)`` against the identity, with the experiments."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["plot_domain_shift"]


def plot_domain_shift(
    predictions: pd.DataFrame,
    *,
    prop: str = "",
    unit: str = "",
    path: str | os.PathLike[str] | None = None,
):  # noqa: ANN201 - matplotlib Figure
    """Two panels: the shift ``g1(u)`` and the fit, both against the source ``u = f_s(x)``.

    Left: the experiments ``y`` against ``u``, the identity (no domain shift), the learned
    shift ``g1(u)`` and the full prediction ``g1 + g2 g3`` at each polymer. Right: out-of-fold
    prediction against measurement, with the 90% interval.

    Parameters
    ----------
    predictions : pandas.DataFrame
        ``Sim2RealResult.predictions`` (columns ``y``, ``f_s``, ``g1``, ``pred``,
        ``cv_pred``, ``lower``, ``upper``).
    prop, unit : str
        Axis labels.
    path : path-like, optional
        Write the figure there (PNG, 130 dpi).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    p = predictions.sort_values("f_s")
    label = f"{prop} ({unit})" if unit else prop
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4.2))
    lo = float(np.nanmin(p[["f_s", "y", "g1"]].to_numpy()))
    hi = float(np.nanmax(p[["f_s", "y", "g1"]].to_numpy()))
    ax.plot([lo, hi], [lo, hi], color="0.6", ls="--", lw=1, label="identity (no shift)")
    ax.scatter(p["f_s"], p["y"], s=14, color="k", alpha=0.7, label="experiments")
    ax.plot(p["f_s"], p["g1"], color="C0", lw=2, label="learned shift g1(u)")
    ax.scatter(p["f_s"], p["pred"], s=10, color="C1", marker="x", label="g1 + g2 g3")
    ax.set_xlabel(f"source f_s(x): simulated {label}")
    ax.set_ylabel(f"experimental {label}")
    ax.set_title("domain shift")
    ax.legend(fontsize=8)
    err = np.vstack([p["pred"] - p["lower"], p["upper"] - p["pred"]])
    bx.errorbar(p["y"], p["cv_pred"], yerr=err, fmt="o", ms=3, color="C1", alpha=0.6, lw=0.6)
    lo2, hi2 = float(p["y"].min()), float(p["y"].max())
    bx.plot([lo2, hi2], [lo2, hi2], color="0.6", ls="--", lw=1)
    rmse = float(np.sqrt(np.mean((p["cv_pred"] - p["y"]) ** 2)))
    bx.set_xlabel(f"measured {label}")
    bx.set_ylabel(f"predicted (out-of-fold) {label}")
    bx.set_title(f"AffineTransferCV, CV RMSE {rmse:.3g}")
    fig.tight_layout()
    if path is not None:
        path = Path(path)
        tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
        fig.savefig(tmp, dpi=130)
        os.replace(tmp, path)
        plt.close(fig)
    return fig
