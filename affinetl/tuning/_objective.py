"""The cross-validation objective and the pruning hooks that feed Optuna intermediate values.

:class:`CVObjective` scores one parameter setting by K-fold CV (or any splitter, group splits
included), fitting a fresh :func:`~sklearn.base.clone` of the estimator on every fold. Folds are
drawn once, so every trial sees the same splits and intermediate values are comparable across
trials, which is what a pruner needs. Three kinds of intermediate values, chosen per estimator:

* ``"folds"`` (any estimator): the running mean of the fold scores after each fold;
* ``"epochs"`` through ``partial_fit`` (e.g. SGDRegressor, MLPRegressor): the objective drives
  the epochs itself and reports the validation score after each one;
* ``"epochs"`` through a ``callbacks`` parameter (the torch estimators of :mod:`affinetl.models`,
  whose training loop calls ``callback(epoch, train_loss, val_loss, estimator)`` after every
  epoch): an :class:`EpochPruningCallback` reports the score of the model being trained on the
  CV fold's held-out rows (or ``-val_loss``) and stops the fit by raising
  :class:`optuna.TrialPruned`.

With epochs, fold ``k``'s epoch ``e`` is step ``k * S + e``, where ``S`` (``steps_per_fold``) is
the largest epoch budget the search space can draw, the same for every trial: so a pruner
compares trials at the same fold and epoch even when the number of epochs is searched.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from numpy.typing import ArrayLike
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv

from ._spaces import _final_step, decode_params, suggest_params

__all__ = [
    "CVObjective",
    "EpochPruningCallback",
    "IntermediateReporter",
    "register_pruning_hook",
    "resolve_splits",
]

logger = logging.getLogger(__name__)

#: Step stride between folds for callback pruning when the estimator exposes no epoch budget.
_DEFAULT_STRIDE = 100_000
_EPOCH_PARAMS = ("max_epochs", "epochs", "n_epochs", "max_iter")

_HOOKS: dict[str, Callable[[Any, IntermediateReporter], Any]] = {}


class IntermediateReporter:
    """Report intermediate values of one trial and raise :class:`optuna.TrialPruned` when due.

    Parameters
    ----------
    trial : optuna.trial.Trial
    offset : int, default=0
        Added to every step (one block of steps per CV fold).
    """

    def __init__(self, trial: optuna.trial.BaseTrial, offset: int = 0) -> None:
        self.trial = trial
        self.offset = offset
        self.last_step: int | None = None
        self.n_reports = 0

    def __call__(self, step: int, value: float) -> None:
        """Report ``value`` (higher is better) at ``offset + step``; prune if the pruner says so."""
        step = self.offset + int(step)
        self.last_step = step
        self.n_reports += 1
        self.trial.report(float(value), step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step} (intermediate value {value:.6g})")


class EpochPruningCallback:
    """Epoch callback that reports to an Optuna trial and prunes it (raises TrialPruned).

    Follows the training-loop protocol of the torch estimators,
    ``callback(epoch, train_loss, val_loss, estimator)`` (``estimator`` optional, for loops
    that pass three arguments). The reported value is higher-is-better: ``scorer(model, X_val,
    y_val)`` when a scorer and held-out rows are given (the quantity the CV objective ends up
    averaging), else ``-val_loss`` (``-train_loss`` without a validation split).

    Parameters
    ----------
    reporter : IntermediateReporter
    scorer : callable, optional
        ``scorer(estimator, X, y)``, e.g. from :func:`sklearn.metrics.check_scoring`.
    X_val : array-like of shape (n_val, n_features), optional
    y_val : array-like of shape (n_val,), optional
    model : estimator, optional
        What to score (e.g. the Pipeline around the estimator in training); default: the
        ``estimator`` argument. If it cannot predict during training (``NotFittedError``), the
        callback reports the negated loss instead.
    interval : int, default=1
        Report every ``interval``-th epoch only (each report is one storage write).

    Examples
    --------
    >>> import optuna
    >>> study = optuna.create_study(direction="maximize")
    >>> trial = study.ask()
    >>> callback = EpochPruningCallback(IntermediateReporter(trial))
    >>> callback(1, 0.5, 0.25)
    False
    >>> trial.storage.get_trial(trial._trial_id).intermediate_values
    {1: -0.25}
    """

    def __init__(
        self,
        reporter: IntermediateReporter,
        scorer: Callable[[Any, Any, Any], float] | None = None,
        X_val: ArrayLike | None = None,
        y_val: ArrayLike | None = None,
        model: Any = None,
        interval: int = 1,
    ) -> None:
        if int(interval) < 1:
            raise ValueError(f"interval must be a positive number of epochs, got {interval!r}")
        self.reporter = reporter
        self.scorer = scorer
        self.X_val, self.y_val = X_val, y_val
        self.model = model
        self.interval = int(interval)
        self.n_epochs = 0

    def __call__(
        self,
        epoch: int,
        train_loss: float,
        val_loss: float | None = None,
        estimator: Any = None,
    ) -> bool:
        """Report this epoch's value; raise :class:`optuna.TrialPruned` if the pruner says so."""
        self.n_epochs = int(epoch)
        if int(epoch) % self.interval:
            return False
        value = None
        model = self.model if self.model is not None else estimator
        if self.scorer is not None and self.X_val is not None and model is not None:
            try:
                value = float(self.scorer(model, self.X_val, self.y_val))
            except NotFittedError:
                logger.debug("%s cannot predict during training; reporting -loss", model)
                self.scorer = None
        if value is None:
            value = -float(train_loss if val_loss is None else val_loss)
        self.reporter(int(epoch), value)
        return False


def register_pruning_hook(
    estimator: type | str, installer: Callable[[Any, IntermediateReporter], Any]
) -> None:
    """Register how to attach per-epoch pruning to an estimator class.

    Parameters
    ----------
    estimator : type or str
        The class or its name.
    installer : callable
        ``installer(estimator, reporter) -> estimator``: returns the (unfitted) estimator set up
        so that its training calls ``reporter(epoch, value)`` with a higher-is-better value.
        Estimators with a ``callbacks`` parameter need no registration.
    """
    _HOOKS[estimator if isinstance(estimator, str) else estimator.__name__] = installer


def _add_callback(estimator: Any, callback: Callable) -> Any:
    """``estimator`` (or the final step of a Pipeline) with ``callback`` appended to callbacks."""
    final, prefix = _final_step(estimator)
    existing = final.get_params(deep=False).get("callbacks") or ()
    return estimator.set_params(**{f"{prefix}callbacks": [*existing, callback]})


def _epoch_budget(estimator: Any) -> int | None:
    params = _final_step(estimator)[0].get_params(deep=False)
    for name in _EPOCH_PARAMS:
        value = params.get(name)
        if isinstance(value, (int, np.integer)) and value > 0:
            return int(value)
    return None


def _largest_budget(estimator: Any, space: Mapping[str, BaseDistribution]) -> int | None:
    """The largest epoch budget of any trial: the space's upper bound, else the fixed value."""
    _, prefix = _final_step(estimator)
    for name in _EPOCH_PARAMS:
        dist = space.get(prefix + name)
        if isinstance(dist, IntDistribution):
            return int(dist.high)
        if isinstance(dist, CategoricalDistribution) and all(
            isinstance(c, (int, np.integer)) for c in dist.choices
        ):
            return int(max(dist.choices))
    return _epoch_budget(estimator)


def resolve_splits(
    cv: Any, X: ArrayLike, y: ArrayLike, groups: ArrayLike | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, validation) index pairs of a splitter, drawn once.

    Parameters
    ----------
    cv : int, splitter or iterable
        As in scikit-learn (``int`` -> unshuffled ``KFold``); group splitters need ``groups``.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    groups : array-like of shape (n_samples,), optional

    Returns
    -------
    list of (ndarray, ndarray)
    """
    splitter = check_cv(cv, y, classifier=False)
    try:
        splits = [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(X, y, groups)]
    except ValueError as err:
        if groups is None and "group" in str(err).lower():
            raise ValueError(f"{type(splitter).__name__} needs `groups`: {err}") from err
        raise
    if not splits:
        raise ValueError(f"the splitter {splitter!r} produced no splits")
    return splits


def _take(data: Any, idx: np.ndarray) -> Any:
    if hasattr(data, "iloc"):
        return data.iloc[idx]
    return np.asarray(data)[idx]


def _fold_params(fit_params: Mapping[str, Any], idx: np.ndarray, n: int) -> dict[str, Any]:
    """Slice sample-aligned fit parameters (length ``n``) to a fold."""
    out = {}
    for key, value in fit_params.items():
        if hasattr(value, "__len__") and not isinstance(value, str) and len(value) == n:
            out[key] = _take(value, idx)
        else:
            out[key] = value
    return out


def _neg_mse(model: Any, X: Any, y: Any) -> float:
    return -float(np.mean((np.ravel(model.predict(X)) - np.ravel(np.asarray(y, dtype=float))) ** 2))


def _neg_rmse(model: Any, X: Any, y: Any) -> float:
    return -math.sqrt(-_neg_mse(model, X, y))


#: Per-epoch scorers computed directly: sklearn's scorer validation costs about as much as an
#: epoch of a small network.
_EPOCH_SCORERS = {"neg_mean_squared_error": _neg_mse, "neg_root_mean_squared_error": _neg_rmse}


def worker_id() -> str:
    """``host:pid`` of this process (recorded on every trial)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class CVObjective:
    """Optuna objective: mean CV score of one parameter setting (higher is better).

    Parameters
    ----------
    estimator : estimator
        Unfitted template; every fold fits ``clone(estimator).set_params(**params)``.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    space : dict of str to BaseDistribution
        Parameters to search.
    splits : list of (train, validation) index arrays
        From :func:`resolve_splits`.
    scoring : str or callable, default="neg_mean_squared_error"
        A scikit-learn scorer name or ``scorer(estimator, X, y)``; ``None`` uses
        ``estimator.score``.
    fit_params : dict, optional
        Passed to ``fit`` (sample-aligned entries are sliced per fold).
    prune : {"auto", "folds", "epochs", "none"}, default="auto"
        Intermediate values to report: ``"epochs"`` where the estimator supports it
        (``partial_fit``, a ``callbacks`` parameter, also as the final step of a Pipeline, or a
        registered hook), else ``"folds"``.
    error_score : "raise" or float, default=nan
        Trial value when a fit raises; NaN marks the trial failed (it does not count towards
        the trial budget), ``"raise"`` propagates the error.
    epoch_score : {"fold", "loss"}, default="fold"
        Per-epoch value of ``callbacks`` estimators: ``"fold"`` scores the model in training on
        the fold's held-out rows with ``scoring`` (comparable with the final CV score; one
        prediction per epoch), ``"loss"`` reports the negated loss of the training loop (its
        early-stopping validation loss, or the training loss without one).
    report_interval : int, default=1
        Report (and consider pruning) every ``report_interval``-th epoch.

    Attributes
    ----------
    steps_per_fold : int or None
        Step stride between folds in epoch mode (``None``: one step per fold).

    Notes
    -----
    Each trial records the user attributes ``split_scores`` (score of each finished fold),
    ``n_fits`` (fits run, including the one a pruner stopped), ``n_epochs`` (epochs trained
    over all folds, in epoch mode), ``worker`` and, where fits raised
    :class:`~sklearn.exceptions.ConvergenceWarning`, ``unconverged_fits`` (the warnings are
    counted there instead of flooding the log).
    """

    def __init__(
        self,
        estimator: Any,
        X: ArrayLike,
        y: ArrayLike,
        space: Mapping[str, BaseDistribution],
        splits: Sequence[tuple[np.ndarray, np.ndarray]],
        *,
        scoring: str | Callable | None = "neg_mean_squared_error",
        fit_params: Mapping[str, Any] | None = None,
        prune: str = "auto",
        error_score: str | float = math.nan,
        epoch_score: str = "fold",
        report_interval: int = 1,
    ) -> None:
        if prune not in {"auto", "folds", "epochs", "none"}:
            raise ValueError(f"prune must be 'auto', 'folds', 'epochs' or 'none', got {prune!r}")
        if epoch_score not in {"fold", "loss"}:
            raise ValueError(f"epoch_score must be 'fold' or 'loss', got {epoch_score!r}")
        if not isinstance(report_interval, (int, np.integer)) or report_interval < 1:
            raise ValueError(
                f"report_interval must be a positive number of epochs, got {report_interval!r}"
            )
        self.estimator = estimator
        self.X, self.y = X, y
        self.space = dict(space)
        self.splits = list(splits)
        self.scorer = check_scoring(estimator, scoring=scoring)
        self._epoch_scorer = (
            _EPOCH_SCORERS.get(scoring, self.scorer) if isinstance(scoring, str) else self.scorer
        )
        self.fit_params = dict(fit_params or {})
        self.prune = prune
        self.error_score = error_score
        self.epoch_score = epoch_score
        self.report_interval = int(report_interval)
        self._n = len(y)
        self._n_unconverged = 0
        self._epochs_run: Callable[[], int] | None = None
        self.steps_per_fold: int | None = None
        if self.epoch_mode(estimator) is not None:
            self.steps_per_fold = _largest_budget(estimator, self.space) or _DEFAULT_STRIDE

    def epoch_mode(self, estimator: Any) -> str | None:
        """``"hook"``, ``"partial_fit"`` or ``None``: how epochs of this estimator are observed."""
        if self.prune not in {"auto", "epochs"}:
            return None
        final = _final_step(estimator)[0]
        name = type(final).__name__
        if name in _HOOKS or "callbacks" in final.get_params(deep=False):
            return "hook"
        if (
            final is estimator
            and hasattr(estimator, "partial_fit")
            and _epoch_budget(estimator) is not None
        ):
            return "partial_fit"
        if self.prune == "epochs":
            raise ValueError(
                f"prune='epochs' but {name} has no `callbacks` parameter, no registered pruning "
                "hook and no partial_fit with max_iter; use prune='folds'"
            )
        return None

    def _fit_fold(self, trial: optuna.trial.BaseTrial, params: dict[str, Any], fold: int) -> float:
        train, val = self.splits[fold]
        Xt, yt, Xv, yv = (
            _take(self.X, train),
            _take(self.y, train),
            _take(self.X, val),
            _take(self.y, val),
        )
        fit_params = _fold_params(self.fit_params, train, self._n)
        est = clone(self.estimator).set_params(**params)
        mode = self.epoch_mode(est)
        self._epochs_run = None
        if mode is not None:
            stride = max(self.steps_per_fold or 0, _epoch_budget(est) or 0) or _DEFAULT_STRIDE
            reporter = IntermediateReporter(trial, offset=fold * stride)
            self._epochs_run = lambda: reporter.n_reports
        if mode == "partial_fit":
            score = math.nan
            for epoch in range(_epoch_budget(est)):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", category=UserWarning)
                    est.partial_fit(Xt, yt, **fit_params)
                score = float(self.scorer(est, Xv, yv))
                reporter(epoch, score)
            return score
        if mode == "hook":
            installer = _HOOKS.get(type(_final_step(est)[0]).__name__)
            if installer is not None:
                est = installer(est, reporter)
            else:
                scored = self.epoch_score == "fold"
                callback = EpochPruningCallback(
                    reporter,
                    scorer=self._epoch_scorer if scored else None,
                    X_val=Xv if scored else None,
                    y_val=yv if scored else None,
                    model=est,
                    interval=self.report_interval,
                )
                self._epochs_run = lambda: callback.n_epochs
                est = _add_callback(est, callback)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", category=ConvergenceWarning)
            est.fit(Xt, yt, **fit_params)
        for w in caught:
            if issubclass(w.category, ConvergenceWarning):
                self._n_unconverged += 1
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        return float(self.scorer(est, Xv, yv))

    def __call__(self, trial: optuna.trial.BaseTrial) -> float:
        """Suggest a setting, cross-validate it, return the mean fold score."""
        params = decode_params(self.estimator, suggest_params(trial, self.space))
        trial.set_user_attr("worker", worker_id())
        scores: list[float] = []
        n_fits = n_epochs = 0
        self._n_unconverged = 0
        fold_pruning = self.prune in {"auto", "folds"}
        try:
            for fold in range(len(self.splits)):
                n_fits += 1
                trial.set_user_attr("n_fits", n_fits)
                try:
                    score = self._fit_fold(trial, params, fold)
                finally:
                    if self._epochs_run is not None:
                        n_epochs += self._epochs_run()
                        trial.set_user_attr("n_epochs", n_epochs)
                if self._n_unconverged:
                    trial.set_user_attr("unconverged_fits", self._n_unconverged)
                scores.append(score)
                trial.set_user_attr("split_scores", scores)
                if fold_pruning and self.epoch_mode(self.estimator) is None:
                    IntermediateReporter(trial)(fold, float(np.mean(scores)))
        except optuna.TrialPruned:
            raise
        except Exception as err:  # a failing setting is recorded, not fatal
            if self.error_score == "raise":
                raise
            trial.set_user_attr("error", f"{type(err).__name__}: {err}")
            logger.warning("trial %d failed with %s: %s", trial.number, type(err).__name__, err)
            return float(self.error_score)
        return float(np.mean(scores))
