"""AffineTransferCV on the real case studies: polymer density, lattice thermal conductivity, SARCOS.

For each case, target size n and random split, the training points are drawn at random, the rest
(or a fixed test subsample) is the test set, and every method sees only the training points:

* ``AffineTransferCV``: the default estimator (``rule="average"``: the forms' refitted best
  candidates averaged, weights from their paired CV score gaps, adjusted per test row for the
  source range and the calibrations' leverage; default grid and splitter);
* ``AffineTransferCV (one-SE)``: the same search with ``rule="one_se"`` (the simplest form
  within one standard error of the best);
* ``AffineTransferCV (best)``: the same search with ``rule="best"`` (the highest CV score);
* each fixed form of the family (``source_linear`` ... ``full``), its hyper-parameters chosen by
  the same cross-validation (the best candidate of that form in ``cv_results_``), refitted;
* ``Direct`` and ``SourceOnly``: the package's baselines tuned by ``GridSearchCV`` over the
  same penalties and widths;
* ``GridSearchCV``: brute force over exactly the candidates of the search
  (``cv_results_["params"]``) on the same splits, ``AffineTransferRegressor`` fitted per candidate
  and fold (on the first ``--grid-splits`` splits of each size: its time is the cost).

Cases (data through :mod:`affinetl.datasets`; set ``AFFINETL_DATA_MIRROR`` for a local mirror):

* ``density``: experimental density of the Afzal et al. (2021) polymers, source = their MD
  density (``affinetl.reproduce.density.load_density_case``), RDKit descriptors;
* ``ltc``: log lattice thermal conductivity of 45 crystals, source = the first pretrained SPS
  network's output (standardised log SPS), XenonPy descriptors standardised over all 320
  crystals (as :mod:`affinetl.reproduce.ltc`); n up to 40;
* ``sarcos``: torque 1 from the 21 joint states, source = the other six torques; the test set is
  a fixed random subsample of ``--sarcos-test`` rows.

Errors are test RMSE (density g/cm3, LTC in log W/m/K, SARCOS torque units). Run::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \\
        .venv/bin/python benchmarks/selection/run_real_cases.py [--quick]

Writes ``benchmarks/out/selection/real_{records,summary,check,choices,weights,timing}.csv`` (and the
per-case ``real_records_<case>.csv``, and ``real_preds_<case>.npz`` with every fixed form's test
and out-of-fold predictions, and the standardised source features of the training and test
rows) and ``real_cases.png`` and prints the tables. Cases can run in
separate processes (``--cases sarcos``) and be summarised together afterwards with
``--summarise-only``.
"""

from __future__ import annotations

import json
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # tiny dense problems: one BLAS thread is fastest

import argparse  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from tqdm import tqdm  # noqa: E402

from affinetl import AffineTransferRegressor  # noqa: E402
from affinetl.baselines import DirectRegressor, SourceOnlyRegressor  # noqa: E402
from affinetl.selection import KERNEL_FORMS, AffineTransferCV  # noqa: E402
from affinetl.selection._kernel_cv import DEFAULT_LAMBDAS  # noqa: E402
from affinetl.selection._scoring import splits as _splits  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_suite import package_forms  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "out" / "selection"
SIZES = {"density": (10, 20, 40, 80), "ltc": (10, 20, 40), "sarcos": (10, 20, 40, 80)}
FIXED = [f"fixed: {f}" for f in KERNEL_FORMS]


def load_case(name: str, sarcos_test: int, sarcos_training: str) -> dict:
    """Inputs ``x``, source features ``u`` and target ``y`` of one case (and a test pool)."""
    if name == "density":
        from affinetl.reproduce.density import load_density_case

        X, u, y, unit = load_density_case("density", "afzal-md")
        return {"x": X.to_numpy(float), "u": u[:, None], "y": y, "unit": unit, "test": None}
    if name == "ltc":
        from affinetl.datasets import SPS_NETWORK_IDS, load_ltc

        data = load_ltc()
        has_y = data.y["LTC"].notna().to_numpy()
        raw = data.X.to_numpy()[has_y]
        x = ((data.X - data.extras["x_mean"]) / data.extras["x_scale"]).to_numpy()[has_y]
        net = data.extras["networks"][SPS_NETWORK_IDS[0]]
        u = np.asarray(net.predict(raw), dtype=float).reshape(-1, 1)
        y = np.log(data.y["LTC"].to_numpy()[has_y])
        return {"x": x, "u": u, "y": y, "unit": "log(W/m/K)", "test": None}
    if name == "sarcos":
        from affinetl.datasets import load_sarcos

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the offline proxy says so in notes
            data = load_sarcos(sarcos_training)
        split = data.extras["split"].to_numpy()
        X, T = data.X.to_numpy(float), data.y.to_numpy(float)
        pool, test = np.flatnonzero(split == "pool"), np.flatnonzero(split == "test")
        test = np.random.default_rng(12345).choice(test, min(sarcos_test, test.size), replace=False)
        keep = np.concatenate([pool, test])
        x, u, y = X[keep], T[keep][:, 1:], T[keep][:, 0]
        proxy = bool(data.extras["proxy"])
        unit = "torque 1" + (" (offline proxy pool)" if proxy else "")
        return {"x": x, "u": u, "y": y, "unit": unit, "test": np.arange(pool.size, keep.size)}
    raise ValueError(f"unknown case {name!r}")


def _rmse(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - y) ** 2)))


def _baseline(est, lambdas, X, y, splits) -> tuple[np.ndarray, object]:
    gs = GridSearchCV(est, {"alpha": list(lambdas)}, cv=splits, scoring="neg_mean_squared_error")
    return gs.fit(X, y), gs


def one_split(
    case: dict, n: int, rep: int, grid: dict, brute: bool, preds: dict | None = None
) -> tuple[list, dict | None]:
    """Every method on one random split; returns per-method rows and the timing row.

    ``preds``, when given, receives the test predictions (original units) of every fixed form
    and the test targets under the keys ``"{n}/{rep}/{form}"`` and ``"{n}/{rep}/y"``, and the
    form's out-of-fold predictions on the search's splits and the training targets under
    ``"{n}/{rep}/oof/{form}"`` and ``"{n}/{rep}/ytrain"``, so that rules which combine forms
    can be replayed offline (``replay_rules.py``).
    """
    total = case["y"].size
    rng = np.random.default_rng(1000 * n + rep)
    if case["test"] is None:
        perm = rng.permutation(total)
        train, test = perm[:n], perm[n:]
    else:
        pool = np.setdiff1d(np.arange(total), case["test"])
        train, test = rng.choice(pool, n, replace=False), case["test"]
    # Standardise x and u once on the training points, as AffineTransferCV does inside its
    # search; with one source feature the target is divided by the sd of u, so that the offset
    # form's g1 = a0 + u keeps its meaning. Every form is equivariant under this change (ridge
    # forms are linear smoothers, the full form fits y / sd(y)), so the selection is that on
    # the raw data, and GridSearchCV with standardize=False sees exactly the search's problem.
    x, u, y = case["x"], case["u"], case["y"]
    xm, xs = x[train].mean(0), x[train].std(0)
    um, us = u[train].mean(0), u[train].std(0)
    xs, us = np.where(xs > 0, xs, 1.0), np.where(us > 0, us, 1.0)
    scale = float(us[0]) if u.shape[1] == 1 else 1.0
    X = np.hstack([(x - xm) / xs, (u - um) / us])
    k = u.shape[1]
    src = list(range(X.shape[1] - k, X.shape[1]))
    Xtr, ytr, Xte, yte = X[train], y[train] / scale, X[test], y[test]
    splits = _splits(None, Xtr, ytr, None, rep)  # the default splitter, shared by all methods
    rows: list[dict] = []

    def add(method: str, pred: np.ndarray, **extra) -> None:
        rmse = _rmse(scale * pred, yte)
        rows.append({"n": n, "rep": rep, "method": method, "rmse": rmse, **extra})

    if preds is not None:
        preds[f"{n}/{rep}/y"] = np.asarray(yte, dtype=np.float32)
        preds[f"{n}/{rep}/ytrain"] = np.asarray(scale * ytr, dtype=np.float32)
        preds[f"{n}/{rep}/u"] = Xtr[:, src]  # the source features (float64: exact ranges)
        preds[f"{n}/{rep}/u_test"] = Xte[:, src]
    # the family without the unit forms, named: the source column is standardised here (and y
    # divided by its sd, so y - u keeps its meaning), which the estimator would otherwise take
    # for a StandardScaler in a Pipeline and leave offset out
    kw = dict(source_columns=src, cv=splits, forms=package_forms(k), **grid)
    kw["source_in_target_units"] = False
    sel = AffineTransferCV(**kw).fit(Xtr, ytr)
    add(
        "AffineTransferCV",
        sel.predict(Xte),
        form=sel.best_form_,
        seconds=sel.search_time_,
        weights=json.dumps(sel.form_weights_),
    )
    one = AffineTransferCV(rule="one_se", **kw).fit(Xtr, ytr)
    add("AffineTransferCV (one-SE)", one.predict(Xte), form=one.best_form_)
    res = sel.cv_results_
    mean = res["mean_test_score"]
    forms = np.asarray(res["param_form"]).astype(str)
    best = int(np.nanargmax(mean))
    refit_kw = dict(
        source_columns=src,
        max_iter=sel.max_iter,
        tol=sel.tol,
        standardize=False,
        kernel1=sel.kernel1,
        kernel2=sel.kernel2,
        kernel3=sel.kernel3,
    )
    for form in KERNEL_FORMS:
        idx = np.flatnonzero(forms == form)
        if idx.size == 0:
            continue
        i = int(idx[np.nanargmax(mean[idx])])
        est = AffineTransferRegressor(**refit_kw, **res["params"][i]).fit(Xtr, ytr)
        pred = est.predict(Xte)
        # the form's per-split CV scores (of its best candidate): selection rules can be
        # replayed offline from the records, the chosen form's test error being this row's
        cv_scores = [float(res[f"split{j}_test_score"][i]) for j in range(len(splits))]
        add(f"fixed: {form}", pred, form=form, cv_scores=json.dumps(cv_scores))
        if preds is not None:
            preds[f"{n}/{rep}/{form}"] = (scale * pred).astype(np.float32)
            # out-of-fold predictions of the same candidate on the search's splits (training
            # data only): what a stacking rule may weight the forms by
            oof = np.full(ytr.size, np.nan)
            for tr, te in splits:
                fold = AffineTransferRegressor(**refit_kw, **res["params"][i]).fit(Xtr[tr], ytr[tr])
                oof[te] = fold.predict(Xtr[te])
            preds[f"{n}/{rep}/oof/{form}"] = (scale * oof).astype(np.float32)
        if i == best:
            add("AffineTransferCV (best)", pred, form=form)
    lambdas = DEFAULT_LAMBDAS if grid.get("lambdas") is None else grid["lambdas"]
    base_kw = dict(source_columns=src, standardize=False)
    gs, _ = _baseline(DirectRegressor(**base_kw), lambdas, Xtr, ytr, splits)
    add("Direct", gs.predict(Xte), form="direct")
    gs, _ = _baseline(SourceOnlyRegressor(**base_kw), lambdas, Xtr, ytr, splits)
    add("SourceOnly", gs.predict(Xte), form="source_kernel")
    timing = None
    if brute:
        grid_list = [{p: [v] for p, v in c.items()} for c in res["params"]]
        gscv = GridSearchCV(
            AffineTransferRegressor(**refit_kw),
            grid_list,
            cv=splits,
            scoring="neg_mean_squared_error",
            refit=False,
        )
        t0 = time.perf_counter()
        gscv.fit(Xtr, ytr)
        t_brute = time.perf_counter() - t0
        b_scores = gscv.cv_results_["mean_test_score"]
        b_best = gscv.cv_results_["params"][int(np.nanargmax(b_scores))]
        est = AffineTransferRegressor(**refit_kw, **b_best).fit(Xtr, ytr)
        add("GridSearchCV", est.predict(Xte), form=b_best["form"], seconds=t_brute)
        ridge = forms != "full"
        timing = {
            "n": n,
            "rep": rep,
            "candidates": len(mean),
            "splits": len(splits),
            "seconds_affine_transfer_cv": sel.search_time_,
            "seconds_grid_search_cv": t_brute,
            "speedup": t_brute / sel.search_time_,
            "same_choice": b_best == res["params"][best],
            "same_form": b_best["form"] == forms[best],
            "max_abs_score_diff_ridge": float(np.nanmax(np.abs(mean - b_scores)[ridge])),
        }
    return rows, timing


def summarise(records: pd.DataFrame) -> pd.DataFrame:
    """Mean RMSE +- SE per case, method and n; the check against the best fixed form."""
    g = records.groupby(["case", "n", "method"])["rmse"]
    summ = g.agg(mean="mean", se=lambda v: float(np.std(v, ddof=1) / np.sqrt(len(v))), runs="count")
    return summ.reset_index()


def check(
    records: pd.DataFrame, summary: pd.DataFrame, method: str = "AffineTransferCV"
) -> pd.DataFrame:
    """``method`` vs the best fixed form (by mean test RMSE) per case and n."""
    rows = []
    for (case, n), s in summary.groupby(["case", "n"]):
        fixed = s[s.method.isin(FIXED)]
        bf = fixed.loc[fixed["mean"].idxmin()]
        if not (s.method == method).any():
            continue
        sel = s[s.method == method].iloc[0]
        r = records[(records.case == case) & (records.n == n)]
        a = r[r.method == method].set_index("rep")["rmse"]
        b = r[r.method == bf.method].set_index("rep")["rmse"].reindex(a.index)
        d = a - b
        rows.append(
            {
                "method": method,
                "case": case,
                "n": n,
                "best_fixed": bf.method.removeprefix("fixed: "),
                "rmse_best_fixed": bf["mean"],
                "rmse_affine_transfer_cv": sel["mean"],
                "se_affine_transfer_cv": sel["se"],
                "gap": sel["mean"] - bf["mean"],
                "paired_se_gap": float(np.std(d, ddof=1) / np.sqrt(len(d))),
                "within_one_se": bool(sel["mean"] - bf["mean"] <= sel["se"]),
            }
        )
    return pd.DataFrame(rows)


def mean_weights(records: pd.DataFrame) -> pd.DataFrame:
    """Mean CV weight (``form_weights_``) of each form in the default AffineTransferCV's average
    per case and n (0 where a form was left out)."""
    rows = records[(records.method == "AffineTransferCV") & records.weights.notna()]
    w = pd.DataFrame([json.loads(v) for v in rows.weights], index=rows.index).fillna(0.0)
    w[["case", "n"]] = rows[["case", "n"]]
    return w.groupby(["case", "n"]).mean().round(2)


def figure(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    cases = list(dict.fromkeys(summary["case"]))
    methods = ["AffineTransferCV", "AffineTransferCV (one-SE)", *FIXED, "Direct", "SourceOnly"]
    colors = dict(zip(methods[2:], plt.get_cmap("tab10").colors))
    fig, axes = plt.subplots(1, len(cases), figsize=(5.2 * len(cases), 4.2), squeeze=False)
    handles = {}
    for ax, case in zip(axes[0], cases):
        s = summary[summary.case == case]
        for method in methods:
            m = s[s.method == method].sort_values("n")
            if m.empty:
                continue
            if method == "AffineTransferCV":
                st = dict(color="k", lw=2.5, marker="o", zorder=5)
            elif method == "AffineTransferCV (one-SE)":
                st = dict(color="0.45", lw=2.0, marker="s", ls="--", zorder=4)
            else:
                dashed = method in ("Direct", "SourceOnly")
                st = dict(color=colors[method], lw=1, marker=".", ls="--" if dashed else "-")
            h = ax.errorbar(m["n"], m["mean"], yerr=m["se"], capsize=2, **st)
            handles.setdefault(method.removeprefix("fixed: "), h)
        ns = sorted(s["n"].unique())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(ns, [str(v) for v in ns])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("target training size n")
        ax.set_ylabel("test RMSE (mean +- SE over splits)")
        ax.set_title(case)
    fig.legend(handles.values(), handles.keys(), loc="center right", fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    fig.savefig(path, dpi=120)


def run_case(name: str, args: argparse.Namespace, grid: dict, tag: str) -> None:
    """Every split of one case; writes ``{tag}_records_{name}.csv`` and its timing file."""
    case = load_case(name, args.sarcos_test, args.sarcos_training)
    sizes = [n for n in SIZES[name] if not args.quick or n <= 20]
    # split-major order, files rewritten after every split: an interrupted run leaves a
    # balanced, usable record (the summary reports the number of splits per cell)
    jobs = [(n, rep) for rep in range(args.splits) for n in sizes]
    records, timings, preds = [], [], {}
    for n, rep in tqdm(jobs, desc=name):
        rows, timing = one_split(case, n, rep, grid, brute=rep < args.grid_splits, preds=preds)
        records += [{"case": name, "unit": case["unit"], **r} for r in rows]
        if timing is not None:
            timings.append({"case": name, **timing})
        pd.DataFrame(records).to_csv(OUT / f"{tag}_records_{name}.csv", index=False)
        pd.DataFrame(timings).to_csv(OUT / f"{tag}_timing_{name}.csv", index=False)
        np.savez_compressed(OUT / f"{tag}_preds_{name}.npz", **preds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["density", "ltc", "sarcos"])
    parser.add_argument("--splits", type=int, default=20, help="random splits per size")
    parser.add_argument("--grid-splits", type=int, default=1, help="splits with GridSearchCV")
    parser.add_argument("--sarcos-test", type=int, default=1000)
    parser.add_argument("--sarcos-training", choices=["auto", "full", "proxy"], default="auto")
    parser.add_argument("--quick", action="store_true", help="n in {10, 20}, 2 splits, 1 brute")
    parser.add_argument(
        "--g1-linear",
        choices=["false", "both", "true"],
        default="false",
        help="AffineTransferCV's g1_linear (outputs of a non-default value get a tag suffix)",
    )
    parser.add_argument(
        "--summarise-only",
        action="store_true",
        help="skip the runs and summarise the per-case record files already written (for "
        "cases run in separate processes)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    warnings.filterwarnings("ignore", message="the source column has mean 0")  # see one_split
    grid: dict = {}
    if args.quick:
        args.splits, args.grid_splits = 2, 1
        grid = dict(widths=[1.0], lambdas=[1e-2, 1e-1, 1.0], ratios=[0.1, 1.0], n_full_starts=1)
    if args.g1_linear != "false":
        grid["g1_linear"] = True if args.g1_linear == "true" else "both"
    OUT.mkdir(parents=True, exist_ok=True)
    tag = "real_quick" if args.quick else "real"
    if args.g1_linear != "false":
        tag += f"_g1linear-{args.g1_linear}"
    t_start = time.perf_counter()
    if not args.summarise_only:
        for name in args.cases:
            run_case(name, args, grid, tag)
    records = pd.concat([pd.read_csv(OUT / f"{tag}_records_{c}.csv") for c in args.cases])
    paths = [OUT / f"{tag}_timing_{c}.csv" for c in args.cases]
    frames = [pd.read_csv(p) for p in paths if p.exists() and p.stat().st_size > 1]
    timings = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    seconds = time.perf_counter() - t_start
    summary = summarise(records)
    checks = pd.concat(
        [check(records, summary, m) for m in ("AffineTransferCV", "AffineTransferCV (one-SE)")],
        ignore_index=True,
    )
    sel = records[records.method == "AffineTransferCV (one-SE)"]
    choices = pd.crosstab([sel.case, sel.n], sel.form, normalize="index").round(2)
    weights = mean_weights(records)
    records.to_csv(OUT / f"{tag}_records.csv", index=False)
    summary.to_csv(OUT / f"{tag}_summary.csv", index=False)
    checks.to_csv(OUT / f"{tag}_check.csv", index=False)
    choices.to_csv(OUT / f"{tag}_choices.csv")
    weights.to_csv(OUT / f"{tag}_weights.csv")
    timings.to_csv(OUT / f"{tag}_timing.csv", index=False)
    figure(summary, OUT / f"{tag}_cases.png")

    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}")
    print(
        f"cases={args.cases} splits={args.splits} grid-splits={args.grid_splits} quick={args.quick}"
    )
    table = summary.assign(
        cell=[f"{m:.4g} +- {s:.2g}" for m, s in zip(summary["mean"], summary["se"])]
    ).pivot(index=["case", "method"], columns="n", values="cell")
    print("\ntest RMSE, mean +- SE over splits:")
    print(table.fillna("").to_string())
    print("\nAffineTransferCV vs the best fixed form (within one SE of AffineTransferCV's mean):")
    print(checks.round(4).to_string(index=False))
    print("cells within one SE:", checks.groupby("method").within_one_se.sum().to_dict())
    print("\nmean weight of each form in AffineTransferCV's average:")
    print(weights.to_string())
    print("\nforms chosen by the one-SE rule (fraction of splits):")
    print(choices.to_string())
    if not timings.empty:
        agg = timings.groupby("case").agg(
            seconds_affine_transfer_cv=("seconds_affine_transfer_cv", "sum"),
            seconds_grid_search_cv=("seconds_grid_search_cv", "sum"),
            same_choice=("same_choice", "mean"),
            same_form=("same_form", "mean"),
            max_abs_score_diff_ridge=("max_abs_score_diff_ridge", "max"),
        )
        agg["speedup"] = agg["seconds_grid_search_cv"] / agg["seconds_affine_transfer_cv"]
        print("\nselection time vs GridSearchCV over the same candidates and splits:")
        print(timings.round(4).to_string(index=False))
        print(agg.round(4).to_string())
        total = timings[["seconds_affine_transfer_cv", "seconds_grid_search_cv"]].sum()
        print(
            f"overall speed-up: {total.iloc[1] / total.iloc[0]:.1f}x; same choice in "
            f"{timings['same_choice'].mean():.0%} of {len(timings)} searches"
        )
    if not args.summarise_only:
        print(f"\ntotal {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
