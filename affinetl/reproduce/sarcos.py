"""SARCOS case study: each torque from the 21 joint states with the other six torques as source.

Protocol of the paper (Minami et al., NeurIPS 2023, Sec. 5 and the published notebook
``11_SARCOS/20_PGM/300_TransferLearning.ipynb``): pool = first 30,000 rows of the GPML training
file; for each repetition r a fixed random order of the pool, training set = its first n rows
(nested in n); inputs, source features (the other six torques) and target standardised on the
n training points; RBF kernels with ``gamma = 1 / (2 * dim)`` of each kernel's input; 5-fold CV
over the published grids; test MSE, RMSE, MAE and R2 on the original torque scale.

Methods: Direct (kernel ridge on x), SourceOnly (on u), Augmented (on [x, u]), HTL-offset
(kernel ridge on x for the residual of SourceOnly), HTL-scale (for the ratio to SourceOnly, with
the published clipping of small denominators), AffineTL-full and AffineTL-const. The grid
searches run batched over folds, torques and grid points (:mod:`affinetl.reproduce._grid`).
"""

from __future__ import annotations

import argparse
import logging
import os
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from ..datasets import load_sarcos
from ..exceptions import UsageError
from ._common import ReproductionResult, Timer, progress, regression_metrics, write_outputs
from ._kernel_case import affine_full_batched, five_folds, standard_methods

__all__ = [
    "METHODS",
    "PUBLISHED_MSE",
    "add_arguments",
    "reproduce_sarcos",
    "run",
]

logger = logging.getLogger(__name__)

METHODS = (
    "Direct",
    "SourceOnly",
    "Augmented",
    "HTL-offset",
    "HTL-scale",
    "AffineTL-full",
    "AffineTL-const",
)

#: Published mean test MSE over all torques, n and repetitions (the paper's Table).
PUBLISHED_MSE = {
    "AffineTL-const": 68.8,
    "AffineTL-full": 69.6,
    "Augmented": 69.7,
    "Direct": 76.3,
    "HTL-offset": 87.0,
    "SourceOnly": 99.3,
    "HTL-scale": 99.9,
}

PAPER_POOL = 30000
N_VALUES = (5, 10, 15, 20, 30, 40, 50)


def _std(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = a.mean(axis=0)
    sd = a.std(axis=0, ddof=1)
    return mean, np.where(sd > 0, sd, 1.0)


def _one_setting(
    X: np.ndarray,
    T: np.ndarray,
    X_test: np.ndarray,
    T_test: np.ndarray,
    order: np.ndarray,
    n: int,
    rep: int,
    torques: Sequence[int],
    max_iter: int,
    cv_max_iter: int,
    device: str | None = None,
    solver: str = "newton",
) -> list[dict[str, object]]:
    """All methods for one (n, repetition) and every torque."""
    idx = order[:n]
    folds = five_folds(n)
    x_mean, x_sd = _std(X[idx])
    x, xt = (X[idx] - x_mean) / x_sd, (X_test - x_mean) / x_sd
    records: list[dict[str, object]] = []
    problems, prepared = [], []
    for j in torques:
        others = [k for k in range(T.shape[1]) if k != j]
        u_mean, u_sd = _std(T[idx][:, others])
        u, ut = (T[idx][:, others] - u_mean) / u_sd, (T_test[:, others] - u_mean) / u_sd
        y_raw = T[idx, j]
        y_mean, y_sd = y_raw.mean(), y_raw.std(ddof=1)
        y_sd = y_sd if y_sd > 0 else 1.0
        y = (y_raw - y_mean) / y_sd

        def back(v: np.ndarray, m=y_mean, s=y_sd) -> np.ndarray:
            return v * s + m

        preds, _chosen = standard_methods(x, u, y, xt, ut, back, folds)
        problems.append((x, u, y, xt, ut))
        prepared.append((j, back, preds))
    full, _best, _n_iter = affine_full_batched(
        problems, folds, max_iter=max_iter, cv_max_iter=cv_max_iter, device=device, solver=solver
    )
    for k, (j, back, preds) in enumerate(prepared):
        preds["AffineTL-full"] = back(full[k])
        for method in METHODS:
            row: dict[str, object] = {"torque": j + 1, "n": n, "rep": rep, "method": method}
            row.update(regression_metrics(T_test[:, j], preds[method]))
            records.append(row)
    return records


def reproduce_sarcos(
    out_dir: str | os.PathLike[str] = "results/sarcos",
    *,
    n_values: Sequence[int] = N_VALUES,
    n_reps: int = 20,
    torques: Sequence[int] = (1, 2, 3, 4, 5, 6, 7),
    training: str = "auto",
    n_jobs: int = 1,
    max_iter: int = 1000,
    cv_max_iter: int = 1000,
    device: str | None = None,
    solver: str = "newton",
    quick: bool = False,
) -> ReproductionResult:
    """Run the SARCOS case study and write CSV files and a figure.

    Parameters
    ----------
    out_dir : path-like
        Output directory.
    n_values : sequence of int
        Training-set sizes (multiples of 5 for 5-fold CV).
    n_reps : int
        Repetitions (random nested training sets).
    torques : sequence of int
        Target torques (1-based).
    training : {"auto", "full", "proxy"}
        Which data (see :func:`affinetl.datasets.load_sarcos`); ``"auto"`` falls back to the
        documented offline proxy, which the result's notes then state.
    n_jobs : int
        Parallel workers over (n, repetition) settings (joblib).
    max_iter, cv_max_iter : int
        Iteration limits of the AffineTL-full block relaxation for the final fit and inside CV.
    device : str, optional
        Torch device (e.g. ``"cuda"``) for the batched AffineTL-full block relaxation.
    solver : {"newton", "relaxation"}
        AffineTL-full solver inside CV and for the final fits: damped Newton steps from the
        AffineTL-const start (default; tens of iterations) or the published block relaxation
        from a random start (hundreds of sweeps; ``max_iter``, ``cv_max_iter`` and ``device``
        apply to it).
    quick : bool
        Reduced run for tests: n in {5, 10}, 2 repetitions, torques 1 and 2.

    Returns
    -------
    ReproductionResult
        ``summary`` has the mean test MSE (and RMSE, MAE, R2) per method with the published MSE.
    """
    if quick:
        n_values, n_reps, torques = (5, 10), 2, (1, 2)
    bad = [n for n in n_values if n < 5 or n % 5]
    if bad:
        raise UsageError(f"n_values must be multiples of 5 (5-fold CV), got {bad}")
    if not set(torques) <= set(range(1, 8)):
        raise UsageError(f"torques must be in 1..7, got {list(torques)}")
    with Timer() as timer, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        data = load_sarcos(training)
        split = data.extras["split"].to_numpy()
        X, T = data.X.to_numpy(), data.y.to_numpy()
        pool = np.flatnonzero(split == "pool")
        pool = pool if data.extras["proxy"] else pool[:PAPER_POOL]
        test = np.flatnonzero(split == "test")
        X_pool, T_pool, X_test, T_test = X[pool], T[pool], X[test], T[test]
        orders = [np.random.default_rng(rep).permutation(len(pool)) for rep in range(n_reps)]
        tasks = [(n, rep) for n in n_values for rep in range(n_reps)]
        logger.info("SARCOS: %d settings x %d torques, n_jobs=%d", len(tasks), len(torques), n_jobs)
        chunks = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_one_setting)(
                X_pool,
                T_pool,
                X_test,
                T_test,
                orders[rep],
                n,
                rep,
                [t - 1 for t in torques],
                max_iter,
                cv_max_iter,
                device,
                solver,
            )
            for n, rep in tasks
        )
        chunks = list(progress(chunks, total=len(tasks), desc="SARCOS", unit="setting"))
    records = pd.DataFrame([row for chunk in chunks for row in chunk])
    summary = records.groupby("method")[["MSE", "RMSE", "MAE", "R2"]].mean()
    summary["MSE_sd_over_reps"] = (
        records.groupby(["method", "rep"])["MSE"].mean().groupby("method").std()
    )
    summary["published_MSE"] = pd.Series(PUBLISHED_MSE)
    summary = summary.sort_values("MSE")
    notes = list(data.notes)
    logger.debug("%d warnings while loading", len(caught))
    if quick:
        notes.append("QUICK run: n in {5, 10}, 2 repetitions, torques 1-2 (not the paper's).")
    if solver == "newton":
        notes.append(
            "AffineTL-full solved by damped Newton steps from the AffineTL-const start (paper: "
            "block relaxation from a random start; --solver relaxation)."
        )
    elif cv_max_iter < 1000:
        notes.append(f"AffineTL-full CV used at most {cv_max_iter} iterations (paper: 1000).")
    result = ReproductionResult(
        case="sarcos",
        records=records,
        summary=summary,
        seconds=timer.seconds,
        notes=notes,
        settings={
            "n_values": list(n_values),
            "n_reps": n_reps,
            "torques": list(torques),
            "proxy": bool(data.extras["proxy"]),
            "n_pool": len(pool),
            "n_test": len(test),
            "n_jobs": n_jobs,
            "cv_max_iter": cv_max_iter,
            "solver": solver,
        },
    )
    return write_outputs(result, out_dir, _figure(records))


def _figure(records: pd.DataFrame):
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    by_n = records.groupby(["method", "n"])["MSE"].mean().unstack("method")
    for method in METHODS:
        if method in by_n:
            axes[0].plot(by_n.index, by_n[method], marker="o", label=method)
    axes[0].set(xlabel="training size n", ylabel="test MSE (mean over torques, reps)", yscale="log")
    axes[0].legend(fontsize=8)
    order = [m for m in METHODS if m in set(records["method"])]
    axes[1].boxplot(
        [records.loc[records["method"] == m, "MSE"].to_numpy() for m in order],
        showfliers=False,
    )
    axes[1].set_xticks(range(1, len(order) + 1), order, rotation=30, ha="right")
    axes[1].set(ylabel="test MSE", yscale="log", title="all torques, n and repetitions")
    fig.suptitle("SARCOS: torque from joint states, other torques as source features")
    return fig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``affinetl reproduce sarcos``."""
    parser.add_argument("--out", default="results/sarcos", help="output directory")
    parser.add_argument("--quick", action="store_true", help="reduced run (seconds)")
    parser.add_argument("--reps", type=int, default=20, help="repetitions (default 20)")
    parser.add_argument(
        "--n-values", type=int, nargs="+", default=list(N_VALUES), help="training sizes"
    )
    parser.add_argument("--torques", type=int, nargs="+", default=list(range(1, 8)))
    parser.add_argument(
        "--training",
        choices=("auto", "full", "proxy"),
        default="auto",
        help="GPML training file or the offline proxy (auto: proxy when offline)",
    )
    parser.add_argument("--n-jobs", type=int, default=1, help="parallel workers")
    parser.add_argument(
        "--solver",
        choices=("newton", "relaxation"),
        default="newton",
        help="AffineTL-full solver (relaxation: the published block relaxation)",
    )
    parser.add_argument("--device", default=None, help="torch device for the relaxation, e.g. cuda")
    parser.add_argument(
        "--cv-max-iter",
        type=int,
        default=1000,
        help="AffineTL-full iteration limit inside CV (paper: 1000)",
    )


def run(args: argparse.Namespace) -> int:
    """Entry point of ``affinetl reproduce sarcos``; prints the table, returns 0."""
    result = reproduce_sarcos(
        args.out,
        n_values=args.n_values,
        n_reps=args.reps,
        torques=args.torques,
        training=args.training,
        n_jobs=args.n_jobs,
        cv_max_iter=args.cv_max_iter,
        device=args.device,
        solver=args.solver,
        quick=args.quick,
    )
    print(result.report())  # noqa: T201 - CLI output
    return 0
