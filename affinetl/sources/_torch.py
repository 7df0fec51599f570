"""Torch source networks as source-feature providers: the output or any hidden layer.

:class:`TorchSourceNetwork` wraps a pretrained ``torch.nn.Module`` (or a numpy
:class:`affinetl.datasets.SourceNetwork`, converted with :func:`torch_network`) so that it can be
passed as ``source=`` to any affinetl estimator; ``layer`` picks the output, the k-th hidden layer
or any submodule by name. Needs the optional extra ``affinetl[nn]``.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "affinetl.sources.TorchSourceNetwork needs torch: pip install 'affinetl[nn]'"
    ) from exc

__all__ = ["Standardize", "TorchSourceNetwork", "hidden_layer_module", "torch_network"]


class Standardize(nn.Module):
    """``(x - mean) / scale`` with fixed buffers (the input standardisation of a network)."""

    def __init__(self, mean: ArrayLike, scale: ArrayLike) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, dtype=np.float64)))
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale, dtype=np.float64)))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return (inputs - self.mean) / self.scale


def torch_network(network: Any) -> nn.Module:
    """A torch copy of a network: ``nn.Module`` as given, numpy ``SourceNetwork`` converted.

    A :class:`affinetl.datasets.SourceNetwork` becomes ``nn.Sequential`` with modules
    ``input`` (standardisation, when it has one), ``dense1, act1, ..., denseL, actL`` and
    ``output``, in float64.

    Parameters
    ----------
    network : nn.Module or SourceNetwork

    Returns
    -------
    nn.Module
        Never the object passed in (a deep copy or a new module).
    """
    if isinstance(network, nn.Module):
        return copy.deepcopy(network)
    weights = getattr(network, "weights", None)
    biases = getattr(network, "biases", None)
    if weights is None or biases is None:
        raise TypeError(
            f"expected a torch.nn.Module or an affinetl.datasets.SourceNetwork, got "
            f"{type(network).__name__}"
        )
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    n_in = np.asarray(weights[0]).shape[0]
    mean = getattr(network, "input_mean", None)
    scale = getattr(network, "input_scale", None)
    if mean is not None or scale is not None:
        layers["input"] = Standardize(
            np.zeros(n_in) if mean is None else mean, np.ones(n_in) if scale is None else scale
        )
    slope = float(getattr(network, "negative_slope", 0.01))
    for k, (w, b) in enumerate(zip(weights, biases), start=1):
        w = np.asarray(w, dtype=np.float64)
        linear = nn.Linear(w.shape[0], w.shape[1]).double()
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(w.T))
            linear.bias.copy_(torch.as_tensor(np.asarray(b, dtype=np.float64).ravel()))
        if k < len(weights):
            layers[f"dense{k}"] = linear
            layers[f"act{k}"] = nn.LeakyReLU(slope)
        else:
            layers["output"] = linear
    return nn.Sequential(layers)


def _leaves(network: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in network.named_modules() if n and not list(m.children())]


def hidden_layer_module(network: nn.Module, layer: int | str) -> tuple[str, nn.Module]:
    """The submodule whose output is hidden layer ``layer`` of ``network``.

    Parameters
    ----------
    network : nn.Module
    layer : int or str
        ``k >= 1``: the k-th hidden layer, i.e. the activation following the k-th
        ``nn.Linear`` (the Linear itself if no activation follows); ``str``: the name of any
        submodule in ``network.named_modules()``.

    Returns
    -------
    (name, module)
    """
    if isinstance(layer, str):
        modules = dict(network.named_modules())
        if layer not in modules or not layer:
            names = [n for n in modules if n]
            raise ValueError(f"the source network has no layer named {layer!r}; layers: {names}")
        return layer, modules[layer]
    k = int(layer)
    leaves = _leaves(network)
    linear_at = [i for i, (_, m) in enumerate(leaves) if isinstance(m, nn.Linear)]
    n_hidden = len(linear_at) - 1
    if not 1 <= k <= n_hidden:
        raise ValueError(
            f"hidden layer index must be in 1..{n_hidden} for this network "
            f"({len(linear_at)} Linear layers), got {k}"
        )
    i = linear_at[k - 1]
    following = leaves[i + 1 : linear_at[k]]
    activations = [
        (n, m) for n, m in following if not isinstance(m, nn.Dropout) and not list(m.parameters())
    ]
    return activations[0] if activations else leaves[i]


def _input_width(network: nn.Module) -> int | None:
    for _, m in _leaves(network):
        if isinstance(m, nn.Linear):
            return m.in_features
    return None


class TorchSourceNetwork(BaseEstimator):
    """A pretrained torch network as source model: its output or a hidden layer.

    Parameters
    ----------
    network : nn.Module or SourceNetwork
        Pretrained network mapping ``X`` (n, n_features) to its output; numpy
        :class:`affinetl.datasets.SourceNetwork` objects are converted to torch.
    layer : None, int or str, default=None
        ``None``: the network output; ``k``: the k-th hidden layer (activation after the k-th
        Linear); a string: the output of the submodule with that name.
    dtype : {"float64", "float32"}, default="float64"

    Attributes
    ----------
    n_features_in_ : int or None
        Input width of the first Linear layer.

    Examples
    --------
    >>> import numpy as np, torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    >>> TorchSourceNetwork(net, layer=1).transform(np.ones((2, 3))).shape
    (2, 4)
    """

    def __init__(self, network: Any, layer: int | str | None = None, *, dtype: str = "float64"):
        self.network = network
        self.layer = layer
        self.dtype = dtype

    def _module(self) -> nn.Module:
        cached = getattr(self, "_cache", None)
        if cached is None or cached[0] is not self.network:
            dtype = torch.float64 if self.dtype == "float64" else torch.float32
            module = torch_network(self.network).to(dtype).eval()
            self._cache = (self.network, module, dtype)
        return self._cache[1]

    @property
    def n_features_in_(self) -> int | None:  # noqa: D102
        return _input_width(self._module())

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Source features ``(n_samples, width)`` as float64 numpy.

        Raises
        ------
        ValueError
            When ``X`` is not 2-D, its width does not match the network, it holds NaN or inf,
            or ``layer`` does not exist.
        """
        module = self._module()
        X = np.asarray(X, dtype=np.float64)
        width = _input_width(module)
        if X.ndim != 2 or (width is not None and X.shape[1] != width):
            raise ValueError(
                f"the source network expects X of shape (n_samples, {width}), got {X.shape}: "
                "X does not match the source network's input width"
            )
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinite values; the source network needs finite X")
        inputs = torch.as_tensor(X, dtype=self._cache[2])
        with torch.no_grad():
            if self.layer is None:
                out = module(inputs)
            else:
                _, target = hidden_layer_module(module, self.layer)
                captured: list[torch.Tensor] = []
                handle = target.register_forward_hook(lambda m, i, o: captured.append(o))
                try:
                    module(inputs)
                finally:
                    handle.remove()
                out = captured[-1]
        out = out.detach().cpu().numpy().astype(np.float64)
        return out.reshape(out.shape[0], -1)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """``transform(X)``, flattened to (n_samples,) for a single output."""
        out = self.transform(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_cache", None)
        return state
