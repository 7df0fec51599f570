"""Shared machinery of the torch estimators (``_neural``, ``_neural_baselines``, ``_flow``).

Parameter constraints, hidden-width resolution, standardisation moments and the private base
:class:`_TorchEstimator` (parameter storage, device, dtype, seeding, the validation split and the
training loop, fit and predict preambles, save/load), whose docstring describes once the training
parameters every estimator shares (:func:`fill_doc` expands them into each estimator's docstring).
Imported by the estimator modules after their check that torch is installed.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import math
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from torch import nn

from ..base import (
    Interval,
    StrOptions,
    check_is_fitted,
    check_target,
    validate_data,
)
from ._torch.batched import module_signature
from ._torch.nets import ACTIVATIONS
from ._torch.train import (
    TrainResult,
    deterministic_mode,
    fit_module,
    resolve_device,
    resolve_dtype,
    torch_threads,
)

__all__: list[str] = []

logger = logging.getLogger("affinetl.models")

_training_constraints: dict[str, list[Any]] = {
    "activation": [StrOptions(set(ACTIVATIONS))],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "lr_schedule": [StrOptions({"constant", "cosine", "plateau"})],
    "device": [StrOptions({"auto", "cpu", "cuda"})],
    "dtype": [StrOptions({"float32", "float64"})],
    "deterministic": ["boolean"],
    "n_threads": [None, Interval(Integral, 1, None, closed="left")],
    "random_state": ["random_state"],
    "callbacks": [None, list, tuple],
}
_hidden = [list, tuple]
#: the hidden widths of ``g1``, ``h2`` and ``g3`` (the affine-transfer estimators).
_affine_constraints: dict[str, list[Any]] = {
    "hidden1": _hidden,
    "hidden2": _hidden,
    "hidden3": _hidden,
}
#: a pretrained source network read at a hidden layer (Inv-k, Ext-k).
_network_constraints: dict[str, list[Any]] = {"network": [object], "layer": [None, Integral, str]}


def _widths(spec: Any, n_in: int, name: str) -> list[int]:
    """Hidden widths: ints as given, floats as fractions of the network's input width."""
    widths = []
    for item in spec:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (Integral, Real)):
            raise ValueError(f"{name} must hold positive ints or fractions, got {item!r}")
        if isinstance(item, Integral):
            if item < 1:
                raise ValueError(f"{name} widths must be >= 1, got {item}")
            widths.append(int(item))
        else:
            if not item > 0:
                raise ValueError(f"{name} fractions must be > 0, got {item}")
            widths.append(max(1, math.ceil(float(item) * max(n_in, 1))))
    return widths


def _moments(a: np.ndarray, standardize: bool) -> tuple[np.ndarray, np.ndarray]:
    if not standardize or a.shape[0] == 0:
        return np.zeros(a.shape[1:]), np.ones(a.shape[1:])
    scale = a.std(axis=0)
    return a.mean(axis=0), np.where(scale > 0, scale, 1.0)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True


def _numpy(t: torch.Tensor) -> np.ndarray:
    """A tensor as a float64 ndarray on the CPU."""
    return t.cpu().numpy().astype(np.float64)


def _linear_layers(module: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` submodules of ``module``, in order."""
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


@dataclass
class _FitPlan:
    """Everything one fit trains: built by an estimator's ``_plan_fit``, run by ``_train``.

    Attributes
    ----------
    module : nn.Module
        The freshly initialised network.
    loss : callable
        ``loss(module, batch) -> scalar``; a module-level function, so that fits of one kind
        share it and can train together (:func:`~affinetl.models.fit_many`).
    tensors : tuple of tensors
        Training tensors with the rows first.
    generator : torch.Generator
        Orders the mini-batches (and draws the validation split).
    param_groups : list of parameter lists, optional
        Block relaxation groups (see ``fit_module``).
    """

    module: nn.Module
    loss: Callable[[nn.Module, tuple[torch.Tensor, ...]], torch.Tensor]
    tensors: tuple[torch.Tensor, ...]
    generator: torch.Generator
    param_groups: list[list[nn.Parameter]] | None = None


def _call_bound(
    callback: Any, estimator: Any, epoch: int, train_loss: float, val_loss: float | None
) -> bool | None:
    return callback(epoch, train_loss, val_loss, estimator)


class _TorchEstimator(RegressorMixin, BaseEstimator):
    """Base of every neural estimator: the training parameters they share, and save/load.

    It holds the machinery (parameter storage, device, dtype, seeding, the validation split, the
    training loop, fit and predict preambles, :meth:`save` and :meth:`load`). Its parameters below
    are written here once: each estimator's docstring names them in one entry that
    :func:`fill_doc` replaces by these descriptions at import, so ``help()`` shows them in full.

    Other Parameters
    ----------------
    activation : {"leaky_relu", "relu", "tanh", "elu", "silu"}, default="leaky_relu"
        Hidden activation (LeakyReLU slope 0.01, the published setting).
    dropout : float, default=0.0
        Dropout after every hidden activation (off in ``predict``).
    weight_decay : float, default=1e-4
        L2 penalty on every weight (Adam ``weight_decay``).
    lr : float, default=1e-3
        Adam learning rate.
    batch_size : int, default=32
        Mini-batch size (the published neural LTC models use 2).
    max_epochs : int, default=200
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training rows and keep the weights of the best
        validation epoch, stopping after ``n_iter_no_change`` epochs without improvement
        (skipped, with all rows used, when fewer than 2 rows would be held out or kept).
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=20
    lr_schedule : {"constant", "cosine", "plateau"}, default="constant"
    device : {"cpu", "cuda", "auto"}, default="cpu"
        ``"auto"`` picks CUDA when available.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the networks; ``predict`` returns float64 either way.
    deterministic : bool, default=False
        Run with ``torch.use_deterministic_algorithms`` (restored afterwards).
    n_threads : int or None, default=1
        Torch intra-op threads while training (set, then restored); ``None`` keeps torch's
        setting. One thread is fastest for these small networks.
    random_state : int, RandomState or None, default=None
        Seeds a local ``torch.Generator`` (initial weights, shuffling, validation split);
        the global torch RNG is never touched (except by dropout, which has no generator
        argument in torch).
    callbacks : list of callable or None, default=None
        Called after every epoch as ``callback(epoch, train_loss, val_loss, estimator)``:
        ``epoch`` counts from 1; ``train_loss`` and ``val_loss`` are the epoch's mean training
        loss and the early-stopping validation loss (None without a validation split), on
        the standardised target; ``estimator`` is this estimator, ready to ``predict`` with the
        current weights. A callback returns True to stop training after this epoch (with
        early stopping the best weights are still restored; ``stop_reason_`` records it); an
        exception aborts ``fit`` and propagates (:mod:`affinetl.tuning` raises
        ``optuna.TrialPruned`` this way). Training-time only: not saved by :meth:`save`.
    """

    #: fitted numpy attributes written by ``save`` (besides the module weights).
    _saved_arrays: tuple[str, ...] = ("y_mean_", "y_scale_")

    # -- setup -----------------------------------------------------------------------------
    def _setup(self) -> torch.Generator:
        self.device_ = resolve_device(self.device)
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        return torch.Generator().manual_seed(seed)

    @property
    def _torch_dtype(self) -> torch.dtype:
        return resolve_dtype(self.dtype)

    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=self._torch_dtype).to(self.device_)

    def _fit_target(self, y: np.ndarray) -> np.ndarray:
        self.y_mean_, self.y_scale_ = (float(v[0]) for v in _moments(y[:, None], True))
        return (y - self.y_mean_) / self.y_scale_

    def _validate_fit(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Validated ``X`` and the standardised target (``y_mean_``, ``y_scale_`` recorded)."""
        X, y = validate_data(self, X, y, y_numeric=True)
        return X, self._fit_target(check_target(y))

    def _validate_predict(self, X: Any) -> np.ndarray:
        """``X`` checked against the fitted estimator."""
        check_is_fitted(self)
        return validate_data(self, X, reset=False)

    def _to_target(self, out: np.ndarray) -> np.ndarray:
        """Standardised target values in the units of ``y``."""
        return self.y_mean_ + self.y_scale_ * out

    def _place(self, module: nn.Module) -> nn.Module:
        """``module`` in this estimator's dtype, on its device."""
        return module.to(self._torch_dtype).to(self.device_)

    def _new_module(self, generator: torch.Generator, **shapes: int) -> nn.Module:
        """Build the module for ``shapes`` with a seed drawn from ``generator``, placed."""
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        self.build_args_ = {**shapes, "seed": seed}
        return self._place(self._build_module(**self.build_args_))

    def _fit_source_moments(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Split ``X`` into ``(x, u)`` and record their standardisation (source-feature models)."""
        x, u = self._split_features(X)
        self.x_mean_, self.x_scale_ = _moments(x, self.standardize)
        self.u_mean_, self.u_scale_ = _moments(u, self.standardize)
        return x, u

    def _standardized_source(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``x`` and ``u`` of ``X``, standardised with the training moments."""
        x, u = self._split_features(X)
        return (x - self.x_mean_) / self.x_scale_, (u - self.u_mean_) / self.u_scale_

    def _train(self, plan: _FitPlan) -> TrainResult:
        """Train ``plan.module`` alone (validation split, early stopping, callbacks)."""
        self.module_ = plan.module  # set first: callbacks may predict during training
        tensors, generator = plan.tensors, plan.generator
        n = tensors[0].shape[0]
        n_val = self._validation_rows(n)
        train, validation, patience = tensors, None, None
        if n_val:
            order = torch.randperm(n, generator=generator).to(self.device_)
            val_rows, train_rows = order[:n_val], order[n_val:]
            train = tuple(t[train_rows] for t in tensors)
            validation = tuple(t[val_rows] for t in tensors)
            patience = self.n_iter_no_change
        elif self.early_stopping:
            logger.info("early stopping skipped: %d rows are too few for a validation split", n)
        with deterministic_mode(self.deterministic), torch_threads(self.n_threads):
            result = fit_module(
                plan.module,
                functools.partial(plan.loss, plan.module),
                train,
                validation=validation,
                max_epochs=self.max_epochs,
                batch_size=self.batch_size,
                lr=self.lr,
                weight_decay=self.weight_decay,
                lr_schedule=self.lr_schedule,
                patience=patience,
                param_groups=plan.param_groups,
                generator=generator,
                snapshot_epochs=self._snapshot_epochs,
                callbacks=self._epoch_callbacks(),
            )
        self._record(plan.module, result)
        return result

    def _record(self, module: nn.Module, result: TrainResult) -> None:
        """Set the fitted attributes of a finished training run."""
        self.module_ = module
        self.loss_curve_ = np.asarray(result.loss_curve)
        self.validation_curve_ = np.asarray(result.validation_curve)
        self.n_iter_ = result.n_iter
        self.best_epoch_ = result.best_epoch
        self.stop_reason_ = result.stop_reason
        if self._snapshot_epochs:
            self.snapshots_ = result.snapshots

    @property
    def _snapshot_epochs(self) -> tuple[int, ...]:
        """Epochs whose weights to keep in ``snapshots_``.

        Set through :func:`~affinetl.models.fit_many` (``snapshot_epochs=``) by model-selection
        code that scores several epoch counts from one run; not a parameter, so never cloned.
        """
        return tuple(getattr(self, "_snapshots_wanted", ()))

    def _validation_rows(self, n: int) -> int:
        """Rows held out for early stopping from ``n``; 0 when there is no validation split."""
        n_val = int(round(self.validation_fraction * n)) if self.early_stopping else 0
        return n_val if n_val >= 2 and n - n_val >= 2 else 0

    def _batch_key(self, plan: _FitPlan) -> tuple | None:
        """What must agree for fits to train together in one batched loop; None: train alone.

        Fits with callbacks, early stopping on a validation split, block relaxation or the
        ``"plateau"`` schedule (each reacts to its own losses) train alone.
        """
        if (
            self.callbacks
            or self._validation_rows(plan.tensors[0].shape[0])
            or plan.param_groups is not None
            or self.lr_schedule == "plateau"
        ):
            return None
        return (
            type(self),
            plan.loss,
            tuple(tuple(t.shape) for t in plan.tensors),
            str(self.device_),
            self.dtype,
            self.max_epochs,
            self.batch_size,
            float(self.lr),
            float(self.weight_decay),
            self.lr_schedule,
            self.deterministic,
            self.n_threads,
            self._snapshot_epochs,
            tuple(module_signature(plan.module)),
        )

    def _epoch_callbacks(self) -> list[Any]:
        """The ``callbacks`` bound to this estimator as ``fit_module`` callbacks."""
        if self.callbacks is None:
            return []
        bound = []
        for k, callback in enumerate(self.callbacks):
            if not callable(callback):
                raise TypeError(
                    f"callbacks[{k}] is {callback!r}; callbacks must be callables "
                    "callback(epoch, train_loss, val_loss, estimator)"
                )
            bound.append(functools.partial(_call_bound, callback, self))
        return bound

    def __sklearn_tags__(self):  # noqa: ANN204, D105
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Save a fitted model as a folder: ``config.json`` plus ``weights.pt`` (a state dict).

        Parameters whose values are not JSON (source models, networks) are recorded by type
        only and must be passed again to :meth:`load`.

        Parameters
        ----------
        path : str or Path
            Folder to create (or overwrite the two files in).

        Returns
        -------
        Path
            The folder.
        """
        check_is_fitted(self)
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        params, objects = {}, []
        for key, value in self.get_params(deep=False).items():
            if key == "callbacks":
                params[key] = None  # training-time only, never saved
            elif _jsonable(value):
                params[key] = value
            else:
                objects.append(key)
        arrays = {}
        for key in (
            *self._saved_arrays,
            "n_features_in_",
            "n_iter_",
            "best_epoch_",
            "stop_reason_",
        ):
            value = getattr(self, key)
            arrays[key] = value.tolist() if isinstance(value, np.ndarray) else value
        for key in ("loss_curve_", "validation_curve_"):
            arrays[key] = getattr(self, key).tolist()
        if hasattr(self, "feature_names_in_"):
            arrays["feature_names_in_"] = self.feature_names_in_.tolist()
        config = {
            "class": type(self).__name__,
            "params": params,
            "object_params": objects,
            "build": self.build_args_,
            "fitted": arrays,
            "torch": torch.__version__,
        }
        (path / "config.json").write_text(json.dumps(config, indent=1))
        state = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        torch.save(state, path / "weights.pt")
        return path

    @classmethod
    def load(cls, path: str | Path, **params: Any) -> _TorchEstimator:
        """Load a model written by :meth:`save` (weights read with ``weights_only=True``).

        Parameters
        ----------
        path : str or Path
            Folder written by :meth:`save`.
        **params
            Values of the non-JSON parameters (e.g. ``source=...``, ``network=...``) and any
            parameter to override (e.g. ``device="cpu"``).

        Returns
        -------
        estimator
            Fitted, ready to predict.
        """
        path = Path(path)
        config = json.loads((path / "config.json").read_text())
        if config["class"] != cls.__name__:
            raise ValueError(f"{path} holds a {config['class']}, not a {cls.__name__}")
        missing = [k for k in config["object_params"] if k not in params]
        if missing:
            raise ValueError(
                f"{path} was saved with non-JSON parameters {missing}: pass them to load(), "
                f"e.g. {cls.__name__}.load(path, {missing[0]}=...)"
            )
        est = cls(**{**config["params"], **params})
        for key, value in config["fitted"].items():
            if key in ("loss_curve_", "validation_curve_", "feature_names_in_") or isinstance(
                value, list
            ):
                value = np.asarray(value, dtype=object if key == "feature_names_in_" else float)
            setattr(est, key, value)
        est.device_ = resolve_device(est.device)
        est.build_args_ = config["build"]
        module = est._build_module(**est.build_args_).to(est._torch_dtype)
        state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
        module.load_state_dict(state)
        est.module_ = module.to(est.device_).eval()
        est._after_load()
        return est

    def _after_load(self) -> None:
        """Hook for subclasses that keep more than the module."""


#: The description of the one entry that stands for the shared parameters in an estimator's
#: docstring (its names line lists ``activation`` when the architecture parameters apply).
_SHARED_MARKER = "Shared by every neural estimator, described once in ``_TorchEstimator``."
_SHARED_ENTRY = re.compile(rf"^( *)([^\n]+) :\n\1    {re.escape(_SHARED_MARKER)}$", re.MULTILINE)
_ARCHITECTURE = ("activation", "dropout")


def _shared_entries() -> dict[str, str]:
    """The Parameters entries of :class:`_TorchEstimator`'s docstring, by parameter name."""
    doc = inspect.cleandoc(_TorchEstimator.__doc__ or "")
    section = doc.split("Other Parameters\n----------------\n", 1)[1]
    entries: dict[str, str] = {}
    for line in section.splitlines():
        if line and not line.startswith(" "):
            name = line.split(" :", 1)[0]
            entries[name] = line
        elif line:
            entries[name] += "\n" + line
    return entries


def fill_doc(cls: type) -> type:
    """Class decorator: expand the shared-parameters entry of ``cls.__doc__`` in full.

    The entry is a names line (``activation, dropout, weight_decay, ... :``) followed by the line
    :data:`_SHARED_MARKER`; it becomes the descriptions from :class:`_TorchEstimator`'s docstring,
    without ``activation`` and ``dropout`` when the names line does not list ``activation``.
    """
    entries = _shared_entries()

    def expand(match: re.Match[str]) -> str:
        indent, names = match.groups()
        keep_architecture = "activation" in [n.strip() for n in names.split(",")]
        return "\n".join(
            textwrap.indent(text, indent)
            for name, text in entries.items()
            if keep_architecture or name not in _ARCHITECTURE
        )

    if cls.__doc__:
        cls.__doc__, count = _SHARED_ENTRY.subn(expand, cls.__doc__)
        if count != 1:
            raise ValueError(f"{cls.__name__}: expected one shared-parameters entry, found {count}")
    return cls
