"""Neural vs kernel affine transfer on synthetic problems with known g1, g2, g3; flow calibration.

Run:

    python benchmarks/neural/synthetic.py --n 150 300 --seeds 0 1

Writes ``benchmarks/out/neural/synthetic.csv`` and ``synthetic.png`` and prints test RMSE per
model and training size, plus the flow's 90 % interval coverage and mean log-likelihood on
held-out heteroscedastic data (noise sd ``0.1 exp(0.7 x0)``).
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from affinetl import AffineTransferRegressor, DirectRegressor
from affinetl.models import (
    AffineCouplingTransfer,
    NeuralAffineTransferRegressor,
    NeuralDirectRegressor,
)


def affine_problem(n: int, seed: int, noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """The test suite's problem: rough source u (last column), g1 = 1 + 2u, g2 = 1 + tanh(u)/2."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 5))
    u = np.sin(2 * x[:, 0]) * np.cos(2 * x[:, 1]) + 0.5 * np.sin(3 * x[:, 2])
    y = 1.0 + 2.0 * u + (1.0 + 0.5 * np.tanh(u)) * (np.cos(1.5 * x[:, 3]) + 0.5 * x[:, 4])
    return np.column_stack([x, u]), y + noise * rng.standard_normal(n)


def hetero_problem(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 2))
    u = np.sin(2 * x[:, 0])
    mean = 1.0 + u + (1.0 + 0.3 * u) * x[:, 1]
    sd = 0.1 * np.exp(0.7 * x[:, 0])
    return np.column_stack([x, u]), mean + sd * rng.standard_normal(n), mean, sd


def models(seed: int) -> dict:
    nn = {"random_state": seed}
    return {
        "neural affine (adam)": NeuralAffineTransferRegressor(**nn),
        "neural affine (block)": NeuralAffineTransferRegressor(solver="block", **nn),
        "flow (mean)": AffineCouplingTransfer(**nn),
        "neural Direct": NeuralDirectRegressor(**nn),
        "kernel affine": AffineTransferRegressor(lambda1=1e-2, lambda2=1e-2, lambda3=1e-2),
        "kernel Direct": DirectRegressor(alpha=1e-2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[150, 300])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/neural"))
    args = parser.parse_args()
    rows = []
    Xt, yt = affine_problem(1000, 999, noise=0.0)
    for n in args.n:
        for seed in args.seeds:
            X, y = affine_problem(n, seed)
            for name, model in models(seed).items():
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model.fit(X, y)
                rmse = float(np.sqrt(np.mean((model.predict(Xt) - yt) ** 2)))
                rows.append(
                    {
                        "n": n,
                        "seed": seed,
                        "model": name,
                        "rmse": rmse,
                        "seconds": time.perf_counter() - t0,
                    }
                )
    frame = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "synthetic.csv", index=False)
    print(f"machine: {platform.machine()}, {vars(args)}")
    print(frame.pivot_table(index="model", columns="n", values="rmse").round(4).to_string())

    X, y, _, _ = hetero_problem(1000, 0)
    flow = AffineCouplingTransfer(
        hidden1=(16,),
        hidden2=(8,),
        hidden3=(16,),
        hidden_noise=(16,),
        batch_size=100,
        lr=1e-2,
        max_epochs=150,
        random_state=0,
    ).fit(X, y)
    Xh, yh, mean, sd = hetero_problem(2000, 1)
    lo, hi = flow.predict_interval(Xh, 0.9).T
    coverage = float(np.mean((yh >= lo) & (yh <= hi)))
    res = yh - mean
    homo_sd = np.std(hetero_problem(1000, 0)[1] - hetero_problem(1000, 0)[2])
    ll_homo = np.mean(-0.5 * np.log(2 * np.pi * homo_sd**2) - 0.5 * (res / homo_sd) ** 2)
    ll_true = np.mean(-0.5 * np.log(2 * np.pi * sd**2) - 0.5 * (res / sd) ** 2)
    ll_flow = float(flow.log_prob(Xh, yh).mean())
    print(
        f"flow: 90% interval coverage {coverage:.3f}; mean log-lik flow {ll_flow:.3f}, "
        f"oracle homoscedastic {ll_homo:.3f}, true density {ll_true:.3f}"
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, grp in frame.groupby("model"):
        g = grp.groupby("n")["rmse"].mean()
        ax.plot(g.index, g.values, marker="o", label=name)
    ax.set_xlabel("training size n")
    ax.set_ylabel("test RMSE")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "synthetic.png", dpi=120)


if __name__ == "__main__":
    main()
