"""Per-epoch pruning of a neural model in Optuna tuning: trials pruned, fits and epochs saved.

Tunes ``NeuralAffineTransferRegressor`` on the neural test suite's synthetic problem (5 inputs,
rough source feature ``u`` in the last column, ``g1 = 1 + 2u``, ``g2 = 1 + tanh(u)/2``, noise sd
0.05; 150 training rows) by 3-fold CV with the registered neural space (learning rate, weight decay, dropout,
epochs, width, depth; batch size fixed at 32, epochs searched in [10, 100]), the same seeded TPE
sampler for each of four pruning set-ups:

* ``none``: every trial trains every fold to its last epoch;
* ``folds``: median pruner on the running mean of the fold scores (stops between folds);
* ``epochs-median``: the default per-epoch pruning, ``MedianPruner(n_startup_trials=5,
  n_warmup_steps=10)`` on the fold's validation score after every epoch;
* ``epochs-hyperband``: ``HyperbandPruner(min_resource=5, max_resource=folds * 100,
  reduction_factor=3)`` on the same per-epoch values (fold k's epoch e is step 100 k + e);
* ``epochs-median-x2.5``: per-epoch median pruning with 2.5 times the trials, about the epoch
  budget of ``none`` (equal compute instead of equal trials).

Run ``python benchmarks/tuning/neural_pruning.py`` (a few minutes on one core); writes
``benchmarks/out/tuning/neural_pruning.csv`` and ``neural_pruning.png`` and prints, per set-up,
trials pruned, model fits, epochs trained, wall time, best CV MSE and the refitted model's RMSE
on 1,000 noise-free test points.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch
from optuna.distributions import CategoricalDistribution, IntDistribution

from affinetl.models import NeuralAffineTransferRegressor
from affinetl.tuning import OptunaSearchCV


def affine_problem(n: int, seed: int, noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Rough source u (last column), g1 = 1 + 2u, g2 = 1 + tanh(u)/2 (tests/affinetl/...)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 5))
    u = np.sin(2 * x[:, 0]) * np.cos(2 * x[:, 1]) + 0.5 * np.sin(3 * x[:, 2])
    y = 1.0 + 2.0 * u + (1.0 + 0.5 * np.tanh(u)) * (np.cos(1.5 * x[:, 3]) + 0.5 * x[:, 4])
    return np.column_stack([x, u]), y + noise * rng.standard_normal(n)


SETUPS: dict[str, dict] = {
    "none": {"prune": "none"},
    "folds": {"prune": "folds"},
    "epochs-median": {"prune": "epochs"},
    "epochs-hyperband": {"prune": "epochs", "hyperband": True},
    "epochs-median-x2.5": {"prune": "epochs", "trials_factor": 2.5},
}
SPACE = {
    "max_epochs": IntDistribution(10, 100, log=True),
    "batch_size": CategoricalDistribution((32,)),
}


def epochs_trained(search: OptunaSearchCV) -> int:
    """Epochs of all trials: reported per epoch, else fits x max_epochs (no early stopping)."""
    total = 0
    for trial in search.study_.trials:
        if "n_epochs" in trial.user_attrs:
            total += trial.user_attrs["n_epochs"]
        else:
            total += trial.user_attrs.get("n_fits", 0) * trial.params["max_epochs"]
    return total


def run(args: argparse.Namespace) -> pd.DataFrame:
    X, y = affine_problem(args.n, 0)
    Xt, yt = affine_problem(1000, 1, noise=0.0)
    est = NeuralAffineTransferRegressor(early_stopping=False, random_state=0)
    rows = []
    for name, setup in SETUPS.items():
        setup = dict(setup)
        n_trials = int(round(args.trials * setup.pop("trials_factor", 1.0)))
        if setup.pop("hyperband", False):
            setup["pruner"] = optuna.pruners.HyperbandPruner(
                min_resource=5,
                max_resource=args.folds * SPACE["max_epochs"].high,
                reduction_factor=3,
            )
        torch.manual_seed(0)  # dropout draws from the global torch RNG: same start per set-up
        t0 = time.perf_counter()
        search = OptunaSearchCV(
            est,
            space=SPACE,
            n_trials=n_trials,
            cv=args.folds,
            random_state=0,
            # a fixed name: Hyperband assigns brackets by hashing the study name
            study_name=f"neural-pruning-{name}",
            **setup,
        ).fit(X, y)
        seconds = time.perf_counter() - t0
        states = search.cv_results_["state"]
        rows.append(
            {
                "setup": name,
                "trials": n_trials,
                "pruned": int((states == "PRUNED").sum()),
                "fits": search.n_fits_,
                "full_fits": n_trials * args.folds + 1,
                "epochs": epochs_trained(search),
                "seconds": seconds,
                "best_cv_mse": -search.best_score_,
                "test_rmse": float(np.sqrt(np.mean((search.predict(Xt) - yt) ** 2))),
                "best_params": search.best_params_,
            }
        )
        print(f"{name}: {rows[-1]}", flush=True)
    frame = pd.DataFrame(rows)
    base = frame.set_index("setup").loc["none"]
    frame["fits_saved"] = 1 - frame.fits / base.fits
    frame["epochs_saved"] = 1 - frame.epochs / base.epochs
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=150, help="training rows")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/tuning"))
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    frame = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "neural_pruning.csv", index=False)
    print(f"machine: {platform.processor() or platform.machine()}, settings: {vars(args)}")
    cols = ["trials", "pruned", "fits", "epochs", "fits_saved", "epochs_saved", "seconds"]
    cols += ["best_cv_mse", "test_rmse"]
    print(frame.set_index("setup")[cols].round(4).to_string())
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.scatter(frame.epochs, frame.test_rmse)
    for _, row in frame.iterrows():
        ax.annotate(row.setup, (row.epochs, row.test_rmse), fontsize=8)
    ax.set_xlabel("epochs trained (all trials, all folds)")
    ax.set_ylabel("test RMSE of the refitted best model")
    ax.set_title(f"{args.trials} trials x {args.folds} folds, n = {args.n}")
    fig.tight_layout()
    fig.savefig(args.out / "neural_pruning.png", dpi=120)


if __name__ == "__main__":
    main()
