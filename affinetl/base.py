"""Shared estimator machinery: source-feature resolution and sklearn-private imports.

This is the only module that imports scikit-learn's private helpers (`_fit_context`,
`_param_validation`, `validate_data`), so an upstream change is a one-file fix.

Every transfer model in affinetl needs two views of one sample: the *input* ``x`` (descriptors of
the material) and the *source features* ``u = f_s(x)`` (outputs of a pretrained source model, a
hidden-layer representation, or a measured related quantity). :class:`SourceFeatureMixin` turns
a feature matrix ``X`` into ``(x, u)`` the same way in ``fit`` and ``predict``.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from sklearn.utils.validation import validate_data as _sk_validate_data

from .exceptions import UsageError

__all__ = [
    "MAX_ABS_VALUE",
    "Interval",
    "NumericalRangeError",
    "StrOptions",
    "SourceFeatureMixin",
    "check_is_fitted",
    "check_target",
    "fit_context",
    "source_constraints",
    "store_params",
    "validate_data",
]

fit_context = _fit_context

#: Largest magnitude accepted in ``X`` and ``y``: beyond it a square (a kernel distance, a
#: variance, a residual sum of squares) overflows double precision.
MAX_ABS_VALUE = 1e150


class NumericalRangeError(UsageError):
    """Input values so large that their squares overflow double precision."""


def _check_range(arr: Any, what: str) -> None:
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu" or arr.size == 0:
        return
    top = float(np.max(np.abs(arr)))
    if top > MAX_ABS_VALUE:
        raise NumericalRangeError(
            f"{what} holds values as large as {top:.3g}, beyond {MAX_ABS_VALUE:.0e}: their "
            "squares overflow double precision, so every kernel and least-squares computation "
            "would return NaN; rescale the data (for example change its units) first"
        )


def validate_data(estimator: Any, X: Any = "no_validation", y: Any = "no_validation", **kwargs):
    """scikit-learn's ``validate_data`` plus a range check: values whose squares overflow
    (``|v| > MAX_ABS_VALUE``) raise :class:`NumericalRangeError` instead of NaN predictions."""
    out = _sk_validate_data(estimator, X, y, **kwargs)
    for arr, what in zip(out if isinstance(out, tuple) else (out,), ("X", "y")):
        _check_range(arr, what)
    return out


#: Parameter constraints shared by every estimator that resolves source features.
source_constraints: dict[str, list[Any]] = {
    "source": [None, HasMethods("predict"), HasMethods("transform"), callable, list, tuple],
    "source_columns": [None, Integral, str, list, tuple, np.ndarray],
    "input_columns": [StrOptions({"rest", "all"}), list, tuple, np.ndarray],
}


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.ravel().tolist()
    return [value]


def _evaluate_source(model: Any, X: np.ndarray) -> np.ndarray:
    """Outputs of one source model on ``X`` as a 2-D float array."""
    if hasattr(model, "predict"):
        out = model.predict(X)
    elif hasattr(model, "transform"):
        out = model.transform(X)
    elif callable(model):
        out = model(X)
    else:
        raise TypeError(
            f"source model {model!r} has neither `predict` nor `transform` and is not callable"
        )
    out = np.asarray(out, dtype=float)
    if out.ndim == 1:
        out = out[:, None]
    elif out.ndim != 2:
        raise ValueError(
            f"source model {type(model).__name__} returned an array of shape {out.shape}; "
            "expected (n_samples,) or (n_samples, n_outputs)"
        )
    if out.shape[0] != X.shape[0]:
        raise ValueError(
            f"source model {type(model).__name__} returned {out.shape[0]} rows for "
            f"{X.shape[0]} samples: the source model does not match X"
        )
    if not np.all(np.isfinite(out)):
        raise ValueError(
            f"source model {type(model).__name__} returned NaN or infinite source features"
        )
    return out


class SourceFeatureMixin:
    """Split a feature matrix into inputs ``x`` and source features ``u = f_s(x)``.

    Estimators using the mixin define the parameters ``source``, ``source_columns`` and
    ``input_columns`` (see :data:`source_constraints`):

    - ``source``: ``None``, a fitted model (``predict`` or ``transform``), a callable
      ``X -> array``, or a list of them; their outputs are stacked column-wise into ``u``.
    - ``source_columns``: index, name or list of indices/names of the columns of ``X`` that hold
      ``u``. Names need ``X`` to be a DataFrame at ``fit``.
    - ``input_columns``: ``"rest"`` (every column not used as a source feature), ``"all"``, or an
      explicit list of indices/names.

    When both ``source`` and ``source_columns`` are ``None`` the last column of ``X`` is the
    source feature and the other columns are the inputs.
    """

    def _column_indices(self, spec: Any, n_features: int, what: str) -> np.ndarray:
        names = getattr(self, "feature_names_in_", None)
        idx = []
        for item in _as_list(spec):
            if isinstance(item, str):
                if names is None:
                    raise ValueError(
                        f"{what} {item!r} is a column name, but X was not a DataFrame with "
                        "column names at fit"
                    )
                hits = np.flatnonzero(names == item)
                if hits.size == 0:
                    raise ValueError(f"{what} {item!r} is not a column of X")
                idx.append(int(hits[0]))
            elif isinstance(item, (Integral, np.integer)):
                i = int(item)
                if not -n_features <= i < n_features:
                    raise ValueError(
                        f"{what} index {i} is out of range for X with {n_features} columns"
                    )
                idx.append(i % n_features)
            else:
                raise TypeError(f"{what} must hold integers or column names, got {item!r}")
        return np.asarray(idx, dtype=int)

    def _source_models(self) -> list[Any]:
        return [] if self.source is None else _as_list(self.source)

    def _split_features(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, u)`` for a validated 2-D array ``X``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated feature matrix.

        Returns
        -------
        x : ndarray of shape (n_samples, n_inputs)
            Inputs of the domain-specific factor ``g3``.
        u : ndarray of shape (n_samples, n_source_features)
            Source features ``f_s(x)``.
        """
        n_features = X.shape[1]
        models = self._source_models()
        if models and self.source_columns is not None:
            raise ValueError("give either `source` (source models) or `source_columns`, not both")
        if models:
            u = np.hstack([_evaluate_source(m, X) for m in models])
            used = np.empty(0, dtype=int)
        else:
            spec = -1 if self.source_columns is None else self.source_columns
            used = self._column_indices(spec, n_features, "source column")
            if used.size == 0:
                raise ValueError("source_columns is empty: at least one source feature is needed")
            u = X[:, used]
        if isinstance(self.input_columns, str):
            if self.input_columns == "all":
                keep = np.arange(n_features)
            else:
                keep = np.setdiff1d(np.arange(n_features), used)
        else:
            keep = self._column_indices(self.input_columns, n_features, "input column")
        return X[:, keep], np.asarray(u, dtype=float)

    def _source_vector(self, u: np.ndarray) -> np.ndarray:
        """The single source prediction ``f_s(x)`` needed by offset/scale/log models."""
        if u.shape[1] != 1:
            raise ValueError(
                f"{type(self).__name__} needs exactly one source feature f_s(x), got "
                f"{u.shape[1]}; select one with `source_columns` or a single source model"
            )
        return u[:, 0]


def check_target(y: np.ndarray) -> np.ndarray:
    """Return ``y`` as a 1-D float array (validate_data already rejected NaN and inf)."""
    return np.asarray(y, dtype=float).ravel()


def store_params(estimator: Any, arguments: dict[str, Any]) -> None:
    """Store a constructor's arguments (its ``locals()``) unchanged, one attribute each, as
    scikit-learn's convention asks (``__init__`` stores its parameters and nothing else)."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)
