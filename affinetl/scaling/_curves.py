"""Learning curves in the size N of the simulation database, resumable and parallel.

A *cell* is one (method, N, n_target, repetition). Repetition ``r`` fixes the split of the
target polymers into a test set and a training pool (the same for every N and method: common
random numbers make differences between methods and sizes less noisy); the N source polymers
are drawn from ``(random_state, r, N)``. Finished cells are written to ``cache_dir`` one JSON
file each (temporary file, then ``os.replace``) under a key that hashes the data, the settings
and the cell, so an interrupted run resumes where it stopped and a changed setting never reuses
a stale result.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ._methods import NO_SOURCE, NO_TARGET_TRAINING, TransferMethod, get_method

__all__ = ["Cell", "learning_curve"]

logger = logging.getLogger(__name__)

_CACHE_VERSION = 1


@dataclass(frozen=True)
class Cell:
    """One point of a learning curve: a method at one source size, target size and repetition."""

    method: str
    n_source: int
    n_target: int
    rep: int


def _fingerprint(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a, dtype=float)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _method_id(method: TransferMethod) -> str:
    return f"{getattr(method, '__module__', '')}.{getattr(method, '__qualname__', repr(method))}"


def _cell_key(cell: Cell, context: str, method_id: str) -> str:
    text = json.dumps([_CACHE_VERSION, context, method_id, asdict(cell)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _split(n_total: int, n_test: int, seed: int, rep: int) -> tuple[np.ndarray, np.ndarray]:
    """Test indices and the ordered training pool of repetition ``rep``."""
    perm = np.random.default_rng([seed, rep, 0]).permutation(n_total)
    return perm[:n_test], perm[n_test:]


def _source_draw(n_total: int, n_source: int, seed: int, rep: int) -> np.ndarray:
    return np.random.default_rng([seed, rep, 1, n_source]).choice(
        n_total, size=n_source, replace=False
    )


def _call(method: TransferMethod, memo: dict[str, Any], *args: Any) -> np.ndarray:
    try:
        takes_memo = "memo" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        takes_memo = False
    return method(*args, memo=memo) if takes_memo else method(*args)


def _run_task(
    cells: Sequence[Cell],
    methods: dict[str, TransferMethod],
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    n_test: int,
    seed: int,
    threads: int | None,
) -> list[dict[str, Any]]:
    """Evaluate cells sharing one (N, n_target, rep); the source model is trained once."""
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 - dependency of scikit-learn

    Xs, ys, Xt, yt = data
    first = cells[0]
    test, pool = _split(len(yt), n_test, seed, first.rep)
    train = pool[: first.n_target]
    src = _source_draw(len(ys), first.n_source, seed, first.rep) if first.n_source else None
    memo: dict[str, Any] = {}
    rows = []
    with threadpool_limits(limits=threads):
        for cell in cells:
            t0 = time.perf_counter()
            Xs_c = Xs[src] if src is not None else Xs[:0]
            ys_c = ys[src] if src is not None else ys[:0]
            pred = np.asarray(
                _call(methods[cell.method], memo, Xs_c, ys_c, Xt[train], yt[train], Xt[test], seed),
                dtype=float,
            ).ravel()
            if pred.shape != (test.size,) or not np.all(np.isfinite(pred)):
                raise ValueError(
                    f"method {cell.method!r} returned {pred.shape} predictions (finite: "
                    f"{bool(np.all(np.isfinite(pred)))}) for {test.size} test polymers"
                )
            resid = pred - yt[test]
            rows.append(
                {
                    **asdict(cell),
                    "n_test": int(test.size),
                    "rmse": float(np.sqrt(np.mean(resid**2))),
                    "mae": float(np.mean(np.abs(resid))),
                    "bias": float(np.mean(resid)),
                    "seconds": time.perf_counter() - t0,
                }
            )
    return rows


def _write_atomic(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)


def _read_cell(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        logger.warning("ignoring the unreadable cache file %s (it will be recomputed)", path)
        return None


def _check_grid(values: Iterable[int], name: str, upper: int, lower: int = 1) -> list[int]:
    out = sorted({int(v) for v in values})
    bad = [v for v in out if not lower <= v <= upper]
    if not out or bad:
        raise ValueError(f"{name} must hold integers in [{lower}, {upper}], got {sorted(values)}")
    return out


def learning_curve(
    X_source: ArrayLike,
    y_source: ArrayLike,
    X_target: ArrayLike,
    y_target: ArrayLike,
    *,
    n_source_grid: Sequence[int],
    methods: Sequence[str | TransferMethod] = ("affine", "fine-tuning", "target-only"),
    n_target: int = 20,
    n_target_grid: Sequence[int] | None = None,
    n_test: int | None = None,
    n_reps: int = 10,
    random_state: int = 0,
    n_jobs: int = 1,
    client: Any = None,
    cache_dir: str | os.PathLike[str] | None = None,
    threads_per_task: int | None = 1,
    progress: bool | Callable[[int], Any] = True,
) -> pd.DataFrame:
    """Test errors of transfer methods as the simulation database grows.

    For each source size ``N`` in ``n_source_grid`` and repetition ``r``: draw ``N`` source
    polymers, let each method train its source model on them and adapt it to ``n_target``
    experimental polymers, and score it on the ``n_test`` held-out experimental polymers of
    repetition ``r``. Methods that ignore the source (``"target-only"``) run once per
    ``n_target_grid`` value instead (their learning curve in the number of experiments, for
    :func:`~affinetl.scaling.equivalent_samples`).

    Parameters
    ----------
    X_source : array-like of shape (n_source_total, n_features)
        Descriptors of the simulated polymers.
    y_source : array-like of shape (n_source_total,)
        Simulated property.
    X_target : array-like of shape (n_target_total, n_features)
        Descriptors of the experimental polymers (same columns as ``X_source``).
    y_target : array-like of shape (n_target_total,)
        Experimental property.
    n_source_grid : sequence of int
        Source sizes N (at most ``n_source_total``).
    methods : sequence of str or callable, default=("affine", "fine-tuning", "target-only")
        Names from :data:`~affinetl.scaling.TRANSFER_METHODS` or callables
        ``(X_source, y_source, X_train, y_train, X_test, seed) -> y_pred``.
    n_target : int, default=20
        Experimental training polymers of the transfer methods.
    n_target_grid : sequence of int, optional
        Experimental training sizes of the target-only curve (default: ``[n_target]``).
    n_test : int, optional
        Held-out experimental polymers per repetition (default: all that the largest
        training size leaves, at most half of them).
    n_reps : int, default=10
        Repetitions per cell.
    random_state : int, default=0
        Seed of every split and draw.
    n_jobs : int, default=1
        Parallel tasks with joblib (``-1``: all cores); ignored when ``client`` is given.
    client : distributed.Client, optional
        Run the tasks on this Dask cluster (for example the one of
        :func:`simdata.cluster.run_table`) instead of joblib.
    cache_dir : path-like, optional
        Folder of finished cells; cells found there are not recomputed.
    threads_per_task : int or None, default=1
        BLAS threads of each task (``None``: leave as is).
    progress : bool or callable, default=True
        Show a tqdm bar, or call ``progress(n_done)`` after each task.

    Returns
    -------
    pandas.DataFrame
        One row per cell: ``method``, ``n_source`` (0 for target-only), ``n_target``,
        ``rep``, ``n_test``, ``rmse``, ``mae``, ``bias`` (mean prediction minus truth),
        ``seconds``, ``cached`` (read from ``cache_dir``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Xs, Xt = rng.normal(size=(200, 3)), rng.normal(size=(40, 3))
    >>> table = learning_curve(Xs, Xs[:, 0], Xt, 1.1 * Xt[:, 0], n_source_grid=[20, 80],
    ...                        methods=["source-only"], n_reps=2, progress=False)
    >>> table.groupby("n_source")["rmse"].mean().is_monotonic_decreasing
    True
    """
    Xs, ys = np.asarray(X_source, dtype=float), np.asarray(y_source, dtype=float).ravel()
    Xt, yt = np.asarray(X_target, dtype=float), np.asarray(y_target, dtype=float).ravel()
    if Xs.ndim != 2 or Xt.ndim != 2 or Xs.shape[1] != Xt.shape[1]:
        raise ValueError(
            f"X_source and X_target must be 2-D with the same columns, got {Xs.shape} and "
            f"{Xt.shape}"
        )
    if len(ys) != len(Xs) or len(yt) != len(Xt):
        raise ValueError("X and y of each domain must have the same number of rows")
    for name, arr in (("X_source", Xs), ("y_source", ys), ("X_target", Xt), ("y_target", yt)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} holds NaN or infinite values: drop or impute them first")
    if n_reps < 1:
        raise ValueError(f"n_reps must be >= 1, got {n_reps}")
    resolved = dict(get_method(m) for m in methods)
    uses_target = [m for m in resolved if m not in NO_TARGET_TRAINING]
    target_grid = _check_grid(
        [n_target] if n_target_grid is None else n_target_grid, "n_target_grid", len(yt) - 2, 2
    )
    largest = max([*target_grid, n_target] if uses_target else [0])
    if n_test is None:
        n_test = max(min(len(yt) - largest, len(yt) // 2), 1)
    if n_test < 1 or n_test + largest > len(yt):
        raise ValueError(
            f"{len(yt)} target polymers cannot give {largest} for training and {n_test} for test"
        )
    source_grid = _check_grid(n_source_grid, "n_source_grid", len(ys), 3)

    groups: dict[tuple[int, int, int], list[Cell]] = {}
    for name in resolved:
        if name in NO_SOURCE:
            sizes = [(0, n) for n in target_grid]
        else:
            n_t = 0 if name in NO_TARGET_TRAINING else n_target
            sizes = [(n, n_t) for n in source_grid]
        for n_s, n_t in sizes:
            for rep in range(n_reps):
                groups.setdefault((n_s, n_t, rep), []).append(Cell(name, n_s, n_t, rep))

    context = json.dumps(
        {
            "data": _fingerprint(Xs, ys, Xt, yt),
            "n_test": n_test,
            "seed": random_state,
        },
        sort_keys=True,
    )
    ids = {name: _method_id(method) for name, method in resolved.items()}
    cache = None if cache_dir is None else Path(cache_dir)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    todo: list[list[Cell]] = []
    for cells in groups.values():
        missing = []
        for cell in cells:
            found = (
                None
                if cache is None
                else _read_cell(cache / f"{_cell_key(cell, context, ids[cell.method])}.json")
            )
            if found is None:
                missing.append(cell)
            else:
                rows.append({**found, "cached": True})
        if missing:
            todo.append(missing)
    n_cells = sum(len(c) for c in groups.values())
    logger.info(
        "learning curve: %d cells, %d cached, %d to run in %d tasks",
        n_cells,
        n_cells - sum(len(t) for t in todo),
        sum(len(t) for t in todo),
        len(todo),
    )
    data = (Xs, ys, Xt, yt)

    def store(result: list[dict[str, Any]]) -> None:
        for row in result:
            if cache is not None:
                cell = Cell(row["method"], row["n_source"], row["n_target"], row["rep"])
                _write_atomic(cache / f"{_cell_key(cell, context, ids[cell.method])}.json", row)
            rows.append({**row, "cached": False})

    bar = None
    if progress is True and todo:
        from tqdm.auto import tqdm  # noqa: PLC0415

        bar = tqdm(total=len(todo), desc="learning curve", unit="task")
    # largest source sizes first: better load balance
    todo.sort(key=lambda t: -t[0].n_source)
    args = (resolved, data, n_test, random_state, threads_per_task)
    done = 0
    if todo and client is not None:
        from distributed import as_completed  # noqa: PLC0415

        scattered = client.scatter(data, broadcast=True)
        futures = [
            client.submit(
                _run_task,
                t,
                resolved,
                scattered,
                n_test,
                random_state,
                threads_per_task,
                pure=False,
            )
            for t in todo
        ]
        results: Iterable[list[dict[str, Any]]] = (f.result() for f in as_completed(futures))
    elif todo and n_jobs != 1:
        from joblib import Parallel, delayed  # noqa: PLC0415

        results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_run_task)(t, *args) for t in todo
        )
    else:
        results = (_run_task(t, *args) for t in todo)
    for result in results:
        store(result)
        done += 1
        if bar is not None:
            bar.update()
        elif callable(progress):
            progress(done)
    if bar is not None:
        bar.close()
    table = pd.DataFrame(rows)
    return table.sort_values(["method", "n_source", "n_target", "rep"]).reset_index(drop=True)
