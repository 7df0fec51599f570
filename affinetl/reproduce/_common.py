"""Shared pieces of the case-study reproductions: result container, the per-split runner,
standardisation, metrics, figures, output files and the command-line options."""

from __future__ import annotations

import argparse
import functools
import inspect
import logging
import os
import platform
import re
import time
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

__all__ = [
    "ReproductionResult",
    "boxplot_by_method",
    "command_line",
    "cv_scores",
    "finish",
    "metric_rows",
    "progress",
    "reproduction",
    "run_tasks",
    "standardize",
    "standardize_target",
    "subplots",
]

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


def run_tasks(
    one: Callable[..., list[dict[str, object]]],
    tasks: Sequence[tuple],
    shared: tuple = (),
    *,
    n_jobs: int = 1,
    desc: str,
    unit: str,
    **options: object,
) -> pd.DataFrame:
    """The records of ``one(*task, *shared, **options)`` for every task, in order, as one table.

    The tasks run on ``n_jobs`` joblib workers, with a progress bar.
    """
    chunks = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(one)(*task, *shared, **options) for task in tasks
    )
    chunks = progress(chunks, total=len(tasks), desc=desc, unit=unit)
    return pd.DataFrame([row for chunk in chunks for row in chunk])


def standardize(train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Standardise columns with the training mean and sample sd (sd 0 -> 1)."""
    mean = train.mean(axis=0)
    sd = train.std(axis=0, ddof=1) if len(train) > 1 else np.ones(train.shape[1:])
    sd = np.where(sd > 0, sd, 1.0)
    return tuple((a - mean) / sd for a in (train, *others))


def standardize_target(y: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """``y`` standardised with its mean and sample sd (sd 0 -> 1), and the map back."""
    mean, sd = y.mean(), y.std(ddof=1)
    sd = sd if sd > 0 else 1.0

    def back(v: np.ndarray) -> np.ndarray:
        return v * sd + mean

    return (y - mean) / sd, back


def cv_scores(
    path: Callable[[np.ndarray, np.ndarray], np.ndarray],
    y: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Validation MSE summed over folds; ``path(train, val)`` predicts ``y[val]`` per grid point."""
    return sum(np.mean((path(train, val) - y[val]) ** 2, axis=1) for train, val in folds)


def metric_rows(
    y_true: np.ndarray, predictions: Mapping[str, np.ndarray], **keys: object
) -> list[dict[str, object]]:
    """One record per method: ``keys``, the method, and the MSE, RMSE, MAE and R2 of its
    predictions of shape (n,)."""
    rows = []
    for method, pred in predictions.items():
        mse = float(mean_squared_error(y_true, pred))
        mae = float(mean_absolute_error(y_true, pred))
        r2 = float(r2_score(y_true, pred, force_finite=False))
        metrics = {"MSE": mse, "RMSE": float(np.sqrt(mse)), "MAE": mae, "R2": r2}
        rows.append({**keys, "method": method, **metrics})
    return rows


def subplots(*args: Any, figsize: tuple[float, float], **kwargs: Any) -> tuple[Any, Any]:
    """A matplotlib figure and its ``Figure.subplots``, outside pyplot (files only)."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=figsize)
    return figure, figure.subplots(*args, **kwargs)


def boxplot_by_method(
    ax: Any, frame: pd.DataFrame, column: str, order: Sequence[str], rotation: int = 30
) -> None:
    """Box plot of ``column`` per method of ``frame`` (methods in ``order``, no outliers)."""
    ax.boxplot([frame.loc[frame["method"] == m, column] for m in order], showfliers=False)
    ax.set_xticks(range(1, len(order) + 1), order, rotation=rotation, ha="right")


def finish(
    case: str,
    records: pd.DataFrame,
    summary: pd.DataFrame,
    figure: Any,
    out_dir: str | os.PathLike[str],
    notes: list[str],
    **settings: object,
) -> ReproductionResult:
    """The result of a run, with its files.

    Writes ``<case>_records.csv``, ``<case>_summary.csv`` and the figure ``<case>.png`` into
    ``out_dir``; ``settings`` are settings of the run beyond its options (:func:`reproduction`).
    """
    result = ReproductionResult(case, records, summary, notes=notes, settings=settings)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = case.replace("-", "_")
    result.files = {
        "records": out / f"{stem}_records.csv",
        "summary": out / f"{stem}_summary.csv",
        "figure": out / f"{stem}.png",
    }
    records.to_csv(result.files["records"], index=False)
    summary.to_csv(result.files["summary"])
    figure.savefig(result.files["figure"], dpi=120, bbox_inches="tight")
    logger.info("wrote %s", ", ".join(str(p) for p in result.files.values()))
    return result


def reproduction(
    note: str = "", **quick: object
) -> Callable[[Callable[..., ReproductionResult]], Callable[..., ReproductionResult]]:
    """Decorator of a ``reproduce_<case>`` function: its quick run, timing and settings.

    With ``quick=True`` the options named in ``quick`` take the values given here (a callable
    maps the value of the call), and a note lists them (then ``note``). The result's ``seconds``
    is the time of the call and its ``settings`` are the options used (but ``out_dir`` and
    ``quick``), then those the function added.
    """

    def decorate(function: Callable[..., ReproductionResult]) -> Callable[..., ReproductionResult]:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def reproduce(*args: Any, **kwargs: Any) -> ReproductionResult:
            start = time.perf_counter()
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            options = bound.arguments
            if options["quick"]:
                options.update({k: v(options[k]) if callable(v) else v for k, v in quick.items()})
            result = function(**options)
            result.seconds = time.perf_counter() - start
            if options["quick"]:
                changed = ", ".join(f"{k}={options[k]}" for k in quick)
                result.notes.append(f"QUICK run (not the paper's settings): {changed}{note}.")
            used = {k: v for k, v in options.items() if k not in ("out_dir", "quick")}
            result.settings = {**used, **result.settings}
            return result

        return reproduce

    return decorate


#: Options whose flag is not the parameter name: parameter -> (flag, help or None).
_FLAGS = {
    "n_reps": ("--reps", None),
    "n_splits": ("--splits", None),
    "linear_source": ("--rbf-only", "RBF kernels only on the source value (the paper's choice)"),
}


def _parameter_help(function: Callable) -> dict[str, str]:
    """Each parameter's description in the numpydoc docstring of ``function``, markup removed."""
    doc = inspect.getdoc(function) or ""
    section = doc.partition("Parameters\n----------\n")[2].partition("\n\n")[0]
    helps: dict[str, str] = {}
    names: list[str] = []
    for line in section.splitlines():
        if not line.startswith(" "):
            names = [name.strip() for name in line.partition(" : ")[0].split(",")]
            continue
        text = re.sub(r":\w+:`~?([^`]+)`", r"\1", line.strip()).replace("``", "").replace("%", "%%")
        for name in names:
            helps[name] = f"{helps.get(name, '')} {text}".strip()
    return helps


def command_line(
    function: Callable[..., ReproductionResult],
) -> tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]:
    """The CLI pair ``add_arguments(parser)`` and ``run(args) -> int`` of a reproduction.

    Every parameter of ``function`` becomes an option ``--name-with-dashes`` (:data:`_FLAGS`
    renames a few; ``--out`` is ``out_dir``) with its default, its ``Literal`` choices and its
    numpydoc description as help. ``run`` calls ``function`` with the options and prints the
    report.
    """
    signature = inspect.signature(function)
    hints = typing.get_type_hints(function)
    helps = _parameter_help(function)

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        default_out = signature.parameters["out_dir"].default
        parser.add_argument("--out", default=default_out, help="output directory")
        for name, parameter in list(signature.parameters.items())[1:]:
            flag, help_text = _FLAGS.get(name, ("--" + name.replace("_", "-"), None))
            default, hint = parameter.default, hints[name]
            options: dict[str, Any] = {"dest": name, "help": help_text or helps.get(name)}
            if isinstance(default, bool):
                options.update(action="store_false" if default else "store_true")
                options["default"] = argparse.SUPPRESS  # not given: the function's default
            elif typing.get_origin(hint) is Literal:
                options.update(choices=typing.get_args(hint), default=default)
            else:
                kind = type(default[0]) if isinstance(default, (tuple, list)) else type(default)
                options.update(type=str if default is None else kind, metavar=flag[2:].upper())
                if isinstance(default, (tuple, list)):
                    options.update(nargs="+", default=list(default))
                else:
                    options["default"] = default
            parser.add_argument(flag, **options)

    def run(args: argparse.Namespace) -> int:
        options = {**vars(args), "out_dir": args.out}
        result = function(**{k: v for k, v in options.items() if k in signature.parameters})
        print(result.report())  # noqa: T201 - CLI output
        return 0

    return add_arguments, run
