"""The main demo: experimental polymer densities learned from a few measurements and MD.

The Sim2Real polymer-density case of Afzal et al. (2021): the polymers with a measured density
(the target) and an MD density (OPLS3e, the source ``u = f_s(x)``), as
:func:`affinetl.reproduce.density.load_density_case` gives them, with 20 RDKit descriptors of
the repeat unit as inputs. For each training size n, ``n_splits`` random splits draw n polymers to
train on and test on the others. Every model is fitted through the public API on the training
polymers alone:

* ``AffineTransferCV`` with its defaults: its test of the source's units
  (``source_in_target_units="auto"``) finds the MD density to be the target's own quantity in
  its units (g/cm3) and adds the zero- and one-parameter forms (the source as is, the source
  plus a constant) and the scale forms (``u (1 + g3(x))``) to the searched and averaged
  family;
* the fixed special cases of the affine family, each tuned by the same search restricted to its
  form (``AffineTransferCV(forms=[...])``): ``MD calibrated`` (``a0 + a1 u``), ``HTL-offset``
  (``u + g3(x)``), ``SourceOnly`` (kernel ridge on ``u``) and ``Direct`` (kernel ridge on the
  descriptors, no simulation);
* the paper's other baselines, ``Augmented`` and ``HTL-scale``, by ``GridSearchCV`` over the
  ridge penalty with the same splitter;
* ``MD as is``: the simulated density without any learning.
"""

from __future__ import annotations

import logging
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV

from ..baselines import AugmentedRegressor, ScaleTransferRegressor
from ..exceptions import UsageError
from ..selection import AffineTransferCV, default_cv

__all__ = ["DemoResult", "demo_models", "headline", "load_demo_case", "run_demo"]

logger = logging.getLogger(__name__)

#: The row of the package's estimator and of the raw simulation in the demo table.
MAIN, RAW = "AffineTransferCV", "MD as is"
#: Ridge penalties searched for the GridSearchCV baselines.
ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


@dataclass
class DemoResult:
    """What :func:`run_demo` produced.

    Attributes
    ----------
    records : pandas.DataFrame
        One row per (n, split, method): test ``RMSE`` and ``MAE`` in the target's unit.
    table : pandas.DataFrame
        Mean test RMSE (``mean n=<n>``) and its standard error over the splits (``se n=<n>``)
        per method, best average first.
    headline : str
        One line saying what the table shows (computed from it by :func:`headline`).
    files : dict of str to pathlib.Path
        ``records``, ``table`` (CSV), ``error_vs_n``, ``parity``, ``domain_shift`` (PNG).
    seconds : float
        Wall-clock time.
    settings : dict
        The run's settings.
    """

    records: pd.DataFrame
    table: pd.DataFrame
    headline: str
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    settings: dict[str, object] = field(default_factory=dict)

    def report(self) -> str:
        """The table (mean +- standard error), the headline, the timing and the files."""
        n_values = self.settings["n_values"]
        shown = pd.DataFrame(index=self.table.index.rename(None))
        for n in n_values:
            shown[f"n={n}"] = [
                f"{m:.4f} ± {s:.4f}"
                for m, s in zip(self.table[f"mean n={n}"], self.table[f"se n={n}"])
            ]
        lines = [
            f"Polymer density (g/cm3): test RMSE, mean ± standard error over "
            f"{self.settings['n_splits']} random splits per n "
            f"({self.settings['n_polymers']} polymers, n = measured training polymers)",
            shown.to_string(),
            self.headline,
            f"time: {self.seconds:.1f} s on {platform.machine()} with {os.cpu_count()} CPUs, "
            f"n_jobs={self.settings['n_jobs']}",
        ]
        lines += [f"{key + ':':13s}{path}" for key, path in self.files.items()]
        return "\n".join(lines)


def load_demo_case() -> tuple[pd.DataFrame, np.ndarray, str]:
    """The demo's data: descriptors with the MD density as last column, measured density, unit.

    Returns
    -------
    X : pandas.DataFrame of shape (n_polymers, n_descriptors + 1)
        RDKit descriptors of the repeat unit; the last column ``md_density`` is the source.
    y : ndarray of shape (n_polymers,)
        Experimental density.
    unit : str
    """
    from ..reproduce.density import load_density_case  # noqa: PLC0415

    descriptors, u, y, unit = load_density_case("density", "afzal-md")
    X = descriptors.reset_index(drop=True).assign(md_density=u)
    return X, y, unit


def demo_models(n_train: int, random_state: int) -> dict[str, BaseEstimator]:
    """The models of the demo table for ``n_train`` training polymers (unfitted).

    The source (MD density) is the last column of ``X`` for every model.
    """
    cv = default_cv(n_train, random_state)

    def form(name: str) -> AffineTransferCV:
        return AffineTransferCV(forms=[name], random_state=random_state)

    def grid(model: BaseEstimator) -> GridSearchCV:
        return GridSearchCV(model, {"alpha": list(ALPHAS)}, cv=cv, scoring="neg_mean_squared_error")

    return {
        MAIN: AffineTransferCV(random_state=random_state),
        "MD calibrated": form("source_linear"),
        "HTL-offset": form("offset"),
        "SourceOnly": form("source_kernel"),
        "Direct": form("direct"),
        "Augmented": grid(AugmentedRegressor()),
        "HTL-scale": grid(ScaleTransferRegressor()),
    }


def _split(n_total: int, n: int, rep: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Training and test rows of split ``rep`` for size ``n``, and the split's CV seed."""
    rng = np.random.default_rng([seed, n, rep])
    perm = rng.permutation(n_total)
    return perm[:n], perm[n:], int(rng.integers(2**31 - 1))


def _scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    err = np.asarray(pred, float) - y
    return {"RMSE": float(np.sqrt(np.mean(err**2))), "MAE": float(np.mean(np.abs(err)))}


def _one_split(X: np.ndarray, y: np.ndarray, n: int, rep: int, seed: int) -> list[dict]:
    """Fit every model on one split; one record per method."""
    train, test, cv_seed = _split(len(y), n, rep, seed)
    rows = [{"n": n, "split": rep, "method": RAW, **_scores(y[test], X[test, -1])}]
    for method, model in demo_models(n, cv_seed).items():
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pred = model.fit(X[train], y[train]).predict(X[test])
        row = {"n": n, "split": rep, "method": method, **_scores(y[test], pred)}
        row.update(seconds=time.perf_counter() - start, warnings=len(caught))
        rows.append(row)
    return rows


def summarize(records: pd.DataFrame) -> pd.DataFrame:
    """Mean test RMSE and its standard error over the splits, per method and n (best first)."""
    grouped = records.groupby(["method", "n"])["RMSE"]
    mean = grouped.mean().unstack("n")
    se = (grouped.std(ddof=1) / np.sqrt(grouped.count())).unstack("n")
    table = pd.concat([mean.add_prefix("mean n="), se.add_prefix("se n=")], axis=1)
    return table.loc[mean.mean(axis=1).sort_values().index]


def _paired_se(records: pd.DataFrame, n: int, a: str, b: str) -> float:
    """Standard error of the mean RMSE difference of ``a`` and ``b`` over the same splits."""
    part = records[records["n"] == n].pivot(index="split", columns="method", values="RMSE")
    diff = (part[a] - part[b]).to_numpy()
    return float(np.std(diff, ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else 0.0


def headline(records: pd.DataFrame, table: pd.DataFrame, unit: str = "g/cm3") -> str:
    """One line on what the demo table shows, computed from its numbers.

    For each n: the RMSE of ``AffineTransferCV`` relative to the raw simulation, and whether it
    is the best row or within one standard error of the best (the standard error of the paired
    difference over the same splits).
    """
    n_values = sorted(records["n"].unique())
    change, verdicts = [], []
    for n in n_values:
        mean = table[f"mean n={n}"]
        change.append(f"{100 * (mean[MAIN] / mean[RAW] - 1):+.0f}%")
        best = mean.idxmin()
        if best == MAIN:
            verdicts.append("best")
        else:
            gap, se = mean[MAIN] - mean[best], _paired_se(records, n, MAIN, best)
            within = gap <= se
            verdicts.append(
                f"within 1 SE of {best}" if within else f"{gap / se:.1f} SE behind {best}"
            )
    ns = ", ".join(str(n) for n in n_values)
    return (
        f"{MAIN} (defaults) at n = {ns}: RMSE {', '.join(change)} vs the raw MD density; "
        f"{'; '.join(f'n={n}: {v}' for n, v in zip(n_values, verdicts))}."
    )


def _atomic(path: Path, write: Callable[[str], None]) -> Path:
    """Write a file through ``write(tmp_path)`` and move it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates the file readable by its owner only: give the result the usual mode
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _check(n_values: Sequence[int], n_splits: int, n_total: int) -> list[int]:
    n_values = [int(n) for n in n_values]
    bad = [n for n in n_values if not 5 <= n <= n_total - 10]
    if not n_values or bad:
        raise UsageError(
            f"training sizes must be between 5 and {n_total - 10} ({n_total} polymers, at "
            f"least 10 kept for testing), got {bad or n_values}"
        )
    if n_splits < 2:
        raise UsageError(f"need at least 2 splits per n for a standard error, got {n_splits}")
    return n_values


def run_demo(
    out_dir: str | os.PathLike[str] = "results/demo",
    *,
    n_values: Sequence[int] = (10, 20, 40),
    n_splits: int = 20,
    random_state: int = 0,
    n_jobs: int | None = None,
) -> DemoResult:
    """Run the polymer-density comparison and write its tables and figures.

    Parameters
    ----------
    out_dir : path-like
        Folder for ``demo_records.csv``, ``demo_table.csv`` and the figures
        ``demo_error_vs_n.png``, ``demo_parity.png``, ``demo_domain_shift.png``.
    n_values : sequence of int
        Numbers of measured training polymers.
    n_splits : int
        Random splits per training size (at least 2).
    random_state : int
        Seed of the splits (and of the 5-fold shuffles inside them).
    n_jobs : int or None
        joblib workers over the splits (``None``: 1).

    Returns
    -------
    DemoResult
        Print ``result.report()`` for the table.

    Examples
    --------
    >>> from affinetl.demo import run_demo
    >>> result = run_demo("results/demo")  # doctest: +SKIP
    >>> print(result.report())  # doctest: +SKIP
    """
    from ..reproduce._common import progress  # noqa: PLC0415
    from ._figures import plot_domain_shift, plot_error_vs_n, plot_parity  # noqa: PLC0415

    start = time.perf_counter()
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create the output folder {str(out)!r}: {err}") from err
    frame, y, unit = load_demo_case()
    X = frame.to_numpy(float)
    n_values = _check(n_values, int(n_splits), len(y))
    tasks = [(n, rep) for n in n_values for rep in range(n_splits)]
    jobs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(_one_split)(X, y, n, rep, random_state) for n, rep in tasks
    )
    rows = [
        row
        for chunk in progress(jobs, total=len(tasks), desc="demo", unit="split")
        for row in chunk
    ]
    records = pd.DataFrame(rows).sort_values(["n", "split", "method"]).reset_index(drop=True)
    table = summarize(records)
    text = headline(records, table, unit)

    # the showcase split: the largest n, split 0 (refitted here: the same model as in the table)
    n_show = max(n_values)
    train, test, cv_seed = _split(len(y), n_show, 0, random_state)
    model = demo_models(n_show, cv_seed)[MAIN].fit(X[train], y[train])
    files = {
        "records": _atomic(out / "demo_records.csv", lambda p: records.to_csv(p, index=False)),
        "table": _atomic(out / "demo_table.csv", lambda p: table.to_csv(p)),
        "error_vs_n": _atomic(
            out / "demo_error_vs_n.png", lambda p: plot_error_vs_n(table, n_values, unit, p)
        ),
        "parity": _atomic(
            out / "demo_parity.png",
            lambda p: plot_parity(
                y[test], {MAIN: model.predict(X[test]), RAW: X[test, -1]}, n_show, unit, p
            ),
        ),
        "domain_shift": _atomic(
            out / "demo_domain_shift.png",
            lambda p: plot_domain_shift(model, X, y, train, unit, p),
        ),
    }
    settings = {
        "n_values": n_values,
        "n_splits": int(n_splits),
        "random_state": random_state,
        "n_jobs": n_jobs,
        "n_polymers": len(y),
        "descriptors": list(frame.columns[:-1]),
    }
    result = DemoResult(records, table, text, files, time.perf_counter() - start, settings)
    logger.info("demo done in %.1f s", result.seconds)
    return result
