"""Relatedness study: strongly vs weakly related source, AffineTL against its baselines.

Inputs ``x ~ N(0, I_5)``; the source model is ``f_s(x) = sin(x1) + x2 x3 / 2`` and
``u = f_s(x)`` is the last column of ``X``. Two targets:

* ``strong``: ``f* = 0.5 + 1.5 u + 0.3 u^2 + 0.2 g(x)``, mostly a transform ``g1(f_s)``;
* ``weak``: ``f* = 0.2 u + g(x)``, mostly a domain-specific ``g(x) = cos(x4) + x5 / 2`` that the
  source knows nothing about,

with noise ``N(0, 0.2^2)``. For each ``n`` and repetition, AffineTL-full, AffineTL-const, Direct
(kernel ridge on ``x``), SourceOnly (on ``u``) and Augmented (on ``[x, u]``) are fitted, each with
its penalty chosen by 3-fold CV on the training data from the same grid (AffineTL: one penalty
for all blocks). Reported: test MSE on 5,000 fresh noisy points, generalisation gap (test MSE -
train MSE) and, in the weak regime, the paired difference AffineTL-full - Direct against its
standard error (negative transfer "by more than noise" means a difference above two standard
errors).

Run::

    python -m benchmarks.theory.relatedness --out benchmarks/out/theory/relatedness
    python -m benchmarks.theory.relatedness --quick   # n <= 50, 3 repetitions
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402
from tqdm import tqdm  # noqa: E402

from affinetl import (  # noqa: E402
    AffineTransferCV,
    AffineTransferRegressor,
    AugmentedRegressor,
    DirectRegressor,
    SourceOnlyRegressor,
)

from ._common import machine, out_dir, print_table  # noqa: E402

logger = logging.getLogger(__name__)

NOISE = 0.2
METHODS = ("affinetl_full", "affinetl_const", "affinetl_cv", "direct", "source_only", "augmented")


def source(x: np.ndarray) -> np.ndarray:
    """Source model ``f_s(x) = sin(x1) + x2 x3 / 2``."""
    return np.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2]


def target(x: np.ndarray, relation: str) -> np.ndarray:
    """Noise-free target of the strongly or weakly related task."""
    u = source(x)
    g = np.cos(x[:, 3]) + 0.5 * x[:, 4]
    if relation == "strong":
        return 0.5 + 1.5 * u + 0.3 * u**2 + 0.2 * g
    if relation == "weak":
        return 0.2 * u + g
    raise ValueError(f"relation must be 'strong' or 'weak', got {relation!r}")


def sample(rng: np.random.Generator, n: int, relation: str) -> tuple[np.ndarray, np.ndarray]:
    """``X = [x, u]`` and noisy ``y``."""
    x = rng.standard_normal((n, 5))
    y = target(x, relation) + NOISE * rng.standard_normal(n)
    return np.column_stack([x, source(x)]), y


def tuned(method: str, grid: list[float], seed: int) -> GridSearchCV | AffineTransferCV:
    """The method wrapped in a 3-fold CV search over its penalty.

    ``affinetl_cv`` is the package's default path, :class:`affinetl.AffineTransferCV`, which
    chooses the model form (and its penalties and widths) by its own cross-validation.
    """
    cv = KFold(3, shuffle=True, random_state=seed)
    if method == "affinetl_cv":
        return AffineTransferCV(random_state=seed)
    if method.startswith("affinetl"):
        est = AffineTransferRegressor(form=method.removeprefix("affinetl_"), lambda_scaling="n")
        params = [{"lambda1": [v], "lambda2": [v], "lambda3": [v]} for v in grid]
    else:
        cls = {
            "direct": DirectRegressor,
            "source_only": SourceOnlyRegressor,
            "augmented": AugmentedRegressor,
        }[method]
        est = cls(lambda_scaling="n")
        params = {"alpha": grid}
    return GridSearchCV(est, params, cv=cv, scoring="neg_mean_squared_error", n_jobs=1)


def plot(summary: pd.DataFrame, path: Path) -> None:
    """Test MSE and generalisation gap against n, per relation."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for j, relation in enumerate(("strong", "weak")):
        for color, m in enumerate(METHODS):
            g = summary.loc[relation].xs(m, level="method")
            axes[0, j].errorbar(
                g.index, g.test_mse, yerr=g.test_mse_se, fmt="o-", ms=3, color=f"C{color}", label=m
            )
            axes[1, j].plot(g.index, g.gap, "o-", ms=3, color=f"C{color}", label=m)
        axes[0, j].axhline(NOISE**2, color="k", ls=":", lw=1, label="noise variance")
        axes[0, j].set(xscale="log", yscale="log", title=f"{relation} relation: test MSE")
        axes[1, j].set(xscale="log", xlabel="n", title=f"{relation}: test MSE - train MSE")
    sizes = sorted(summary.index.get_level_values("n").unique())
    for ax in axes.ravel():
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/out/theory/relatedness")
    parser.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 200])
    parser.add_argument("--reps", type=int, default=8)
    parser.add_argument("--grid", type=float, nargs="+", default=[1e-3, 1e-2, 1e-1])
    parser.add_argument("--n-test", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="n <= 50, 3 repetitions")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.quick:
        args.sizes = [n for n in args.sizes if n <= 50]
        args.reps = 3
        args.n_test = 1000
    out = out_dir(args.out)
    t0 = time.perf_counter()
    rows = []
    jobs = [(r, n, k) for r in ("strong", "weak") for n in args.sizes for k in range(args.reps)]
    tests = {
        r: sample(np.random.default_rng([args.seed, 999, i]), args.n_test, r)
        for i, r in enumerate(("strong", "weak"))
    }
    for relation, n, rep in tqdm(jobs, desc="fits"):
        X, y = sample(np.random.default_rng([args.seed, n, rep, relation == "weak"]), n, relation)
        X_test, y_test = tests[relation]
        for m in METHODS:
            search = tuned(m, args.grid, seed=rep)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                search.fit(X, y)
            train = float(np.mean((search.predict(X) - y) ** 2))
            test = float(np.mean((search.predict(X_test) - y_test) ** 2))
            best = search.best_params_
            form = getattr(search, "best_form_", m)
            rows.append(
                {
                    "relation": relation,
                    "n": n,
                    "rep": rep,
                    "method": m,
                    "penalty": best.get("alpha", best.get("lambda1", best.get("lambda3"))),
                    "form": form,
                    "train_mse": train,
                    "test_mse": test,
                    "gap": test - train,
                }
            )
    df = pd.DataFrame(rows)
    elapsed = time.perf_counter() - t0
    df.to_csv(out / "relatedness.csv", index=False)
    summary = df.groupby(["relation", "method", "n"]).agg(
        test_mse=("test_mse", "mean"),
        test_mse_se=("test_mse", lambda v: float(np.std(v, ddof=1) / np.sqrt(len(v)))),
        gap=("gap", "mean"),
    )
    summary = summary.reorder_levels(["relation", "n", "method"]).sort_index()
    plot(summary.reorder_levels(["relation", "method", "n"]), out / "relatedness.png")

    print(f"machine: {machine()}")
    print(f"{len(jobs) * len(METHODS)} tuned fits in {elapsed:.0f} s")
    for relation in ("strong", "weak"):
        tab = summary.loc[relation]["test_mse"].unstack("method")[list(METHODS)]
        print_table(tab, f"{relation} relation: mean test MSE (noise variance {NOISE**2:.2f})")
    paired = df.pivot_table(index=["relation", "n", "rep"], columns="method", values="test_mse")
    for method, label in (("affinetl_full", "AffineTL-full"), ("affinetl_cv", "AffineTransferCV")):
        diff = (paired[method] - paired["direct"]).groupby(level=["relation", "n"])
        neg = pd.DataFrame(
            {
                "mean_diff": diff.mean(),
                "se": diff.std(ddof=1) / np.sqrt(diff.count()),
            }
        )
        neg["diff/se"] = neg["mean_diff"] / neg["se"]
        neg["negative_beyond_noise"] = neg["mean_diff"] > 2.0 * neg["se"]
        print_table(neg, f"{label} minus Direct, test MSE (paired over repetitions)", "{:.4g}")
        weak = neg.loc["weak"]
        print(
            f"\nweak regime: {label} worse than Direct by more than 2 SE at "
            f"{int(weak['negative_beyond_noise'].sum())} of {len(weak)} sizes"
        )
    forms = df[df.method == "affinetl_cv"].groupby(["relation", "n"]).form.value_counts()
    print_table(forms.unstack(fill_value=0), "forms chosen by AffineTransferCV (repetitions)")
    print(f"wrote {out / 'relatedness.csv'} and {out / 'relatedness.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
