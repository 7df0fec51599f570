"""Run the selection suite of issue 25: every case, size and split, cached per split.

For each case of ``suite_cases.py``, target size n and random split (``--splits``, default 30),
the n training rows are drawn at random and everything is fitted on them alone:

* ``default``: :class:`affinetl.selection.AffineTransferCV` with its defaults (the estimator
  as shipped when the run was made), on the default splitter;
* every form of the family, its hyper-parameters the best candidate of that form in the
  default search's ``cv_results_``, refitted on the n rows (test predictions) and on each
  training part of the search's splits (out-of-fold predictions: what the rules of
  ``suite_rules.py`` replay, stacking included);
* the zero- and one-parameter special cases with one source feature: ``as_is`` (``f_t = u``,
  the source used as it is) and ``plus_const`` (``u + a0``); with the calibration
  ``source_linear`` (``a0 + a1'u``) they are the simple forms of the issue.

Inputs and the source are standardised on the training rows and, with one source feature, the
target divided by the source's standard deviation (as ``run_real_cases.py``): every form is
equivariant under this change, so the search is that on the raw data, and the offset forms keep
``y - u`` in the target's units. Predictions are stored in the case's units.

One file per split, ``benchmarks/out/selection/suite/<case>/n<n>_r<rep>.npz`` (written
atomically): a rerun skips the splits already done. Run (two processes on a 2-core machine)::

    OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/selection/run_suite.py --cases pi_cv_cp ...

``--live`` fits only the shipped default, as a user would call it: the raw inputs and source
(no standardisation here, the estimator's own ``standardize=True``), its own test of the
source's units (``--variant declared``: ``source_in_target_units`` where the case's source is
in the target's units), on the same splits; it stores the test predictions in
``benchmarks/out/selection/suite_live/`` for ``suite_rules.py --live``, which compares them with the replay of the rule. ``--scores`` stores
every candidate's split scores of the default search (``suite_scores/``), for the rules that
compare the forms by their leave-one-split-out tuning.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # tiny dense problems: one BLAS thread is fastest

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import LeaveOneOut, RepeatedKFold  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite_cases import CASES, load_case, sizes_for  # noqa: E402

from affinetl import AffineTransferRegressor  # noqa: E402
from affinetl._forms import TARGET_UNIT_FORMS  # noqa: E402
from affinetl.selection import KERNEL_FORMS, AffineTransferCV, default_cv  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "out" / "selection" / "suite"
#: The package's forms stored per split (the unit forms are computed here in the case's units,
#: ``as_is`` and ``plus_const``, whatever the package's own names for them).
PACKAGE = ("source_linear", "source_kernel")


def draw(data: dict, n: int, rep: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and test rows of split ``rep`` at size ``n`` (fixed seeds)."""
    total = data["y"].size
    rng = np.random.default_rng(1000 * n + rep)
    if data["test"] is None:
        perm = rng.permutation(total)
        return perm[:n], perm[n:]
    pool = np.setdiff1d(np.arange(total), data["test"])
    return rng.choice(pool, n, replace=False), data["test"]


def _save(path: Path, arrays: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(fd)
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def standardised_split(data: dict, n: int, rep: int) -> tuple:
    """Split ``rep`` at size ``n`` as the suite fits it: ``train``, ``test``, ``X`` (inputs
    then source columns, all rows, standardised on the training rows), the source columns
    ``src`` and ``scale`` (the source's standard deviation with one source feature, by which
    the target is divided; else 1)."""
    train, test = draw(data, n, rep)
    x, u = data["x"], data["u"]
    # scikit-learn's scaler, as the estimator's own standardize=True: columns constant up to
    # rounding on the training rows (std ~1e-17) keep scale 1 instead of being blown up
    xsc, usc = StandardScaler().fit(x[train]), StandardScaler().fit(u[train])
    k = u.shape[1]
    scale = float(usc.scale_[0]) if k == 1 else 1.0
    X = np.hstack([xsc.transform(x), usc.transform(u)])
    return train, test, X, list(range(X.shape[1] - k, X.shape[1])), scale


#: The forms that need the source in the target's units (not searched for a scaled source).
UNIT_FORMS = TARGET_UNIT_FORMS


def package_forms(k: int) -> list[str]:
    """The kernel family without the unit forms (``offset`` with one source feature), named:
    the records standardise the source column (and divide ``y`` by its sd, so that ``y - u``
    keeps its meaning), which the estimator would otherwise take for a ``StandardScaler`` in a
    ``Pipeline`` and leave ``offset`` out."""
    return [f for f in KERNEL_FORMS if f not in UNIT_FORMS and (f != "offset" or k == 1)]


def one_split(data: dict, n: int, rep: int) -> dict:
    """Every form and the default on one split; returns the arrays stored for it."""
    train, test, X, src, scale = standardised_split(data, n, rep)
    u, y = data["u"], data["y"]
    k = u.shape[1]
    Xtr, ytr, Xte = X[train], y[train] / scale, X[test]
    splits = list(default_cv(n, rep).split(Xtr))
    fold = np.empty(n, dtype=np.int16)
    for j, (_, te) in enumerate(splits):
        fold[te] = j
    out: dict[str, np.ndarray] = {
        "y": y[test].astype(np.float64),
        "ytrain": y[train].astype(np.float64),
        "u": Xtr[:, src],
        "u_test": Xte[:, src],
        "fold": fold,
    }
    t0 = time.perf_counter()
    # the package's forms without the unit forms (computed below in the case's units)
    sel = AffineTransferCV(
        source_columns=src, forms=package_forms(k), source_in_target_units=False, cv=splits
    )
    sel.fit(Xtr, ytr)
    out["default"] = scale * sel.predict(Xte)
    meta = {
        "default_seconds": time.perf_counter() - t0,
        "search_seconds": sel.search_time_,
        "weights": sel.form_weights_,
        "one_se_form": sel.best_form_,
        "params": {},
    }
    res = sel.cv_results_
    mean = res["mean_test_score"]
    forms = np.asarray(res["param_form"]).astype(str)
    refit_kw = dict(
        source_columns=src,
        max_iter=sel.max_iter,
        tol=sel.tol,
        standardize=False,
        kernel1=sel.kernel1,
        kernel2=sel.kernel2,
        kernel3=sel.kernel3,
    )
    for form in [f for f in KERNEL_FORMS if not f.startswith("source_") or f in PACKAGE]:
        idx = np.flatnonzero(forms == form)
        if idx.size == 0 or not np.any(np.isfinite(mean[idx])):
            continue
        i = int(idx[np.nanargmax(mean[idx])])
        params = res["params"][i]
        est = AffineTransferRegressor(**refit_kw, **params).fit(Xtr, ytr)
        out[f"test/{form}"] = scale * est.predict(Xte)
        oof = np.full(n, np.nan)
        for tr, te in splits:
            f = AffineTransferRegressor(**refit_kw, **params).fit(Xtr[tr], ytr[tr])
            oof[te] = f.predict(Xtr[te])
        out[f"oof/{form}"] = scale * oof
        meta["params"][form] = {k_: v for k_, v in params.items()}
    if k == 1:  # the source as is and the source plus a constant, in the case's units
        u_tr, u_te, y_tr = u[train, 0], u[test, 0], y[train]
        out["test/as_is"], out["oof/as_is"] = u_te.astype(float), u_tr.astype(float)
        out["test/plus_const"] = u_te + np.mean(y_tr - u_tr)
        oof = np.empty(n)
        for tr, te in splits:
            oof[te] = u_tr[te] + np.mean(y_tr[tr] - u_tr[tr])
        out["oof/plus_const"] = oof
    out["meta"] = np.array(json.dumps(meta))
    return out


#: Settings of the estimator tried live against its defaults (``--live --variant NAME``, into
#: ``suite_live_<NAME>/``): a penalty path two decades wider at the top and one at the bottom
#: (``wide``), repeated 5-fold CV at every size (``rkf``: four repeats, for the search and the
#: averaging weights).
#: A variant's ``splitter`` (if any) gives the splitter of split ``rep`` at size ``n``; its other
#: entries are keywords of the estimator.
VARIANTS = {
    # the case's declared units instead of the estimator's own test (the default before
    # source_in_target_units="auto")
    "declared": {"declared_units": True},
    # every column standardised on the training rows first (a StandardScaler in a Pipeline,
    # the source column included): the estimator warns and takes the source as not in the
    # target's units; "scaled_no_offset" also leaves out the offset form (y - u on a z-score)
    "scaled": {"scale_columns": True},
    # the target standardised as well (a TransformedTargetRegressor around the Pipeline),
    # with the estimator's units test, or declared not in the target's units
    "scaled_xy": {"scale_columns": True, "scale_target": True},
    "scaled_xy_false": {
        "scale_columns": True,
        "scale_target": True,
        "source_in_target_units": False,
    },
    "scaled_no_offset": {
        "scale_columns": True,
        "forms": [f for f in KERNEL_FORMS if f not in UNIT_FORMS and f != "offset"],
    },
    "wide": {"lambdas": tuple(10.0 ** np.arange(-4, 4))},
    "rkf": {"splitter": lambda n, rep: RepeatedKFold(n_splits=5, n_repeats=4, random_state=rep)},
}


def user_columns(data: dict) -> tuple[np.ndarray, list[int]]:
    """The case as a user passes it: one ``X`` with the source columns last, and their
    indices (``source_columns``)."""
    X = np.hstack([data["x"], data["u"]])
    k = data["u"].shape[1]
    return X, list(range(X.shape[1] - k, X.shape[1]))


def live_split(
    data: dict,
    n: int,
    rep: int,
    units: bool,
    loo_below: int = 0,
    variant: str | None = None,
    estimator: type = AffineTransferCV,
) -> dict:
    """The shipped default on one split, called as a user would (raw columns, the estimator's
    own standardisation and its own units test; ``variant="declared"``:
    ``source_in_target_units=units``, the case's label), on the suite's splits
    (leave-one-out instead below ``loo_below`` samples; the settings of :data:`VARIANTS`
    with ``variant``; ``estimator``: a subclass of the default for an experiment)."""
    train, test = draw(data, n, rep)
    X, src = user_columns(data)
    options = dict(VARIANTS[variant]) if variant else {}
    splitter = options.pop("splitter", None)
    if options.pop("declared_units", False):
        options["source_in_target_units"] = units
    if options.pop("scale_columns", False):
        X = StandardScaler().fit(X[train]).transform(X)
        if len(src) > 1 and "forms" in options:  # offset needs one source feature
            options["forms"] = [f for f in options["forms"] if f != "offset"]
    y_mean, y_sd = 0.0, 1.0
    if options.pop("scale_target", False):
        y_mean, y_sd = float(np.mean(data["y"][train])), float(np.std(data["y"][train]))
    if splitter is not None:
        cv = splitter(n, rep)
    else:
        cv = LeaveOneOut() if n < loo_below else default_cv(n, rep)
    splits = list(cv.split(X[train]))
    t0 = time.perf_counter()
    sel = estimator(source_columns=src, cv=splits, **options)
    sel.fit(X[train], (data["y"][train] - y_mean) / y_sd)
    meta = {
        "seconds": time.perf_counter() - t0,
        "weights": sel.form_weights_,
        "outside_range_keep": sel.outside_range_keep_,
        "units": bool(getattr(sel, "source_in_target_units_", units)),
    }
    return {
        "y": data["y"][test].astype(np.float64),
        "default": y_mean + y_sd * sel.predict(X[test]),
        "meta": np.array(json.dumps(meta)),
    }


def scores_split(data: dict, n: int, rep: int) -> dict:
    """The default search's split scores of every candidate on the split of :func:`one_split`
    (same standardisation, same splits): ``labels`` (form of each candidate), ``scores``
    (candidates x splits, negative MSE of the target divided by ``scale``) and ``scale``.
    ``suite_rules.py`` replays rules that need more than each form's best candidate (the
    leave-one-split-out tuning of the forms) from them."""
    train, _, X, src, scale = standardised_split(data, n, rep)
    X = X[train]
    splits = list(default_cv(n, rep).split(X))
    forms = package_forms(len(src))
    sel = AffineTransferCV(
        source_columns=src, forms=forms, source_in_target_units=False, cv=splits, rule="best"
    )
    sel.fit(X, data["y"][train] / scale)
    res = sel.cv_results_
    scores = np.column_stack([res[f"split{j}_test_score"] for j in range(len(splits))])
    return {
        "labels": np.asarray(res["param_form"]).astype(str),
        "scores": scores,
        "scale": np.array(scale),
    }


#: The scale forms (ratio learning), stored by ``--ratio`` where the source is in target units.
RATIO_FORMS = ("ratio", "ratio_calibrated")


def ratio_split(data: dict, n: int, rep: int) -> dict:
    """The scale forms on the split of :func:`one_split`, each with its best candidate of the
    search over them: test and out-of-fold predictions in the case's units, for
    ``suite_rules.py --ratio``. ``x`` is standardised on the training rows and ``u`` and ``y``
    divided by the training root mean square of ``u`` (the scale forms' unit), then fitted
    with ``standardize=False``: the search of the estimator called on the raw columns, and
    the fold refits then share its standardisation (their out-of-fold predictions are its
    hold-out predictions, as for the other forms)."""
    train, test = draw(data, n, rep)
    x, u, y = data["x"], data["u"][:, 0], data["y"]
    rms = float(np.sqrt(np.mean(u[train] ** 2)))
    X = np.column_stack([StandardScaler().fit(x[train]).transform(x), u / rms])
    src = [X.shape[1] - 1]
    Xtr, ytr, Xte = X[train], y[train] / rms, X[test]
    splits = list(default_cv(n, rep).split(Xtr))
    sel = AffineTransferCV(
        forms=list(RATIO_FORMS),
        source_columns=src,
        source_in_target_units=True,
        standardize=False,
        cv=splits,
    ).fit(Xtr, ytr)
    res = sel.cv_results_
    mean, forms = res["mean_test_score"], np.asarray(res["param_form"]).astype(str)
    out: dict[str, np.ndarray] = {}
    for form in RATIO_FORMS:
        idx = np.flatnonzero(forms == form)
        i = int(idx[np.nanargmax(mean[idx])])
        params = dict(res["params"][i])
        out[f"test/{form}"] = rms * sel._refit_estimator(params).fit(Xtr, ytr).predict(Xte)
        oof = np.full(n, np.nan)
        for tr, te in splits:
            oof[te] = sel._refit_estimator(params).fit(Xtr[tr], ytr[tr]).predict(Xtr[te])
        out[f"oof/{form}"] = rms * oof
    return out


def run_case(
    name: str,
    splits: int,
    sizes: list[int] | None,
    live: bool = False,
    loo_below: int = 0,
    scores: bool = False,
    ratio: bool = False,
    variant: str | None = None,
    ratio_any: bool = False,
) -> None:
    data = load_case(name)
    suffix = f"_loo{loo_below}" if loo_below else (f"_{variant}" if variant else "")
    out = OUT.with_name("suite_live" + suffix) if live else OUT
    out = OUT.with_name("suite_scores") if scores else out
    out = OUT.with_name("suite_ratio") if ratio else out
    if ratio and not (CASES[name].in_target_units or ratio_any):
        return
    if ratio and data["u"].shape[1] != 1:
        return
    ns = [n for n in sizes_for(data) if sizes is None or n in sizes]
    jobs = [(n, rep) for rep in range(splits) for n in ns]
    todo = [(n, r) for n, r in jobs if not (out / name / f"n{n}_r{r}.npz").exists()]
    for n, rep in tqdm(todo, desc=name, mininterval=10):
        if ratio:
            arrays = ratio_split(data, n, rep)
        elif scores:
            arrays = scores_split(data, n, rep)
        elif live:
            arrays = live_split(data, n, rep, CASES[name].in_target_units, loo_below, variant)
        else:
            arrays = one_split(data, n, rep)
        _save(out / name / f"n{n}_r{rep}.npz", arrays)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES))
    parser.add_argument("--splits", type=int, default=30)
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument(
        "--live", action="store_true", help="the shipped default only, into suite_live/"
    )
    parser.add_argument(
        "--loo-below",
        type=int,
        default=0,
        help="with --live: leave-one-out below this many samples (into suite_live_loo<N>/)",
    )
    parser.add_argument(
        "--scores",
        action="store_true",
        help="every candidate's split scores of the default search only, into suite_scores/",
    )
    parser.add_argument(
        "--ratio",
        action="store_true",
        help="the scale forms (ratio, ratio_calibrated) where the source is in target units, "
        "into suite_ratio/",
    )
    parser.add_argument(
        "--ratio-any",
        action="store_true",
        help="with --ratio: also where the source is not in the target's units (single-source "
        "cases), for rules that decide the units from the data",
    )
    parser.add_argument(
        "--variant",
        choices=sorted(VARIANTS),
        default=None,
        help="with --live: the estimator with these settings (VARIANTS), into suite_live_<NAME>/",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    # the scaled variants: the estimator's warning about a standardised source, once per split
    warnings.filterwarnings("ignore", message="the source column has mean 0")
    for name in args.cases:
        run_case(
            name,
            args.splits,
            args.sizes,
            args.live,
            args.loo_below,
            args.scores,
            args.ratio,
            args.variant,
            args.ratio_any,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
