"""Shared pieces of the case-study reproductions: result container, metrics, output files."""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["ReproductionResult", "progress", "regression_metrics", "write_outputs"]

logger = logging.getLogger(__name__)


@dataclass
class ReproductionResult:
    """What a case-study reproduction produced.

    Attributes
    ----------
    case : str
        Case name (``"sarcos"``, ``"ltc"``, ``"polymer-cp"``, ``"density"``, ``"spectra"``).
    records : pandas.DataFrame
        One row per (setting, repetition, method) with the test metrics.
    summary : pandas.DataFrame
        The comparison table (mean and spread of the metrics per method, and the paper's
        published value where there is one).
    files : dict of str to pathlib.Path
        Written files: ``"records"`` and ``"summary"`` (CSV) and ``"figure"`` (PNG).
    seconds : float
        Wall-clock time of the run.
    notes : list of str
        Caveats (offline proxy data, reduced settings, ...).
    settings : dict
        The settings the run used.
    """

    case: str
    records: pd.DataFrame
    summary: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    settings: dict[str, object] = field(default_factory=dict)

    def report(self) -> str:
        """Human-readable report: notes, the summary table and the timing."""
        lines = [f"== affinetl reproduce {self.case} =="]
        lines += [f"NOTE: {note}" for note in self.notes]
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            lines.append(self.summary.to_string(float_format=lambda v: f"{v:.4g}"))
        lines.append(
            f"time: {self.seconds:.1f} s on {platform.machine()} with {os.cpu_count()} CPUs; "
            f"files: {', '.join(str(p) for p in self.files.values())}"
        )
        return "\n".join(lines)


def progress(
    iterable: Iterable, *, total: int | None = None, desc: str | None = None, unit: str = "it"
) -> Iterable:
    """``iterable`` with a tqdm progress bar on stderr.

    The bar is shown on a terminal and hidden when output is redirected, or when logging of the
    ``affinetl`` logger is set above WARNING (``affinetl ... -q``).
    """
    from tqdm.auto import tqdm  # noqa: PLC0415

    quiet = not logging.getLogger("affinetl").isEnabledFor(logging.WARNING)
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=True if quiet else None)


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MSE, RMSE, MAE and R2 of predictions of shape (n,)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    err = y_pred - y_true
    mse = float(np.mean(err**2))
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "MSE": mse,
        "RMSE": float(np.sqrt(mse)),
        "MAE": float(np.mean(np.abs(err))),
        "R2": float(1.0 - np.sum(err**2) / ss_tot) if ss_tot > 0 else float("nan"),
    }


def write_outputs(
    result: ReproductionResult, out_dir: str | os.PathLike[str], figure
) -> ReproductionResult:
    """Write ``records.csv``, ``summary.csv`` and the figure (PNG) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = result.case.replace("-", "_")
    files: Mapping[str, Path] = {
        "records": out / f"{stem}_records.csv",
        "summary": out / f"{stem}_summary.csv",
        "figure": out / f"{stem}.png",
    }
    result.records.to_csv(files["records"], index=False)
    result.summary.to_csv(files["summary"])
    figure.savefig(files["figure"], dpi=120, bbox_inches="tight")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    plt.close(figure)
    result.files = dict(files)
    logger.info("wrote %s", ", ".join(str(p) for p in files.values()))
    return result


class Timer:
    """Context manager measuring wall-clock seconds."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
