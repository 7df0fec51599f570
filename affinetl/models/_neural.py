"""Neural affine transfer estimators on torch (optional extra ``affinetl[nn]``).

- :class:`NeuralAffineTransferRegressor`: ``g1(u) + g2(u) g3(x)`` with three MLPs.
- :class:`NeuralDirectRegressor` (Direct), :class:`FineTuneRegressor` (Fine),
  :class:`FeatureExtractionRegressor` (Ext-k), :class:`HiddenLayerAffineRegressor` (Inv-k): the
  published neural variants and baselines for a pretrained source network.
- :class:`AffineCouplingTransfer`: a conditional normalizing flow for ``p(y | x)`` whose outer
  layer is the affine transfer, with predictive intervals, sampling and the inverse map.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state

from ..base import (
    Interval,
    SourceFeatureMixin,
    StrOptions,
    check_is_fitted,
    check_target,
    fit_context,
    source_constraints,
    validate_data,
)

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the neural transfer models need torch and nflows: pip install 'affinetl[nn]'"
    ) from exc

from ..sources import TorchSourceNetwork, torch_network
from ._torch.flows import build_transfer_flow, gauss_hermite
from ._torch.nets import ACTIVATIONS, MLP, AffineTransferNet
from ._torch.train import (
    deterministic_mode,
    fit_module,
    resolve_device,
    resolve_dtype,
    torch_threads,
)

__all__ = [
    "AffineCouplingTransfer",
    "FeatureExtractionRegressor",
    "FineTuneRegressor",
    "HiddenLayerAffineRegressor",
    "NeuralAffineTransferRegressor",
    "NeuralDirectRegressor",
]

logger = logging.getLogger(__name__)

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


def _call_bound(
    callback: Any, estimator: Any, epoch: int, train_loss: float, val_loss: float | None
) -> bool | None:
    return callback(epoch, train_loss, val_loss, estimator)


class _TorchEstimator(RegressorMixin, BaseEstimator):
    """Shared machinery: device, dtype, seeding, validation split, training, save/load."""

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

    def _train(
        self,
        module: nn.Module,
        loss_fn: Any,
        tensors: tuple[torch.Tensor, ...],
        generator: torch.Generator,
        param_groups: Any = None,
    ) -> Any:
        # epochs whose weights to keep in ``snapshots_`` (set by model-selection code, e.g. to
        # score several epoch counts from one run); not a parameter, so never cloned
        snapshot_epochs = tuple(getattr(self, "_snapshot_epochs", ()))
        n = tensors[0].shape[0]
        n_val = int(round(self.validation_fraction * n)) if self.early_stopping else 0
        train, validation, patience = tensors, None, None
        if n_val >= 2 and n - n_val >= 2:
            order = torch.randperm(n, generator=generator).to(self.device_)
            val_rows, train_rows = order[:n_val], order[n_val:]
            train = tuple(t[train_rows] for t in tensors)
            validation = tuple(t[val_rows] for t in tensors)
            patience = self.n_iter_no_change
        elif self.early_stopping:
            logger.info("early stopping skipped: %d rows are too few for a validation split", n)
        with deterministic_mode(self.deterministic), torch_threads(self.n_threads):
            result = fit_module(
                module,
                loss_fn,
                train,
                validation=validation,
                max_epochs=self.max_epochs,
                batch_size=self.batch_size,
                lr=self.lr,
                weight_decay=self.weight_decay,
                lr_schedule=self.lr_schedule,
                patience=patience,
                param_groups=param_groups,
                generator=generator,
                snapshot_epochs=snapshot_epochs,
                callbacks=self._epoch_callbacks(),
            )
        self.loss_curve_ = np.asarray(result.loss_curve)
        self.validation_curve_ = np.asarray(result.validation_curve)
        self.n_iter_ = result.n_iter
        self.best_epoch_ = result.best_epoch
        self.stop_reason_ = result.stop_reason
        if snapshot_epochs:
            self.snapshots_ = result.snapshots
        return result

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


# ---------------------------------------------------------------------------------------------
class NeuralAffineTransferRegressor(SourceFeatureMixin, _TorchEstimator):
    """Neural affine model transfer ``f_t(x) = g1(u) + g2(u) g3(x)``, ``u = f_s(x)``.

    ``g1``, ``g2 = 1 + h2`` and ``g3`` are MLPs; the output layer of ``h2`` starts at zero, so
    ``g2 = 1`` is the initial value and the shrinkage point of weight decay. Trained end to end
    on the mean squared error with Adam (``solver="adam"``), or by block relaxation
    (``solver="block"``: epochs cycle through ``g3``, ``g1``, ``h2``, each trained alone).
    Inputs ``x``, source features ``u`` and the target are standardised internally.

    Parameters
    ----------
    hidden1, hidden2, hidden3 : tuple of int or float, default=(32,)
        Hidden widths of ``g1``, ``h2`` and ``g3``; a float is a fraction of that network's
        input width (rounded up), e.g. ``(0.5,)``.
    solver : {"adam", "block"}, default="adam"
    standardize : bool, default=True
        Standardise ``x`` and ``u`` with the training moments (the target always is).
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
    source, source_columns, input_columns
        Source features, see :class:`affinetl.base.SourceFeatureMixin` (a
        :class:`affinetl.sources.TorchSourceNetwork` reads a torch network's hidden layer).

    Attributes
    ----------
    module_ : AffineTransferNet
        Trained networks (on standardised data).
    loss_curve_, validation_curve_ : ndarray of shape (n_iter_,)
        Training and validation MSE per epoch (standardised target).
    n_iter_, best_epoch_ : int
        Epochs run, and the epoch whose weights were kept.
    stop_reason_ : {"max_epochs", "early_stopping", "callback"}
        Why training ended.
    device_ : torch.device
    x_mean_, x_scale_, u_mean_, u_scale_ : ndarray
        Standardisation of ``x`` and ``u``.
    y_mean_, y_scale_ : float
    build_args_ : dict
        Shapes the module was built with (used by :meth:`load`).
    n_features_in_ : int

    See Also
    --------
    AffineTransferRegressor : the kernel estimator of the same model.
    AffineCouplingTransfer : the same model as a conditional flow with predictive intervals.

    References
    ----------
    S. Minami, K. Fukumizu, Y. Hayashi, R. Yoshida. Transfer learning with affine model
    transformation. NeurIPS 2023.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(-1, 1, size=(200, 2)); u = np.sin(2 * x[:, :1])
    >>> y = 0.5 + u[:, 0] + (1 + 0.5 * u[:, 0]) * x[:, 1]
    >>> model = NeuralAffineTransferRegressor(max_epochs=60, random_state=0)
    >>> bool(model.fit(np.hstack([x, u]), y).score(np.hstack([x, u]), y) > 0.9)
    True
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "hidden1": _hidden,
        "hidden2": _hidden,
        "hidden3": _hidden,
        "solver": [StrOptions({"adam", "block"})],
        "standardize": ["boolean"],
        **_training_constraints,
        **source_constraints,
    }
    _saved_arrays = ("x_mean_", "x_scale_", "u_mean_", "u_scale_", "y_mean_", "y_scale_")

    def __init__(
        self,
        *,
        hidden1: tuple = (32,),
        hidden2: tuple = (32,),
        hidden3: tuple = (32,),
        solver: str = "adam",
        standardize: bool = True,
        activation: str = "leaky_relu",
        dropout: float = 0.0,
        weight_decay: float = 1e-4,
        lr: float = 1e-3,
        batch_size: int = 32,
        max_epochs: int = 200,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 20,
        lr_schedule: str = "constant",
        device: str = "cpu",
        dtype: str = "float64",
        deterministic: bool = False,
        n_threads: int | None = 1,
        random_state: Any = None,
        callbacks: list | None = None,
        source: Any = None,
        source_columns: Any = None,
        input_columns: Any = "rest",
    ) -> None:
        self.hidden1 = hidden1
        self.hidden2 = hidden2
        self.hidden3 = hidden3
        self.solver = solver
        self.standardize = standardize
        self.activation = activation
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.lr_schedule = lr_schedule
        self.device = device
        self.dtype = dtype
        self.deterministic = deterministic
        self.n_threads = n_threads
        self.random_state = random_state
        self.callbacks = callbacks
        self.source = source
        self.source_columns = source_columns
        self.input_columns = input_columns

    def _build_module(self, n_inputs: int, n_source: int, seed: int = 0) -> nn.Module:
        generator = torch.Generator().manual_seed(seed)
        return AffineTransferNet(
            n_inputs,
            n_source,
            _widths(self.hidden1, n_source, "hidden1"),
            _widths(self.hidden2, n_source, "hidden2"),
            _widths(self.hidden3, n_inputs, "hidden3"),
            activation=self.activation,
            dropout=self.dropout,
            generator=generator,
        )

    def _inputs(self, X: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x, u = self._split_features(X)
        return (
            self._tensor((x - self.x_mean_) / self.x_scale_),
            self._tensor((u - self.u_mean_) / self.u_scale_),
        )

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> NeuralAffineTransferRegressor:
        """Train the three networks.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, including the source-feature columns when ``source`` is None.
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, y_numeric=True)
        y = self._fit_target(check_target(y))
        x, u = self._split_features(X)
        self.x_mean_, self.x_scale_ = _moments(x, self.standardize)
        self.u_mean_, self.u_scale_ = _moments(u, self.standardize)
        generator = self._setup()
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        self.build_args_ = {"n_inputs": x.shape[1], "n_source": u.shape[1], "seed": seed}
        module = self._build_module(**self.build_args_).to(self._torch_dtype).to(self.device_)
        xt, ut = self._inputs(X)
        yt = self._tensor(y)

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            return torch.mean((module(batch[0], batch[1]) - batch[2]) ** 2)

        groups = None
        if self.solver == "block":
            groups = [list(module.g3.parameters()), list(module.g1.parameters())]
            groups.append(list(module.h2.parameters()))
        self.module_ = module  # set first: callbacks may predict during training
        self._train(module, loss_fn, (xt, ut, yt), generator, param_groups=groups)
        return self

    def predict_components(self, X: ArrayLike) -> dict[str, np.ndarray]:
        """``g1(u)``, ``g2(u)``, ``g3(x)`` in the units of ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        dict
            ``"g1"``, ``"g2"``, ``"g3"``: ndarrays of shape (n_samples,) with
            ``predict(X) == g1 + g2 * g3``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        xt, ut = self._inputs(X)
        with torch.no_grad():
            c = self.module_.components(xt, ut)
        c = {k: v.cpu().numpy().astype(np.float64) for k, v in c.items()}
        return {
            "g1": self.y_mean_ + self.y_scale_ * c["g1"],
            "g2": c["g2"],
            "g3": self.y_scale_ * c["g3"],
        }

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict ``g1 + g2 g3``, float64 of shape (n_samples,)."""
        c = self.predict_components(X)
        return c["g1"] + c["g2"] * c["g3"]


class HiddenLayerAffineRegressor(NeuralAffineTransferRegressor):
    """Inv-k: the neural affine transfer with ``u`` = hidden layer ``layer`` of a source network.

    ``g1`` and ``g2`` read the activations of the pretrained network's k-th hidden layer (or its
    output, ``layer=None``), ``g3`` reads all columns of ``X``.

    Parameters
    ----------
    network : nn.Module or affinetl.datasets.SourceNetwork
        Pretrained source network taking ``X``.
    layer : int, str or None, default=1
        Hidden layer index (1-based), submodule name, or None for the output.
    hidden1, hidden2, hidden3, solver, standardize, ... :
        As :class:`NeuralAffineTransferRegressor`.

    Examples
    --------
    >>> import numpy as np, torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LeakyReLU(0.01),
    ...                           torch.nn.Linear(4, 1))
    >>> X = np.random.default_rng(0).normal(size=(40, 3)); y = X[:, 0]
    >>> HiddenLayerAffineRegressor(network=net, layer=1, max_epochs=5,
    ...                            random_state=0).fit(X, y).predict(X).shape
    (40,)
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **{
            k: v
            for k, v in NeuralAffineTransferRegressor._parameter_constraints.items()
            if k not in source_constraints
        },
        "network": [object],
        "layer": [None, Integral, str],
    }

    def __init__(
        self,
        *,
        network: Any = None,
        layer: int | str | None = 1,
        hidden1: tuple = (32,),
        hidden2: tuple = (32,),
        hidden3: tuple = (32,),
        solver: str = "adam",
        standardize: bool = True,
        activation: str = "leaky_relu",
        dropout: float = 0.0,
        weight_decay: float = 1e-4,
        lr: float = 1e-3,
        batch_size: int = 32,
        max_epochs: int = 200,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 20,
        lr_schedule: str = "constant",
        device: str = "cpu",
        dtype: str = "float64",
        deterministic: bool = False,
        n_threads: int | None = 1,
        random_state: Any = None,
        callbacks: list | None = None,
    ) -> None:
        self.network = network
        self.layer = layer
        self.hidden1 = hidden1
        self.hidden2 = hidden2
        self.hidden3 = hidden3
        self.solver = solver
        self.standardize = standardize
        self.activation = activation
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.lr_schedule = lr_schedule
        self.device = device
        self.dtype = dtype
        self.deterministic = deterministic
        self.n_threads = n_threads
        self.random_state = random_state
        self.callbacks = callbacks

    def _split_features(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.network is None:
            raise ValueError("HiddenLayerAffineRegressor needs a source `network`")
        return X, TorchSourceNetwork(self.network, self.layer).transform(X)


# ---------------------------------------------------------------------------------------------
class NeuralDirectRegressor(_TorchEstimator):
    """Direct: an MLP on the inputs alone (no source), the neural baseline.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int or float, default=(32,)
        Hidden widths; floats are fractions of the input width.
    standardize : bool, default=True
        Standardise the inputs with the training moments (the target always is).
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

    Attributes
    ----------
    module_ : MLP
    loss_curve_, validation_curve_, n_iter_, best_epoch_, device_, y_mean_, y_scale_,
    x_mean_, x_scale_, build_args_, n_features_in_ :
        As :class:`NeuralAffineTransferRegressor`.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).uniform(-1, 1, size=(100, 2)); y = X @ [1.0, -2.0]
    >>> bool(NeuralDirectRegressor(max_epochs=100, random_state=0).fit(X, y).score(X, y) > 0.9)
    True
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "hidden_layer_sizes": _hidden,
        "standardize": ["boolean"],
        **_training_constraints,
    }
    _saved_arrays = ("x_mean_", "x_scale_", "y_mean_", "y_scale_")

    def __init__(
        self,
        *,
        hidden_layer_sizes: tuple = (32,),
        standardize: bool = True,
        activation: str = "leaky_relu",
        dropout: float = 0.0,
        weight_decay: float = 1e-4,
        lr: float = 1e-3,
        batch_size: int = 32,
        max_epochs: int = 200,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 20,
        lr_schedule: str = "constant",
        device: str = "cpu",
        dtype: str = "float64",
        deterministic: bool = False,
        n_threads: int | None = 1,
        random_state: Any = None,
        callbacks: list | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.standardize = standardize
        self.activation = activation
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.lr_schedule = lr_schedule
        self.device = device
        self.dtype = dtype
        self.deterministic = deterministic
        self.n_threads = n_threads
        self.random_state = random_state
        self.callbacks = callbacks

    def _features(self, X: np.ndarray) -> np.ndarray:
        return X

    def _build_module(self, n_inputs: int, seed: int = 0) -> nn.Module:
        return MLP(
            n_inputs,
            1,
            _widths(self.hidden_layer_sizes, n_inputs, "hidden_layer_sizes"),
            activation=self.activation,
            dropout=self.dropout,
            generator=torch.Generator().manual_seed(seed),
        )

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> NeuralDirectRegressor:
        """Train the MLP on ``(X, y)``; ``X`` of shape (n_samples, n_features)."""
        X, y = validate_data(self, X, y, y_numeric=True)
        y = self._fit_target(check_target(y))
        f = self._features(X)
        self.x_mean_, self.x_scale_ = _moments(f, self.standardize)
        generator = self._setup()
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        self.build_args_ = {"n_inputs": f.shape[1], "seed": seed}
        module = self._build_module(**self.build_args_).to(self._torch_dtype).to(self.device_)
        ft, yt = self._tensor((f - self.x_mean_) / self.x_scale_), self._tensor(y)

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            return torch.mean((module(batch[0])[:, 0] - batch[1]) ** 2)

        self.module_ = module  # set first: callbacks may predict during training
        self._train(module, loss_fn, (ft, yt), generator)
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predictions, float64 of shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        f = self._tensor((self._features(X) - self.x_mean_) / self.x_scale_)
        with torch.no_grad():
            out = self.module_(f)[:, 0].cpu().numpy().astype(np.float64)
        return self.y_mean_ + self.y_scale_ * out


class FeatureExtractionRegressor(NeuralDirectRegressor):
    """Ext-k: a new MLP on the k-th hidden-layer activations of a pretrained source network.

    Parameters
    ----------
    network : nn.Module or affinetl.datasets.SourceNetwork
        Pretrained source network taking ``X`` (kept frozen).
    layer : int, str or None, default=1
        Hidden layer index (1-based), submodule name, or None for the output.
    hidden_layer_sizes, standardize, ... :
        As :class:`NeuralDirectRegressor`.

    Examples
    --------
    >>> import numpy as np, torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LeakyReLU(0.01),
    ...                           torch.nn.Linear(4, 1))
    >>> X = np.random.default_rng(0).normal(size=(40, 3)); y = X[:, 0]
    >>> FeatureExtractionRegressor(network=net, max_epochs=5, random_state=0).fit(X, y).n_iter_
    5
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **NeuralDirectRegressor._parameter_constraints,
        "network": [object],
        "layer": [None, Integral, str],
    }

    def __init__(
        self,
        *,
        network: Any = None,
        layer: int | str | None = 1,
        hidden_layer_sizes: tuple = (32,),
        standardize: bool = True,
        activation: str = "leaky_relu",
        dropout: float = 0.0,
        weight_decay: float = 1e-4,
        lr: float = 1e-3,
        batch_size: int = 32,
        max_epochs: int = 200,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 20,
        lr_schedule: str = "constant",
        device: str = "cpu",
        dtype: str = "float64",
        deterministic: bool = False,
        n_threads: int | None = 1,
        random_state: Any = None,
        callbacks: list | None = None,
    ) -> None:
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            standardize=standardize,
            activation=activation,
            dropout=dropout,
            weight_decay=weight_decay,
            lr=lr,
            batch_size=batch_size,
            max_epochs=max_epochs,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            lr_schedule=lr_schedule,
            device=device,
            dtype=dtype,
            deterministic=deterministic,
            n_threads=n_threads,
            random_state=random_state,
            callbacks=callbacks,
        )
        self.network = network
        self.layer = layer

    def _features(self, X: np.ndarray) -> np.ndarray:
        if self.network is None:
            raise ValueError("FeatureExtractionRegressor needs a source `network`")
        return TorchSourceNetwork(self.network, self.layer).transform(X)


class FineTuneRegressor(NeuralDirectRegressor):
    """Fine: fine-tune a pretrained source network (all or its last ``n_layers`` Linear layers).

    The network is copied (the object passed in is never changed); the target is standardised
    internally and the network's single output is trained on it with the MSE.

    Parameters
    ----------
    network : nn.Module or affinetl.datasets.SourceNetwork
        Pretrained network mapping ``X`` to one output.
    n_layers : "all" or int, default="all"
        Number of trailing ``nn.Linear`` layers to train; the others are frozen.
    weight_decay, lr, batch_size, max_epochs, ... :
        As :class:`NeuralDirectRegressor` (``hidden_layer_sizes``, ``activation``,
        ``dropout`` and ``standardize`` do not apply and are not parameters).

    Examples
    --------
    >>> import numpy as np, torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LeakyReLU(0.01),
    ...                           torch.nn.Linear(4, 1))
    >>> X = np.random.default_rng(0).normal(size=(40, 3)); y = X[:, 0]
    >>> FineTuneRegressor(network=net, n_layers=1, max_epochs=5, random_state=0).fit(X, y).n_iter_
    5
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **{k: v for k, v in _training_constraints.items() if k not in ("activation", "dropout")},
        "network": [object],
        "n_layers": [StrOptions({"all"}), Interval(Integral, 1, None, closed="left")],
    }
    _saved_arrays = ("y_mean_", "y_scale_")

    def __init__(
        self,
        *,
        network: Any = None,
        n_layers: int | str = "all",
        weight_decay: float = 1e-4,
        lr: float = 1e-3,
        batch_size: int = 32,
        max_epochs: int = 200,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 20,
        lr_schedule: str = "constant",
        device: str = "cpu",
        dtype: str = "float64",
        deterministic: bool = False,
        n_threads: int | None = 1,
        random_state: Any = None,
        callbacks: list | None = None,
    ) -> None:
        self.network = network
        self.n_layers = n_layers
        self.weight_decay = weight_decay
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.lr_schedule = lr_schedule
        self.device = device
        self.dtype = dtype
        self.deterministic = deterministic
        self.n_threads = n_threads
        self.random_state = random_state
        self.callbacks = callbacks

    def _build_module(self, **_: Any) -> nn.Module:
        if self.network is None:
            raise ValueError("FineTuneRegressor needs a source `network`")
        return torch_network(self.network)

    def _check_width(self, X: np.ndarray) -> None:
        linear = [m for m in self.module_.modules() if isinstance(m, nn.Linear)]
        if linear and X.shape[1] != linear[0].in_features:
            raise ValueError(
                f"the source network expects {linear[0].in_features} input features, X has "
                f"{X.shape[1]}: X does not match the source network's input width"
            )

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> FineTuneRegressor:
        """Fine-tune a copy of ``network`` on ``(X, y)``."""
        X, y = validate_data(self, X, y, y_numeric=True)
        y = self._fit_target(check_target(y))
        generator = self._setup()
        self.build_args_ = {}
        module = self._build_module().to(self._torch_dtype).to(self.device_)
        self.module_ = module
        self._check_width(X)
        linear = [m for m in module.modules() if isinstance(m, nn.Linear)]
        k = len(linear) if self.n_layers == "all" else min(int(self.n_layers), len(linear))
        for p in module.parameters():
            p.requires_grad_(False)
        for layer in linear[len(linear) - k :]:
            for p in layer.parameters():
                p.requires_grad_(True)
        Xt, yt = self._tensor(X), self._tensor(y)
        with torch.no_grad():
            width = module(Xt[:1]).reshape(1, -1).shape[1]
        if width != 1:
            raise ValueError(f"FineTuneRegressor needs a single-output network, got {width}")

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            return torch.mean((module(batch[0]).reshape(-1) - batch[1]) ** 2)

        self._train(module, loss_fn, (Xt, yt), generator)
        self.n_trained_layers_ = k
        return self

    def _features(self, X: np.ndarray) -> np.ndarray:
        return X

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predictions of the fine-tuned network, float64 of shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        with torch.no_grad():
            out = self.module_(self._tensor(X)).reshape(-1).cpu().numpy().astype(np.float64)
        return self.y_mean_ + self.y_scale_ * out


# ---------------------------------------------------------------------------------------------
class AffineCouplingTransfer(SourceFeatureMixin, _TorchEstimator):
    r"""Conditional normalizing flow for ``p(y | x)`` whose outer layer is the affine transfer.

    Read from the noise ``z ~ N(0, 1)`` to the target,

    .. math::

        y = g_1(u) + g_2(u)\,\bigl(g_3(x) + \sigma(x, u)\, S^{-1}(z)\bigr),

    an nflows ``Flow`` of two affine couplings conditioned on ``[x, u]`` (the outer one is exactly
    the affine transfer; ``g2 = exp(h2)`` stays positive so the map is invertible, with
    ``g2 = 1`` at initialisation) and ``n_spline_layers`` optional monotone spline layers ``S``
    for non-Gaussian noise. Trained by maximum likelihood with Adam.

    Parameters
    ----------
    hidden1, hidden2, hidden3 : tuple of int or float, default=(32,)
        Hidden widths of ``g1``, ``h2`` and ``g3`` (floats: fractions of the input width).
    hidden_noise : tuple of int or float, default=(32,)
        Hidden widths of the log noise-scale network ``log sigma(x, u)``.
    n_spline_layers : int, default=0
        Rational-quadratic spline layers on the noise; 0 keeps ``p(y | x)`` Gaussian.
    standardize : bool, default=True
        Standardise ``x`` and ``u`` (the target always is).
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
    source, source_columns, input_columns
        Source features, see :class:`affinetl.base.SourceFeatureMixin`.

    Attributes
    ----------
    module_ : nflows.flows.base.Flow
    loss_curve_, validation_curve_ : ndarray
        Mean negative log-likelihood per epoch (standardised target).
    n_iter_, best_epoch_, device_, x_mean_, x_scale_, u_mean_, u_scale_, y_mean_, y_scale_,
    build_args_, n_features_in_ :
        As :class:`NeuralAffineTransferRegressor`.

    See Also
    --------
    NeuralAffineTransferRegressor : the same mean model trained on the squared error.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(-1, 1, size=(300, 1)); u = np.sin(3 * x)
    >>> y = u[:, 0] + x[:, 0] + (0.1 + 0.2 * (x[:, 0] > 0)) * rng.normal(size=300)
    >>> flow = AffineCouplingTransfer(max_epochs=50, random_state=0).fit(np.hstack([x, u]), y)
    >>> flow.predict_interval(np.hstack([x, u])[:2], coverage=0.9).shape
    (2, 2)
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "hidden1": _hidden,
        "hidden2": _hidden,
        "hidden3": _hidden,
        "hidden_noise": _hidden,
        "n_spline_layers": [Interval(Integral, 0, None, closed="left")],
        "standardize": ["boolean"],
        **_training_constraints,
        **source_constraints,
    }
    _saved_arrays = ("x_mean_", "x_scale_", "u_mean_", "u_scale_", "y_mean_", "y_scale_")

    def __init__(
        self,
        *,
        hidden1: tuple = (32,),
        hidden2: tuple = (32,),
        hidden3: tuple = (32,),
        hidden_noise: tuple = (32,),
        n_spline_layers: int = 0,
        standardize: bool = True,
        activation: str = "leaky_relu",
        dropout: float = 0.0,
        weight_decay: float = 1e-4,
        lr: float = 1e-3,
        batch_size: int = 32,
        max_epochs: int = 200,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 20,
        lr_schedule: str = "constant",
        device: str = "cpu",
        dtype: str = "float64",
        deterministic: bool = False,
        n_threads: int | None = 1,
        random_state: Any = None,
        callbacks: list | None = None,
        source: Any = None,
        source_columns: Any = None,
        input_columns: Any = "rest",
    ) -> None:
        self.hidden1 = hidden1
        self.hidden2 = hidden2
        self.hidden3 = hidden3
        self.hidden_noise = hidden_noise
        self.n_spline_layers = n_spline_layers
        self.standardize = standardize
        self.activation = activation
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.lr_schedule = lr_schedule
        self.device = device
        self.dtype = dtype
        self.deterministic = deterministic
        self.n_threads = n_threads
        self.random_state = random_state
        self.callbacks = callbacks
        self.source = source
        self.source_columns = source_columns
        self.input_columns = input_columns

    def _build_module(self, n_inputs: int, n_source: int, seed: int = 0) -> nn.Module:
        return build_transfer_flow(
            n_inputs,
            n_source,
            hidden1=_widths(self.hidden1, n_source, "hidden1"),
            hidden2=_widths(self.hidden2, n_source, "hidden2"),
            hidden3=_widths(self.hidden3, n_inputs, "hidden3"),
            hidden_noise=_widths(self.hidden_noise, n_inputs + n_source, "hidden_noise"),
            n_spline_layers=self.n_spline_layers,
            activation=self.activation,
            dropout=self.dropout,
            generator=torch.Generator().manual_seed(seed),
        )

    def _context(self, X: np.ndarray) -> torch.Tensor:
        x, u = self._split_features(X)
        x = (x - self.x_mean_) / self.x_scale_
        u = (u - self.u_mean_) / self.u_scale_
        return self._tensor(np.hstack([x, u]))

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> AffineCouplingTransfer:
        """Fit the flow by maximum likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, y_numeric=True)
        y = self._fit_target(check_target(y))
        x, u = self._split_features(X)
        self.x_mean_, self.x_scale_ = _moments(x, self.standardize)
        self.u_mean_, self.u_scale_ = _moments(u, self.standardize)
        generator = self._setup()
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        self.build_args_ = {"n_inputs": x.shape[1], "n_source": u.shape[1], "seed": seed}
        flow = self._build_module(**self.build_args_).to(self._torch_dtype).to(self.device_)
        context, yt = self._context(X), self._tensor(y[:, None])

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            return -flow.log_prob(batch[1], context=batch[0]).mean()

        self.module_ = flow  # set first: callbacks may predict during training
        self._train(flow, loss_fn, (context, yt), generator)
        return self

    # -- maps between noise and target ------------------------------------------------------
    def _prepare(self, X: ArrayLike) -> torch.Tensor:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self._context(X)

    def _noise_to_target(self, z: np.ndarray, context: torch.Tensor) -> np.ndarray:
        """Targets (original units) for latent values ``z`` (n,) at contexts (n, d)."""
        with torch.no_grad():
            out, _ = self.module_._transform.inverse(self._tensor(z[:, None]), context=context)
        return self.y_mean_ + self.y_scale_ * out[:, 0].cpu().numpy().astype(np.float64)

    def _quadrature(self, context: torch.Tensor, n_nodes: int = 64) -> tuple[np.ndarray, ...]:
        nodes, weights = gauss_hermite(n_nodes)
        n = context.shape[0]
        values = self._noise_to_target(
            np.tile(nodes, n), context.repeat_interleave(n_nodes, dim=0)
        ).reshape(n, n_nodes)
        mean = values @ weights
        var = ((values - mean[:, None]) ** 2) @ weights
        return mean, np.sqrt(np.maximum(var, 0.0))

    def predict(
        self, X: ArrayLike, return_std: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predictive mean (and standard deviation) of ``y``.

        Both are integrals over the noise by 64-point Gauss-Hermite quadrature (exact for the
        Gaussian flow, ``n_spline_layers=0``: mean ``g1 + g2 g3``, sd ``g2 sigma``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_std : bool, default=False

        Returns
        -------
        mean : ndarray of shape (n_samples,)
        std : ndarray of shape (n_samples,), only with ``return_std=True``
        """
        mean, std = self._quadrature(self._prepare(X))
        return (mean, std) if return_std else mean

    def predict_quantiles(self, X: ArrayLike, quantiles: ArrayLike) -> np.ndarray:
        """Quantiles of ``p(y | x)``: the flow applied to the normal quantiles (it is monotone).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        quantiles : array-like of shape (n_quantiles,)
            Levels in (0, 1).

        Returns
        -------
        ndarray of shape (n_samples, n_quantiles)
        """
        q = np.atleast_1d(np.asarray(quantiles, dtype=float))
        if q.ndim != 1 or np.any((q <= 0) | (q >= 1)):
            raise ValueError(f"quantiles must be levels strictly between 0 and 1, got {q}")
        context = self._prepare(X)
        n = context.shape[0]
        out = self._noise_to_target(np.tile(norm.ppf(q), n), context.repeat_interleave(q.size, 0))
        return out.reshape(n, q.size)

    def predict_interval(self, X: ArrayLike, coverage: float = 0.9) -> np.ndarray:
        """Central predictive interval with probability ``coverage``.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Lower and upper bounds (the ``(1 -+ coverage) / 2`` quantiles).
        """
        if not 0 < coverage < 1:
            raise ValueError(f"coverage must be in (0, 1), got {coverage}")
        a = (1.0 - coverage) / 2.0
        return self.predict_quantiles(X, [a, 1.0 - a])

    def sample(self, X: ArrayLike, n_samples: int = 1, random_state: Any = None) -> np.ndarray:
        """Draw targets from ``p(y | x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
        n_samples : int, default=1
        random_state : int, RandomState or None
            Seeds a local generator for the noise.

        Returns
        -------
        ndarray of shape (n_samples_X, n_samples)
        """
        context = self._prepare(X)
        n = context.shape[0]
        z = check_random_state(random_state).standard_normal(n * n_samples)
        return self._noise_to_target(z, context.repeat_interleave(n_samples, 0)).reshape(
            n, n_samples
        )

    def log_prob(self, X: ArrayLike, y: ArrayLike) -> np.ndarray:
        """Log-density ``log p(y | x)`` in the units of ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        context = self._prepare(X)
        yt = self._target_tensor(y, context)
        with torch.no_grad():
            lp = self.module_.log_prob(yt, context=context)
        return lp.cpu().numpy().astype(np.float64) - np.log(self.y_scale_)

    def _target_tensor(self, y: ArrayLike, context: torch.Tensor) -> torch.Tensor:
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if y.shape[0] != context.shape[0]:
            raise ValueError(f"y has {y.shape[0]} values for {context.shape[0]} rows of X")
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinite values")
        return self._tensor(((y - self.y_mean_) / self.y_scale_)[:, None])

    def _levels(self) -> tuple[Any, Any]:
        layers = list(self.module_._transform._transforms)
        return layers[0], layers[1:]

    def inverse(self, X: ArrayLike, y: ArrayLike, level: str = "affine") -> np.ndarray:
        """Map targets back through the flow.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Target values.
        level : {"affine", "latent"}, default="affine"
            ``"affine"``: undo the affine transfer only, ``(y - g1(u)) / g2(u)`` in the units
            of ``g3`` (the target with the learned cross-domain shift and scale of the source
            removed: the domain-specific part plus noise). ``"latent"``: the flow's
            standard-normal noise ``z`` (the calibrated quantile position of ``y``).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        if level not in ("affine", "latent"):
            raise ValueError(f"level must be 'affine' or 'latent', got {level!r}")
        context = self._prepare(X)
        yt = self._target_tensor(y, context)
        affine, rest = self._levels()
        with torch.no_grad():
            out, _ = affine(yt, context=context)
            if level == "latent":
                for layer in rest:
                    out, _ = layer(out, context=context)
        out = out[:, 0].cpu().numpy().astype(np.float64)
        return out if level == "latent" else self.y_scale_ * out

    def forward(self, X: ArrayLike, values: ArrayLike, level: str = "affine") -> np.ndarray:
        """The inverse of :meth:`inverse`: from ``level`` values back to targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        values : array-like of shape (n_samples,)
            ``g3``-scale values (``level="affine"``) or latent noise (``level="latent"``).
        level : {"affine", "latent"}, default="affine"

        Returns
        -------
        ndarray of shape (n_samples,)
            Targets with ``inverse(X, forward(X, v, level), level) == v``.
        """
        if level not in ("affine", "latent"):
            raise ValueError(f"level must be 'affine' or 'latent', got {level!r}")
        context = self._prepare(X)
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if v.shape[0] != context.shape[0]:
            raise ValueError(f"values has {v.shape[0]} entries for {context.shape[0]} rows of X")
        affine, rest = self._levels()
        out = self._tensor((v if level == "latent" else v / self.y_scale_)[:, None])
        with torch.no_grad():
            if level == "latent":
                for layer in reversed(rest):
                    out, _ = layer.inverse(out, context=context)
            out, _ = affine.inverse(out, context=context)
        return self.y_mean_ + self.y_scale_ * out[:, 0].cpu().numpy().astype(np.float64)

    def predict_components(self, X: ArrayLike) -> dict[str, np.ndarray]:
        """``g1``, ``g2``, ``g3`` and the noise scale ``sigma`` (units of ``g3``).

        Returns
        -------
        dict of ndarray of shape (n_samples,)
            With Gaussian noise, mean ``g1 + g2 g3`` and sd ``g2 sigma``.
        """
        context = self._prepare(X)
        affine, rest = self._levels()
        with torch.no_grad():
            g1, log_g2 = affine.shift_and_log_scale(context)
            g3, log_sigma = rest[0].shift_and_log_scale(context)

        def np_(t: torch.Tensor) -> np.ndarray:
            return t[:, 0].cpu().numpy().astype(np.float64)

        return {
            "g1": self.y_mean_ + self.y_scale_ * np_(g1),
            "g2": np.exp(np_(log_g2)),
            "g3": self.y_scale_ * np_(g3),
            "sigma": self.y_scale_ * np.exp(np_(log_sigma)),
        }
