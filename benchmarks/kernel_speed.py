"""Kernel affine transfer: package fit vs a deliberately naive port of the published algorithm.

The naive port runs the same block relaxation (same data, seeds, start and number of sweeps) but
solves every block update through an SVD pseudo-inverse of its normal equations, as the published
reference code does. The benchmark checks that both give the same predictions (relative 1e-6),
prints the time ratio at each n, and times the package alone at large n. It also times one plain
kernel ridge solve on the same data as the floor a kernel fit cannot beat.

At large n it also fits the large-n mode (``approximation="nystroem"`` with ``--components m``)
and reports its time, test error and prediction difference from the exact fit.

Run: ``python benchmarks/kernel_speed.py [--sizes 200 500] [--large 5000] [--sweeps 50]
[--components 500 1000] [--skip-exact]``
Writes ``benchmarks/out/kernel_speed.csv`` and ``kernel_speed.png``.
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
from sklearn.kernel_ridge import KernelRidge

from affinetl import AffineTransferRegressor
from affinetl.kernels import gram_matrix
from affinetl.synthetic import make_affine_transfer

LAMS = (1e-2, 1.0, 0.1)


def naive_fit(model: AffineTransferRegressor, X: np.ndarray, y: np.ndarray, sweeps: int):
    """Published algorithm, pinv per update. Returns a predict function for new X."""

    pinv = np.linalg.pinv
    x, u = model._split_features(X)
    x, u = model.x_scaler_.transform(x), model.u_scaler_.transform(u)  # same standardisation
    K1, K2, K3 = (gram_matrix("rbf", u), gram_matrix("rbf", u), gram_matrix("rbf", x))
    n = len(y)
    l1, l2, l3 = LAMS
    rng = np.random.RandomState(model.random_state)
    beta, gamma = rng.standard_normal(n), rng.standard_normal(n)
    ones = np.ones(n)

    def alpha_update(r):
        # stationarity of the (a0, alpha) block: (K1 + l1 I) alpha + a0 1 = r, 1'alpha = 0
        A = np.block([[K1 + l1 * np.eye(n), ones[:, None]], [ones[None, :], np.zeros((1, 1))]])
        sol = pinv(A) @ np.r_[r, 0.0]
        return sol[n], sol[:n]

    a0, alpha = alpha_update(y)
    for _ in range(sweeps):
        # stationarity of the beta block: (D^2 K2 + l2 I) beta = D r, D = diag(K3 gamma)
        d = K3 @ gamma
        r = y - a0 - K1 @ alpha - d
        beta = pinv(d[:, None] ** 2 * K2 + l2 * np.eye(n)) @ (d * r)
        # gamma block: (E^2 K3 + l3 I) gamma = E r, E = diag(1 + K2 beta)
        e = 1 + K2 @ beta
        r = y - a0 - K1 @ alpha
        gamma = pinv(e[:, None] ** 2 * K3 + l3 * np.eye(n)) @ (e * r)
        a0, alpha = alpha_update(y - e * (K3 @ gamma))

    def predict(Xn):
        xn, un = model._split_features(Xn)
        xn, un = model.x_scaler_.transform(xn), model.u_scaler_.transform(un)
        g1 = a0 + gram_matrix("rbf", un, u) @ alpha
        g2 = 1 + gram_matrix("rbf", un, u) @ beta
        return g1 + g2 * (gram_matrix("rbf", xn, x) @ gamma)

    return predict


def _model(**kw) -> AffineTransferRegressor:
    return AffineTransferRegressor(
        lambda1=LAMS[0], lambda2=LAMS[1], lambda3=LAMS[2], random_state=0, **kw
    )


def _time(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def kernel_ridge_seconds(X: np.ndarray, y: np.ndarray) -> float:
    """One plain kernel ridge solve (sklearn, RBF on all inputs) on the same data."""
    return _time(lambda: KernelRidge(alpha=0.1, kernel="rbf", gamma=0.1).fit(X, y))[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[200, 500])
    parser.add_argument("--sweeps", type=int, default=50, help="fixed sweeps for the comparison")
    parser.add_argument("--large", type=int, nargs="*", default=[2000, 5000])
    parser.add_argument(
        "--components", type=int, nargs="*", default=[], help="Nystroem sizes m at large n"
    )
    parser.add_argument("--skip-exact", action="store_true", help="large n: Nystroem only")
    parser.add_argument("--out", default="benchmarks/out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore", ConvergenceWarning)
    rows = []
    for n in args.sizes:
        p = make_affine_transfer(n, random_state=0)
        test = make_affine_transfer(500, random_state=1)
        ours = _model(init="random", extrapolate=False, max_iter=args.sweeps, tol=0.0)
        _, t_ours = _time(lambda: ours.fit(p.X, p.y))  # noqa: B023
        pred_naive, t_naive = _time(lambda: naive_fit(ours, p.X, p.y, args.sweeps))  # noqa: B023
        a, b = ours.predict(test.X), pred_naive(test.X)
        rel = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
        rows.append(
            dict(
                n=n,
                sweeps=args.sweeps,
                package_s=t_ours,
                naive_s=t_naive,
                speedup=t_naive / t_ours,
                max_rel_pred_diff=rel,
                kernel_ridge_s=kernel_ridge_seconds(p.X, p.y),
            )
        )
        print(rows[-1], flush=True)
    test = make_affine_transfer(2000, random_state=1)
    for n in args.large:
        p = make_affine_transfer(n, random_state=0)
        t_krr = kernel_ridge_seconds(p.X, p.y)
        exact_pred = None
        if not args.skip_exact:
            model = _model()
            _, t = _time(lambda: model.fit(p.X, p.y))  # noqa: B023
            exact_pred = model.predict(test.X)
            rows.append(
                dict(
                    n=n,
                    mode="exact",
                    sweeps=model.n_iter_,
                    package_s=t,
                    converged=model.converged_,
                    kernel_ridge_s=t_krr,
                    test_mse=float(np.mean((exact_pred - test.y) ** 2)),
                )
            )
            print(rows[-1], flush=True)
        for m in args.components:  # large-n mode: Nystroem features, damped Newton steps
            model = _model(approximation="nystroem", n_components=m)
            _, t = _time(lambda: model.fit(p.X, p.y))  # noqa: B023
            pred = model.predict(test.X)
            row = dict(
                n=n,
                mode=f"nystroem m={m}",
                sweeps=model.n_iter_,
                package_s=t,
                converged=model.converged_,
                kernel_ridge_s=t_krr,
                test_mse=float(np.mean((pred - test.y) ** 2)),
                landmarks_x=model.feature_maps_[2].n_components_,
            )
            if exact_pred is not None:
                row["rel_pred_diff_vs_exact"] = float(
                    np.linalg.norm(pred - exact_pred) / np.linalg.norm(exact_pred)
                )
            rows.append(row)
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table["fit_over_kernel_ridge"] = table["package_s"] / table["kernel_ridge_s"]
    table["machine"] = (
        f"{platform.machine()} {platform.processor() or ''} cpus={__import__('os').cpu_count()}"
    )
    table.to_csv(out / "kernel_speed.csv", index=False)
    print(table.drop(columns="machine").to_string(index=False, float_format="%.4g"))
    _plot(table, out / "kernel_speed.png")
    return 0


def _plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    fixed = table[table["naive_s"].notna()] if "naive_s" in table else table.iloc[:0]
    large = table[table["naive_s"].isna()] if "naive_s" in table else table
    if len(fixed):
        ax.loglog(fixed["n"], fixed["package_s"], "o-", label="affinetl, 50 sweeps")
        ax.loglog(fixed["n"], fixed["naive_s"], "s--", label="naive port, 50 sweeps")
    for mode, g in large.groupby("mode") if "mode" in large else []:
        label = "affinetl exact, to convergence" if mode == "exact" else f"affinetl {mode}"
        ax.loglog(g["n"], g["package_s"], "D-", label=label)
    ax.loglog(table["n"], table["kernel_ridge_s"], "^:", label="one kernel ridge solve")
    ax.set_xlabel("n (target samples)")
    ax.set_ylabel("seconds")
    ax.legend()
    ax.set_title("Kernel affine transfer fit time")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
