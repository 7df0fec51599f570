"""The Sim2Real scaling study: tables in, learning curves, fitted laws, figure and CSV out."""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..featurize import featurize_polymers
from ..sources import load_property_table
from ._curves import learning_curve
from ._methods import NO_SOURCE, NO_TARGET_TRAINING
from ._plot import plot_learning_curves
from ._powerlaw import CNotIdentifiableWarning, PowerLawFit, fit_power_law
from ._questions import compare_power_laws, equivalent_samples

__all__ = ["ScalingStudy", "load_property_table", "scaling_study"]

logger = logging.getLogger(__name__)


@dataclass
class ScalingStudy:
    """Results of :func:`scaling_study`.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy cells of :func:`~affinetl.scaling.learning_curve`.
    fits : dict of str to PowerLawFit
        Preferred fit (by AICc) per method with a curve (target-only: in ``n_target``).
    fit_table : pandas.DataFrame
        Both forms per method with intervals, chi2, AICc, ``p_C_zero`` and ``preferred``.
    equivalent : pandas.DataFrame
        Equivalent experimental samples per method and N (empty without a target-only
        curve); ``gain_over_n_target`` subtracts the experiments the method trained on.
    settings : dict
    seconds : float
    paths : dict of str to Path
        Files written.
    """

    table: pd.DataFrame
    fits: dict[str, PowerLawFit]
    fit_table: pd.DataFrame
    equivalent: pd.DataFrame
    settings: dict[str, Any]
    seconds: float
    paths: dict[str, Path] = field(default_factory=dict)

    def report(self) -> str:
        """Plain-text summary: mean errors, fitted laws, equivalent samples."""
        lines = [f"scaling study ({self.seconds:.0f} s): {json.dumps(self.settings)}"]
        means = self.table.groupby(["method", "n_source", "n_target"])["rmse"].agg(
            ["mean", "sem", "count"]
        )
        lines += ["", "mean test RMSE:", means.to_string(float_format="%.4f")]
        lines += ["", "fitted laws E = D N^-alpha + C (95% bootstrap intervals):"]
        lines.append(self.fit_table.to_string(float_format="%.4g"))
        if len(self.equivalent):
            lines += ["", "equivalent experimental samples:"]
            lines.append(self.equivalent.to_string(float_format="%.4g", index=False))
        return "\n".join(lines)


def _fit_both(
    n: np.ndarray, err: np.ndarray, reps: np.ndarray, n_boot: int, seed: int
) -> tuple[PowerLawFit | None, pd.DataFrame]:
    """Offset and pure fits, their comparison, and the preferred one."""
    if np.unique(n).size < 3:
        return None, pd.DataFrame()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CNotIdentifiableWarning)
        off = fit_power_law(n, err, reps=reps, form="offset", n_boot=n_boot, random_state=seed)
    for w in caught:
        logger.warning("%s", w.message)
    pure = fit_power_law(n, err, reps=reps, form="pure", n_boot=n_boot, random_state=seed)
    comp = compare_power_laws(off, pure)
    rows = pd.DataFrame([off.summary(), pure.summary()]).set_index("form")
    rows = rows.join(comp[["delta_aicc", "p_C_zero", "preferred"]])
    best = off if bool(comp.loc["offset", "preferred"]) else pure
    return best, rows


def scaling_study(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] = "pi1070",
    target: str | os.PathLike[str] = "afzal2021",
    *,
    prop: str = "density",
    methods: Sequence[str] = ("affine", "fine-tuning", "source-only", "target-only"),
    n_grid: Sequence[int] = (30, 60, 120, 250, 500, 1000),
    n_target: int = 20,
    n_target_grid: Sequence[int] | None = (10, 20, 30, 45, 60),
    n_test: int | None = None,
    n_reps: int = 10,
    kinds: Sequence[str] = ("rdkit", "morgan"),
    n_boot: int = 1000,
    out_dir: str | os.PathLike[str] | None = "results/scaling",
    n_jobs: int = 1,
    client: Any = None,
    random_state: int = 0,
    progress: bool = True,
) -> ScalingStudy:
    """Learning curves of Sim2Real transfer in the size N of the simulation database.

    Loads the tables (:func:`load_property_table`; several sources are concatenated),
    featurises every polymer (:func:`affinetl.featurize.featurize_polymers`), runs
    :func:`~affinetl.scaling.learning_curve`, fits ``D N^-alpha + C`` and ``D N^-alpha`` to
    each transfer method's mean RMSE (and ``D' n^-beta + C'`` to the target-only curve in the
    number of experiments ``n``), and writes ``cells.csv``, ``fits.csv``, ``equivalent.csv``,
    ``scaling.png`` and ``report.txt`` to ``out_dir`` (with the cell cache in
    ``out_dir/cache``: rerunning resumes).

    Parameters
    ----------
    source : str, path-like or sequence of them, default="pi1070"
        Simulated table(s).
    target : str or path-like, default="afzal2021"
        Experimental table.
    prop : str, default="density"
    methods : sequence of str
        Names of :data:`~affinetl.scaling.TRANSFER_METHODS`.
    n_grid : sequence of int
        Source sizes N (capped at the number of source polymers).
    n_target : int, default=20
        Experimental training polymers of the transfer methods.
    n_target_grid : sequence of int, optional
        Experimental sizes of the target-only curve (``None``: only ``n_target``).
    n_test : int, optional
        Held-out experimental polymers per repetition.
    n_reps : int, default=10
    kinds : sequence of str, default=("rdkit", "morgan")
        Feature kinds.
    n_boot : int, default=1000
        Bootstrap refits per fitted curve.
    out_dir : path-like or None
        Output folder (``None``: write nothing, no cache).
    n_jobs, client, random_state, progress
        See :func:`~affinetl.scaling.learning_curve`.

    Returns
    -------
    ScalingStudy
    """
    start = time.perf_counter()
    sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    parts, units = [], []
    for spec in sources:
        table, unit = load_property_table(spec, prop)
        parts.append(table)
        units.append(unit)
    src = pd.concat(parts, ignore_index=True)
    tgt, tgt_unit = load_property_table(target, prop)
    unit = tgt_unit or next((u for u in units if u), "")
    out = None if out_dir is None else Path(out_dir)
    cache = None if out is None else out / "cache"
    X_all = featurize_polymers(
        pd.concat([src["smiles"], tgt["smiles"]], ignore_index=True), kinds, cache_dir=cache
    )
    Xs, Xt = X_all.iloc[: len(src)].to_numpy(), X_all.iloc[len(src) :].to_numpy()
    grid = sorted({min(int(n), len(src)) for n in n_grid})
    logger.info("%d source and %d target polymers, %d features", len(src), len(tgt), Xs.shape[1])
    table = learning_curve(
        Xs,
        src["y"].to_numpy(),
        Xt,
        tgt["y"].to_numpy(),
        n_source_grid=grid,
        methods=methods,
        n_target=n_target,
        n_target_grid=n_target_grid,
        n_test=n_test,
        n_reps=n_reps,
        random_state=random_state,
        n_jobs=n_jobs,
        client=client,
        cache_dir=None if cache is None else cache / "cells",
        progress=progress,
    )
    fits: dict[str, PowerLawFit] = {}
    rows = []
    for method, part in table.groupby("method"):
        x_col = "n_target" if method in NO_SOURCE else "n_source"
        best, fit_rows = _fit_both(
            part[x_col].to_numpy(),
            part["rmse"].to_numpy(),
            part["rep"].to_numpy(),
            n_boot,
            random_state,
        )
        if best is None:
            continue
        fits[method] = best
        rows.append(fit_rows.assign(method=method, x=x_col).reset_index())
    fit_table = (
        pd.concat(rows, ignore_index=True).set_index(["method", "form"]) if rows else pd.DataFrame()
    )
    equivalent = []
    target_fit = next((fits[m] for m in fits if m in NO_SOURCE), None)
    if target_fit is not None:
        for method, fit in fits.items():
            if method in NO_SOURCE:
                continue
            eq = equivalent_samples(fit, target_fit, grid)
            eq.insert(0, "method", method)
            # experiments the method itself trained on (none for source-only)
            used = 0 if method in NO_TARGET_TRAINING else n_target
            eq["gain_over_n_target"] = eq["n_equivalent"] - used
            equivalent.append(eq)
    equivalent_frame = pd.concat(equivalent, ignore_index=True) if equivalent else pd.DataFrame()
    settings = {
        "source": [str(s) for s in sources],
        "target": str(target),
        "property": prop,
        "unit": unit,
        "n_source_polymers": len(src),
        "n_target_polymers": len(tgt),
        "n_features": int(Xs.shape[1]),
        "kinds": list(kinds),
        "methods": list(methods),
        "n_grid": grid,
        "n_target": n_target,
        "n_target_grid": None if n_target_grid is None else list(n_target_grid),
        "n_test": int(table["n_test"].iloc[0]),
        "n_reps": n_reps,
        "n_boot": n_boot,
        "random_state": random_state,
    }
    study = ScalingStudy(
        table, fits, fit_table, equivalent_frame, settings, time.perf_counter() - start
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "cells": out / "cells.csv",
            "fits": out / "fits.csv",
            "equivalent": out / "equivalent.csv",
            "figure": out / "scaling.png",
            "report": out / "report.txt",
        }
        table.to_csv(paths["cells"], index=False)
        fit_table.to_csv(paths["fits"])
        equivalent_frame.to_csv(paths["equivalent"], index=False)
        curve_fits = {m: f for m, f in fits.items() if m not in NO_SOURCE}
        fig = plot_learning_curves(
            table,
            curve_fits,
            unit=unit,
            title=f"{prop}: {'+'.join(settings['source'])} -> {target}, n_target={n_target}",
        )
        fig.savefig(paths["figure"], dpi=130)
        import matplotlib.pyplot as plt  # noqa: PLC0415

        plt.close(fig)
        paths["report"].write_text(study.report() + "\n")
        study.paths = paths
    return study
