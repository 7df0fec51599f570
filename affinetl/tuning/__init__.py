"""Optuna tuning for every affinetl estimator: search spaces, CV objective, studies, search CV.

* :func:`get_space` / :func:`register_space`: the search space of each estimator class;
* :class:`CVObjective`: K-fold (or any splitter) CV score of one trial, with pruning hooks;
* :func:`open_storage` / :func:`open_study`: SQLite, RDB URLs or journal files, safe resume;
* :class:`OptunaSearchCV` and :func:`tune`: the search as a scikit-learn estimator;
* :func:`load_best_estimator`: rebuild the tuned estimator from a best-parameters file.

Needs the ``tune`` extra (``pip install affinetl[tune]``).
"""

from __future__ import annotations

try:
    import optuna  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "affinetl.tuning needs Optuna: pip install 'affinetl[tune]' (or pip install optuna)"
    ) from err

from ._cli import load_best_estimator, load_case, make_estimator
from ._objective import (
    CVObjective,
    EpochPruningCallback,
    IntermediateReporter,
    register_pruning_hook,
    resolve_splits,
)
from ._search import OptunaSearchCV, TuningResult, tune
from ._spaces import (
    EmptySearchSpaceError,
    decode_params,
    get_space,
    neural_space,
    register_space,
    registered_spaces,
    suggest_params,
)
from ._study import (
    StorageError,
    StudyMismatchError,
    TrialSeededSampler,
    data_hash,
    open_storage,
    open_study,
)

__all__ = [
    "CVObjective",
    "EmptySearchSpaceError",
    "EpochPruningCallback",
    "IntermediateReporter",
    "OptunaSearchCV",
    "StorageError",
    "StudyMismatchError",
    "TrialSeededSampler",
    "TuningResult",
    "data_hash",
    "decode_params",
    "get_space",
    "load_best_estimator",
    "load_case",
    "make_estimator",
    "neural_space",
    "open_storage",
    "open_study",
    "register_pruning_hook",
    "register_space",
    "registered_spaces",
    "resolve_splits",
    "suggest_params",
    "tune",
]
