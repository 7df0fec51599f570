"""Selection study for AffineTransferCV: which form when, and the speed of the closed forms.

Part 1 (frequencies): for each generating form of :func:`affinetl.selection.make_form_problem`
and each training size, fit AffineTransferCV on ``--seeds`` random draws and record the selected
form (``best_form_``: with the default ``--rule average`` the form of largest CV weight) and the
test MSE against the noise-free target, next to the oracle (AffineTransferCV restricted to the
generating form).

Part 2 (speed): AffineTransferCV against a brute-force ``GridSearchCV`` over exactly the same
candidates (its ``cv_results_["params"]``) and splits, ``AffineTransferRegressor`` fitted per
candidate and fold; reports both times, the ratio and whether the choice agrees.

Run::

    .venv/bin/python benchmarks/selection/run_selection_study.py --seeds 10

Writes ``benchmarks/out/selection/{frequencies,errors,speed}.csv`` and ``selection.png``.
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold
from tqdm import tqdm

from affinetl import AffineTransferRegressor
from affinetl.selection import (
    GENERATING_FORMS,
    KERNEL_FORMS,
    AffineTransferCV,
    make_form_problem,
)

OUT = Path(__file__).resolve().parents[1] / "out" / "selection"
GRID = dict(
    widths=[0.5, 2.0],
    lambdas=[1e-3, 1e-2, 1e-1, 1.0],
    ratios=[0.1, 1.0, 10.0],
    lambda2_path=[1.0, 0.1, 0.01],
    n_full_starts=2,
)


def study(sizes: list[int], seeds: int, rule: str) -> pd.DataFrame:
    rows = []
    jobs = [(f, n, s) for f in GENERATING_FORMS for n in sizes for s in range(seeds)]
    for form, n, seed in tqdm(jobs, desc="selection study"):
        X, y, _ = make_form_problem(form, n, random_state=seed)
        Xt, _, truth = make_form_problem(form, 1000, random_state=10_000 + seed)
        t0 = time.perf_counter()
        sel = AffineTransferCV(rule=rule, random_state=seed, **GRID).fit(X, y)
        t_sel = time.perf_counter() - t0
        orc = AffineTransferCV(forms=[form], rule=rule, random_state=seed, **GRID).fit(X, y)
        rows.append(
            {
                "generating_form": form,
                "n": n,
                "seed": seed,
                "rule": rule,
                "selected": sel.best_form_,
                "mse_selected": float(np.mean((sel.predict(Xt) - truth["f"]) ** 2)),
                "mse_oracle_form": float(np.mean((orc.predict(Xt) - truth["f"]) ** 2)),
                "fit_seconds": t_sel,
            }
        )
    return pd.DataFrame(rows)


def _grid_search(X, y, cv, params) -> tuple[float, np.ndarray, dict]:
    grid = [{k: [v] for k, v in p.items()} for p in params]
    t0 = time.perf_counter()
    brute = GridSearchCV(
        AffineTransferRegressor(
            standardize=False, max_iter=200, tol=1e-3, kernel1="rbf", kernel2="rbf", kernel3="rbf"
        ),
        grid,
        cv=cv,
        scoring="neg_mean_squared_error",
        refit=False,
    ).fit(X, y)
    scores = brute.cv_results_["mean_test_score"]
    return time.perf_counter() - t0, scores, brute.cv_results_["params"][int(np.argmax(scores))]


def speed(n: int, seed: int = 0) -> list[dict]:
    """Search time of AffineTransferCV vs GridSearchCV over the same candidates and splits."""
    X, y, _ = make_form_problem("full", n, random_state=seed)
    cv = KFold(5, shuffle=True, random_state=seed)
    # standardize=False on both sides: the closed forms then see the same kernels as every
    # per-fold refit of GridSearchCV (the inputs of make_form_problem are on unit scale)
    kw = dict(GRID, cv=cv, rule="best", standardize=False)
    rows = []
    ridge_forms = [f for f in KERNEL_FORMS if f != "full"]
    for label, forms in (("ridge-type forms", ridge_forms), ("all forms", None)):
        fast = AffineTransferCV(forms=forms, **kw).fit(X, y)
        t_brute, scores, best = _grid_search(X, y, cv, fast.cv_results_["params"])
        full = np.asarray(fast.cv_results_["param_form"]) == "full"
        diff = np.abs(fast.cv_results_["mean_test_score"] - scores)
        rows.append(
            {
                "family": label,
                "n": n,
                "candidates": len(scores),
                "splits": 5,
                "seconds_affine_transfer_cv": fast.search_time_,
                "seconds_grid_search_cv": t_brute,
                "speedup": t_brute / fast.search_time_,
                "same_choice": best == fast.best_params_,
                "max_abs_score_diff_ridge": float(np.max(diff[~full])),
                "max_abs_score_diff_full": float(np.max(diff[full])) if full.any() else 0.0,
            }
        )
    return rows


def figure(freq: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(freq["n"].unique())
    fig, axes = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 4), squeeze=False)
    for ax, n in zip(axes[0], sizes):
        tab = (
            freq[freq["n"] == n]
            .pivot_table(
                index="generating_form", columns="selected", values="seed", aggfunc="count"
            )
            .reindex(index=list(GENERATING_FORMS), columns=list(KERNEL_FORMS))
            .fillna(0)
        )
        tab = tab.div(tab.sum(axis=1), axis=0)
        ax.imshow(tab.values, vmin=0, vmax=1, cmap="Blues")
        ax.set_xticks(range(len(KERNEL_FORMS)), KERNEL_FORMS, rotation=45, ha="right")
        ax.set_yticks(range(len(GENERATING_FORMS)), list(GENERATING_FORMS))
        for i in range(tab.shape[0]):
            for j in range(tab.shape[1]):
                if tab.values[i, j] > 0:
                    ax.text(j, i, f"{tab.values[i, j]:.2f}", ha="center", va="center", fontsize=8)
        ax.set_title(f"selected form, n = {n}")
        ax.set_xlabel("selected")
    axes[0][0].set_ylabel("generating form")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 80])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--rule", choices=["average", "one_se", "best"], default="average")
    parser.add_argument("--speed-n", type=int, default=60, help="0 skips the speed part")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    OUT.mkdir(parents=True, exist_ok=True)

    sp = pd.DataFrame(speed(args.speed_n)) if args.speed_n > 0 else pd.DataFrame()
    if not sp.empty:
        sp.to_csv(OUT / "speed.csv", index=False)
    freq = study(args.sizes, args.seeds, args.rule)
    freq.to_csv(OUT / "frequencies.csv", index=False)
    errors = (
        freq.assign(ratio=freq["mse_selected"] / freq["mse_oracle_form"])
        .groupby(["generating_form", "n"], sort=False)
        .agg(
            picked_generating=("selected", lambda s: float(np.mean(s == s.name[0]))),
            mse_selected=("mse_selected", "mean"),
            se_selected=("mse_selected", lambda v: float(np.std(v, ddof=1) / np.sqrt(len(v)))),
            mse_oracle_form=("mse_oracle_form", "mean"),
            median_ratio=("ratio", "median"),
            seconds=("fit_seconds", "mean"),
        )
        .reset_index()
    )
    # picked_generating needs the group key: recompute explicitly
    errors["picked_generating"] = [
        float(np.mean(freq[(freq.generating_form == f) & (freq.n == n)].selected == f))
        for f, n in zip(errors.generating_form, errors.n)
    ]
    errors.to_csv(OUT / "errors.csv", index=False)
    figure(freq, OUT / "selection.png")

    pd.set_option("display.width", 160)
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}")
    print(f"rule={args.rule}, seeds={args.seeds}, sizes={args.sizes}")
    print("\nselection frequencies (rows: generating form, n):")
    print(
        pd.crosstab([freq.generating_form, freq.n], freq.selected, normalize="index")
        .round(2)
        .to_string()
    )
    print("\ntest MSE (noise-free target) of the selection vs the oracle form:")
    print(errors.round(4).to_string(index=False))
    if not sp.empty:
        print("\nspeed vs brute-force GridSearchCV over the same candidates:")
        print(sp.round(4).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
