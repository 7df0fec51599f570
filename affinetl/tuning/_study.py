"""Studies on a storage: open the storage safely, create or resume a study, seed the sampler.

Storage specifications accepted by :func:`open_storage`:

* ``None``: in memory (nothing persists);
* a path ``results/tune.db`` or an RDB URL ``sqlite:///results/tune.db``: an embedded SQLite
  file (the default of the command line);
* any other SQLAlchemy URL Optuna supports, e.g. ``postgresql+psycopg2://user@host/db``;
* ``journal:PATH`` or a path ending in ``.log``/``.jsonl``/``.journal``: an append-only Optuna
  journal file (:class:`optuna.storages.JournalStorage`), the safe choice for several worker
  processes, also on several machines sharing a file system;
* an :class:`optuna.storages.BaseStorage` instance, used as is.

A storage is checked *before* anything is written to it: a missing directory, a file that is not
a SQLite database (or is a SQLite database of another application) or a missing database driver
raises :class:`StorageError` and leaves the file untouched. Resuming a study checks that its
recorded estimator, search space and data hash match the new run (:class:`StudyMismatchError`).

Storages survive a killed worker. A SQLite file is checked through a read-write connection, so the
hot rollback journal of a process killed inside a transaction is rolled back on the next open (a
read-only check could not, and would refuse the file until someone opened it read-write). A
journal file whose last record was torn by a kill or a power cut is cut back to its last complete
record before the study resumes, keeping a copy of what was cut (:func:`repair_journal`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from numpy.typing import ArrayLike
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from ..exceptions import UsageError
from ._journal import JournalDamagedError, repair_journal

__all__ = [
    "FINISHED",
    "StorageError",
    "StudyMismatchError",
    "TrialSeededSampler",
    "data_hash",
    "estimator_config",
    "n_finished",
    "open_storage",
    "open_study",
]

logger = logging.getLogger(__name__)

#: Trial states that count towards a study's trial budget.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
_JOURNAL_SUFFIXES = (".log", ".jsonl", ".journal")
#: User attributes compared when a study is resumed.
_CHECKED_ATTRS = ("estimator", "space", "data_hash", "scoring", "cv")
_SQLITE_MAGIC = b"SQLite format 3\x00"


class StorageError(UsageError, RuntimeError):
    """A storage that cannot be opened (nothing was written to it); a user error."""


class StudyMismatchError(UsageError):
    """An existing study was recorded for another estimator, space, scoring or data set."""


def _redact(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url  # noqa: PLC0415

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for messages; fall back to the raw text
        return url


def _check_sqlite_file(path: Path, url: str) -> None:
    if not path.parent.is_dir():
        raise StorageError(
            f"cannot open storage {url!r}: directory {str(path.parent)!r} does not exist"
        )
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head != _SQLITE_MAGIC:
        raise StorageError(
            f"cannot open storage {url!r}: {str(path)!r} exists and is not a SQLite database"
        )
    hot = path.with_name(path.name + "-journal")
    interrupted = hot.exists() and hot.stat().st_size > 0
    try:
        # read-write (never create): a hot rollback journal left by a process killed inside a
        # transaction is rolled back by this first read; a read-only connection cannot roll it
        # back and fails with SQLITE_READONLY_ROLLBACK instead
        con = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=60)
        try:
            tables = {
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        finally:
            con.close()
    except sqlite3.Error as err:
        hint = ""
        if interrupted:
            hint = (
                f"; it has the rollback journal {str(hot)!r} of an interrupted transaction, which "
                "only a read-write open can roll back: make the file and its directory writable"
            )
        raise StorageError(f"cannot open storage {url!r}: {err}{hint}") from err
    if interrupted and not (hot.exists() and hot.stat().st_size > 0):
        # (or another worker's transaction was just committed: both leave the file consistent)
        logger.info("%s: rolled back the transaction of a process killed while writing", path)
    if tables and "studies" not in tables:
        raise StorageError(
            f"cannot open storage {url!r}: {str(path)!r} is a SQLite database of another "
            f"application (tables {sorted(tables)[:5]}), not an Optuna storage"
        )


def _journal(path: Path) -> BaseStorage:
    from optuna.storages.journal import JournalFileBackend, JournalStorage  # noqa: PLC0415

    if not path.parent.is_dir():
        raise StorageError(
            f"cannot open journal {str(path)!r}: directory {str(path.parent)!r} does not exist"
        )
    try:
        repair_journal(path)
    except JournalDamagedError as err:
        raise StorageError(f"cannot open journal {str(path)!r}: {err}") from err
    try:
        return JournalStorage(JournalFileBackend(str(path)))
    except (OSError, ValueError, RuntimeError) as err:
        raise StorageError(f"cannot open journal {str(path)!r}: {err}") from err


#: PostgreSQL error codes of a concurrent schema creation: unique_violation, duplicate_table,
#: duplicate_object (an enum type such as ``studydirection``).
_SCHEMA_RACE_PGCODES = ("23505", "42P07", "42710")


def _schema_race(err: BaseException) -> bool:
    """Whether ``err`` is another worker creating the Optuna schema at the same moment."""
    if type(err).__name__ == "IntegrityError":
        return True
    pgcode = getattr(getattr(err, "orig", None), "pgcode", None)
    return type(err).__name__ == "ProgrammingError" and (
        pgcode in _SCHEMA_RACE_PGCODES or "already exists" in str(err)
    )


def open_storage(
    storage: str | os.PathLike[str] | BaseStorage | None,
    *,
    heartbeat_interval: int | None = None,
) -> BaseStorage | None:
    """Open a storage after checking that it can be opened without damage.

    Parameters
    ----------
    storage : str, path-like, BaseStorage or None
        See the module description.
    heartbeat_interval : int, optional
        Seconds between heartbeats of running trials (RDB storages only). A trial whose process
        died is then marked failed after ``2 * heartbeat_interval`` and retried once with the
        same parameters by the next worker.

    Returns
    -------
    BaseStorage or None
        ``None`` for in-memory.

    Raises
    ------
    StorageError
        If the storage cannot be opened; nothing has been written to it.
    """
    if storage is None or isinstance(storage, BaseStorage):
        return storage
    text = os.fspath(storage)
    if text.startswith("journal:"):
        return _journal(Path(text[len("journal:") :].removeprefix("//")).expanduser().resolve())
    if "://" not in text:
        path = Path(text).expanduser().resolve()
        if path.suffix in _JOURNAL_SUFFIXES:
            return _journal(path)
        text = f"sqlite:///{path}"
    scheme = text.split("://", 1)[0]
    if scheme.startswith("sqlite"):
        location = text.split("://", 1)[1]
        if location.startswith("/") and location not in ("/", "/:memory:"):
            _check_sqlite_file(Path(location[1:]).expanduser().resolve(), text)
    kwargs: dict[str, Any] = {}
    if scheme.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    if heartbeat_interval:
        kwargs["heartbeat_interval"] = int(heartbeat_interval)
        retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
        if retry is not None:  # Optuna >= 4.9
            kwargs["heartbeat_stale_trial_callback"] = retry(max_retry=1)
        else:
            kwargs["failed_trial_callback"] = optuna.storages.RetryFailedTrialCallback(max_retry=1)
    try:
        attempt = 1
        while True:
            try:
                return optuna.storages.RDBStorage(text, **kwargs)
            except Exception as err:
                # Workers creating one new database at the same moment race on the schema: the
                # version row (IntegrityError), or on PostgreSQL a table or enum type that the
                # other worker created first (ProgrammingError: DuplicateTable/DuplicateObject).
                # The loser finds the schema complete on a retry.
                if attempt == 3 or not _schema_race(err):
                    raise
                attempt += 1
                time.sleep(1.0)
    except ImportError as err:
        raise StorageError(
            f"cannot open storage {_redact(text)!r}: the database driver is missing ({err}); "
            "install it, e.g. `pip install psycopg2-binary` for PostgreSQL"
        ) from err
    except Exception as err:  # sqlalchemy raises many types (ArgumentError, OperationalError...)
        raise StorageError(
            f"cannot open storage {_redact(text)!r}: {type(err).__name__}: {err}"
        ) from err


def data_hash(X: ArrayLike, y: ArrayLike, groups: ArrayLike | None = None) -> str:
    """SHA-256 of the training data (values and shapes), recorded with the study.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    groups : array-like of shape (n_samples,), optional

    Returns
    -------
    str
        ``"sha256:<hex>"``.
    """
    h = hashlib.sha256()
    for part in (X, y, groups):
        if part is None:
            h.update(b"none")
            continue
        arr = np.asarray(part)
        if arr.dtype == object:
            h.update(repr(arr.tolist()).encode())
        else:
            arr = np.ascontiguousarray(arr)
            h.update(f"{arr.dtype.str}{arr.shape}".encode())
            h.update(arr.tobytes())
    return "sha256:" + h.hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


def estimator_config(estimator: Any) -> dict[str, Any]:
    """Class and constructor parameters of an estimator as JSON-compatible values."""
    return {
        "class": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        "params": _jsonable(estimator.get_params(deep=False)),
    }


class TrialSeededSampler(BaseSampler):
    """A sampler whose random stream is seeded from ``(seed, trial number)``.

    A fresh inner sampler ``factory(seed')`` is built for every trial with
    ``seed' = seed * 1_000_003 + trial.number``. A single process with a given seed is exactly
    reproducible; a resumed process or a second worker on the same study draws different
    random candidates instead of replaying the first process's draws.

    Parameters
    ----------
    factory : callable
        ``factory(seed) -> BaseSampler``.
    seed : int
    """

    def __init__(self, factory: Callable[[int], BaseSampler], seed: int = 0) -> None:
        self.factory = factory
        self.seed = int(seed)
        self._inner = factory(self.seed)

    def _for(self, trial: FrozenTrial) -> BaseSampler:
        return self._inner

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._inner = self.factory((self.seed * 1_000_003 + trial.number) % (2**32))
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):  # noqa: D102
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):  # noqa: D102
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):  # noqa: D102
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values):  # noqa: D102
        self._inner.after_trial(study, trial, state, values)


def tpe_sampler(seed: int = 0, n_startup_trials: int = 8) -> TrialSeededSampler:
    """Multivariate TPE (constant liar for parallel workers), seeded per trial."""
    import warnings  # noqa: PLC0415

    def factory(s: int) -> BaseSampler:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=s, n_startup_trials=n_startup_trials, multivariate=True, constant_liar=True
            )

    return TrialSeededSampler(factory, seed)


def n_finished(study: optuna.Study) -> int:
    """Number of trials that count towards the budget (complete or pruned)."""
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def open_study(
    study_name: str | None,
    storage: BaseStorage | None,
    *,
    attrs: Mapping[str, Any],
    sampler: BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    direction: str = "maximize",
    check: bool = True,
) -> optuna.Study:
    """Create a study, or resume the one of that name after checking it matches.

    Parameters
    ----------
    study_name : str or None
        Name in the storage (``None``: a generated name, only for a new study).
    storage : BaseStorage or None
        From :func:`open_storage`.
    attrs : dict
        User attributes recorded on a new study (package version, data hash, estimator
        config, space, scoring, cv); on resume the keys of :data:`_CHECKED_ATTRS` must match.
    sampler, pruner : optional
        Optuna sampler and pruner of this process.
    direction : {"maximize", "minimize"}
    check : bool, default=True
        Compare the recorded attributes on resume.

    Returns
    -------
    optuna.Study

    Raises
    ------
    StudyMismatchError
        If the existing study has another direction or different recorded attributes; the
        study is left unchanged.
    """
    existing = None
    if storage is not None and study_name is not None:
        names = {s.study_name: s for s in storage.get_all_studies()}
        existing = names.get(study_name)
    if existing is not None:
        study = optuna.load_study(
            study_name=study_name, storage=storage, sampler=sampler, pruner=pruner
        )
        if study.direction.name.lower() != direction:
            raise StudyMismatchError(
                f"study {study_name!r} exists with direction {study.direction.name.lower()}, "
                f"this run needs {direction}; use another --study name"
            )
        if check:
            recorded = study.user_attrs
            diffs = [
                key
                for key in _CHECKED_ATTRS
                if key in recorded and key in attrs and recorded[key] != _jsonable(attrs[key])
            ]
            if diffs:
                detail = "; ".join(
                    f"{k}: recorded {json.dumps(recorded[k])[:200]}, "
                    f"now {json.dumps(_jsonable(attrs[k]))[:200]}"
                    for k in diffs
                )
                raise StudyMismatchError(
                    f"study {study_name!r} was recorded for a different {', '.join(diffs)} "
                    f"({detail}); resume it with the same settings or choose a new study name"
                )
        logger.info("resuming study %r: %d finished trials", study_name, n_finished(study))
        return study
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        direction=direction,
        load_if_exists=True,  # another worker may create it at the same moment
    )
    if not study.user_attrs:
        for key, value in attrs.items():
            study.set_user_attr(key, _jsonable(value))
    logger.info("created study %r", study.study_name)
    return study
