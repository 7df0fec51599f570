"""Search spaces: one per estimator class, registered by class name, overridable by the user.

A search space maps parameter names (as :meth:`~sklearn.base.BaseEstimator.set_params` takes them)
to Optuna distributions (:class:`optuna.distributions.FloatDistribution`,
:class:`~optuna.distributions.IntDistribution`,
:class:`~optuna.distributions.CategoricalDistribution`). A registry entry is either such a dict
or a *space function* ``space(estimator, X) -> dict`` for bounds that depend on the data (kernel
widths are searched around the published default ``1 / (2 * dim)`` of the kernel's own input).

Entries are keyed by class name, so estimators that live in modules not imported yet (the neural
ones) can be registered before they exist, and any user class can be added with
:func:`register_space`. Pipelines resolve to the space of their final step with the step prefix.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)

from ..exceptions import UsageError
from ..kernels import default_gamma

__all__ = [
    "EmptySearchSpaceError",
    "SpaceFunction",
    "decode_params",
    "get_space",
    "neural_space",
    "register_space",
    "registered_spaces",
    "space_to_dict",
    "suggest_params",
]

logger = logging.getLogger(__name__)

Space = dict[str, BaseDistribution]
SpaceFunction = Callable[[Any, Any], Space]

#: Penalties are searched on a log scale over six decades around the published grids.
PENALTY_RANGE = (1e-4, 1e2)
#: Penalties of the block relaxation: below 1e-3 it needs thousands of sweeps to converge.
AFFINE_PENALTY_RANGE = (1e-3, 1e2)
#: Kernel widths are searched from a tenth to ten times the default ``1 / (2 * dim)``.
WIDTH_FACTOR = 10.0
#: Kernel kinds searched for a domain-specific factor.
KERNEL_CHOICES = ("rbf", "laplacian", "matern52")


class EmptySearchSpaceError(UsageError):
    """Raised when an estimator has no search space, or the user emptied it."""


_REGISTRY: dict[str, Space | SpaceFunction] = {}
#: Class name -> (decoder, virtual parameter names): searched values -> ``set_params`` values.
_DECODERS: dict[str, tuple[Callable[[Any, dict[str, Any]], dict[str, Any]], frozenset[str]]] = {}


def _log(low: float, high: float) -> FloatDistribution:
    return FloatDistribution(low, high, log=True)


def _penalty() -> FloatDistribution:
    return _log(*PENALTY_RANGE)


def _width(dim: int) -> FloatDistribution:
    g = default_gamma(dim)
    return _log(g / WIDTH_FACTOR, g * WIDTH_FACTOR)


def _view_dims(estimator: Any, X: ArrayLike | None) -> tuple[int, int]:
    """Numbers of input columns ``x`` and source features ``u`` the estimator will see."""
    if X is None:
        return 1, 1
    arr = np.asarray(X)
    n_features = arr.shape[1] if arr.ndim == 2 else 1
    split = getattr(estimator, "_split_features", None)
    if split is not None and arr.ndim == 2:
        try:
            x, u = split(np.asarray(arr[:2], dtype=float))
            return x.shape[1], u.shape[1]
        except (ValueError, TypeError) as err:  # names need a fitted estimator: fall back
            logger.debug("could not split features for the space (%s); assuming last column", err)
    return max(n_features - 1, 0), 1


def _affine_space(estimator: Any, X: ArrayLike | None) -> Space:
    dx, du = _view_dims(estimator, X)
    space: Space = {
        "lambda1": _log(*AFFINE_PENALTY_RANGE),
        "lambda2": _log(*AFFINE_PENALTY_RANGE),
        "lambda3": _log(*AFFINE_PENALTY_RANGE),
        "kernel3": CategoricalDistribution(KERNEL_CHOICES),
        "gamma1": _width(du),
        "gamma3": _width(dx),
    }
    params = estimator.get_params(deep=False)
    form = params.get("variant") or params.get("form", "full")
    if form == "const":  # g2 = 1: no h2 to penalise
        del space["lambda2"]
    elif form == "g1_const":  # h1 = 0: no h1 to penalise, no kernel on u for it
        del space["lambda1"], space["gamma1"]
    return space


def _kernel_ridge_space(view: str) -> SpaceFunction:
    def space(estimator: Any, X: ArrayLike | None) -> Space:
        dx, du = _view_dims(estimator, X)
        dim = {"x": dx, "u": du, "xu": dx + du}[view]
        return {
            "alpha": _penalty(),
            "kernel": CategoricalDistribution(KERNEL_CHOICES),
            "gamma": _width(dim),
        }

    space.__doc__ = f"Kernel ridge space on the {view!r} view: penalty, kernel kind and width."
    return space


def _fused_space(estimator: Any, X: ArrayLike | None) -> Space:
    space = {"lambda_ridge": _log(1e-3, 1e3), "lambda_fused": _log(1e-3, 1e3)}
    params = estimator.get_params()
    if params.get("form") == "full" and "lambda_scale" in params:  # the ridge of b
        space["lambda_scale"] = _log(1e-2, 1e2)
    return space


#: Parameter names a neural estimator may use for each searched quantity, and its distribution.
_NEURAL_CANDIDATES: tuple[tuple[tuple[str, ...], BaseDistribution], ...] = (
    (("lr", "learning_rate", "learning_rate_init"), _log(1e-4, 3e-2)),
    (("weight_decay", "l2"), _log(1e-6, 1e-1)),
    (("dropout",), FloatDistribution(0.0, 0.5)),
    (("max_epochs", "epochs", "n_epochs"), IntDistribution(20, 300, log=True)),
    (("batch_size",), CategoricalDistribution((2, 4, 8, 16, 32))),
)
#: Tuple-valued layer-size parameters set from the virtual ``width`` and ``depth``.
_HIDDEN_PARAMS = ("hidden1", "hidden2", "hidden3", "hidden_layer_sizes")


def neural_space(estimator: Any, X: ArrayLike | None = None) -> Space:
    """Space of a neural regressor built from the parameters it actually has.

    Searches the learning rate, weight decay, dropout, number of epochs and batch size, each
    under the first of its usual names that ``get_params()`` contains (``lr`` or
    ``learning_rate_init``, ...), and the network shape through two virtual parameters,
    ``width`` (4-128, log scale) and ``depth`` (1-3): every tuple-valued layer-size parameter
    (``hidden1``, ``hidden2``, ``hidden3``, ``hidden_layer_sizes``) becomes
    ``(width,) * depth`` (see :func:`decode_params`).

    Parameters
    ----------
    estimator : estimator
        An unfitted neural estimator with ``get_params``.
    X : array-like, optional
        Unused (neural spaces do not depend on the data).

    Returns
    -------
    dict of str to BaseDistribution
    """
    params = estimator.get_params(deep=False)
    space: Space = {}
    for names, dist in _NEURAL_CANDIDATES:
        for name in names:
            if name in params:
                space[name] = dist
                break
    if any(name in params for name in _HIDDEN_PARAMS):
        space["width"] = IntDistribution(4, 128, log=True)
        space["depth"] = IntDistribution(1, 3)
    return space


def _neural_decode(estimator: Any, params: dict[str, Any]) -> dict[str, Any]:
    params = dict(params)
    width, depth = params.pop("width", None), params.pop("depth", None)
    if width is not None or depth is not None:
        have = estimator.get_params(deep=False)
        for name in _HIDDEN_PARAMS:
            if name in have:
                old = tuple(have[name]) or (32,)
                params[name] = (int(width or old[0]),) * int(depth or len(old))
    return params


def _mlp_space(estimator: Any, X: ArrayLike | None) -> Space:
    return {
        "alpha": _log(1e-6, 1e0),
        "learning_rate_init": _log(1e-4, 1e-1),
        "max_iter": IntDistribution(5, 200, log=True),
        "batch_size": CategoricalDistribution((8, 16, 32, 64)),
        "width": IntDistribution(4, 128, log=True),
        "depth": IntDistribution(1, 3),
    }


def _sgd_space(estimator: Any, X: ArrayLike | None) -> Space:
    return {
        "alpha": _log(1e-7, 1e0),
        "eta0": _log(1e-5, 1e-1),
        "max_iter": IntDistribution(5, 100, log=True),
    }


def register_space(
    estimator: type | str,
    space: Mapping[str, BaseDistribution] | SpaceFunction,
    *,
    decode: Callable[[Any, dict[str, Any]], dict[str, Any]] | None = None,
    virtual: tuple[str, ...] = (),
    overwrite: bool = False,
) -> None:
    """Register the default search space of an estimator class.

    Parameters
    ----------
    estimator : type or str
        The class, or its ``__name__`` (so a space can be registered before its module is
        imported).
    space : dict of str to BaseDistribution, or callable
        Fixed space, or ``space(estimator, X) -> dict`` for data-dependent bounds.
    decode : callable, optional
        ``decode(estimator, params) -> params`` turning searched values into ``set_params``
        values (e.g. a width and a depth into a tuple of layer sizes, which Optuna cannot
        search directly).
    virtual : tuple of str
        Searched names that are not estimator parameters (consumed by ``decode``).
    overwrite : bool, default=False
        Replace an existing entry (otherwise a second registration raises ``ValueError``).

    Examples
    --------
    >>> from optuna.distributions import FloatDistribution
    >>> from sklearn.linear_model import Ridge
    >>> register_space(Ridge, {"alpha": FloatDistribution(1e-3, 1e3, log=True)}, overwrite=True)
    >>> sorted(get_space(Ridge()))
    ['alpha']
    """
    name = estimator if isinstance(estimator, str) else estimator.__name__
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"a search space for {name!r} is registered; pass overwrite=True")
    if not callable(space):
        space = dict(space)
        for key, dist in space.items():
            if not isinstance(dist, BaseDistribution):
                raise TypeError(
                    f"space entry {key!r} of {name} must be an optuna distribution, got {dist!r}"
                )
    _REGISTRY[name] = space
    if decode is not None:
        _DECODERS[name] = (decode, frozenset(virtual))
    else:
        _DECODERS.pop(name, None)


def decode_params(estimator: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """Searched values -> ``set_params`` values, through the class's registered decoder.

    Parameters
    ----------
    estimator : estimator or Pipeline
    params : dict
        Values of one trial (names as in the search space).

    Returns
    -------
    dict
        Parameters for ``estimator.set_params``.
    """
    final, prefix = _final_step(estimator)
    entry = _DECODERS.get(type(final).__name__)
    if entry is None:
        return dict(params)
    own = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
    other = {k: v for k, v in params.items() if not k.startswith(prefix)}
    decoded = entry[0](final, own)
    return {**other, **{prefix + k: v for k, v in decoded.items()}}


def registered_spaces() -> list[str]:
    """Class names that have a registered search space, sorted."""
    return sorted(_REGISTRY)


def _final_step(estimator: Any) -> tuple[Any, str]:
    """``(final estimator, parameter prefix)`` of nested Pipelines; ``(estimator, "")`` else."""
    prefix = ""
    while hasattr(estimator, "steps") and estimator.steps:
        name, last = estimator.steps[-1]
        prefix += f"{name}__"
        estimator = last
    return estimator, prefix


def get_space(
    estimator: Any,
    X: ArrayLike | None = None,
    *,
    overrides: Mapping[str, BaseDistribution | None] | None = None,
) -> Space:
    """The search space of an estimator (its class's registered space plus user overrides).

    Parameters
    ----------
    estimator : estimator
        Unfitted estimator (or Pipeline: the final step's space, names prefixed with the step).
    X : array-like of shape (n_samples, n_features), optional
        Training inputs, for data-dependent bounds (kernel widths).
    overrides : dict, optional
        Entries that replace or add distributions; a value of ``None`` removes a parameter.

    Returns
    -------
    dict of str to BaseDistribution
        Parameter name (``set_params`` syntax) -> distribution.

    Raises
    ------
    EmptySearchSpaceError
        If no space is registered for the class and ``overrides`` adds none, or if the
        overrides remove every parameter.
    ValueError
        If a parameter is not a parameter of the estimator.
    """
    final, prefix = _final_step(estimator)
    name = type(final).__name__
    entry = _REGISTRY.get(name)
    space: Space = {}
    if entry is not None:
        base = entry(final, X) if callable(entry) else dict(entry)
        space = {prefix + key: dist for key, dist in base.items()}
    for key, dist in (overrides or {}).items():
        if dist is None:
            space.pop(key, None)
        elif not isinstance(dist, BaseDistribution):
            raise TypeError(f"override {key!r} must be an optuna distribution, got {dist!r}")
        else:
            space[key] = dist
    if not space:
        why = (
            f"no search space is registered for {name}"
            if entry is None and not overrides
            else f"the search space of {name} is empty after the overrides"
        )
        raise EmptySearchSpaceError(
            f"{why}; pass a non-empty `space` (dict of optuna distributions) or register one "
            f"with affinetl.tuning.register_space. Registered: {', '.join(registered_spaces())}"
        )
    valid = set(estimator.get_params(deep=True))
    valid |= {prefix + v for v in _DECODERS.get(name, (None, frozenset()))[1]}
    unknown = sorted(set(space) - valid)
    if unknown:
        raise ValueError(
            f"search-space parameter(s) {unknown} are not parameters of {type(estimator).__name__}"
            f"; valid names: {sorted(valid)}"
        )
    return space


def suggest_params(trial: Any, space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """Draw one parameter setting from ``space`` through an Optuna trial.

    Parameters
    ----------
    trial : optuna.trial.BaseTrial
    space : dict of str to BaseDistribution

    Returns
    -------
    dict of str to value
    """
    params: dict[str, Any] = {}
    for name, dist in space.items():
        if isinstance(dist, FloatDistribution):
            params[name] = trial.suggest_float(
                name, dist.low, dist.high, log=dist.log, step=dist.step
            )
        elif isinstance(dist, IntDistribution):
            params[name] = trial.suggest_int(
                name, dist.low, dist.high, log=dist.log, step=dist.step
            )
        elif isinstance(dist, CategoricalDistribution):
            params[name] = trial.suggest_categorical(name, dist.choices)
        else:
            raise TypeError(f"unsupported distribution for {name!r}: {dist!r}")
    return params


def space_to_dict(space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """JSON-compatible description of a space (for user attributes and files)."""
    return {name: json.loads(distribution_to_json(dist)) for name, dist in space.items()}


for _cls in ("AffineTransferRegressor",):
    register_space(_cls, _affine_space)
for _cls, _view in (
    ("DirectRegressor", "x"),
    ("SourceOnlyRegressor", "u"),
    ("AugmentedRegressor", "xu"),
    ("OffsetTransferRegressor", "x"),
    ("ScaleTransferRegressor", "x"),
):
    register_space(_cls, _kernel_ridge_space(_view))
for _cls in ("LinearAffineTransferRegressor", "LogDifferenceRegressor"):
    register_space(_cls, _fused_space)
for _cls in (
    "NeuralAffineTransferRegressor",
    "HiddenLayerAffineRegressor",
    "NeuralDirectRegressor",
    "FeatureExtractionRegressor",
    "FineTuneRegressor",
    "AffineCouplingTransfer",
):
    register_space(_cls, neural_space, decode=_neural_decode, virtual=("width", "depth"))
register_space("MLPRegressor", _mlp_space, decode=_neural_decode, virtual=("width", "depth"))
register_space("SGDRegressor", _sgd_space)
