"""Neural affine transfer estimators on torch (optional extra ``affinetl[nn]``).

- :class:`NeuralAffineTransferRegressor`: ``g1(u) + g2(u) g3(x)`` with three MLPs.
- :class:`NeuralDirectRegressor` (Direct), :class:`FineTuneRegressor` (Fine),
  :class:`FeatureExtractionRegressor` (Ext-k), :class:`HiddenLayerAffineRegressor` (Inv-k): the
  published neural variants and baselines for a pretrained source network.
- :class:`AffineCouplingTransfer`: a conditional normalizing flow for ``p(y | x)`` whose outer
  layer is the affine transfer, with predictive intervals, sampling and the inverse map.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm
from sklearn.utils import check_random_state

from ..base import (
    Interval,
    SourceFeatureMixin,
    StrOptions,
    fit_context,
    source_constraints,
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
from ._torch.nets import MLP, AffineTransferNet
from ._torch_common import (
    _affine_constraints,
    _FitPlan,
    _hidden,
    _linear_layers,
    _moments,
    _network_constraints,
    _numpy,
    _TorchEstimator,
    _training_constraints,
    _widths,
)

__all__ = [
    "AffineCouplingTransfer",
    "FeatureExtractionRegressor",
    "FineTuneRegressor",
    "HiddenLayerAffineRegressor",
    "NeuralAffineTransferRegressor",
    "NeuralDirectRegressor",
]


# Training losses on the standardised target, ``loss(module, batch)``: module-level functions so
# that fits of one kind share one and can train together (``fit_many``).
def _affine_mse(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return torch.mean((module(batch[0], batch[1]) - batch[2]) ** 2)


def _column_mse(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return torch.mean((module(batch[0])[:, 0] - batch[1]) ** 2)


def _flat_mse(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return torch.mean((module(batch[0]).reshape(-1) - batch[1]) ** 2)


def _flow_nll(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return -module.log_prob(batch[1], context=batch[0]).mean()


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
        **_affine_constraints,
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
        self._store_params(locals())

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
        x, u = self._standardized_source(X)
        return self._tensor(x), self._tensor(u)

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
        self._train(self._plan_fit(X, y))
        return self

    def _plan_fit(self, X: ArrayLike, y: ArrayLike) -> _FitPlan:
        X, y = self._validate_fit(X, y)
        x, u = self._fit_source_moments(X)
        generator = self._setup()
        module = self._new_module(generator, n_inputs=x.shape[1], n_source=u.shape[1])
        xt, ut = self._inputs(X)
        groups = None
        if self.solver == "block":
            groups = [list(module.g3.parameters()), list(module.g1.parameters())]
            groups.append(list(module.h2.parameters()))
        return _FitPlan(module, _affine_mse, (xt, ut, self._tensor(y)), generator, groups)

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
        xt, ut = self._inputs(self._validate_predict(X))
        with torch.no_grad():
            c = self.module_.components(xt, ut)
        c = {k: _numpy(v) for k, v in c.items()}
        return {
            "g1": self._to_target(c["g1"]),
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
        **_network_constraints,
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
        self._store_params(locals())

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
        self._store_params(locals())

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
        self._train(self._plan_fit(X, y))
        return self

    def _plan_fit(self, X: ArrayLike, y: ArrayLike) -> _FitPlan:
        X, y = self._validate_fit(X, y)
        f = self._features(X)
        self.x_mean_, self.x_scale_ = _moments(f, self.standardize)
        generator = self._setup()
        module = self._new_module(generator, n_inputs=f.shape[1])
        ft, yt = self._tensor((f - self.x_mean_) / self.x_scale_), self._tensor(y)
        return _FitPlan(module, _column_mse, (ft, yt), generator)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predictions, float64 of shape (n_samples,)."""
        f = self._features(self._validate_predict(X))
        with torch.no_grad():
            out = self.module_(self._tensor((f - self.x_mean_) / self.x_scale_))[:, 0]
        return self._to_target(_numpy(out))


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
        **_network_constraints,
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
        self._store_params(locals())

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
        self._store_params(locals())

    def _build_module(self, **_: Any) -> nn.Module:
        if self.network is None:
            raise ValueError("FineTuneRegressor needs a source `network`")
        return torch_network(self.network)

    def _check_width(self, X: np.ndarray) -> None:
        linear = _linear_layers(self.module_)
        if linear and X.shape[1] != linear[0].in_features:
            raise ValueError(
                f"the source network expects {linear[0].in_features} input features, X has "
                f"{X.shape[1]}: X does not match the source network's input width"
            )

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> FineTuneRegressor:
        """Fine-tune a copy of ``network`` on ``(X, y)``."""
        self._train(self._plan_fit(X, y))
        return self

    def _plan_fit(self, X: ArrayLike, y: ArrayLike) -> _FitPlan:
        X, y = self._validate_fit(X, y)
        generator = self._setup()
        self.build_args_ = {}
        self.module_ = module = self._place(self._build_module())
        self._check_width(X)
        linear = _linear_layers(module)
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
        self.n_trained_layers_ = k
        return _FitPlan(module, _flat_mse, (Xt, yt), generator)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predictions of the fine-tuned network, float64 of shape (n_samples,)."""
        X = self._validate_predict(X)
        with torch.no_grad():
            out = self.module_(self._tensor(X)).reshape(-1)
        return self._to_target(_numpy(out))


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
        **_affine_constraints,
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
        self._store_params(locals())

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
        return self._tensor(np.hstack(self._standardized_source(X)))

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
        self._train(self._plan_fit(X, y))
        return self

    def _plan_fit(self, X: ArrayLike, y: ArrayLike) -> _FitPlan:
        X, y = self._validate_fit(X, y)
        x, u = self._fit_source_moments(X)
        generator = self._setup()
        flow = self._new_module(generator, n_inputs=x.shape[1], n_source=u.shape[1])
        context, yt = self._context(X), self._tensor(y[:, None])
        return _FitPlan(flow, _flow_nll, (context, yt), generator)

    # -- maps between noise and target ------------------------------------------------------
    def _prepare(self, X: ArrayLike) -> torch.Tensor:
        return self._context(self._validate_predict(X))

    def _noise_to_target(self, z: np.ndarray, context: torch.Tensor) -> np.ndarray:
        """Targets (original units) for latent values ``z`` (n,) at contexts (n, d)."""
        with torch.no_grad():
            out, _ = self.module_._transform.inverse(self._tensor(z[:, None]), context=context)
        return self._to_target(_numpy(out[:, 0]))

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
        return _numpy(lp) - np.log(self.y_scale_)

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
        out = _numpy(out[:, 0])
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
        return self._to_target(_numpy(out[:, 0]))

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

        return {
            "g1": self._to_target(_numpy(g1[:, 0])),
            "g2": np.exp(_numpy(log_g2[:, 0])),
            "g3": self.y_scale_ * _numpy(g3[:, 0]),
            "sigma": self.y_scale_ * np.exp(_numpy(log_sigma[:, 0])),
        }
