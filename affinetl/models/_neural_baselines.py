"""Neural baselines on torch (optional extra ``affinetl[nn]``): the published comparisons.

- :class:`NeuralDirectRegressor` (Direct): an MLP on the inputs alone.
- :class:`FeatureExtractionRegressor` (Ext-k): an MLP on a hidden layer of a source network.
- :class:`FineTuneRegressor` (Fine): the source network fine-tuned on the target data.

The kernel baselines of the same comparisons are in :mod:`affinetl.baselines`.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..base import Interval, StrOptions, fit_context, store_params

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the neural transfer models need torch and nflows: pip install 'affinetl[nn]'"
    ) from exc

from ..sources import TorchSourceNetwork, torch_network
from ._torch.nets import MLP
from ._torch_common import (
    _FitPlan,
    _hidden,
    _linear_layers,
    _moments,
    _network_constraints,
    _numpy,
    _TorchEstimator,
    _training_constraints,
    _widths,
    fill_doc,
)

__all__ = ["FeatureExtractionRegressor", "FineTuneRegressor", "NeuralDirectRegressor"]


# Training losses on the standardised target: module-level functions so that fits of one kind
# share one and can train together (``fit_many``).
def _column_mse(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return torch.mean((module(batch[0])[:, 0] - batch[1]) ** 2)


def _flat_mse(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return torch.mean((module(batch[0]).reshape(-1) - batch[1]) ** 2)


@fill_doc
class NeuralDirectRegressor(_TorchEstimator):
    """Direct: an MLP on the inputs alone (no source), the neural baseline.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int or float, default=(32,)
        Hidden widths; floats are fractions of the input width.
    standardize : bool, default=True
        Standardise the inputs with the training moments (the target always is).
    activation, dropout, weight_decay, lr, batch_size, max_epochs, ... :
        Shared by every neural estimator, described once in ``_TorchEstimator``.

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
        store_params(self, locals())

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


@fill_doc
class FeatureExtractionRegressor(NeuralDirectRegressor):
    """Ext-k: a new MLP on the k-th hidden-layer activations of a pretrained source network.

    Parameters
    ----------
    network : nn.Module or affinetl.datasets.SourceNetwork
        Pretrained source network taking ``X`` (kept frozen).
    layer : int, str or None, default=1
        Hidden layer index (1-based), submodule name, or None for the output.
    hidden_layer_sizes, standardize :
        As :class:`NeuralDirectRegressor`.
    activation, dropout, weight_decay, lr, batch_size, max_epochs, ... :
        Shared by every neural estimator, described once in ``_TorchEstimator``.

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
        store_params(self, locals())

    def _features(self, X: np.ndarray) -> np.ndarray:
        if self.network is None:
            raise ValueError("FeatureExtractionRegressor needs a source `network`")
        return TorchSourceNetwork(self.network, self.layer).transform(X)


@fill_doc
class FineTuneRegressor(NeuralDirectRegressor):
    """Fine: fine-tune a pretrained source network (all or its last ``n_layers`` Linear layers).

    The network is copied (the object passed in is never changed); the target is standardised
    internally and the network's single output is trained on it with the MSE. The network's own
    architecture is kept: ``hidden_layer_sizes``, ``activation``, ``dropout`` and ``standardize``
    are not parameters.

    Parameters
    ----------
    network : nn.Module or affinetl.datasets.SourceNetwork
        Pretrained network mapping ``X`` to one output.
    n_layers : "all" or int, default="all"
        Number of trailing ``nn.Linear`` layers to train; the others are frozen.
    weight_decay, lr, batch_size, max_epochs, early_stopping, ... :
        Shared by every neural estimator, described once in ``_TorchEstimator``.

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
        store_params(self, locals())

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
