"""Save and load source models without running arbitrary code (skops, a list of trusted types).

A pickle runs whatever code its author put in it. A skops file is a zip of JSON and numpy
arrays; loading builds only objects whose types are on a list of trusted types and refuses a
file that names any other type (:data:`TRUSTED_TYPES`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["TRUSTED_TYPES", "UntrustedSourceModelError", "load_source_model", "save_source_model"]

#: Types a source-model file may contain beyond skops' defaults (numpy, scikit-learn basics).
TRUSTED_TYPES: tuple[str, ...] = (
    "affinetl.sources._polymer.PolymerSourceModel",
    "affinetl.sources._kernel_ridge.LooKernelRidge",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.utils._bunch.Bunch",
    "builtins.bool",
    "builtins.float",
    "builtins.int",
    "builtins.str",
    "builtins.slice",
    "numpy.float64",
    "numpy.int64",
    "numpy.dtype",
    "numpy.ndarray",
)


class UntrustedSourceModelError(ValueError):
    """A source-model file names types outside the trusted list: it is not loaded."""


def save_source_model(model: Any, path: str | os.PathLike[str]) -> Path:
    """Write a fitted source model to a skops file (atomically: temporary file, then rename).

    Parameters
    ----------
    model : PolymerSourceModel or estimator
        The fitted source model.
    path : path-like
        Destination, conventionally ``*.skops``.

    Returns
    -------
    Path
        The file written.
    """
    import skops.io as sio  # noqa: PLC0415

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    sio.dump(model, tmp)
    os.replace(tmp, path)
    return path


def load_source_model(
    path: str | os.PathLike[str], *, trusted: tuple[str, ...] | list[str] = ()
) -> Any:
    """Read a source model saved by :func:`save_source_model`, building trusted types only.

    Parameters
    ----------
    path : path-like
        A skops file.
    trusted : sequence of str, default=()
        Fully qualified type names to trust besides :data:`TRUSTED_TYPES` (read a file's types
        with ``skops.io.get_untrusted_types(file=path)`` and check them first).

    Returns
    -------
    estimator

    Raises
    ------
    UntrustedSourceModelError
        When the file names a type that is neither trusted nor in ``trusted``; nothing of the
        file is built.
    """
    import skops.io as sio  # noqa: PLC0415

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no source-model file at {path}")
    allowed = set(TRUSTED_TYPES) | set(trusted)
    unknown = [t for t in sio.get_untrusted_types(file=path) if t not in allowed]
    if unknown:
        raise UntrustedSourceModelError(
            f"{path} names types that are not trusted, so it was not loaded: {unknown}. "
            "Pass trusted=[...] only for types you have checked."
        )
    return sio.load(path, trusted=sorted(allowed))
