"""Log-log figure of learning curves with fitted power laws and their bootstrap bands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._powerlaw import PowerLawFit

__all__ = ["plot_learning_curves"]


def plot_learning_curves(
    table: pd.DataFrame,
    fits: Mapping[str, PowerLawFit] | None = None,
    *,
    metric: str = "rmse",
    unit: str = "",
    title: str = "",
    ax: Any = None,
) -> Any:
    """Mean test error against the source size N on log-log axes.

    Each method with source sizes is drawn as mean +- standard error over repetitions, with
    its fitted curve and band from ``fits``; methods without a source (``n_source == 0``) are
    drawn as horizontal bands at their error for the transfer methods' ``n_target``.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`~affinetl.scaling.learning_curve`.
    fits : mapping of str to PowerLawFit, optional
        Fitted curve per method name.
    metric : str, default="rmse"
        Column of ``table`` to plot.
    unit : str, default=""
        Unit of the error, for the axis label.
    title : str, default=""
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib  # noqa: PLC0415

    if ax is None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.8))
    else:
        fig = ax.figure
    fits = fits or {}
    curves = table[table["n_source"] > 0]
    trained = curves.loc[curves["n_target"] > 0, "n_target"]
    no_source = table.loc[table["n_source"] == 0, "n_target"]
    # target-only line at the transfer methods' n_target, else at its largest n
    n_t = int(trained.max()) if len(trained) else int(no_source.max()) if len(no_source) else 0
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    span = (
        np.geomspace(curves["n_source"].min(), curves["n_source"].max(), 100)
        if len(curves)
        else np.array([1.0, 10.0])
    )
    for i, (method, part) in enumerate(curves.groupby("method")):
        colour = colours[i % len(colours)]
        stats = part.groupby("n_source")[metric].agg(["mean", "std", "count"])
        sem = stats["std"] / np.sqrt(stats["count"])
        ax.errorbar(stats.index, stats["mean"], yerr=sem, fmt="o", color=colour, label=method)
        fit = fits.get(method)
        if fit is not None:
            lo, hi = fit.band(span)
            ax.plot(
                span,
                fit.predict(span),
                "-",
                color=colour,
                label=rf"{method} fit: $\alpha$={fit.alpha:.2f} [{fit.ci['alpha'][0]:.2f}, "
                f"{fit.ci['alpha'][1]:.2f}], C={fit.C:.3g}",
            )
            ax.fill_between(span, lo, hi, color=colour, alpha=0.2, linewidth=0)
    flat = table[(table["n_source"] == 0) & (table["n_target"] == n_t)]
    for j, (method, part) in enumerate(flat.groupby("method")):
        colour = colours[(len(curves["method"].unique()) + j) % len(colours)]
        mean = part[metric].mean()
        sem = part[metric].std(ddof=1) / np.sqrt(len(part)) if len(part) > 1 else 0.0
        ax.axhline(mean, color=colour, linestyle="--", label=f"{method} (n={n_t})")
        ax.axhspan(mean - sem, mean + sem, color=colour, alpha=0.15, linewidth=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    label = f"test {metric.upper()}" + (f" ({unit})" if unit else "")
    ax.set(xlabel="source (simulated) polymers N", ylabel=label, title=title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
