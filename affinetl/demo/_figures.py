"""Figures of the polymer-density demo: error vs n, predicted vs measured, the learned shift."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["plot_domain_shift", "plot_error_vs_n", "plot_parity"]

#: Methods whose mean error exceeds this multiple of the raw simulation's at every n get their
#: own panel, so that they do not stretch the axis of the close comparison.
FAR_FACTOR = 1.5


def _pyplot():
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


#: Colours of the other methods (red and black are kept for AffineTransferCV and the raw MD).
_COLORS = {
    "MD calibrated": "tab:green",
    "HTL-offset": "tab:blue",
    "HTL-scale": "tab:cyan",
    "SourceOnly": "tab:olive",
    "Augmented": "tab:purple",
    "Direct": "tab:brown",
}


def _style(method: str) -> dict:
    if method == "AffineTransferCV":
        return {"color": "tab:red", "linewidth": 2.5, "marker": "o", "zorder": 5}
    if method == "MD as is":
        return {"color": "black", "linestyle": "--", "marker": "s"}
    return {
        "color": _COLORS.get(method, "tab:gray"),
        "marker": "o",
        "linewidth": 1.2,
        "alpha": 0.85,
    }


def plot_error_vs_n(
    table: pd.DataFrame, n_values: Sequence[int], unit: str, path: str, *, fmt: str = "png"
) -> None:
    """Mean test RMSE +- one standard error against n; far-off methods on a second panel."""
    plt = _pyplot()
    mean = table[[f"mean n={n}" for n in n_values]].to_numpy()
    se = table[[f"se n={n}" for n in n_values]].to_numpy()
    methods = list(table.index)
    raw = (
        mean[methods.index("MD as is")] if "MD as is" in methods else np.full(len(n_values), np.inf)
    )
    far = [m for i, m in enumerate(methods) if np.all(mean[i] > FAR_FACTOR * raw)]
    near = [m for m in methods if m not in far]
    panels = [near, far] if far else [near]
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(10 if far else 7, 4.5),
        gridspec_kw={"width_ratios": [3, 1.3][: len(panels)]},
        squeeze=False,
    )
    x = np.asarray(n_values, float)
    for ax, group in zip(axes[0], panels):
        offsets = np.linspace(-0.025, 0.025, max(len(group), 1))
        for k, method in enumerate(group):
            i = methods.index(method)
            ax.errorbar(
                x * (1 + offsets[k]), mean[i], yerr=se[i], capsize=3, label=method, **_style(method)
            )
        ax.set_xscale("log")
        ax.set_xticks(x, [str(n) for n in n_values])
        ax.minorticks_off()
        ax.set_xlabel("measured training polymers n")
        ax.legend(fontsize=8)
    axes[0, 0].set_ylabel(f"test RMSE ({unit}), mean ± SE")
    axes[0, 0].set_title("Experimental polymer density from MD + n measurements")
    if far:
        axes[0, 1].set_title(f"> {FAR_FACTOR:g}x the raw MD error", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format=fmt, dpi=120)
    plt.close(fig)


def plot_parity(
    y_test: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    n_train: int,
    unit: str,
    path: str,
    *,
    fmt: str = "png",
) -> None:
    """Predicted against measured density on the test polymers of one split."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 5))
    for method, pred in predictions.items():
        rmse = float(np.sqrt(np.mean((pred - y_test) ** 2)))
        style = _style(method)
        ax.scatter(
            y_test,
            pred,
            s=22 if method == "AffineTransferCV" else 16,
            color=style["color"],
            marker=style["marker"],
            alpha=0.75,
            label=f"{method}: RMSE {rmse:.4f}",
        )
    lo = min(y_test.min(), *(p.min() for p in predictions.values()))
    hi = max(y_test.max(), *(p.max() for p in predictions.values()))
    pad = 0.03 * (hi - lo)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", linewidth=1, zorder=0)
    ax.set(
        xlim=(lo - pad, hi + pad),
        ylim=(lo - pad, hi + pad),
        xlabel=f"measured density ({unit})",
        ylabel=f"predicted density ({unit})",
        title=f"{len(y_test)} test polymers, trained on n = {n_train}",
    )
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, format=fmt, dpi=120)
    plt.close(fig)


def plot_domain_shift(
    model, X: np.ndarray, y: np.ndarray, train: np.ndarray, unit: str, path: str, *, fmt="png"
) -> None:
    """The learned shift ``g1(u)`` (``model.predict_components``) against the identity line.

    ``X`` holds the descriptors and, in its last column, the MD density ``u`` of every polymer;
    ``g1`` depends on ``u`` alone, evaluated here on a grid of ``u`` with the descriptors held at
    the training median.
    """
    plt = _pyplot()
    u = X[:, -1]
    grid = np.linspace(u.min(), u.max(), 200)
    rows = np.tile(np.median(X[train], axis=0), (grid.size, 1))
    rows[:, -1] = grid
    g1 = model.predict_components(rows)["g1"]
    test = np.setdiff1d(np.arange(len(y)), train)
    fig, ax = plt.subplots(figsize=(6, 5))
    lo, hi = u[train].min(), u[train].max()
    ax.axvspan(lo, hi, color="tab:red", alpha=0.06, label="training range of the MD density")
    ax.plot(grid, grid, "--", color="black", linewidth=1, label="MD = experiment (identity)")
    ax.plot(grid, g1, color="tab:red", linewidth=2.5, label="learned shift $g_1(u)$")
    ax.scatter(u[test], y[test], s=14, facecolors="none", edgecolors="grey", label="other polymers")
    ax.scatter(
        u[train], y[train], s=30, color="tab:red", label=f"training polymers (n = {train.size})"
    )
    ax.set(
        xlabel=f"MD density u ({unit})",
        ylabel=f"experimental density ({unit})",
        title="Domain shift learned by AffineTransferCV",
    )
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, format=fmt, dpi=120)
    plt.close(fig)
