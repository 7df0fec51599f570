"""Hadamard-decay study: eigenvalue decay of K2 o K3 against the overlap of source and input.

The paper's appendix experiment. ``n = 100``, ``d = 10``; a Haar-random orthogonal ``Q``; inputs
``x = Q[:, 0:10] A1`` and source features ``u = Q[:, 10-o:20-o] A2`` (``A1, A2`` standard normal
10x10, columns standardised), so ``u`` and ``x`` share ``o = 0..10`` directions. Kernels: linear
``x x' / (2d) + 1`` and Matern ``nu in {0.5, 1.5, 2.5, inf}`` with length scale ``sqrt(d)``; all
25 (k2, k3) pairs. For every repetition it measures the envelope decay exponents ``s(K2)``,
``s(K3)``, ``s(K2 o K3)`` (and the log-log least-squares ones) and whether
``max(s2, s3) < s23 < s2 + s3``.

Run::

    python -m benchmarks.theory.hadamard_decay --out benchmarks/out/theory/hadamard_decay
    python -m benchmarks.theory.hadamard_decay --quick   # 5 repetitions, seconds
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import kendalltau, ortho_group  # noqa: E402
from sklearn.gaussian_process.kernels import RBF, Matern  # noqa: E402
from tqdm import tqdm  # noqa: E402

from affinetl.theory import envelope_exponent, gram_spectrum, loglog_exponent  # noqa: E402

from ._common import machine, out_dir, print_table, standardize  # noqa: E402

logger = logging.getLogger(__name__)

N, D = 100, 10
KERNELS = ("linear", "matern0.5", "matern1.5", "matern2.5", "rbf")


def gram(name: str, a: np.ndarray) -> np.ndarray:
    """Gram matrix of one of the study's kernels on standardised ``a`` (n, d)."""
    d = a.shape[1]
    if name == "linear":
        return a @ a.T / (2.0 * d) + 1.0
    if name == "rbf":
        return RBF(length_scale=np.sqrt(d))(a)
    nu = float(name.removeprefix("matern"))
    return Matern(length_scale=np.sqrt(d), nu=nu)(a)


def one_repetition(rep: int, seed: int, overlaps: list[int]) -> list[dict]:
    """All (overlap, k2, k3) records of one repetition (one Q, A1, A2 draw)."""
    rng = np.random.default_rng([seed, rep])
    Q = ortho_group.rvs(N, random_state=rng)
    A1 = rng.standard_normal((D, D))
    A2 = rng.standard_normal((D, D))
    x = standardize(Q[:, 0:D] @ A1)
    K3s = {k: gram(k, x) for k in KERNELS}
    spec3 = {k: gram_spectrum(K) for k, K in K3s.items()}
    rows = []
    for o in overlaps:
        u = standardize(Q[:, D - o : 2 * D - o] @ A2)
        K2s = {k: gram(k, u) for k in KERNELS}
        spec2 = {k: gram_spectrum(K) for k, K in K2s.items()}
        for k2 in KERNELS:
            for k3 in KERNELS:
                mu23 = gram_spectrum(K2s[k2] * K3s[k3])
                s2, s3 = envelope_exponent(spec2[k2]), envelope_exponent(spec3[k3])
                s23 = envelope_exponent(mu23)
                rows.append(
                    {
                        "rep": rep,
                        "overlap": o,
                        "k2": k2,
                        "k3": k3,
                        "s2": s2,
                        "s3": s3,
                        "s23": s23,
                        "within_bounds": bool(max(s2, s3) < s23 < s2 + s3),
                        "s2_lstsq": loglog_exponent(spec2[k2]),
                        "s3_lstsq": loglog_exponent(spec3[k3]),
                        "s23_lstsq": loglog_exponent(mu23),
                    }
                )
    return rows


def summarise(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-pair summary (trend of s23 in o, share within bounds) and mean s23 by (pair, o)."""
    by_o = (
        df.groupby(["k2", "k3", "overlap"])[["s2", "s3", "s23", "within_bounds"]]
        .mean()
        .reset_index()
    )
    rows = []
    for (k2, k3), g in df.groupby(["k2", "k3"], sort=False):
        means = g.groupby("overlap")["s23"].mean()
        ls = g.groupby("overlap")["s23_lstsq"].mean()
        tau = kendalltau(g["overlap"], g["s23"]).statistic
        rows.append(
            {
                "k2": k2,
                "k3": k3,
                "s23_o0": means.iloc[0],
                "s23_o10": means.iloc[-1],
                "change": means.iloc[-1] - means.iloc[0],
                "kendall_tau": tau,
                "falls": bool(means.iloc[-1] < means.iloc[0] and tau < 0),
                "share_within": g["within_bounds"].mean(),
                "lstsq_o0": ls.iloc[0],
                "lstsq_o10": ls.iloc[-1],
            }
        )
    return pd.DataFrame(rows).set_index(["k2", "k3"]), by_o


def plot(by_o: pd.DataFrame, path: Path) -> None:
    """5x5 grid: mean s23 vs overlap per (k2, k3), with s2, s3 and s2 + s3 for reference."""
    fig, axes = plt.subplots(len(KERNELS), len(KERNELS), figsize=(12, 10), sharex=True)
    for i, k2 in enumerate(KERNELS):
        for j, k3 in enumerate(KERNELS):
            ax = axes[i, j]
            g = by_o[(by_o.k2 == k2) & (by_o.k3 == k3)]
            ax.plot(g.overlap, g.s23, "o-", ms=3, color="C3", label="s(K2∘K3)")
            ax.plot(g.overlap, np.maximum(g.s2, g.s3), "--", color="C0", label="max(s2, s3)")
            ax.plot(g.overlap, g.s2 + g.s3, ":", color="C2", label="s2 + s3")
            if i == 0:
                ax.set_title(f"k3 = {k3}", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"k2 = {k2}", fontsize=9)
            if i == len(KERNELS) - 1:
                ax.set_xlabel("overlap o", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=6, loc="best")
    fig.suptitle("Envelope decay exponent of K2∘K3 vs overlap (mean over repetitions)")
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/out/theory/hadamard_decay")
    parser.add_argument("--reps", type=int, default=100, help="repetitions (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="5 repetitions (smoke test)")
    parser.add_argument("--figure", default=None, help="also copy the PNG to this path")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    reps = 5 if args.quick else args.reps
    overlaps = list(range(D + 1))
    out = out_dir(args.out)
    t0 = time.perf_counter()
    rows: list[dict] = []
    for rep in tqdm(range(reps), desc="repetitions"):
        rows.extend(one_repetition(rep, args.seed, overlaps))
    elapsed = time.perf_counter() - t0
    df = pd.DataFrame(rows)
    df.to_csv(out / "hadamard_decay.csv", index=False)
    summary, by_o = summarise(df)
    summary.to_csv(out / "hadamard_decay_summary.csv")
    plot(by_o, out / "hadamard_decay.png")
    if args.figure:
        plot(by_o, Path(args.figure))
    print(f"machine: {machine()}")
    print(f"{reps} repetitions x {len(overlaps)} overlaps x 25 pairs in {elapsed:.1f} s")
    print_table(summary, "s(K2∘K3) vs overlap per kernel pair (envelope exponent, mean)")
    s_by_kernel = pd.concat(
        {
            "s(K3) on x": df.groupby("k3")["s3"].mean(),
            "s(K2) on u": df.groupby("k2")["s2"].mean(),
        },
        axis=1,
    )
    print_table(s_by_kernel, "single-kernel exponents (mean over reps and overlaps)")
    nonlinear = summary.drop(index="linear", level="k2", errors="ignore").drop(
        index="linear", level="k3", errors="ignore"
    )
    print(
        f"\nshare of runs with max(s2, s3) < s23 < s2 + s3: {df['within_bounds'].mean():.3f} "
        f"(all pairs), {nonlinear['share_within'].mean():.3f} (Matern/RBF pairs)"
    )
    print(
        f"pairs where s23 falls with o (mean at o=10 < o=0 and Kendall tau < 0): "
        f"{int(summary['falls'].sum())}/25 all, {int(nonlinear['falls'].sum())}/"
        f"{len(nonlinear)} Matern/RBF-only"
    )
    print(f"wrote {out / 'hadamard_decay.csv'} and {out / 'hadamard_decay.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
