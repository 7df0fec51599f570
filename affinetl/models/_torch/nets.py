"""Networks only: MLPs and the affine-transfer module ``g1(u) + g2(u) * g3(x)``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "MLP", "AffineTransferNet", "soft_clamp"]

#: Activation names accepted by the estimators.
ACTIVATIONS = ("leaky_relu", "relu", "tanh", "elu", "silu")


def _activation(name: str) -> nn.Module:
    if name == "leaky_relu":
        return nn.LeakyReLU(0.01)
    if name == "relu":
        return nn.ReLU()
    if name == "tanh":
        return nn.Tanh()
    if name == "elu":
        return nn.ELU()
    if name == "silu":
        return nn.SiLU()
    raise ValueError(f"unknown activation {name!r}; choose one of {ACTIVATIONS}")


def soft_clamp(t: torch.Tensor, bound: float) -> torch.Tensor:
    """Smoothly limit ``t`` to ``(-bound, bound)``: ``t / (1 + |t| / bound)`` (zuko's clamp).

    Used on log-scales so that ``exp`` cannot overflow; the identity near 0.
    """
    return t / (1.0 + t.abs() / bound)


class MLP(nn.Sequential):
    """Fully connected network ``in_features -> hidden... -> out_features``.

    Parameters
    ----------
    in_features, out_features : int
        Input and output widths. ``in_features=0`` gives a learned constant.
    hidden : sequence of int
        Hidden widths (empty: a linear map).
    activation : str, default="leaky_relu"
        One of :data:`ACTIVATIONS` (LeakyReLU has slope 0.01, the published setting).
    dropout : float, default=0.0
        Dropout probability after each hidden activation.
    zero_last : bool, default=False
        Start the output layer at zero weights and bias, so the network starts at 0.
    generator : torch.Generator, optional
        Source of the initial weights (never the global RNG).

    Examples
    --------
    >>> import torch
    >>> net = MLP(3, 1, (8,), generator=torch.Generator().manual_seed(0))
    >>> net(torch.zeros(5, 3)).shape
    torch.Size([5, 1])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int] = (),
        *,
        activation: str = "leaky_relu",
        dropout: float = 0.0,
        zero_last: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        self.constant_input = in_features == 0
        widths = [max(in_features, 1), *[int(h) for h in hidden], out_features]
        layers: list[nn.Module] = []
        for k in range(len(widths) - 1):
            # skip_init: no draw from the global RNG; _init_linear fills from `generator`
            layers.append(nn.utils.skip_init(nn.Linear, widths[k], widths[k + 1]))
            if k < len(widths) - 2:
                layers.append(_activation(activation))
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        super().__init__(*layers)
        _init_linear(self, generator)
        if zero_last:
            last = layers[-1]
            with torch.no_grad():
                last.weight.zero_()
                last.bias.zero_()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if self.constant_input:
            inputs = inputs.new_zeros(inputs.shape[0], 1)
        return super().forward(inputs)


def _init_linear(module: nn.Module, generator: torch.Generator | None) -> None:
    """PyTorch's default Linear initialisation drawn from ``generator``."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                bound = 1.0 / max(layer.in_features, 1) ** 0.5
                layer.weight.copy_(
                    (torch.rand(layer.weight.shape, generator=generator) * 2 - 1) * bound
                )
                layer.bias.copy_(
                    (torch.rand(layer.bias.shape, generator=generator) * 2 - 1) * bound
                )


class AffineTransferNet(nn.Module):
    """``f(x, u) = g1(u) + g2(u) * g3(x)`` with three MLPs.

    ``g2 = 1 + h2(u)`` (or ``exp(h2(u))`` with ``positive_scale=True``, soft-clamped) and the
    output layer of ``h2`` starts at zero, so ``g2 = 1`` is both the initial value and the
    shrinkage point of weight decay.

    Parameters
    ----------
    n_inputs, n_source : int
        Widths of ``x`` and ``u``.
    hidden1, hidden2, hidden3 : sequence of int
        Hidden widths of ``g1``, ``h2`` and ``g3``.
    activation, dropout : see :class:`MLP`.
    positive_scale : bool, default=False
        Parameterise ``g2 = exp(soft_clamp(h2))`` (always positive, needed for invertibility).
    generator : torch.Generator, optional
    """

    def __init__(
        self,
        n_inputs: int,
        n_source: int,
        hidden1: Sequence[int],
        hidden2: Sequence[int],
        hidden3: Sequence[int],
        *,
        activation: str = "leaky_relu",
        dropout: float = 0.0,
        positive_scale: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        kw = {"activation": activation, "dropout": dropout, "generator": generator}
        self.g1 = MLP(n_source, 1, hidden1, **kw)
        self.h2 = MLP(n_source, 1, hidden2, zero_last=True, **kw)
        self.g3 = MLP(n_inputs, 1, hidden3, **kw)
        self.positive_scale = positive_scale

    def scale(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(g2(u), log|g2(u)|)``, each of shape (n,)."""
        h = self.h2(u)[:, 0]
        if self.positive_scale:
            log_g2 = soft_clamp(h, 5.0)
            return torch.exp(log_g2), log_g2
        g2 = 1.0 + h
        return g2, torch.log(g2.abs())

    def components(self, x: torch.Tensor, u: torch.Tensor) -> dict[str, torch.Tensor]:
        """``g1``, ``g2``, ``g3`` at each sample, tensors of shape (n,)."""
        return {"g1": self.g1(u)[:, 0], "g2": self.scale(u)[0], "g3": self.g3(x)[:, 0]}

    def forward(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Prediction of shape (n,)."""
        c = self.components(x, u)
        return c["g1"] + c["g2"] * c["g3"]
