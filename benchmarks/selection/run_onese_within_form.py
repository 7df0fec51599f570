"""Issue 25 experiment: each form's hyper-parameters by the one-SE rule *within* the form.

Among the candidates of a form whose mean CV score is within one paired standard error of the
form's best, the one with the fewest effective degrees of freedom (``sum s / (s + lambda)``
over the eigenvalues ``s`` of the candidate's Gram matrix on all training rows; the full form
by its const part, then the largest ``lambda2``) represents the form; the default averaging
then runs as shipped. This patches ``affinetl.selection._rules.form_best`` for the duration of
each fit (an experiment, not a package option), fits the estimator as a user would on the
suite's splits (``run_suite.py --live``) and stores the test predictions in
``benchmarks/out/selection/suite_live_onese/`` for ``suite_live.py --live-dir
suite_live_onese --ratio``. Measured 7 Dec 2026 on the development half: 23 of 32 cells meet
all three criteria against the default's 27 (``docs/model-selection.md``, "Third pass").

    .venv/bin/python benchmarks/selection/run_onese_within_form.py pi_cv_cp sarcos_t1_rest ...
"""

import os
import sys
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_suite as RS  # noqa: E402
from suite_cases import CASES, load_case, sizes_for  # noqa: E402

import affinetl.selection._rules as R  # noqa: E402
from affinetl._forms import RIDGE_FORM_KERNEL, source_rms  # noqa: E402
from affinetl.kernels import gram_matrix  # noqa: E402
from affinetl.selection import AffineTransferCV  # noqa: E402

STATE = {}
_orig = R.form_best


def form_best_1se(mean, labels):
    """Per form, the simplest candidate within one paired SE of the form's best."""
    best = _orig(mean, labels)
    st = STATE.get("cur")
    if st is None or len(mean) != len(st["cx"]):
        return best
    S, cx = st["scores"], st["cx"]
    out = {}
    for f, b in best.items():
        tied = []
        for i, lab in enumerate(labels):
            if lab != f or not np.isfinite(mean[i]):
                continue
            d = S[b] - S[i]
            se = d.std(ddof=1) / np.sqrt(d.size) if d.size > 1 else 0.0
            if np.all(np.isfinite(d)) and d.mean() <= se:
                tied.append(i)
        out[f] = min(tied, key=lambda i: (cx[i], -mean[i])) if tied else b
    return out


class OneSE(AffineTransferCV):
    """The default estimator with :func:`form_best_1se` as the rules' choice of each form's
    candidate, during its own ``fit`` only (other estimators in the process are unaffected)."""

    def fit(self, X, y, groups=None):
        R.form_best = form_best_1se
        try:
            return super().fit(X, y, groups)
        finally:
            R.form_best = _orig
            STATE.pop("cur", None)

    def _evaluate(self, x, u_raw, y, forms, splits, score):
        parts = super()._evaluate(x, u_raw, y, forms, splits, score)
        xs = StandardScaler().fit_transform(x) if self.standardize and x.shape[1] else x
        us = StandardScaler().fit_transform(u_raw) if self.standardize else u_raw
        eig = {}

        def spec(key, build):
            if key not in eig:
                K = build()
                eig[key] = np.clip(np.linalg.eigvalsh(0.5 * (K + K.T)), 0, None)
            return eig[key]

        def K3(g):
            return gram_matrix(self.kernel3, xs, None, g)

        def K1(g):
            return gram_matrix(self.kernel1, us, None, g)

        def df(c):
            f = c["form"]
            kind = "h1+g3" if f == "full" else RIDGE_FORM_KERNEL.get(f)
            if kind is None:
                return (0.0, 0.0)
            if kind == "g3":
                s = spec(("g3", c["gamma3"]), lambda: K3(c["gamma3"]))
                lam = c["lambda3"]
            elif kind == "h1":
                s = spec(("h1", c["gamma1"]), lambda: K1(c["gamma1"]))
                lam = c["lambda1"]
            elif kind == "u*g3":
                d = u_raw[:, 0] / source_rms(u_raw, self.standardize)
                s = spec(("u*g3", c["gamma3"]), lambda: d[:, None] * K3(c["gamma3"]) * d[None, :])
                lam = c["lambda3"]
            else:  # const (and the full form's const part): K3 + (l3 / l1) K1, penalty l3
                r = c["lambda3"] / c["lambda1"]
                s = spec(
                    ("c", c["gamma1"], c["gamma3"], r),
                    lambda: K3(c["gamma3"]) + r * K1(c["gamma1"]),
                )
                lam = c["lambda3"]
            return (
                float(np.sum(s / (s + lam))),
                -float(c.get("lambda2", 0.0)) if f == "full" else 0.0,
            )

        cands = [c for p in parts for c in p[0]]
        keep = np.array([c["form"] in forms for c in cands])
        scores = np.vstack([p[1] for p in parts])[keep]
        STATE["cur"] = {"scores": scores, "cx": [df(c) for c, k in zip(cands, keep) if k]}
        return parts


if __name__ == "__main__":
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    out = RS.OUT.with_name("suite_live_onese")
    for name in sys.argv[1:]:
        data = load_case(name)
        for n in sizes_for(data):
            for rep in range(30):
                path = out / name / f"n{n}_r{rep}.npz"
                if path.exists():
                    continue
                RS._save(
                    path, RS.live_split(data, n, rep, CASES[name].in_target_units, estimator=OneSE)
                )
        print("done", name, flush=True)
