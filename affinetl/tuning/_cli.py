"""``affinetl tune``: tune an estimator on a case study or a data file and save the best setting.

The command is a thin layer over :class:`affinetl.tuning.OptunaSearchCV`::

    affinetl tune --case ltc --model AffineTransferRegressor --trials 40 \\
        --storage sqlite:///tuning.db --study ltc-affine --out ltc-affine.json

It shows Optuna's progress bar, prints a table of the best trials and writes the best parameters
to a JSON file that :func:`load_best_estimator` (and ``affinetl fit``) turns back into an
estimator. Re-running the same command resumes the study; running it in several processes on
one storage shares the work.

Everything that can be wrong with the command line (model, data, storage, output file) is checked
before the first trial runs; such an error is a :class:`~affinetl.exceptions.UsageError`, printed on
one line with exit status 2. The output file is written atomically (a temporary file renamed into
place), so a kill never leaves half a file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from sklearn.metrics import get_scorer
from sklearn.model_selection import GroupKFold, KFold

from ..exceptions import UsageError
from ._search import OptunaSearchCV
from ._study import _redact, data_hash

__all__ = [
    "CASES",
    "MODELS",
    "TuningCase",
    "add_arguments",
    "load_best_estimator",
    "load_case",
    "main",
    "make_estimator",
    "run",
]

logger = logging.getLogger(__name__)

#: Short names accepted by ``--model`` (class names work too, case-insensitively).
MODELS: dict[str, str] = {
    "affine": "AffineTransferRegressor",
    "affine-const": "AffineTransferRegressor",
    "linear-affine": "LinearAffineTransferRegressor",
    "log-difference": "LogDifferenceRegressor",
    "direct": "DirectRegressor",
    "source-only": "SourceOnlyRegressor",
    "augmented": "AugmentedRegressor",
    "offset": "OffsetTransferRegressor",
    "scale": "ScaleTransferRegressor",
    "neural-affine": "NeuralAffineTransferRegressor",
    "coupling-flow": "AffineCouplingTransfer",
}
_PRESETS: dict[str, dict[str, Any]] = {"affine-const": {"form": "const"}}

#: Built-in cases of ``--case`` (anything else is read as a data file).
CASES: dict[str, str] = {
    "ltc": "lattice thermal conductivity: 45 crystals, 278 XenonPy descriptors (standardised) + "
    "output of a pretrained SPS source network (last column); target log LTC standardised over "
    "the 45 crystals (the paper's protocol)",
    "synthetic": "200 samples of y = 1 + u + (1 + 0.5 u) sin(3 x1) x2 + noise, u = tanh(x1 + x2)",
}


def _estimator_classes() -> dict[str, type]:
    import affinetl  # noqa: PLC0415
    import affinetl.models as models  # noqa: PLC0415

    classes = {}
    for module in (affinetl, models):
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name, None)
            if isinstance(obj, type) and hasattr(obj, "fit"):
                classes[name] = obj
    return classes


def make_estimator(name: str, params: dict[str, Any] | None = None) -> Any:
    """An unfitted affinetl estimator by class name or short name.

    Parameters
    ----------
    name : str
        A class name (``"AffineTransferRegressor"``, case-insensitive) or a key of
        :data:`MODELS` (``"affine"``, ``"direct"``...).
    params : dict, optional
        Constructor parameters.

    Returns
    -------
    estimator

    Raises
    ------
    UsageError
        For an unknown name, listing the valid ones, or a parameter the class does not have.
    """
    classes = _estimator_classes()
    lower = {k.lower(): k for k in classes}
    key = name.strip()
    preset = dict(_PRESETS.get(key.lower(), {}))
    cls_name = MODELS.get(key.lower(), lower.get(key.lower()))
    if cls_name is None or cls_name not in classes:
        known = sorted(set(classes) | {k for k, v in MODELS.items() if v in classes})
        hint = ""
        if cls_name is not None:
            hint = f" ({cls_name} is not importable in this installation)"
        raise UsageError(f"unknown model {name!r}{hint}; choose one of: {', '.join(known)}")
    preset.update(params or {})
    cls = classes[cls_name]
    valid = cls().get_params(deep=False)
    unknown = sorted(set(preset) - set(valid))
    if unknown:
        raise UsageError(
            f"{cls_name} has no parameter(s) {', '.join(unknown)}; its parameters are: "
            + ", ".join(sorted(valid))
        )
    return cls(**preset)


@dataclass
class TuningCase:
    """Data of one tuning run: ``X`` (source feature in the last column), ``y``, ``groups``."""

    name: str
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray | None = None
    feature_names: list[str] = field(default_factory=list)
    description: str = ""


def _ltc(network: int) -> TuningCase:
    from ..datasets import load_ltc  # noqa: PLC0415

    data = load_ltc()
    nets = data.extras["networks"]
    if network not in nets:
        raise UsageError(f"unknown SPS network {network}; choose one of {sorted(nets)}")
    has_y = data.y["LTC"].notna().to_numpy()
    raw = data.X.to_numpy()[has_y]
    x = ((data.X - data.extras["x_mean"]) / data.extras["x_scale"]).to_numpy()[has_y]
    u = nets[network].predict(raw)[:, None]
    log_y = np.log(data.y["LTC"].to_numpy()[has_y])
    return TuningCase(
        name="ltc",
        X=np.hstack([x, u]),
        y=(log_y - log_y.mean()) / log_y.std(ddof=1),
        feature_names=[*map(str, data.X.columns), f"sps_network_{network}"],
        description=CASES["ltc"] + f" (network {network})",
    )


def _synthetic(seed: int = 0, n: int = 200) -> TuningCase:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2))
    u = np.tanh(x[:, 0] + x[:, 1])
    y = 1 + u + (1 + 0.5 * u) * np.sin(3 * x[:, 0]) * x[:, 1] + 0.05 * rng.standard_normal(n)
    return TuningCase("synthetic", np.c_[x, u], y, None, ["x1", "x2", "u"], CASES["synthetic"])


def _table(path: Path, target: str | None, source: str | None, group: str | None) -> TuningCase:
    import pandas as pd  # noqa: PLC0415

    if not path.is_file():
        raise UsageError(
            f"--case {str(path)!r} is neither a built-in case ({', '.join(CASES)}) nor a file"
        )
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t" if path.suffix in (".tsv", ".tab") else ",")
    except (ValueError, OSError, ImportError) as err:  # pandas' parser errors are ValueErrors
        raise UsageError(f"cannot read --case {str(path)!r}: {err}") from err
    if target is None:
        raise UsageError(f"--target is required for a data file; columns: {list(frame.columns)}")
    for label, col in (
        ("--target", target),
        ("--source-column", source),
        ("--group-column", group),
    ):
        if col is not None and col not in frame.columns:
            raise UsageError(f"{label} {col!r} is not a column of {path}: {list(frame.columns)}")
    groups = frame.pop(group).to_numpy() if group else None
    y = frame.pop(target).to_numpy(dtype=float)
    source = source or frame.columns[-1]
    cols = [c for c in frame.columns if c != source] + [source]
    frame = frame[cols]
    non_numeric = [c for c in cols if not np.issubdtype(frame[c].dtype, np.number)]
    if non_numeric:
        raise UsageError(f"non-numeric feature columns in {path}: {non_numeric}")
    if len(y) == 0 or not np.isfinite(y).all():
        raise UsageError(f"--target {target!r} of {path} is empty or has missing/infinite values")
    return TuningCase(
        path.stem,
        frame.to_numpy(dtype=float),
        y,
        groups,
        list(map(str, cols)),
        f"{path.name}: target {target!r}, source feature {source!r}",
    )


def load_case(
    case: str,
    *,
    target: str | None = None,
    source_column: str | None = None,
    group_column: str | None = None,
    network: int = 66,
) -> TuningCase:
    """Load a built-in case (:data:`CASES`) or a CSV/TSV/Parquet file for tuning.

    Parameters
    ----------
    case : str
        ``"ltc"``, ``"synthetic"`` or a path.
    target : str, optional
        Target column of a data file (required for files).
    source_column : str, optional
        Column of a data file holding the source feature (default: the last non-target one).
    group_column : str, optional
        Column of group labels (used for GroupKFold).
    network : int, default=66
        SPS source network of the ``ltc`` case.

    Returns
    -------
    TuningCase
    """
    if case == "ltc":
        return _ltc(network)
    if case == "synthetic":
        return _synthetic()
    return _table(Path(case), target, source_column, group_column)


def load_best_estimator(path: str | Path) -> Any:
    """Rebuild the tuned (unfitted) estimator from a best-parameters file of ``affinetl tune``.

    Parameters
    ----------
    path : str or Path
        JSON file written by ``affinetl tune --out``.

    Returns
    -------
    estimator
        ``make_estimator(model, fixed_params)`` with the best parameters set.
    """
    try:
        spec = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot read best-parameters file {str(path)!r}: {err}") from err
    for key in ("model", "params"):
        if key not in spec:
            raise UsageError(f"{path} is not a best-parameters file of affinetl tune (no {key!r})")
    estimator = make_estimator(spec["model"], spec.get("fixed_params"))
    defaults = estimator.get_params(deep=False)
    params = {  # JSON has no tuples: restore tuple-valued parameters (layer sizes)
        k: tuple(v) if isinstance(v, list) and isinstance(defaults.get(k), tuple) else v
        for k, v in spec["params"].items()
    }
    return estimator.set_params(**params)


def _at_least(low: float, kind: type = int) -> Any:
    """An argparse type: a number of ``kind`` that is at least ``low``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value >= low or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be at least {low} and finite, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``affinetl tune``."""
    parser.add_argument(
        "--case",
        required=True,
        help=f"built-in case ({', '.join(CASES)}) or a CSV/TSV/Parquet file",
    )
    parser.add_argument("--model", required=True, help="estimator class or short name")
    parser.add_argument(
        "--trials", type=_at_least(1), default=30, help="finished trials the study holds"
    )
    parser.add_argument(
        "--timeout", type=_at_least(1e-9, float), default=None, help="seconds; stop new trials"
    )
    parser.add_argument(
        "--storage",
        default="sqlite:///affinetl-tuning.db",
        help="SQLite file/URL, RDB URL, journal:PATH or *.log journal file",
    )
    parser.add_argument("--study", default=None, help="study name (default: <case>-<model>)")
    parser.add_argument("--out", default=None, help="best-parameters JSON (default: <study>.json)")
    parser.add_argument("--cv", type=_at_least(2), default=5, help="number of folds")
    parser.add_argument("--shuffle", action="store_true", help="shuffle before K-fold")
    parser.add_argument("--scoring", default="neg_mean_squared_error", help="sklearn scorer")
    parser.add_argument("--seed", type=int, default=0, help="sampler and shuffle seed")
    parser.add_argument("--target", default=None, help="target column of a data file")
    parser.add_argument("--source-column", default=None, help="source-feature column of a file")
    parser.add_argument("--group-column", default=None, help="group column: GroupKFold")
    parser.add_argument("--network", type=int, default=66, help="SPS network of the ltc case")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="fixed estimator parameter, e.g. --set max_iter=200 (repeatable)",
    )
    parser.add_argument("--no-prune", action="store_true", help="disable pruning")
    parser.add_argument(
        "--heartbeat",
        type=_at_least(1),
        default=None,
        help="RDB heartbeat seconds (retry dead trials)",
    )
    parser.add_argument("--top", type=_at_least(0), default=10, help="rows of the summary table")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _fixed_params(items: Sequence[str]) -> dict[str, Any]:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set needs KEY=VALUE, got {item!r}")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def _summary(search: OptunaSearchCV, top: int) -> str:
    trials = [t for t in search.study_.trials if t.value is not None and t.state.name == "COMPLETE"]
    trials.sort(key=lambda t: -t.value)
    states: dict[str, int] = {}
    for t in search.study_.trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    lines = [
        f"study {search.study_.study_name!r}: "
        + ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items()))
        + f"; {search.n_fits_} model fits",
        f"{'trial':>5}  {'score':>12}  params",
    ]
    for t in trials[:top]:
        params = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items()
        )
        lines.append(f"{t.number:>5}  {t.value:>12.6g}  {params}")
    return "\n".join(lines)


def _output_file(text: str) -> Path:
    """The best-parameters file: its folder is created (or checked) before any trial runs."""
    out = Path(text).expanduser()
    if out.is_dir():
        raise UsageError(
            f"--out {text!r} is a directory; give a file name such as {text}/best.json"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--out {text!r}: cannot create its folder: {err}") from err
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {text!r}: the folder {str(out.parent)!r} is not writable")
    if out.exists() and not os.access(out, os.W_OK):
        raise UsageError(f"--out {text!r} exists and is not writable")
    return out


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place (never half a file).

    Parameters
    ----------
    path : Path
        Destination; its folder must exist.
    text : str
        Content (UTF-8).
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _setup(args: argparse.Namespace) -> tuple[Any, TuningCase, Any, str, Path, dict[str, Any]]:
    """Everything ``run`` needs, checked before the storage is touched or a trial runs."""
    fixed = _fixed_params(args.set)
    estimator = make_estimator(args.model, fixed)
    case = load_case(
        args.case,
        target=args.target,
        source_column=args.source_column,
        group_column=args.group_column,
        network=args.network,
    )
    try:
        get_scorer(args.scoring)
    except ValueError as err:
        raise UsageError(f"--scoring {args.scoring!r}: {err}") from err
    if case.groups is not None:
        n_groups = len(np.unique(case.groups))
        if args.cv > n_groups:
            raise UsageError(f"--cv {args.cv} is more than the {n_groups} groups of the data")
        cv: Any = GroupKFold(args.cv)
    else:
        if args.cv > len(case.y):
            raise UsageError(f"--cv {args.cv} is more than the {len(case.y)} samples")
        cv = KFold(args.cv, shuffle=args.shuffle, random_state=args.seed if args.shuffle else None)
    study_name = args.study or f"{case.name}-{args.model}"
    out = _output_file(args.out or f"{study_name}.json")
    return estimator, case, cv, study_name, out, fixed


def run(args: argparse.Namespace) -> int:
    """Entry point of ``affinetl tune``.

    Returns 0 on success. A user error (:class:`~affinetl.exceptions.UsageError`: a bad option, an
    unreadable data file, a storage that cannot be opened, a study recorded for other settings)
    is printed on one line and returns 2; anything else propagates with its traceback.
    """
    try:
        estimator, case, cv, study_name, out, fixed = _setup(args)
        if args.no_progress:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
        search = OptunaSearchCV(
            estimator,
            n_trials=args.trials,
            timeout=args.timeout,
            cv=cv,
            scoring=args.scoring,
            prune="none" if args.no_prune else "auto",
            storage=args.storage,
            study_name=study_name,
            heartbeat_interval=args.heartbeat,
            random_state=args.seed,
            progress_bar=not args.no_progress,
        ).fit(case.X, case.y, groups=case.groups)
    except UsageError as err:
        print(f"affinetl tune: error: {err}", file=sys.stderr)  # noqa: T201 - CLI output
        return 2
    record = {
        "model": type(estimator).__name__,
        "params": search.best_params_,
        "fixed_params": fixed,
        "best_score": search.best_score_,
        "scoring": args.scoring,
        "cv": repr(cv),
        "case": args.case,
        "study": study_name,
        "storage": _redact(str(args.storage)),
        "n_trials": search.n_trials_,
        "n_fits": search.n_fits_,
        "data_hash": data_hash(case.X, case.y, case.groups),
        "affinetl_version": search.study_.user_attrs.get("affinetl_version"),
    }
    write_atomic(out, json.dumps(record, indent=2) + "\n")
    print(_summary(search, args.top))  # noqa: T201 - CLI output
    print(f"best parameters written to {out}")  # noqa: T201 - CLI output
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point (``python -m affinetl.tuning``)."""
    parser = argparse.ArgumentParser(prog="affinetl tune", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    return run(args)
