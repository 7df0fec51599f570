"""The suite's default against plain scikit-learn peers that take the source as one more input.

Issue 25's trial compared ``AffineTransferCV`` with peer methods as well as with its own special
cases. This script does the first part on the suite's splits: for every split of the live
default (``run_suite.py --live``: raw columns, no declaration) it fits scikit-learn regressors on
``[x, u]`` (inputs and source side by side, standardised on the training rows, each peer tuned
by its own CV on the training rows alone) and reports, per cell, the live default's mean test
RMSE against the best peer's (in hindsight, per cell), with the standard error of the paired
difference, and the 90th percentiles.

Peers (the usual first tries of a scikit-learn user; no transfer method):

* ``ridge``: ``RidgeCV`` (leave-one-out over 25 penalties);
* ``kernel ridge``: RBF ``KernelRidge`` tuned by ``GridSearchCV`` (5 folds; width and penalty);
* ``gaussian process``: ``GaussianProcessRegressor`` with a constant times an RBF plus white
  noise, ``normalize_y`` (marginal likelihood, 2 restarts);
* ``random forest``: ``RandomForestRegressor`` (300 trees);
* ``gradient boosting``: ``GradientBoostingRegressor`` (scikit-learn's defaults).

One file per split (``out/selection/suite_peers/<case>/n<n>_r<rep>.npz``; resumable)::

    .venv/bin/python benchmarks/selection/suite_peers.py --half unseen
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor  # noqa: E402
from sklearn.gaussian_process import GaussianProcessRegressor  # noqa: E402
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel  # noqa: E402
from sklearn.kernel_ridge import KernelRidge  # noqa: E402
from sklearn.linear_model import RidgeCV  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_suite import _save, draw, user_columns  # noqa: E402
from suite_cases import CASES, load_case  # noqa: E402

ROOT = Path(__file__).resolve().parents[1] / "out" / "selection"
LIVE, OUT = ROOT / "suite_live", ROOT / "suite_peers"


def peers(n: int, d: int, seed: int) -> dict:
    """The peer regressors for ``n`` training rows with ``d`` input columns."""
    folds = KFold(min(5, n), shuffle=True, random_state=seed)
    gammas = np.array([0.25, 1.0, 4.0]) / (2 * d)
    krr = GridSearchCV(
        KernelRidge(kernel="rbf"),
        {"alpha": np.logspace(-3, 1, 5), "gamma": gammas},
        cv=folds,
        scoring="neg_mean_squared_error",
    )
    gp_kernel = ConstantKernel() * RBF(np.sqrt(d), (1e-2, 1e4)) + WhiteKernel(0.1, (1e-6, 1e1))
    gp = GaussianProcessRegressor(
        gp_kernel, normalize_y=True, n_restarts_optimizer=2, random_state=seed
    )
    models = {
        "ridge": RidgeCV(alphas=np.logspace(-4, 4, 25)),
        "kernel ridge": krr,
        "gaussian process": gp,
        "random forest": RandomForestRegressor(300, random_state=seed, n_jobs=1),
        "gradient boosting": GradientBoostingRegressor(random_state=seed),
    }
    return {name: make_pipeline(StandardScaler(), m) for name, m in models.items()}


def peer_split(data: dict, n: int, rep: int) -> dict:
    """Every peer's test predictions on split ``rep`` at size ``n``."""
    train, test = draw(data, n, rep)
    X, _ = user_columns(data)
    out = {"y": data["y"][test].astype(float)}
    for name, model in peers(n, X.shape[1], rep).items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X[train], data["y"][train])
            out[name] = model.predict(X[test])
    return out


def run(cases: list[str]) -> pd.DataFrame:
    """Per split: the live default's and every peer's test RMSE."""
    rows = []
    for case in cases:
        data = load_case(case)
        files = sorted((LIVE / case).glob("n*_r*.npz"))
        for path in tqdm(files, desc=case):
            n, rep = (int(v[1:]) for v in path.stem.split("_"))
            live = dict(np.load(path))
            target = OUT / case / path.name
            if target.exists():
                z = dict(np.load(target))
            else:
                z = peer_split(data, n, rep)
                _save(target, z)
            if not np.allclose(z["y"], live["y"]):
                raise RuntimeError(f"{case} n={n} rep={rep}: the live run has other test rows")
            for name, pred in [("default", live["default"])] + [
                (k, v) for k, v in z.items() if k != "y"
            ]:
                rmse = float(np.sqrt(np.mean((pred - z["y"]) ** 2)))
                rows.append({"case": case, "n": n, "rep": rep, "method": name, "rmse": rmse})
    return pd.DataFrame(rows)


def summary(rec: pd.DataFrame) -> pd.DataFrame:
    """Per cell: the default against the best peer (by mean)."""
    table = []
    for (case, n), d in rec.groupby(["case", "n"]):
        w = d.pivot(index="rep", columns="method", values="rmse")
        peer_means = w.drop(columns="default").mean()
        best = peer_means.idxmin()
        diff = w["default"] - w[best]
        se = w["default"].std(ddof=1) / np.sqrt(len(w))
        table.append(
            {
                "half": CASES[case].half,
                "case": case,
                "n": n,
                "default": w["default"].mean(),
                "se": se,
                "best peer": best,
                "peer mean": peer_means[best],
                "diff": diff.mean(),
                "diff se": diff.std(ddof=1) / np.sqrt(len(w)),
                "default p90": w["default"].quantile(0.9),
                "peer p90": w[best].quantile(0.9),
                "within 1 SE": w["default"].mean() <= peer_means[best] + se,
                "better than every peer": bool(w["default"].mean() < peer_means.min()),
            }
        )
    return pd.DataFrame(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--half", default="unseen", choices=["development", "confirmation", "unseen", "all"]
    )
    parser.add_argument("--cases", nargs="*", default=None)
    parser.add_argument("--tag", default="peers")
    args = parser.parse_args(argv)
    cases = args.cases or [
        c for c, v in CASES.items() if args.half in ("all", v.half) and (LIVE / c).exists()
    ]
    rec = run(cases)
    table = summary(rec)
    rec.to_csv(ROOT / "suite" / f"{args.tag}_records.csv", index=False)
    table.to_csv(ROOT / "suite" / f"{args.tag}_summary.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(table.groupby("half")[["within 1 SE", "better than every peer"]].sum())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
