"""``fit_many``: fit many neural estimators at once, vectorised over the fits.

Cross-validation folds, repeated random splits and the several pretrained source networks of a
case study give many independent fits of one small architecture. Fitted one after another, each
step of each fit pays torch's per-call overhead; fitted together, every fit's weights are one slice
of stacked tensors and one Adam step advances all of them
(:func:`~affinetl.models._torch.batched.fit_modules_batched`). Each estimator ends exactly as its
own ``fit`` would leave it (same initial weights and mini-batch order from its ``random_state``),
up to floating-point rounding.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sklearn
from numpy.typing import ArrayLike

from ._torch.batched import fit_modules_batched
from ._torch.train import deterministic_mode, torch_threads
from ._torch_common import _FitPlan, _TorchEstimator

__all__ = ["fit_many"]


def _per_estimator(values: Any, n: int, name: str) -> list[Any]:
    """``values`` as one entry per estimator (a list/tuple of n, or one shared array)."""
    if isinstance(values, (list, tuple)):
        if len(values) != n:
            raise ValueError(f"{name} has {len(values)} entries for {n} estimators")
        return list(values)
    return [values] * n


def fit_many(
    estimators: Sequence[_TorchEstimator],
    X: ArrayLike | Sequence[ArrayLike],
    y: ArrayLike | Sequence[ArrayLike],
    *,
    snapshot_epochs: Sequence[int] = (),
) -> list[_TorchEstimator]:
    """Fit neural estimators, training the compatible ones together in one vectorised loop.

    Fits train together when they are of one class with equal training settings (epochs, batch
    size, learning rate, weight decay, schedule, dtype, device), one architecture and training
    sets of one shape; they may differ in data, seed and source network. Fits with callbacks,
    early stopping on a validation split, ``solver="block"`` or ``lr_schedule="plateau"`` react
    to their own losses and are fitted one by one with their own ``fit``.

    Parameters
    ----------
    estimators : sequence of estimators
        Unfitted or fitted neural estimators of :mod:`affinetl.models` (refitted in place).
    X : array-like or sequence of array-like
        One training matrix per estimator, or one shared by all.
    y : array-like or sequence of array-like
        One target per estimator, or one shared by all.
    snapshot_epochs : sequence of int, default=()
        Epochs after which each estimator's weights are also kept in ``snapshots_`` (a dict
        ``epoch -> state_dict``): several epoch counts scored from one run, e.g. to choose the
        epochs by cross-validation.

    Returns
    -------
    list of estimators
        The same objects, fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from affinetl.models import NeuralDirectRegressor, fit_many
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 4)); y = X[:, 0] - X[:, 1]
    >>> folds = [NeuralDirectRegressor(max_epochs=5, early_stopping=False, random_state=s)
    ...          for s in range(4)]
    >>> [est.n_iter_ for est in fit_many(folds, X, y)]
    [5, 5, 5, 5]
    """
    estimators = list(estimators)
    for i, est in enumerate(estimators):
        if not isinstance(est, _TorchEstimator):
            raise TypeError(
                f"estimators[{i}] is a {type(est).__name__}; fit_many fits the neural "
                "estimators of affinetl.models"
            )
    Xs = _per_estimator(X, len(estimators), "X")
    ys = _per_estimator(y, len(estimators), "y")
    groups: dict[tuple, list[tuple[_TorchEstimator, _FitPlan]]] = defaultdict(list)
    try:
        for est, Xi, yi in zip(estimators, Xs, ys, strict=True):
            est._snapshots_wanted = tuple(int(e) for e in snapshot_epochs)
            est._validate_params()
            with sklearn.config_context(skip_parameter_validation=True):
                plan = est._plan_fit(Xi, yi)
            key = est._batch_key(plan)
            if key is None:
                est._train(plan)
            else:
                groups[key].append((est, plan))
        for members in groups.values():
            _train_together(members)
    finally:
        for est in estimators:  # a later plain ``fit`` keeps no snapshots
            est.__dict__.pop("_snapshots_wanted", None)
    return estimators


def _train_together(members: list[tuple[_TorchEstimator, _FitPlan]]) -> None:
    """Train one compatible group in one batched loop and record each member's result."""
    first, plan = members[0]
    if len(members) == 1:
        first._train(plan)
        return
    with deterministic_mode(first.deterministic), torch_threads(first.n_threads):
        results = fit_modules_batched(
            [p.module for _, p in members],
            plan.loss,
            [p.tensors for _, p in members],
            [p.generator for _, p in members],
            max_epochs=first.max_epochs,
            batch_size=first.batch_size,
            lr=first.lr,
            weight_decay=first.weight_decay,
            lr_schedule=first.lr_schedule,
            snapshot_epochs=first._snapshot_epochs,
        )
    for (est, p), result in zip(members, results, strict=True):
        est._record(p.module, result)
