"""OptunaSearchCV: a scikit-learn meta-estimator that tunes any estimator with Optuna, and tune()."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
import optuna
from numpy.typing import ArrayLike
from optuna.distributions import BaseDistribution
from sklearn.base import BaseEstimator, MetaEstimatorMixin, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from ._objective import CVObjective, resolve_splits
from ._spaces import decode_params, get_space, space_to_dict
from ._study import (
    FINISHED,
    data_hash,
    estimator_config,
    n_finished,
    open_storage,
    open_study,
    tpe_sampler,
)

__all__ = ["OptunaSearchCV", "TuningResult", "tune"]

logger = logging.getLogger(__name__)


def _default_pruner(steps_per_fold: int | None = None) -> optuna.pruners.BasePruner:
    """Median pruner; per-epoch reports first get a tenth of the epoch budget as warm-up."""
    warmup = max(1, steps_per_fold // 10) if steps_per_fold else 1
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup)


def _package_version() -> str:
    from .. import __version__  # noqa: PLC0415

    return __version__


class OptunaSearchCV(MetaEstimatorMixin, RegressorMixin, BaseEstimator):
    """Hyper-parameter search by Optuna with cross-validation, as a scikit-learn estimator.

    Runs trials of a seeded TPE sampler until the study holds ``n_trials`` finished (complete or
    pruned) trials or ``timeout`` seconds pass, each trial scoring one parameter setting by CV
    with a clone of ``estimator``; a median pruner stops poor settings early (after a fold, or
    after an epoch of iterative estimators). Then refits the best setting on all data. With a
    ``storage`` and ``study_name`` the study persists, resumes after interruption without
    repeating finished trials, and can be shared by several worker processes.

    Parameters
    ----------
    estimator : estimator
        Unfitted estimator or Pipeline.
    space : dict of str to BaseDistribution or None, optional
        Overrides merged onto the registered space of the estimator's class (``None`` values
        remove a parameter); with ``use_default_space=False`` the complete space.
    use_default_space : bool, default=True
        Start from :func:`affinetl.tuning.get_space` of the estimator.
    n_trials : int, default=30
        Finished trials the study should hold (trials already in a resumed study count).
    timeout : float or None, default=None
        Stop starting new trials after this many seconds.
    cv : int, splitter or iterable, default=5
        Cross-validation (``int``: unshuffled K-fold); group splitters take ``groups`` in fit.
    scoring : str, callable or None, default="neg_mean_squared_error"
        Higher is better (scikit-learn scorer convention).
    prune : {"auto", "folds", "epochs", "none"}, default="auto"
        Intermediate values reported to the pruner; see :class:`affinetl.tuning.CVObjective`.
        The torch estimators (``callbacks`` parameter) are pruned per epoch under ``"auto"``.
    pruner : optuna.pruners.BasePruner or None, default=None
        Any Optuna pruner (``MedianPruner``, ``HyperbandPruner``, ...). ``None``:
        ``MedianPruner(n_startup_trials=5, n_warmup_steps=1)``, with per-epoch reports
        ``n_warmup_steps`` = a tenth of the largest epoch budget (the first fold's early epochs
        are never pruned).
    epoch_score : {"fold", "loss"}, default="fold"
        Per-epoch value of estimators with ``callbacks``: the score on the CV fold's held-out
        rows, or the negated training-loop loss; see :class:`affinetl.tuning.CVObjective`.
    report_interval : int, default=1
        Epochs between per-epoch reports (each report is a storage write).
    sampler : optuna.samplers.BaseSampler or None, default=None
        ``None``: multivariate TPE seeded per trial from ``random_state``.
    storage : str, path, BaseStorage or None, default=None
        Where the study lives (see :func:`affinetl.tuning.open_storage`); ``None``: memory.
    study_name : str or None, default=None
        Name of the study to create or resume. ``None`` with ``storage=None``: a name fixed
        by ``random_state`` (so pruners that hash it, like Hyperband, repeat their choices).
    heartbeat_interval : int or None, default=None
        RDB storages: heartbeat seconds, so trials of killed workers are failed and retried.
    refit : bool, default=True
        Refit the best setting on the whole data set.
    error_score : "raise" or float, default=nan
        Value of a trial whose fit raises (NaN: the trial fails and is not counted).
    random_state : int, default=0
        Seed of the default sampler.
    progress_bar : bool, default=False
        Show Optuna's tqdm progress bar.

    Attributes
    ----------
    study_ : optuna.Study
    best_params_ : dict
        Best setting as ``set_params`` values (virtual search parameters decoded).
    best_score_ : float
        Mean CV score of the best trial.
    best_estimator_ : estimator
        Refitted on all data (``refit=True``).
    best_trial_ : optuna.trial.FrozenTrial
    cv_results_ : dict of str to ndarray
        One entry per trial of the study (GridSearchCV layout: ``params``, ``param_<name>``,
        ``mean_test_score``, ``std_test_score``, ``split<k>_test_score``, ``rank_test_score``,
        plus ``state``, ``n_fits`` and ``n_epochs``).
    n_trials_ : int
        Finished trials in the study.
    n_fits_ : int
        Model fits of all trials of the study, plus one for the refit.
    n_epochs_ : int
        Training epochs of all trials (0 unless reported per epoch), without the refit.
    n_pruned_ : int
        Trials the pruner stopped.
    n_splits_ : int
    space_ : dict of str to BaseDistribution

    Examples
    --------
    >>> import numpy as np
    >>> from affinetl import DirectRegressor
    >>> from affinetl.tuning import OptunaSearchCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, size=(40, 2)); y = np.sin(2 * X[:, 0])
    >>> search = OptunaSearchCV(DirectRegressor(), n_trials=6, random_state=0).fit(X, y)
    >>> sorted(search.best_params_)
    ['alpha', 'gamma', 'kernel']
    >>> search.predict(X[:3]).shape
    (3,)
    """

    def __init__(
        self,
        estimator: Any,
        *,
        space: Mapping[str, BaseDistribution | None] | None = None,
        use_default_space: bool = True,
        n_trials: int = 30,
        timeout: float | None = None,
        cv: Any = 5,
        scoring: str | Callable | None = "neg_mean_squared_error",
        prune: str = "auto",
        pruner: optuna.pruners.BasePruner | None = None,
        sampler: optuna.samplers.BaseSampler | None = None,
        storage: Any = None,
        study_name: str | None = None,
        heartbeat_interval: int | None = None,
        refit: bool = True,
        error_score: str | float = math.nan,
        epoch_score: str = "fold",
        report_interval: int = 1,
        random_state: int = 0,
        progress_bar: bool = False,
    ) -> None:
        self.estimator = estimator
        self.space = space
        self.use_default_space = use_default_space
        self.n_trials = n_trials
        self.timeout = timeout
        self.cv = cv
        self.scoring = scoring
        self.prune = prune
        self.pruner = pruner
        self.sampler = sampler
        self.storage = storage
        self.study_name = study_name
        self.heartbeat_interval = heartbeat_interval
        self.refit = refit
        self.error_score = error_score
        self.epoch_score = epoch_score
        self.report_interval = report_interval
        self.random_state = random_state
        self.progress_bar = progress_bar

    def _resolve_space(self, X: ArrayLike) -> dict[str, BaseDistribution]:
        if self.use_default_space:
            return get_space(self.estimator, X, overrides=self.space)
        from ._spaces import EmptySearchSpaceError  # noqa: PLC0415

        space = {k: v for k, v in (self.space or {}).items() if v is not None}
        if not space:
            raise EmptySearchSpaceError(
                "use_default_space=False needs a non-empty `space` of optuna distributions"
            )
        valid = set(self.estimator.get_params(deep=True))
        unknown = sorted(set(space) - valid)
        if unknown:
            raise ValueError(
                f"search-space parameter(s) {unknown} are not parameters of "
                f"{type(self.estimator).__name__}"
            )
        return space

    def fit(
        self, X: ArrayLike, y: ArrayLike, groups: ArrayLike | None = None, **fit_params: Any
    ) -> OptunaSearchCV:
        """Run the search (or resume it) and refit the best setting.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        groups : array-like of shape (n_samples,), optional
            Group labels for group splitters (e.g. polymers sharing a backbone).
        **fit_params
            Passed to the estimator's ``fit`` (sample-aligned ones are sliced per fold).

        Returns
        -------
        self
        """
        if not isinstance(self.n_trials, (int, np.integer)) or self.n_trials < 1:
            raise ValueError(f"n_trials must be a positive integer, got {self.n_trials!r}")
        # everything that can fail on bad input is checked before the storage is touched
        space = self._resolve_space(X)
        splits = resolve_splits(self.cv, X, y, groups)
        objective = CVObjective(
            self.estimator,
            X,
            y,
            space,
            splits,
            scoring=self.scoring,
            fit_params=fit_params,
            prune=self.prune,
            error_score=self.error_score,
            epoch_score=self.epoch_score,
            report_interval=self.report_interval,
        )
        attrs = {
            "affinetl_version": _package_version(),
            "optuna_version": optuna.__version__,
            "estimator": estimator_config(self.estimator),
            "space": space_to_dict(space),
            "data_hash": data_hash(X, y, groups),
            "scoring": _describe(self.scoring),
            "cv": _describe(self.cv, n_splits=len(splits)),
            "n_samples": len(y),
        }
        storage = open_storage(self.storage, heartbeat_interval=self.heartbeat_interval)
        sampler = self.sampler if self.sampler is not None else tpe_sampler(self.random_state)
        pruner = (
            self.pruner if self.pruner is not None else _default_pruner(objective.steps_per_fold)
        )
        study_name = self.study_name
        if study_name is None and storage is None:
            # a fixed name for an in-memory study: Hyperband assigns brackets by hashing the
            # study name with the trial number, so a generated (random) name would make the
            # search depend on more than ``random_state``
            study_name = f"affinetl-search-seed{self.random_state}"
        study = open_study(study_name, storage, attrs=attrs, sampler=sampler, pruner=pruner)
        remaining = int(self.n_trials) - n_finished(study)
        if remaining > 0:
            study.optimize(
                objective,
                n_trials=remaining,
                timeout=self.timeout,
                callbacks=[optuna.study.MaxTrialsCallback(int(self.n_trials), states=FINISHED)],
                show_progress_bar=self.progress_bar,
            )
        else:
            logger.info("study %r already holds %d finished trials", study.study_name, -remaining)
        self.study_ = study
        self.space_ = space
        self.n_splits_ = len(splits)
        self._collect(study)
        if self.refit:
            self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_)
            self.best_estimator_.fit(X, y, **fit_params)
            self.n_fits_ += 1
        return self

    def _collect(self, study: optuna.Study) -> None:
        trials = study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not complete:
            raise RuntimeError(
                f"no trial of study {study.study_name!r} completed "
                f"({len(trials)} trials; states {sorted({t.state.name for t in trials})}); "
                "see the `error` user attribute of the failed trials"
            )
        self.best_trial_ = study.best_trial
        self.best_params_ = decode_params(self.estimator, self.best_trial_.params)
        self.best_score_ = float(self.best_trial_.value)
        self.n_trials_ = n_finished(study)
        self.n_fits_ = int(sum(t.user_attrs.get("n_fits", 0) for t in trials))
        self.n_epochs_ = int(sum(t.user_attrs.get("n_epochs", 0) for t in trials))
        self.n_pruned_ = sum(t.state == optuna.trial.TrialState.PRUNED for t in trials)
        self.cv_results_ = _cv_results(trials, self.n_splits_)

    def _check(self) -> Any:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict with the refitted best estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._check().predict(X)

    def score(self, X: ArrayLike, y: ArrayLike) -> float:
        """Score of the refitted best estimator with ``scoring`` (R^2 if ``scoring=None``)."""
        from sklearn.metrics import check_scoring  # noqa: PLC0415

        return float(check_scoring(self.estimator, scoring=self.scoring)(self._check(), X, y))


def _describe(obj: Any, n_splits: int | None = None) -> str:
    """Stable text of a scorer or splitter (same in every process, recorded with the study)."""
    if obj is None or isinstance(obj, str):
        return str(obj)
    if isinstance(obj, (int, np.integer)):
        return f"KFold(n_splits={int(obj)})"
    if hasattr(obj, "get_n_splits"):
        return repr(obj)
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"{getattr(obj, '__module__', '')}.{obj.__qualname__}"
    return f"{type(obj).__name__} with {n_splits} splits"


def _cv_results(trials: list[optuna.trial.FrozenTrial], n_splits: int) -> dict[str, Any]:
    names = sorted({name for t in trials for name in t.params})
    results: dict[str, Any] = {
        "number": np.array([t.number for t in trials]),
        "state": np.array([t.state.name for t in trials], dtype=object),
        "params": [dict(t.params) for t in trials],
        "n_fits": np.array([t.user_attrs.get("n_fits", 0) for t in trials]),
        "n_epochs": np.array([t.user_attrs.get("n_epochs", 0) for t in trials]),
    }
    for name in names:
        results[f"param_{name}"] = np.ma.masked_array(
            [t.params.get(name) for t in trials],
            mask=[name not in t.params for t in trials],
            dtype=object,
        )
    splits = np.full((len(trials), n_splits), np.nan)
    for i, t in enumerate(trials):
        got = t.user_attrs.get("split_scores", [])[:n_splits]
        splits[i, : len(got)] = got
    for k in range(n_splits):
        results[f"split{k}_test_score"] = splits[:, k]
    complete = np.array([t.state == optuna.trial.TrialState.COMPLETE for t in trials])
    mean = np.where(
        complete, np.array([t.value if t.value is not None else np.nan for t in trials]), np.nan
    )
    results["mean_test_score"] = mean
    std = np.full(len(trials), np.nan)
    for i in np.flatnonzero(complete):
        std[i] = np.std(splits[i][~np.isnan(splits[i])])
    results["std_test_score"] = std
    order = np.argsort(-np.where(np.isnan(mean), -np.inf, mean), kind="stable")
    rank = np.empty(len(trials), dtype=int)
    rank[order] = np.arange(1, len(trials) + 1)
    results["rank_test_score"] = rank
    return results


class TuningResult(NamedTuple):
    """What :func:`tune` returns (unpacks as ``study, best_estimator, ...``)."""

    study: optuna.Study
    best_estimator: Any
    best_params: dict[str, Any]
    best_score: float
    n_fits: int
    search: OptunaSearchCV


def tune(
    estimator: Any,
    X: ArrayLike,
    y: ArrayLike,
    *,
    n_trials: int = 30,
    timeout: float | None = None,
    storage: str | os.PathLike[str] | Any = None,
    study_name: str | None = None,
    space: Mapping[str, BaseDistribution | None] | None = None,
    cv: Any = 5,
    groups: ArrayLike | None = None,
    scoring: str | Callable | None = "neg_mean_squared_error",
    random_state: int = 0,
    **kwargs: Any,
) -> TuningResult:
    """Tune an estimator with Optuna by cross-validation and refit the best setting.

    Parameters
    ----------
    estimator : estimator
        Unfitted estimator (its registered space is searched, merged with ``space``).
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    n_trials : int, default=30
        Finished trials the study should hold.
    timeout : float, optional
        Seconds after which no new trial starts.
    storage : str, path or BaseStorage, optional
        Study storage (see :func:`affinetl.tuning.open_storage`); ``None``: memory.
    study_name : str, optional
        Study to create or resume.
    space : dict, optional
        Overrides of the registered space (``None`` values remove a parameter).
    cv : int, splitter or iterable, default=5
    groups : array-like of shape (n_samples,), optional
        Group labels for group splitters.
    scoring : str or callable, default="neg_mean_squared_error"
    random_state : int, default=0
    **kwargs
        Further :class:`OptunaSearchCV` parameters (``pruner``, ``prune``, ``progress_bar``...).

    Returns
    -------
    TuningResult
        ``(study, best_estimator, best_params, best_score, n_fits, search)``.

    Examples
    --------
    >>> import numpy as np
    >>> from affinetl import DirectRegressor
    >>> from affinetl.tuning import tune
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, size=(40, 2)); y = np.sin(2 * X[:, 0])
    >>> study, model, *_ = tune(DirectRegressor(), X, y, n_trials=5)
    >>> len(study.trials)
    5
    """
    search = OptunaSearchCV(
        estimator,
        space=space,
        n_trials=n_trials,
        timeout=timeout,
        cv=cv,
        scoring=scoring,
        storage=storage,
        study_name=study_name,
        random_state=random_state,
        **kwargs,
    ).fit(X, y, groups=groups)
    return TuningResult(
        search.study_,
        search.best_estimator_ if search.refit else None,
        search.best_params_,
        search.best_score_,
        search.n_fits_,
        search,
    )
