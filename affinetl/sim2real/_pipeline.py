"""Sim2Real end to end: a simulation table and a few experiments in, a transferred model out.

:func:`sim2real` trains a source model on the simulated table
(:class:`~affinetl.sources.PolymerSourceModel`), fits :class:`~affinetl.AffineTransferCV` on the
experiments with that source model as ``source=``, and reports how well each step does: the
source model's cross-validated error on its table, the uncorrected source against the
experiments, and the transferred model's cross-validated error on the experiments (with the
target-only model beside it). Optionally (``curve=True``) it measures the learning curve in the
size of the source table with its fitted power law (:mod:`affinetl.scaling`).
"""

from __future__ import annotations

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
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold

from ..datasets._quality import flag_bounds
from ..sources import LooKernelRidge, PolymerSourceModel, load_property_table, save_source_model

__all__ = ["Sim2RealResult", "sim2real"]

logger = logging.getLogger(__name__)

#: Coverage of the prediction intervals (from out-of-fold residuals).
COVERAGE = 0.9


@dataclass
class Sim2RealResult:
    """What :func:`sim2real` fitted and measured.

    Attributes
    ----------
    source_model : PolymerSourceModel
        ``f_s``, fitted on the whole source table.
    model : AffineTransferCV
        The transferred model, fitted on every experiment (features of
        ``source_model.featurize`` in, the property out).
    predictions : pandas.DataFrame
        One row per experimental polymer: ``smiles``, ``y`` (measured), ``f_s`` (source),
        ``cv_pred`` (out-of-fold prediction of the transferred model), ``pred`` (the final
        model, in-sample), ``lower``/``upper`` (90% interval), ``g1``, ``g2``, ``g3``.
    metrics : pandas.DataFrame
        ``quantity``, ``value`` rows: table sizes, the source model's CV RMSE, source-only,
        transferred and target-only RMSE against the experiments (out-of-fold).
    curve : object or None
        The :class:`~affinetl.scaling.ScalingStudy` of ``curve=True``.
    seconds : float
    paths : dict of str to Path
    """

    source_model: PolymerSourceModel
    model: Any
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    curve: Any = None
    seconds: float = 0.0
    paths: dict[str, Path] = field(default_factory=dict)

    def report(self) -> str:
        """The metrics as text."""
        values = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in self.metrics["value"]]
        return self.metrics.assign(value=values).to_string(index=False)


def _tables(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    target: str | os.PathLike[str],
    prop: str,
    keep_suspect: bool,
) -> tuple[pd.DataFrame, pd.DataFrame, str, int]:
    specs = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    parts = [load_property_table(s, prop)[0] for s in specs]
    src = pd.concat(parts, ignore_index=True)
    tgt, unit = load_property_table(target, prop)
    # a user's experimental table gets the physical-bounds rule of the loaders
    reasons = flag_bounds(tgt["y"], tgt["smiles"], prop)
    n_flagged = int((reasons != "").sum())
    if n_flagged:
        logger.warning(
            "%d experimental values are outside physical bounds (%s)%s",
            n_flagged,
            "; ".join(reasons[reasons != ""].head(3)),
            "" if keep_suspect else ": left out",
        )
        if not keep_suspect:
            tgt = tgt[reasons == ""].reset_index(drop=True)
    return src, tgt, unit, n_flagged


def _oof(model_factory: Any, X: np.ndarray, y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Out-of-fold predictions of a model built by ``model_factory()`` per fold."""
    pred = np.empty_like(y)
    folds = KFold(n_splits=min(n_folds, len(y)), shuffle=True, random_state=seed)
    for train, test in folds.split(X):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pred[test] = model_factory().fit(X[train], y[train]).predict(X[test])
    return pred


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def sim2real(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    target: str | os.PathLike[str],
    *,
    prop: str = "density",
    out_dir: str | os.PathLike[str] | None = "results/sim2real",
    kinds: Sequence[str] = ("rdkit", "morgan"),
    source_model: str = "kernel-ridge",
    n_folds: int = 5,
    keep_suspect: bool = False,
    curve: bool = False,
    n_grid: Sequence[int] = (30, 100, 300, 1000),
    n_reps: int = 5,
    n_target: int = 20,
    random_state: int = 0,
    progress: bool = True,
) -> Sim2RealResult:
    """Train a source model on simulations, transfer it to experiments, report and plot.

    Parameters
    ----------
    source : str, path-like or sequence of them
        Simulated table(s): a :mod:`simdata` results folder or CSV, ``"pi1070"``, or any CSV
        with ``smiles`` and ``prop`` (:func:`~affinetl.sources.load_property_table`).
    target : str or path-like
        Experimental table: CSV with ``smiles`` and ``prop`` (or ``prop + "_exp"``), or
        ``"afzal2021"``. Values outside physical bounds
        (:data:`~affinetl.datasets.PHYSICAL_BOUNDS`) are left out unless ``keep_suspect``.
    prop : str, default="density"
    out_dir : path-like or None, default="results/sim2real"
        Where ``predictions.csv``, ``metrics.csv``, ``domain_shift.png``,
        ``source_model.skops`` and ``report.txt`` (and ``curve/`` with ``curve=True``) go;
        ``None`` writes nothing.
    kinds : sequence of str, default=("rdkit", "morgan")
        Polymer features of the source model (and of ``g3``).
    source_model : {"kernel-ridge", "gradient-boosting", "auto"}, default="kernel-ridge"
    n_folds : int, default=5
        Folds of the cross-validation of the transferred model on the experiments.
    keep_suspect : bool, default=False
    curve : bool, default=False
        Also measure the learning curve in the size of the source table
        (:func:`~affinetl.scaling.scaling_study` with ``affine-cv``, ``source-only``,
        ``target-only``).
    n_grid, n_reps, n_target : learning-curve settings (``curve=True``).
    random_state : int, default=0
    progress : bool, default=True

    Returns
    -------
    Sim2RealResult

    Raises
    ------
    UsageError
        When a table is missing, lacks the property, or has too few polymers.
    """
    from ..exceptions import UsageError  # noqa: PLC0415
    from ..selection import AffineTransferCV  # noqa: PLC0415

    start = time.perf_counter()
    try:
        src, tgt, unit, n_flagged = _tables(source, target, prop, keep_suspect)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from error
    if len(src) < 5:
        raise UsageError(f"the source table has {len(src)} polymers with {prop!r}; need >= 5")
    if len(tgt) < 6:
        raise UsageError(f"the target table has {len(tgt)} polymers with {prop!r}; need >= 6")
    logger.info("source: %d polymers, target: %d polymers", len(src), len(tgt))
    f_s = PolymerSourceModel(kinds, model=source_model, random_state=random_state)
    f_s.fit(src["smiles"].to_numpy(dtype=object), src["y"].to_numpy(dtype=float))
    X = f_s.featurize(tgt["smiles"]).to_numpy(dtype=float)
    y = tgt["y"].to_numpy(dtype=float)
    u = f_s.predict(X)

    def transfer() -> AffineTransferCV:
        # f_s predicts the simulated value of the same property: it is in the target's units.
        return AffineTransferCV(source=f_s, source_in_target_units=True, random_state=random_state)

    cv_pred = _oof(transfer, X, y, n_folds, random_state)
    target_only = _oof(LooKernelRidge, X, y, n_folds, random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = transfer().fit(X, y)
    pred = model.predict(X)
    parts = model.predict_components(X)
    half = float(np.quantile(np.abs(cv_pred - y), COVERAGE))
    predictions = pd.DataFrame(
        {
            "smiles": tgt["smiles"],
            "y": y,
            "f_s": u,
            "cv_pred": cv_pred,
            "pred": pred,
            "lower": pred - half,
            "upper": pred + half,
            **{k: parts[k] for k in ("g1", "g2", "g3")},
        }
    )
    metrics = pd.DataFrame(
        [
            ("source polymers", len(src)),
            ("experimental polymers", len(tgt)),
            ("experimental values out of bounds", n_flagged),
            ("source model", f_s.model_),
            ("source model CV RMSE (on its table)", f_s.cv_rmse_),
            ("source-only RMSE (experiments)", _rmse(u, y)),
            ("AffineTransferCV RMSE (experiments, out-of-fold)", _rmse(cv_pred, y)),
            ("target-only kernel ridge RMSE (out-of-fold)", _rmse(target_only, y)),
            ("standard deviation of the experiments", float(np.std(y))),
            (f"{int(COVERAGE * 100)}% interval half-width", half),
            ("best form", model.best_form_),
        ],
        columns=["quantity", "value"],
    )
    result = Sim2RealResult(f_s, model, predictions, metrics)
    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        from ._figure import plot_domain_shift  # noqa: PLC0415

        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "predictions": out / "predictions.csv",
            "metrics": out / "metrics.csv",
            "figure": out / "domain_shift.png",
            "source_model": out / "source_model.skops",
            "report": out / "report.txt",
        }
        _write_csv(predictions, paths["predictions"])
        _write_csv(metrics, paths["metrics"])
        save_source_model(f_s, paths["source_model"])
        plot_domain_shift(predictions, prop=prop, unit=unit, path=paths["figure"])
        result.paths = paths
    if curve:
        from ..scaling import scaling_study  # noqa: PLC0415

        result.curve = scaling_study(
            source,
            target,
            prop=prop,
            methods=("affine-cv", "source-only", "target-only"),
            n_grid=[n for n in n_grid if n <= len(src)] or [len(src)],
            n_target=min(n_target, len(tgt) // 2),
            n_target_grid=None,
            n_reps=n_reps,
            kinds=kinds,
            n_boot=300,
            out_dir=None if out is None else out / "curve",
            random_state=random_state,
            progress=progress,
        )
        if out is not None:
            result.paths.update({f"curve_{k}": v for k, v in result.curve.paths.items()})
    result.seconds = time.perf_counter() - start
    if out is not None:
        text = result.report() + f"\n\nwall time: {result.seconds:.0f} s\n"
        if result.curve is not None:
            text += "\n" + result.curve.report() + "\n"
        _write_text(result.paths["report"], text)
    return result


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
