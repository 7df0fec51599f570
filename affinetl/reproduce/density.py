"""Sim2Real polymer density and glass transition temperature (Afzal et al. 2021 + RadonPy).

Target: experimental density (g/cm3, 300 K) or Tg (K) from Afzal et al. (2021). Source: the
MD value of the same polymer, either Afzal et al.'s OPLS3e value (``source="afzal-md"``, all
polymers with an experiment) or RadonPy's GAFF2 value from PI1070 (``source="radonpy"``, density
only, the polymers found in both tables by :func:`affinetl.datasets.same_polymer`). Inputs:
per-atom RDKit descriptors of the repeat unit (:func:`affinetl.datasets.polymer_descriptors`).

For each training size n and repetition, n polymers are drawn at random, everything is
standardised on them, the kernel methods of the paper are tuned by 5-fold CV
(:mod:`affinetl.reproduce._kernel_case`) and the test RMSE on the other polymers is recorded;
``MD as is`` is the simulation without any learning.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from ..datasets import load_afzal2021, load_radonpy_pi1070, match_polymers, polymer_descriptors
from ..exceptions import UsageError
from ._common import (
    ReproductionResult,
    command_line,
    finish,
    metric_rows,
    reproduction,
    run_tasks,
    standardize,
    standardize_target,
    subplots,
)
from ._kernel_case import kernel_methods

__all__ = ["add_arguments", "load_density_case", "reproduce_density", "run"]

_TARGETS = {"density": ("density_exp", "density_md", "g/cm3"), "Tg": ("Tg_exp", "Tg_md", "K")}


def load_density_case(
    target: str = "density", source: str = "afzal-md", descriptors: str = "rdkit"
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, str]:
    """Descriptors, MD source values and experimental target of the Sim2Real polymer case.

    Parameters
    ----------
    target : {"density", "Tg"}
        Experimental property to predict.
    source : {"afzal-md", "radonpy"}
        MD values used as source feature (``"radonpy"`` only for density).
    descriptors : {"rdkit", "morgan"}
        Descriptor set of :func:`affinetl.datasets.polymer_descriptors`.

    Returns
    -------
    X : pandas.DataFrame of shape (n_polymers, n_descriptors)
    u : ndarray of shape (n_polymers,)
        MD value (source feature).
    y : ndarray of shape (n_polymers,)
        Experimental value.
    unit : str
    """
    if target not in _TARGETS:
        raise UsageError(f"target must be one of {sorted(_TARGETS)}, got {target!r}")
    if source not in ("afzal-md", "radonpy"):
        raise UsageError(f"source must be 'afzal-md' or 'radonpy', got {source!r}")
    exp_col, md_col, unit = _TARGETS[target]
    afzal = load_afzal2021()
    keep = afzal.y[exp_col].notna() & afzal.source[md_col].notna()
    smiles = afzal.smiles[keep]
    y = afzal.y.loc[keep, exp_col]
    if source == "afzal-md":
        u = afzal.source.loc[keep, md_col]
    else:
        if target != "density":
            raise UsageError("RadonPy's PI1070 has no Tg: use source='afzal-md' for Tg")
        pi1070 = load_radonpy_pi1070()
        pairs = match_polymers(smiles, pi1070.smiles)
        md = pi1070.source["density"]
        # several PI1070 entries of one polymer (tacticities): average them
        matched = pairs.assign(md=md.loc[pairs["right"]].to_numpy()).groupby("left")["md"].mean()
        smiles, y = smiles.loc[matched.index], y.loc[matched.index]
        u = matched
    X = polymer_descriptors(smiles, kind=descriptors)
    X = X.loc[:, X.std() > 0]
    return X, u.to_numpy(float), y.to_numpy(float), unit


@reproduction(n_values=(10, 20), n_reps=3, cv_max_iter=300)
def reproduce_density(
    out_dir: str | os.PathLike[str] = "results/density",
    *,
    target: Literal["density", "Tg"] = "density",
    source: Literal["afzal-md", "radonpy"] = "afzal-md",
    n_values: Sequence[int] = (10, 20, 40, 60),
    n_reps: int = 20,
    descriptors: Literal["rdkit", "morgan"] = "rdkit",
    cv_max_iter: int = 1000,
    linear_source: bool = True,
    quick: bool = False,
) -> ReproductionResult:
    """Run the Sim2Real polymer case and write CSV files and a figure.

    Parameters
    ----------
    out_dir : path-like
        Output directory.
    target : {"density", "Tg"}
        Experimental property to predict.
    source : {"afzal-md", "radonpy"}
        MD values used as source feature (see :func:`load_density_case`).
    descriptors : {"rdkit", "morgan"}
        Descriptor set of :func:`affinetl.datasets.polymer_descriptors`.
    n_values : sequence of int
        Training sizes (multiples of 5, smaller than the number of polymers).
    n_reps : int
        Random splits per training size.
    cv_max_iter : int
        AffineTL-full iteration limit inside CV (final fits use 1000).
    linear_source : bool
        Kernels on the MD value are RBF + linear (default), so that g1 and g2 can extrapolate
        to densities outside the training range; ``False`` uses the paper's RBF only.
    quick : bool
        Reduced run: n in {10, 20}, 3 repetitions, at most 300 iterations.

    Returns
    -------
    ReproductionResult
        ``summary``: mean test RMSE per method and training size.
    """
    X_frame, u_all, y_all, unit = load_density_case(target, source, descriptors)
    X_all = X_frame.to_numpy()
    n_total = len(y_all)
    bad = [n for n in n_values if n % 5 or n >= n_total - 5]
    if bad:
        raise UsageError(
            f"n_values must be multiples of 5 below {n_total - 5} ({n_total} polymers): {bad}"
        )

    def one_split(n: int, rep: int) -> list[dict[str, object]]:
        """All methods for one random training set of ``n`` polymers (repetition ``rep``)."""
        perm = np.random.default_rng(1000 * n + rep).permutation(n_total)
        train, test = perm[:n], perm[n:]
        problem = (
            *standardize(X_all[train], X_all[test]),
            *standardize(u_all[train, None], u_all[test, None]),
            *standardize_target(y_all[train]),
        )
        [preds] = kernel_methods([problem], cv_max_iter=cv_max_iter, linear_source=linear_source)
        preds["MD as is"] = u_all[test]
        return metric_rows(y_all[test], preds, n=n, rep=rep)

    tasks = [(n, rep) for n in n_values for rep in range(n_reps)]
    frame = run_tasks(one_split, tasks, desc="density", unit="split")
    summary = frame.groupby(["method", "n"])["RMSE"].mean().unstack("n")
    summary.columns = [f"RMSE n={c}" for c in summary.columns]
    summary["RMSE mean"] = summary.mean(axis=1)
    summary = summary.sort_values("RMSE mean")
    notes = [
        f"target: experimental {target} ({unit}); source: {source} MD; "
        f"{n_total} polymers; descriptors: {descriptors} ({X_all.shape[1]} columns)."
    ]
    figure = _figure(frame, target, unit)
    return finish(f"{target.lower()}-{source}", frame, summary, figure, out_dir, notes)


def _figure(frame: pd.DataFrame, target: str, unit: str):
    fig, ax = subplots(figsize=(7, 4.5))
    for method, part in frame.groupby("method"):
        curve = part.groupby("n")["RMSE"].mean()
        style = "--" if method == "MD as is" else "-"
        ax.plot(curve.index, curve.to_numpy(), style, marker="o", label=method)
    ax.set(
        xlabel="experimental training polymers n",
        ylabel=f"test RMSE ({unit})",
        title=f"Sim2Real polymer {target}: MD source, experimental target",
    )
    ax.legend(fontsize=8)
    return fig


add_arguments, run = command_line(reproduce_density)
