"""Record (or compare) the numerics' behaviour: predictions of every kernel/linear estimator and
form on fixed problems, the selection estimators on a real case, and the quick reproductions.

Run before a refactor with ``--save DIR`` and after it with ``--compare DIR``: the comparison
prints the largest relative difference of every entry (``max |a - b| / max |b|``).

    python benchmarks/case_studies/snapshot_predictions.py --save /tmp/c1_before
    python benchmarks/case_studies/snapshot_predictions.py --compare /tmp/c1_before
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import warnings
from pathlib import Path

import numpy as np

import affinetl
from affinetl import baselines as bl


def _problem(seed: int, n: int = 40, k: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 3))
    u = np.sin(2 * x[:, :k]) + 0.1 * rng.normal(size=(n, k))
    y = 3.0 + 2.0 * u[:, 0] + (1 + 0.5 * u[:, 0]) * (x[:, 1] - x[:, 2] ** 2)
    y = 5.0 * (y + 0.05 * rng.normal(size=n))  # sd(y) far from 1: shows the penalty scaling
    return np.hstack([x, u]), y


def _kernel_form(form: str, **kw):
    """One kernel form with fixed hyper-parameters (old and new API)."""
    kw.setdefault("kernel1", "rbf")  # the default before 0.3
    try:
        from affinetl.selection import TransferFormRegressor  # noqa: PLC0415

        return TransferFormRegressor(form=form, **kw)
    except ImportError:
        return affinetl.AffineTransferRegressor(form=form, max_iter=200, tol=1e-6, **kw)


def _linear_form(form: str, **kw):
    try:
        from affinetl.selection import LinearTransferFormRegressor  # noqa: PLC0415

        return LinearTransferFormRegressor(form=form, **kw)
    except ImportError:
        return affinetl.LinearAffineTransferRegressor(form=form, **kw)


def _variant(variant: str, **kw):
    kw.setdefault("kernel1", "rbf")  # the default before 0.3
    try:
        return affinetl.AffineTransferRegressor(variant=variant, **kw)
    except TypeError:
        return affinetl.AffineTransferRegressor(form=variant, **kw)


def estimators() -> dict:
    out = {}
    lam = dict(lambda1=0.1, lambda2=0.1, lambda3=0.1)
    for seed, n in ((0, 40), (1, 120)):
        X, y = _problem(seed, n)
        Xt, _ = _problem(seed + 100, 30)
        key = f"n{n}"
        for variant in ("full", "const", "g1_const"):
            for solver in ("auto", "relaxation"):
                m = _variant(variant, solver=solver, random_state=0, **lam).fit(X, y)
                out[f"{key}/ATR/{variant}/{solver}"] = m.predict(Xt)
            m = _variant(variant, approximation="nystroem", n_components=30, random_state=0, **lam)
            out[f"{key}/ATR/{variant}/nystroem"] = m.fit(X, y).predict(Xt)
        for form in (
            "source_linear",
            "offset",
            "source_kernel",
            "direct",
            "offset_calibrated",
            "const",
            "full",
        ):
            for g1l in (False, True):
                m = _kernel_form(form, g1_linear=g1l, **lam).fit(X, y)
                out[f"{key}/TFR/{form}/{g1l}"] = m.predict(Xt)
        for form in ("source_linear", "offset", "direct", "offset_calibrated", "full"):
            m = _linear_form(form, lambda_ridge=0.3, lambda_fused=0.1).fit(X, y)
            out[f"{key}/LTFR/{form}"] = m.predict(Xt)
        ys = y / np.std(y)  # unit sd: the penalty scaling of 0.3 changes nothing here
        for variant in ("full", "g1_const"):
            for solver in ("auto", "relaxation"):
                m = _variant(variant, solver=solver, random_state=0, tol=1e-8, **lam).fit(X, ys)
                out[f"{key}/ATR-unit-sd/{variant}/{solver}"] = m.predict(Xt)
        m = affinetl.LinearAffineTransferRegressor(lambda_ridge=0.3, lambda_fused=0.1).fit(X, y)
        out[f"{key}/LATR"] = m.predict(Xt)
        Xp = np.abs(X) + 0.5
        m = affinetl.LogDifferenceRegressor(lambda_ridge=0.3).fit(Xp, np.abs(y) + 1)
        out[f"{key}/LogDiff"] = m.predict(np.abs(Xt) + 0.5)
        for name in (
            "DirectRegressor",
            "SourceOnlyRegressor",
            "AugmentedRegressor",
            "OffsetTransferRegressor",
            "ScaleTransferRegressor",
        ):
            out[f"{key}/{name}"] = getattr(bl, name)(alpha=0.1).fit(X, y).predict(Xt)
        m = affinetl.AffineTransferCV(random_state=0).fit(X, y)
        out[f"{key}/ATCV"] = m.predict(Xt)
        m = affinetl.AffineTransferCV(random_state=0, g1_linear="both", rule="one_se").fit(X, y)
        out[f"{key}/ATCV/both"] = m.predict(Xt)
        out[f"{key}/LATCV"] = affinetl.LinearAffineTransferCV(random_state=0).fit(X, y).predict(Xt)
    return out


def real_selection() -> dict:
    from affinetl.reproduce.density import load_density_case  # noqa: PLC0415

    X, u, y, _ = load_density_case()
    Z = np.column_stack([X.to_numpy(float), u])
    out = {}
    for n in (10, 20, 40):
        for rep in range(3):
            rng = np.random.default_rng(1000 * n + rep)
            idx = rng.permutation(len(y))
            tr, te = idx[:n], idx[n:]
            m = affinetl.AffineTransferCV(random_state=rep).fit(Z[tr], y[tr])
            out[f"density/n{n}/r{rep}/ATCV"] = m.predict(Z[te])
            m = affinetl.LinearAffineTransferCV(random_state=rep, standardize=True)
            out[f"density/n{n}/r{rep}/LATCV"] = m.fit(Z[tr], y[tr]).predict(Z[te])
    return out


def reproductions() -> dict:
    from affinetl.reproduce import reproduce  # noqa: PLC0415

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case, kw in (
            ("density", {"quick": True}),
            ("sarcos", {"quick": True}),
            ("polymer-cp", {"quick": True, "synthetic": True}),
        ):
            res = reproduce(case, Path(tmp) / case, **kw)
            rec = res.records
            num = rec.select_dtypes("number")
            num = num[[c for c in num.columns if "time" not in c and "second" not in c]]
            out[f"reproduce/{case}"] = num.to_numpy(float)
    return out


def collect() -> dict:
    warnings.simplefilter("ignore")
    out = {}
    out.update(estimators())
    out.update(real_selection())
    out.update(reproductions())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", type=Path)
    g.add_argument("--compare", type=Path)
    args = p.parse_args()
    data = collect()
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        (args.save / "snapshot.pkl").write_bytes(pickle.dumps(data))
        print(f"saved {len(data)} entries to {args.save}")
        return
    ref = pickle.loads((args.compare / "snapshot.pkl").read_bytes())
    worst = 0.0
    for key in sorted(ref):
        if key not in data:
            print(f"{key}: MISSING")
            continue
        a, b = np.asarray(data[key], float), np.asarray(ref[key], float)
        if a.shape != b.shape:
            print(f"{key}: shape {a.shape} vs {b.shape}")
            continue
        rel = float(np.nanmax(np.abs(a - b)) / max(np.nanmax(np.abs(b)), 1e-300))
        worst = max(worst, rel)
        flag = "" if rel <= 1e-8 else "  <-- changed"
        print(f"{key}: max rel diff {rel:.2e}{flag}")
    print(f"largest relative difference: {worst:.2e}")


if __name__ == "__main__":
    main()
