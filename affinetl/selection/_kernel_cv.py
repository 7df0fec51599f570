"""AffineTransferCV: the kernel family's model form and hyper-parameters by cross-validation.

The search evaluates every candidate on the same splits and scores them by the hold-out error:

* Ridge-type forms (everything but ``full``) use the closed-form hold-out residuals of
  :mod:`affinetl._solvers._ridge`: one eigendecomposition per Gram matrix (per kernel width, per
  const-ratio ``lambda3 / lambda1``) serves the whole penalty path and every fold. The Gram
  matrices of ``x`` are shared by ``offset``, ``offset_calibrated``, ``direct`` and ``const``.
* The ``full`` form has no closed form. It is screened from the ``n_full_starts`` best ``const``
  settings (the full model tends to the const model as ``lambda2 -> inf``) with their penalties
  ``lambda1``, ``lambda3`` scaled up (``full_scales``). Every (setting, fold, ``lambda2``) fit is
  one member of a batched damped Newton solve (``affinetl._solvers.fit_affine_batch``) from the
  member's const solution; folds of equal training size share one batch, so the whole screen
  costs a few dozen batched linear solves.
* Inputs are standardised once with the mean and standard deviation of the data given to
  ``fit`` (no target information) so that fold fits share one set of Gram matrices; this is
  what makes the closed forms exact. The refit on all data uses the same standardisation.
"""

from __future__ import annotations

import time
from itertools import product
from numbers import Integral
from typing import Any

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.preprocessing import StandardScaler

from .._forms import (
    G1_KERNEL_FORMS,
    KERNEL_FORMS,
    RIDGE_FORM_KERNEL,
    TARGET_UNIT_FORMS,
    form_design,
    form_target,
    source_rms,
)
from .._solvers import fit_affine_batch
from ..base import Interval, StrOptions, store_params
from ..kernels import KERNEL_NAMES, default_gamma, gram_matrix
from ..models import AffineTransferRegressor
from ._base import COMMON_CONSTRAINTS, TransferCVBase, logger
from ._scoring import Gram, path_candidates, positive, row_scores, score_ridge_tasks

__all__ = ["AffineTransferCV"]

# the default grid: ``lambdas``, ``ratios``, ``lambda2_path``, ``full_scales`` (their ``None``)
# and ``widths``, as described in the docstring of :class:`AffineTransferCV`
DEFAULT_LAMBDAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
DEFAULT_RATIOS = (0.01, 0.1, 1.0, 10.0, 100.0)
DEFAULT_LAMBDA2 = (1.0, 0.1, 0.01)
DEFAULT_FULL_SCALES = (10.0, 100.0)
DEFAULT_WIDTHS = (0.25, 1.0, 4.0)


class AffineTransferCV(TransferCVBase):
    """Kernel affine transfer with the model form and hyper-parameters chosen by CV.

    Selects, by cross-validation on the training data only, one form of the family
    ``g1(u) + g2(u) g3(x)`` (``u = f_s(x)``) and its penalties and kernel widths:
    ``source_linear`` (calibrated source ``a0 + a1'u``), ``offset`` (HTL-offset, ``u`` plus a
    kernel ``g3``), ``source_kernel`` (kernel ridge on ``u``), ``direct`` (kernel ridge on ``x``,
    no transfer), ``offset_calibrated`` (``a0 + a1'u`` plus a kernel ``g3``), ``const``
    (AffineTL-const) and ``full`` (AffineTL-full); the forms of :class:`~affinetl.AffineTransferRegressor`. Each
    fixed special case is one of the candidates, so the CV error of the selection is never
    above theirs on the same splits.

    Hold-out errors of the ridge-type forms are exact closed forms from one eigendecomposition
    per Gram matrix for the whole penalty path and all folds; the full form is screened from
    the best const settings, all its fold fits solved together by batched Newton steps
    (``affinetl._solvers``).

    Parameters
    ----------
    forms : list of str, str or None, default=None
        Candidate forms; ``None`` is every form (``offset`` only with one source feature;
        ``source_as_is``, ``source_plus_const``, ``ratio`` and ``ratio_calibrated`` only with
        ``source_in_target_units``).
    source_in_target_units : bool or "auto", default="auto"
        Whether the (single) source feature is the target's own quantity in the target's
        units (an MD density for a measured density). ``True`` adds the zero- and
        one-parameter special cases ``source_as_is`` (``f_t = u``) and ``source_plus_const``
        (``u + a0``) and the scale forms ``ratio`` (``a0 + u + u g3(x)``, ratio learning) and
        ``ratio_calibrated`` (``a0 + a1 u + u g3(x)``) to the searched and averaged family, and
        makes the average prefer the simple forms (see ``rule``); outside the training range
        of ``u`` the average then leaves nothing to the forms whose ``g1`` is a kernel of
        ``u`` alone (``outside_range_keep_ = 0``: the forms that follow ``u`` carry those
        rows). ``"auto"`` (default) decides from the training data: ``True`` when there is one
        source feature and, on the search's splits, ``y - u`` about its training mean has a
        lower held-out error than both ``y`` and ``u`` about theirs (two measurements of one
        quantity differ by less than either varies; ``source_in_target_units_`` records the
        answer). On the real-case suite of ``docs/model-selection.md`` the test agrees with
        the declared units in every split of the cases whose source is not in the target's
        units, and takes the unit forms in every split of the experimental densities. ``True``
        also checks that the source column was not standardised on the data given to ``fit``
        (a ``StandardScaler`` in a ``Pipeline``): ``y - u`` would then mix units, so it raises
        a ``ValueError``; pass the source column through unscaled
        (``ColumnTransformer(..., remainder="passthrough")``) instead. With ``"auto"`` or
        ``False`` such a column gives a warning, is taken as not in the target's units, and the
        ``offset`` form (``y - u`` on a z-score) is left out of the default family (on the
        suite's development half, ``docs/model-selection.md``, it made 3 of 28 cells miss a
        criterion). ``offset`` is otherwise searched whatever the units.
    kernel1, kernel2, kernel3 : str, sklearn kernel or callable, default="rbf"
        Kernels of ``h1``, ``h2`` (on u) and ``g3`` (on x).
    widths : sequence of float, default=(0.25, 1.0, 4.0)
        Kernel widths searched, as multiples of the default ``1 / (2 dim)`` of each named
        kernel (kernel objects and ``"linear"`` have no width).
    lambdas : sequence of float or None, default=None
        Penalty path of ``lambda1`` (source_kernel) and ``lambda3`` (the ``g3`` forms);
        ``None`` is ``(1e-3, ..., 100)``, six decades.
    ratios : sequence of float or None, default=None
        Ratios ``lambda3 / lambda1`` of the const form; ``None`` is ``(0.01, 0.1, 1, 10, 100)``.
    lambda2_path : sequence of float or None, default=None
        ``lambda2`` values of the full form, each fitted from the const solution;
        ``None`` is ``(1, 0.1, 0.01)`` (the target is scaled to unit standard deviation).
    n_full_starts : int, default=2
        Number of best const settings from which the full form is fitted.
    full_scales : sequence of float or None, default=None
        Multipliers of ``lambda1`` and ``lambda3`` of each screened const setting: the full
        form is fitted from every (setting, multiplier) pair. ``None`` is ``(10, 100)``: the
        penalties that suit the const model (which must absorb the source-input interaction
        into ``h1`` and ``g3``) are too small for the full model, where ``h2 g3`` carries it
        (and the full model near the const penalties is both slow to fit and, where it fits
        well, within reach of the const form itself). Include 1 to start at the const
        penalties too.
    cv : int, CV splitter, iterable or None, default=None
        Any scikit-learn splitter (``GroupKFold`` with ``groups`` in ``fit``); ``None`` is
        leave-one-out below 20 samples and shuffled 5-fold otherwise (:func:`default_cv`).
    g1_linear : {False, True, "both"}, default=False
        Linear source terms ``a1'u`` in the kernel ``g1`` of ``source_kernel``, ``const`` and
        ``full`` (see :class:`~affinetl.AffineTransferRegressor`): ``"both"`` searches each of these forms
        with and without them (``g1_linear`` in ``best_params_``). On the real cases "both"
        did not select better on average (``docs/model-selection.md``), so it is not the
        default.
    rule : {"average", "one_se", "best"}, default="average"
        ``"average"``: every form's best candidate is refitted and the prediction is their
        weighted average. The CV weight of a form is ``exp(-z)``, ``z`` its score gap to the
        best form in standard errors of the paired difference of their scores on each held-out
        row (a smooth tie band; forms more than 2.5 standard errors below the best, weights
        below 1 % and calibrations with fewer than two fold samples per unpenalised coefficient
        left out),
        anchored to the best simple form (``source_as_is``, ``source_plus_const``,
        ``source_linear``: every other form keeps ``min(1, exp(z_a - 1))`` of its weight,
        ``z_a`` its paired score gain over that form in standard errors), stored in
        ``form_weights_``; each prediction row
        then adjusts them for where the forms can be trusted (:meth:`predict_form_weights`:
        a kernel ``g1(u)`` keeps ``outside_range_keep_`` of its weight outside the training
        range of ``u``, none with the source in the target's units; calibrations are weighted by
        their relative prediction variance).
        Measured on 52 real cells in ``docs/model-selection.md``. ``"one_se"``: the simplest form (order of
        :func:`~affinetl.selection.form_complexity`: :data:`~affinetl.selection.COMPLEXITY`,
        plus the number of linear source coefficients beyond the first when a fold has fewer
        than five training samples per unpenalised coefficient) whose best candidate's mean
        score is within one standard error of the overall best's, the standard error of their
        paired per-split score difference; then that form's best hyper-parameters: one
        interpretable ``(g1, g2, g3)``. ``"best"``: the highest mean CV score.
    scoring : {"neg_mean_squared_error", "neg_mean_absolute_error"}, default="neg_mean_squared_error"
        Score of each split's hold-out predictions.
    standardize : bool, default=True
        Standardise ``x`` and ``u`` once with the training statistics.
    max_iter : int, default=200
    tol : float, default=1e-6
        Newton iteration limit and relative step tolerance of the full form (in the search and
        the refit).
    n_jobs : int or None, default=None
        joblib workers for the kernel-width tasks and the full-form folds.
    random_state : int, RandomState or None, default=None
        Seed of the default 5-fold shuffle.
    source, source_columns, input_columns
        Where ``u`` and ``x`` come from; see :class:`affinetl.base.SourceFeatureMixin`.

    Attributes
    ----------
    source_in_target_units_ : bool
        Whether the source was taken to be in the target's units (``source_in_target_units``,
        or the answer of its ``"auto"`` test).
    best_form_ : str
    best_params_ : dict
        Form and hyper-parameters of the selected candidate (``AffineTransferRegressor``
        keywords): the rule's choice, and with ``rule="average"`` the one-SE rule's (the form
        that answers "which form when"; the prediction is the average).
    best_score_ : float
        Its mean CV score.
    best_index_ : int
    best_estimator_ : AffineTransferRegressor
        The selected candidate (``best_params_``) refitted on all data: with
        ``rule="average"``, the single-form summary of the search.
    form_weights_ : dict
        CV weight of each form in the prediction (``{best_form_: 1.0}`` unless
        ``rule="average"``), largest first; keys are form labels (``+linear`` marks the
        linear-``g1`` variants). Per-row weights: :meth:`predict_form_weights`.
    estimators_ : dict
        The refitted model of each form in ``form_weights_``.
    source_range_ : ndarray of shape (2, n_source_features)
        Minimum and maximum of each source feature over the training data.
    source_design_inv_ : ndarray of shape (1 + n_source_features, 1 + n_source_features)
        Pseudo-inverse of ``Z'Z``, ``Z = [1, u]`` on the training data (calibration leverage).
    mean_leverage_ : float
        Mean leverage of the training rows in ``Z`` (``rank(Z) / n``).
    range_limited_forms_ : tuple of str
        Averaged forms whose ``g1`` is a kernel of ``u`` alone: no weight outside
        ``source_range_``.
    linear_source_forms_ : tuple of str
        Averaged forms with unpenalised linear source terms: weighted by leverage.
    cv_results_ : dict of ndarray
        One row per candidate in the ``GridSearchCV`` format (``params``, ``param_<name>``
        masked where a form lacks the parameter, ``split<k>_test_score``, ``mean_test_score``,
        ``std_test_score``, ``rank_test_score``; fit times are the search time shared
        equally among a task's candidates).
    form_scores_ : dict
        Best mean CV score of each form.
    n_splits_ : int
    n_iter_ : int
        Block-relaxation sweeps of the refit (1 for the closed-form special cases).
    search_time_, refit_time_ : float
        Seconds spent in the search and in the refit.

    See Also
    --------
    LinearAffineTransferCV : the same selection for the linear fused-ridge family.
    AffineTransferRegressor : one form with fixed hyper-parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from affinetl.selection import AffineTransferCV
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(-1, 1, size=(40, 2)); u = rng.normal(size=(40, 1))
    >>> y = 0.5 + 2.0 * u[:, 0] + 0.01 * rng.normal(size=40)
    >>> cv = AffineTransferCV(forms=["source_linear", "const"], widths=[1.0], random_state=0)
    >>> cv.fit(np.hstack([x, u]), y).best_form_
    'source_linear'
    """

    _UNIT_FORMS = TARGET_UNIT_FORMS
    _FORMS = KERNEL_FORMS
    _ESTIMATOR = AffineTransferRegressor
    _REFIT_PARAMS = ("kernel1", "kernel2", "kernel3", *TransferCVBase._REFIT_PARAMS)
    _parameter_constraints: dict[str, list[Any]] = {
        **COMMON_CONSTRAINTS,
        # the refit's parameters: as the refitted estimator validates them
        **{k: AffineTransferRegressor._parameter_constraints[k] for k in _REFIT_PARAMS},
        "widths": [list, tuple, np.ndarray],
        "lambdas": [None, list, tuple, np.ndarray],
        "ratios": [None, list, tuple, np.ndarray],
        "lambda2_path": [None, list, tuple, np.ndarray],
        "n_full_starts": [Interval(Integral, 1, None, closed="left")],
        "full_scales": [None, list, tuple, np.ndarray],
        "g1_linear": [StrOptions({"both"}), "boolean"],
    }

    def __init__(
        self,
        *,
        forms: Any = None,
        source_in_target_units: bool | str = "auto",
        kernel1: Any = "rbf",
        kernel2: Any = "rbf",
        kernel3: Any = "rbf",
        widths: Any = DEFAULT_WIDTHS,
        lambdas: Any = None,
        ratios: Any = None,
        lambda2_path: Any = None,
        n_full_starts: int = 2,
        full_scales: Any = None,
        g1_linear: Any = False,
        cv: Any = None,
        rule: str = "average",
        scoring: str = "neg_mean_squared_error",
        standardize: bool = True,
        max_iter: int = 200,
        tol: float = 1e-6,
        n_jobs: int | None = None,
        random_state: Any = None,
        source: Any = None,
        source_columns: Any = None,
        input_columns: Any = "rest",
    ) -> None:
        store_params(self, locals())

    @staticmethod
    def _reverts_outside_source_range(params: dict[str, Any]) -> bool:
        return params["form"] in G1_KERNEL_FORMS and not params.get("g1_linear", False)

    def _may_keep_outside_range(self) -> bool:
        # a source in the target's units: beyond its training range the forms that follow u
        # (slope 1 or a calibration) are the ones to trust, whatever the CV curvature
        return not self.source_in_target_units_

    def _gammas(self, kernel: Any, dim: int) -> list[float | None]:
        if isinstance(kernel, str) and kernel in KERNEL_NAMES and kernel != "linear":
            return [float(w * default_gamma(dim)) for w in positive(self.widths, "widths")]
        return [None]

    def _evaluate(self, x, u_raw, y, forms, splits, score):
        xs = StandardScaler().fit_transform(x) if self.standardize and x.shape[1] else x
        us = StandardScaler().fit_transform(u_raw) if self.standardize else u_raw
        lams = positive(self.lambdas, "lambdas", DEFAULT_LAMBDAS)
        ratios = positive(self.ratios, "ratios", DEFAULT_RATIOS)
        # const is searched for the full form too: its best settings are the full form's starts
        ridge = [f for f in forms if f not in ("const", "full")]
        ridge += ["const"] if "const" in forms or "full" in forms else []
        kinds = {RIDGE_FORM_KERNEL[f] for f in ridge}
        g1s = self._gammas(self.kernel1, us.shape[1]) if kinds & {"h1", "h1+g3"} else []
        g3s = self._gammas(self.kernel3, xs.shape[1]) if kinds & {"g3", "h1+g3", "u*g3"} else []
        K1 = {g: gram_matrix(self.kernel1, us, None, g) for g in g1s}
        K3 = {g: gram_matrix(self.kernel3, xs, None, g) for g in g3s}
        # each block kind's kernel settings: (parameters, Gram, penalties as divisors of lambda)
        settings: dict[str | None, list] = {None: [({}, None, {})]}
        settings["h1"] = [({"gamma1": g}, Gram(K), {"lambda1": 1.0}) for g, K in K1.items()]
        settings["g3"] = [({"gamma3": g}, Gram(K), {"lambda3": 1.0}) for g, K in K3.items()]
        if "u*g3" in kinds:  # the scale forms: g2 = u / rms, the Gram matrix of g2 g3 is D K3 D
            d = u_raw[:, 0] / source_rms(u_raw, self.standardize)
            settings["u*g3"] = [
                ({"gamma3": g}, Gram(d[:, None] * K * d[None, :]), {"lambda3": 1.0})
                for g, K in K3.items()
            ]
        settings["h1+g3"] = [  # AffineTL-const: the summed kernel K3 + (lambda3 / lambda1) K1
            ({"gamma1": a, "gamma3": b}, Gram(K3[b] + r * K1[a]), {"lambda1": r, "lambda3": 1.0})
            for a, b, r in (product(g1s, g3s, ratios) if "h1+g3" in kinds else [])
        ]
        flags = [False, True] if self.g1_linear == "both" else [bool(self.g1_linear)]
        tasks = []  # (candidate dicts, ridge_scores arguments)
        for form in ridge:
            kind = RIDGE_FORM_KERNEL[form]
            t, path = form_target(form, y, u_raw), (lams if kind else [1.0])
            lins = flags if form in G1_KERNEL_FORMS else [None]
            for (params, gram, pen), lin in product(settings[kind], lins):
                extra = {} if lin is None else {"g1_linear": lin}
                cands = [
                    {"form": form, **params, **{k: float(lam / d) for k, d in pen.items()}} | extra
                    for lam in path
                ]
                tasks.append((cands, (gram, form_design(form, us, bool(lin)), t, path)))
        scored = score_ridge_tasks(tasks, y, splits, score, self.n_jobs)
        if "full" not in forms:
            return [scored]
        starts = self._full_starts(scored[0], np.mean(scored[1], axis=1), flags)
        return [scored, self._full(K1, K3, us, y, starts, splits, score)]

    def _full_starts(self, candidates, mean, flags) -> list[dict]:
        """The starts of the full form: the ``n_full_starts`` best const settings of each
        ``g1_linear`` variant, with ``lambda1`` and ``lambda3`` times each ``full_scales``."""
        scales = positive(self.full_scales, "full_scales", DEFAULT_FULL_SCALES)
        starts: list[dict] = []
        for flag in flags:
            idx = [
                i
                for i, c in enumerate(candidates)
                if c["form"] == "const" and c.get("g1_linear", False) == flag
            ]
            best = np.argsort(-np.nan_to_num(mean[idx], nan=-np.inf), kind="stable")
            for i, f in product(best[: self.n_full_starts], scales):
                c = candidates[idx[i]]
                st = dict(c, lambda1=float(c["lambda1"] * f), lambda3=float(c["lambda3"] * f))
                if st not in starts:
                    starts.append(st)
        return starts

    def _full(self, K1, K3, us, y, starts, splits, score):
        """Full-form scores of every screened start along its ``lambda2`` path (module
        docstring), with the search's Gram matrices ``K1``, ``K3``; joblib runs the batches (one
        per training size and design, in ``n_jobs`` chunks) in parallel."""
        lam2 = np.sort(positive(self.lambda2_path, "lambda2_path", DEFAULT_LAMBDA2))[::-1]
        named = isinstance(self.kernel2, str) and self.kernel2 != "linear"
        # h2 lives on u, as h1: the same width
        starts = [
            {**st, "form": "full", "gamma2": st["gamma1"] if named else None} for st in starts
        ]
        K2 = {g: gram_matrix(self.kernel2, us, None, g) for g in {st["gamma2"] for st in starts}}
        grams = [(K1[st["gamma1"]], K2[st["gamma2"]], K3[st["gamma3"]]) for st in starts]
        L = lam2.size
        by_size: dict[tuple[int, bool], list[tuple[int, int]]] = {}
        for k, j in product(range(len(starts)), range(len(splits))):
            key = (len(splits[j][0]), starts[k].get("g1_linear", False))
            by_size.setdefault(key, []).append((k, j))
        n_chunks = effective_n_jobs(self.n_jobs)
        batches = [p[c::n_chunks] for p in by_size.values() for c in range(min(n_chunks, len(p)))]

        def one(pairs):
            t0 = time.perf_counter()
            m = max(len(splits[j][1]) for _, j in pairs)
            train, test, Zs, Zes, lams = [], [], [], [], []
            for k, j in pairs:
                tr, te = splits[j]
                train.append([K[np.ix_(tr, tr)] for K in grams[k]])
                test.append(
                    [np.pad(K[np.ix_(te, tr)], ((0, m - te.size), (0, 0))) for K in grams[k]]
                )
                lin = starts[k].get("g1_linear", False)
                Zs.append(form_design("full", us[tr], lin))
                Zes.append(np.pad(form_design("full", us[te], lin), ((0, m - te.size), (0, 0))))
                lams += [(starts[k]["lambda1"], float(l2), starts[k]["lambda3"]) for l2 in lam2]
            scale, res = fit_affine_batch(
                *(np.stack(Ks) for Ks in zip(*train)),
                np.stack([y[splits[j][0]] for _, j in pairs]),
                np.asarray(lams),
                problem=np.repeat(np.arange(len(pairs)), L),
                design=np.stack(Zs),
                evals=tuple(np.stack(Es) for Es in zip(*test)),
                design_eval=np.stack(Zes),
                max_iter=self.max_iter,
                tol=self.tol,
            )
            pred = (scale[:, None] * res.predictions).reshape(len(pairs), L, m)
            out = [  # (L, n_test) row scores of each (start, split)
                row_scores(score, y[te] - pred[q][:, : te.size])
                for q, te in enumerate(splits[j][1] for _, j in pairs)
            ]
            return out, int(np.sum(~res.converged)), time.perf_counter() - t0

        results = Parallel(n_jobs=self.n_jobs)(delayed(one)(pairs) for pairs in batches)
        table: list[list] = [[None] * len(splits) for _ in starts]
        seconds = np.zeros(len(starts))
        for pairs, (out, _, dt) in zip(batches, results):
            for p, (k, j) in enumerate(pairs):
                table[k][j] = out[p]
                seconds[k] += dt / len(pairs)
        not_conv = sum(nc for _, nc, _ in results)
        if not_conv:
            logger.info("full form: %d fold fits reached max_iter=%d", not_conv, self.max_iter)
        return path_candidates(starts, "lambda2", lam2, table, seconds)
