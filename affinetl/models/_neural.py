"""Neural affine transfer estimators on torch (optional extra ``affinetl[nn]``).

- :class:`NeuralAffineTransferRegressor`: ``g1(u) + g2(u) g3(x)`` with three MLPs.
- :class:`HiddenLayerAffineRegressor` (Inv-k): the same model reading ``u`` from a hidden layer
  of a pretrained source network.

The neural baselines (Direct, Fine, Ext-k) are in :mod:`affinetl.models._neural_baselines`, the
conditional flow in :mod:`affinetl.models._flow`; all share :mod:`affinetl.models._torch_common`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..base import SourceFeatureMixin, StrOptions, fit_context, source_constraints, store_params

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the neural transfer models need torch and nflows: pip install 'affinetl[nn]'"
    ) from exc

from ..sources import TorchSourceNetwork
from ._torch.nets import AffineTransferNet
from ._torch_common import (
    _affine_constraints,
    _FitPlan,
    _network_constraints,
    _numpy,
    _TorchEstimator,
    _training_constraints,
    _widths,
    fill_doc,
)

__all__ = ["HiddenLayerAffineRegressor", "NeuralAffineTransferRegressor"]


def _affine_mse(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Training loss on the standardised target, a module-level function so that fits of one
    kind share it and can train together (``fit_many``)."""
    return torch.mean((module(batch[0], batch[1]) - batch[2]) ** 2)


@fill_doc
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
    activation, dropout, weight_decay, lr, batch_size, max_epochs, ... :
        Shared by every neural estimator, described once in ``_TorchEstimator``.
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
        store_params(self, locals())

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


@fill_doc
class HiddenLayerAffineRegressor(NeuralAffineTransferRegressor):
    """Inv-k: the neural affine transfer with ``u`` = hidden layer ``layer`` of a source network.

    ``g1`` and ``g2`` read the activations of the pretrained network's k-th hidden layer (or its
    output, ``layer=None``), ``g3`` reads all columns of ``X``.

    Parameters
    ----------
    network : nn.Module or affinetl.datasets.SourceNetwork
        Pretrained source network taking ``X`` (kept frozen).
    layer : int, str or None, default=1
        Hidden layer index (1-based), submodule name, or None for the output.
    hidden1, hidden2, hidden3, solver, standardize :
        As :class:`NeuralAffineTransferRegressor`.
    activation, dropout, weight_decay, lr, batch_size, max_epochs, ... :
        Shared by every neural estimator, described once in ``_TorchEstimator``.

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
        store_params(self, locals())

    def _split_features(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.network is None:
            raise ValueError("HiddenLayerAffineRegressor needs a source `network`")
        return X, TorchSourceNetwork(self.network, self.layer).transform(X)
