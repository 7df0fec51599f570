"""Excess-risk rate study: empirical learning-curve slope against the theoretical one.

A well-specified synthetic problem: ``x ~ N(0, I_2)``, source feature ``u = f_s(x) =
sin(x1) + x2 / 2``, and the target ``f*(x) = g1(u) + g2(u) g3(x)`` with ``g1 = a0 + h1``,
``g2 = 1 + h2`` and ``h1, h2, g3`` finite kernel expansions in the very RKHSs the estimator
uses (RBF, fixed widths, no standardisation), so the truth lies in the model class. Noise
``N(0, sigma^2)`` on ``y``. For each ``n`` in ``25 * 2^k`` and each repetition,
:class:`affinetl.AffineTransferRegressor` is fitted with all three penalties on the theoretical
schedule ``lambda = c n^(-1/(1+s))`` (averaged loss, ``lambda_scaling="n"``), where ``s =
max(s(K1), s(K3), s(K2 o K3))`` is the envelope decay exponent measured on the training Gram
matrices of a pilot sample of the largest size, and ``c`` is picked once on a pilot grid at
``n = 200`` (separate seeds). The excess risk ``E (f_hat - f*)^2`` is computed on ``10^4`` fresh
points. The slope of log excess risk against log n is fitted with a stratified bootstrap interval
and compared with ``-1 / (1 + s)``.

Run::

    python -m benchmarks.theory.excess_risk_rate --out benchmarks/out/theory/excess_risk_rate
    python -m benchmarks.theory.excess_risk_rate --quick   # n <= 400, 5 repetitions
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from tqdm import tqdm  # noqa: E402

from affinetl.theory import (  # noqa: E402
    envelope_exponent,
    fit_rate,
    gram_spectrum,
    lambda_schedule,
    loglog_exponent,
    theoretical_slope,
)

from ._common import machine, out_dir, print_table  # noqa: E402

logger = logging.getLogger(__name__)

GAMMA_U = 0.5  # RBF width on u for k1 and k2
GAMMA_X = 0.25  # RBF width on x (1 / (2 d), d = 2)
# Fixed truth: kernel expansions on fixed centres.
A0 = 0.5
V = np.linspace(-2.0, 2.0, 5)[:, None]  # centres in u
A = np.array([0.8, -0.5, 1.0, -0.7, 0.6])  # h1 coefficients
B = np.array([0.3, -0.2, 0.25, 0.15, -0.3])  # h2 coefficients
Z = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0], [0.0, 0.0]])  # centres in x
C = np.array([1.0, -0.8, 0.6, 0.9, -1.2])  # g3 coefficients


def _rbf(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.exp(-gamma * np.maximum(d2, 0.0))


def source(x: np.ndarray) -> np.ndarray:
    """Source feature ``u = sin(x1) + x2 / 2`` of shape (n, 1)."""
    return (np.sin(x[:, 0]) + 0.5 * x[:, 1])[:, None]


def truth(x: np.ndarray) -> np.ndarray:
    """Noise-free target ``f*(x) = a0 + h1(u) + (1 + h2(u)) g3(x)``."""
    u = source(x)
    h1 = _rbf(u, V, GAMMA_U) @ A
    h2 = _rbf(u, V, GAMMA_U) @ B
    g3 = _rbf(x, Z, GAMMA_X) @ C
    return A0 + h1 + (1.0 + h2) * g3


def sample(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Design ``X = [x1, x2, u]`` (source feature in the last column) and noisy ``y``."""
    x = rng.standard_normal((n, 2))
    return np.hstack([x, source(x)]), truth(x) + noise * rng.standard_normal(n)


def estimator(lam: float, tol: float, max_iter: int, seed: int):
    """The kernel affine-transfer estimator in the well-specified configuration."""
    from affinetl import AffineTransferRegressor

    return AffineTransferRegressor(
        form="full",
        kernel1="rbf",
        kernel2="rbf",
        kernel3="rbf",
        gamma1=GAMMA_U,
        gamma2=GAMMA_U,
        gamma3=GAMMA_X,
        lambda1=lam,
        lambda2=lam,
        lambda3=lam,
        lambda_scaling="n",
        standardize=False,
        tol=tol,
        max_iter=max_iter,
        random_state=seed,
    )


def excess_risk(model, X_test: np.ndarray, f_test: np.ndarray, chunk: int = 2500) -> float:
    """Mean squared distance of the fitted function to ``f*`` on the test points."""
    pred = np.concatenate(
        [model.predict(X_test[i : i + chunk]) for i in range(0, len(X_test), chunk)]
    )
    return float(np.mean((pred - f_test) ** 2))


def measured_exponents(X: np.ndarray) -> dict[str, float]:
    """Envelope (and log-log) decay exponents of K1, K3 and K2 o K3 on one training sample."""
    x, u = X[:, :2], X[:, 2:]
    K1 = _rbf(u, u, GAMMA_U)  # k1 = k2 here
    K3 = _rbf(x, x, GAMMA_X)
    out = {}
    for name, K in (("s1", K1), ("s3", K3), ("s23", K1 * K3)):
        mu = gram_spectrum((K + K.T) / 2.0)
        out[name] = envelope_exponent(mu)
        out[name + "_lstsq"] = loglog_exponent(mu)
    out["s"] = max(out["s1"], out["s3"], out["s23"])
    return out


def run_one(
    n: int, rep: int, lam: float, args: argparse.Namespace, X_test, f_test
) -> dict[str, float]:
    rng = np.random.default_rng([args.seed, n, rep])
    X, y = sample(rng, n, args.noise)
    model = estimator(lam, args.tol, args.max_iter, seed=rep)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    fit_s = time.perf_counter() - t0
    return {
        "n": n,
        "rep": rep,
        "lambda": lam,
        "excess_risk": excess_risk(model, X_test, f_test),
        "n_iter": model.n_iter_,
        "converged": bool(model.converged_),
        "fit_s": fit_s,
    }


def pilot_scale(s: float, args: argparse.Namespace, X_test, f_test) -> pd.DataFrame:
    """Excess risk at the pilot size for each schedule constant (seeds apart from the study)."""
    rows = []
    for c in args.scales:
        lam = float(lambda_schedule([args.pilot_n], s, c)[0])
        for rep in range(args.pilot_reps):
            rng = np.random.default_rng([args.seed + 1000, rep])
            X, y = sample(rng, args.pilot_n, args.noise)
            model = estimator(lam, args.tol, args.max_iter, seed=rep)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X, y)
            rows.append({"scale": c, "rep": rep, "excess_risk": excess_risk(model, X_test, f_test)})
    return pd.DataFrame(rows)


def plot(df: pd.DataFrame, fit, s: float, path: Path) -> None:
    """Log-log learning curve with the fitted line and the theoretical slope through n_min."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.scatter(df.n, df.excess_risk, s=6, alpha=0.35, color="C0", label="repetitions")
    gm = df.groupby("n")["excess_risk"].apply(lambda v: np.exp(np.mean(np.log(v))))
    ax.plot(gm.index, gm.values, "o", color="C0", label="geometric mean")
    ns = np.array(sorted(df.n.unique()), dtype=float)
    ax.plot(
        ns,
        np.exp(fit.intercept) * ns**fit.slope,
        "-",
        color="C3",
        label=f"fit: slope {fit.slope:.2f} [{fit.ci_low:.2f}, {fit.ci_high:.2f}]",
    )
    th = theoretical_slope(s)
    ax.plot(
        ns,
        gm.values[0] * (ns / ns[0]) ** th,
        "--",
        color="k",
        label=f"theory n^(-1/(1+s)): slope {th:.2f} (s = {s:.2f})",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training size n")
    ax.set_ylabel("excess risk E(f_hat - f*)^2")
    ax.set_title("AffineTL-full, well-specified RBF problem")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/out/theory/excess_risk_rate")
    parser.add_argument("--sizes", type=int, nargs="+", default=[25 * 2**k for k in range(8)])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.01, 0.03, 0.1, 0.3, 1.0])
    parser.add_argument("--pilot-n", type=int, default=200)
    parser.add_argument("--pilot-reps", type=int, default=3)
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="n <= 400, 5 repetitions")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.quick:
        args.sizes = [s for s in args.sizes if s <= 400]
        args.reps = 5
        args.n_test = 2000
    out = out_dir(args.out)
    rng_test = np.random.default_rng([args.seed, 999])
    X_test, _ = sample(rng_test, args.n_test, 0.0)
    f_test = truth(X_test[:, :2])
    t_start = time.perf_counter()

    # 1. decay exponents on pilot training samples of every size (one draw each)
    spec_rows = []
    for n in tqdm(args.sizes, desc="spectra"):
        X, _ = sample(np.random.default_rng([args.seed + 2000, n]), n, args.noise)
        spec_rows.append({"n": n, **measured_exponents(X)})
    spectra = pd.DataFrame(spec_rows).set_index("n")
    s = float(spectra["s"].iloc[-1])

    # 2. schedule constant from the pilot grid
    pilot = pilot_scale(s, args, X_test, f_test)
    scale = float(pilot.groupby("scale")["excess_risk"].mean().idxmin())

    # 3. learning curve
    rows = []
    jobs = [(n, rep) for n in args.sizes for rep in range(args.reps)]
    for n, rep in tqdm(jobs, desc="fits"):
        lam = float(lambda_schedule([n], s, scale)[0])
        rows.append(run_one(n, rep, lam, args, X_test, f_test))
    df = pd.DataFrame(rows)
    elapsed = time.perf_counter() - t_start
    df.to_csv(out / "excess_risk_rate.csv", index=False)
    spectra.to_csv(out / "excess_risk_rate_spectra.csv")
    pilot.to_csv(out / "excess_risk_rate_pilot.csv", index=False)

    ns = np.array(args.sizes)
    risk = df.pivot(index="n", columns="rep", values="excess_risk").loc[ns].to_numpy()
    fit = fit_rate(ns, risk, n_bootstrap=5000, random_state=args.seed)
    th = theoretical_slope(s)
    plot(df, fit, s, out / "excess_risk_rate.png")

    print(f"machine: {machine()}")
    print(f"{len(jobs)} fits ({len(ns)} sizes x {args.reps} repetitions) in {elapsed:.0f} s")
    print_table(spectra, "envelope (and log-log) decay exponents on one training sample per n")
    print_table(
        pilot.groupby("scale")["excess_risk"].mean().to_frame("mean excess risk"),
        f"pilot at n = {args.pilot_n}: schedule constant c (chosen c = {scale})",
        "{:.4g}",
    )
    curve = df.groupby("n").agg(
        lam=("lambda", "first"),
        risk_geomean=("excess_risk", lambda v: float(np.exp(np.mean(np.log(v))))),
        risk_median=("excess_risk", "median"),
        n_iter=("n_iter", "median"),
        converged=("converged", "mean"),
        fit_s=("fit_s", "median"),
    )
    print_table(curve, "learning curve", "{:.4g}")
    agree = fit.contains(th)
    faster = fit.ci_high <= th
    print(
        f"\nempirical slope {fit.slope:.3f}, 95% bootstrap CI [{fit.ci_low:.3f}, "
        f"{fit.ci_high:.3f}] ({fit.n_bootstrap} resamples)\n"
        f"theoretical slope -1/(1+s) = {th:.3f} with s = max(s1, s3, s23) = {s:.3f} "
        f"(measured at n = {ns[-1]})\n"
        f"theory inside the CI: {agree}; empirical rate at least as fast as the bound "
        f"(CI upper end <= theory): {faster}"
    )
    print(f"wrote {out / 'excess_risk_rate.csv'} and {out / 'excess_risk_rate.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
