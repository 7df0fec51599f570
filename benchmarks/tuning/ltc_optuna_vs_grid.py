"""LTC case study: Optuna tuning of AffineTL-full against the published grid search.

Protocol (the paper's LTC study with the kernel AffineTL-full): log LTC of the 45 crystals with a
measurement, standardised; inputs = 278 XenonPy descriptors (standardised over all 320 crystals)
plus the output of one pretrained SPS source network as the source feature; random 40/5 splits
``train_test_split(train_size=40, random_state=i)``; hyper-parameters chosen by unshuffled 5-fold
CV on the 40 training crystals (mean validation MSE); test RMSE in W/m/K after back-transforming.

* ``grid``: GridSearchCV over the published AffineTL-full grid (lambda1 in {1e-3, ..., 1},
  lambda2, lambda3 in {1e-2, ..., 10}: 64 settings x 5 folds + 1 refit = 321 fits per split);
* ``optuna-grid-family``: OptunaSearchCV, the same three penalties searched continuously on a log
  scale over the grid's range, ``--trials`` trials with fold-level median pruning;
* ``optuna-default``: OptunaSearchCV with the registered default space of
  AffineTransferRegressor (penalties, kernel kind of g3, widths of the u and x kernels).

Run ``python benchmarks/tuning/ltc_optuna_vs_grid.py`` (about 40 min on 2 shared cores); writes
``benchmarks/out/tuning/ltc_optuna_vs_grid.csv``, ``..._summary.csv`` and ``....png``.
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import FloatDistribution
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from tqdm import tqdm

from affinetl import AffineTransferRegressor
from affinetl.tuning import OptunaSearchCV, load_case

#: The published AffineTL-full grid (affinetl.reproduce._kernel_case.FULL_GRID).
GRID = {
    "lambda1": [1e-3, 1e-2, 1e-1, 1.0],
    "lambda2": [1e-2, 0.1, 1.0, 10.0],
    "lambda3": [1e-2, 0.1, 1.0, 10.0],
}
#: The grid's family searched continuously.
GRID_FAMILY = {
    "lambda1": FloatDistribution(1e-3, 1.0, log=True),
    "lambda2": FloatDistribution(1e-2, 10.0, log=True),
    "lambda3": FloatDistribution(1e-2, 10.0, log=True),
}


def _rmse(pred: np.ndarray, y: np.ndarray, mean: float, sd: float) -> float:
    back = np.exp(pred * sd + mean)
    return float(np.sqrt(np.mean((back - np.exp(y * sd + mean)) ** 2)))


def run_split(split: int, X: np.ndarray, Y: np.ndarray, scale: tuple, trials: int) -> list[dict]:
    """All three tuners on one 40/5 split."""
    train, test = train_test_split(np.arange(len(Y)), train_size=40, random_state=split)
    cv = KFold(5)
    rows = []
    t0 = time.perf_counter()
    grid = GridSearchCV(
        AffineTransferRegressor(), GRID, cv=cv, scoring="neg_mean_squared_error"
    ).fit(X[train], Y[train])
    rows.append(
        {
            "method": "grid",
            "n_fits": len(grid.cv_results_["params"]) * cv.get_n_splits() + 1,
            "cv_mse": -grid.best_score_,
            "test_rmse": _rmse(grid.predict(X[test]), Y[test], *scale),
            "seconds": time.perf_counter() - t0,
            "params": grid.best_params_,
        }
    )
    for name, space, default in (
        ("optuna-grid-family", GRID_FAMILY, False),
        ("optuna-default", None, True),
    ):
        t0 = time.perf_counter()
        search = OptunaSearchCV(
            AffineTransferRegressor(),
            space=space,
            use_default_space=default,
            n_trials=trials,
            cv=cv,
            random_state=split,
        ).fit(X[train], Y[train])
        rows.append(
            {
                "method": name,
                "n_fits": search.n_fits_,
                "cv_mse": -search.best_score_,
                "test_rmse": _rmse(search.predict(X[test]), Y[test], *scale),
                "seconds": time.perf_counter() - t0,
                "params": search.best_params_,
            }
        )
    for row in rows:
        row["split"] = split
    return rows


def _figure(frame: pd.DataFrame, path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    wide = frame.pivot(index="split", columns="method", values="test_rmse")
    for method in wide.columns:
        axes[0].plot(wide.index, wide[method], "o-", label=method)
    axes[0].set(xlabel="split", ylabel="test RMSE (W/m/K)", title="LTC, AffineTL-full")
    axes[0].legend()
    summary = frame.groupby("method")[["test_rmse", "n_fits"]].mean()
    axes[1].scatter(summary["n_fits"], summary["test_rmse"])
    for method, row in summary.iterrows():
        axes[1].annotate(method, (row["n_fits"], row["test_rmse"]), fontsize=8)
    axes[1].set(xlabel="model fits per split", ylabel="mean test RMSE (W/m/K)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--network", type=int, default=66)
    parser.add_argument("--out", default="benchmarks/out/tuning")
    parser.add_argument(
        "--from-csv", action="store_true", help="only summarise the per-split CSV of a run"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", ConvergenceWarning)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.from_csv:
        frame = pd.read_csv(out / "ltc_optuna_vs_grid.csv")
    else:
        case = load_case("ltc", network=args.network)
        log_y = case.y
        mean, sd = float(log_y.mean()), float(log_y.std(ddof=1))
        Y = (log_y - mean) / sd
        rows = []
        for split in tqdm(range(args.splits), desc="LTC splits"):
            rows.extend(run_split(split, case.X, Y, (mean, sd), args.trials))
            pd.DataFrame(rows).to_csv(out / "ltc_optuna_vs_grid.csv", index=False)
        frame = pd.DataFrame(rows)
        frame.to_csv(out / "ltc_optuna_vs_grid.csv", index=False)
    summary = frame.groupby("method").agg(
        test_rmse_mean=("test_rmse", "mean"),
        test_rmse_median=("test_rmse", "median"),
        test_rmse_sd=("test_rmse", "std"),
        cv_mse_mean=("cv_mse", "mean"),
        n_fits_mean=("n_fits", "mean"),
        seconds_mean=("seconds", "mean"),
        n_splits=("split", "count"),
    )
    grid = summary.loc["grid"]
    summary["rmse_ratio_to_grid"] = summary["test_rmse_mean"] / grid["test_rmse_mean"]
    summary["fits_ratio_to_grid"] = summary["n_fits_mean"] / grid["n_fits_mean"]
    summary.to_csv(out / "ltc_optuna_vs_grid_summary.csv")
    _figure(frame, out / "ltc_optuna_vs_grid.png")
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}")  # noqa: T201
    n_splits = frame["split"].nunique()
    print(f"network {args.network}, {n_splits} splits, {args.trials} Optuna trials")  # noqa: T201
    print(summary.round(4).to_string())  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
