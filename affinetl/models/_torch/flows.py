"""The affine transfer as an nflows transform, and the conditional flow built on it.

Direction follows nflows: a transform maps *data to noise* (``forward``) and back
(``inverse``), each returning ``(outputs, logabsdet)`` in one pass. The context of every layer is
``c = [x, u]`` (inputs, then source features). The flow for ``p(y | x)`` is, read from noise to
data,

.. math::

    y = g_1(u) + g_2(u)\\,\\bigl(g_3(x) + \\sigma(x, u)\\, S^{-1}(z)\\bigr),
    \\qquad z \\sim N(0, 1),

with ``g2 = exp(soft_clamp(h2(u)))`` and ``sigma = exp(soft_clamp(s(x, u)))``. The outer layer
is exactly the affine transfer ``g1 + g2 * (.)``, an affine coupling whose conditioning half is the
source features; the inner one is an affine coupling on the context ``[x, u]`` that carries the
domain-specific factor and the (heteroscedastic) noise scale; ``S`` is an optional stack of
monotone rational-quadratic splines (nflows) that lets the noise be non-Gaussian.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from nflows.distributions.normal import StandardNormal
from nflows.flows.base import Flow
from nflows.transforms.base import CompositeTransform, Transform
from nflows.transforms.nonlinearities import PiecewiseRationalQuadraticCDF

from .nets import MLP, soft_clamp

__all__ = ["AffineTransferTransform", "ConditionalAffineTransform", "build_transfer_flow"]

#: Soft bound of every log-scale (|log g2|, |log sigma| < 7).
LOG_SCALE_BOUND = 7.0


def _check(inputs: torch.Tensor) -> torch.Tensor:
    if inputs.ndim != 2 or inputs.shape[1] != 1:
        raise ValueError(f"expected targets of shape (n, 1), got {tuple(inputs.shape)}")
    return inputs


class AffineTransferTransform(Transform):
    """``v = (y - g1(u)) / g2(u)`` (data to noise); the inverse is ``y = g1(u) + g2(u) v``.

    Parameters
    ----------
    n_inputs, n_source : int
        Widths of ``x`` and ``u`` in the context ``[x, u]``.
    hidden1, hidden2 : sequence of int
        Hidden widths of ``g1`` and ``h2`` (``g2 = exp(soft_clamp(h2))``, starting at 1).
    activation, dropout, generator : see :class:`~affinetl.models._torch.nets.MLP`.
    """

    def __init__(
        self,
        n_inputs: int,
        n_source: int,
        hidden1: Sequence[int],
        hidden2: Sequence[int],
        *,
        activation: str = "leaky_relu",
        dropout: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_inputs = n_inputs
        kw = {"activation": activation, "dropout": dropout, "generator": generator}
        self.g1 = MLP(n_source, 1, hidden1, **kw)
        self.h2 = MLP(n_source, 1, hidden2, zero_last=True, **kw)

    def shift_and_log_scale(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``g1(u)`` and ``log g2(u)``, each of shape (n, 1)."""
        u = context[:, self.n_inputs :]
        return self.g1(u), soft_clamp(self.h2(u), LOG_SCALE_BOUND)

    def forward(
        self, inputs: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        shift, log_scale = self.shift_and_log_scale(context)
        outputs = (_check(inputs) - shift) * torch.exp(-log_scale)
        return outputs, -log_scale[:, 0]

    def inverse(
        self, inputs: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        shift, log_scale = self.shift_and_log_scale(context)
        return shift + _check(inputs) * torch.exp(log_scale), log_scale[:, 0]


class ConditionalAffineTransform(Transform):
    """``z = (v - m(c_m)) / exp(s(c))``: affine coupling of the target on the context.

    ``m`` reads the context columns ``shift_columns`` (the inputs ``x`` for the domain-specific
    factor ``g3``), ``s`` the whole context ``[x, u]``; ``s`` starts at 0.

    Parameters
    ----------
    shift_columns : slice
        Context columns fed to the shift network.
    n_shift, n_context : int
        Widths of those columns and of the whole context.
    hidden_shift, hidden_scale : sequence of int
        Hidden widths of ``m`` and ``s``.
    activation, dropout, generator : see :class:`~affinetl.models._torch.nets.MLP`.
    """

    def __init__(
        self,
        shift_columns: slice,
        n_shift: int,
        n_context: int,
        hidden_shift: Sequence[int],
        hidden_scale: Sequence[int],
        *,
        activation: str = "leaky_relu",
        dropout: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.shift_columns = shift_columns
        kw = {"activation": activation, "dropout": dropout, "generator": generator}
        self.shift = MLP(n_shift, 1, hidden_shift, **kw)
        self.log_scale = MLP(n_context, 1, hidden_scale, zero_last=True, **kw)

    def shift_and_log_scale(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``m`` and ``s``, each of shape (n, 1)."""
        return (
            self.shift(context[:, self.shift_columns]),
            soft_clamp(self.log_scale(context), LOG_SCALE_BOUND),
        )

    def forward(
        self, inputs: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        shift, log_scale = self.shift_and_log_scale(context)
        return (_check(inputs) - shift) * torch.exp(-log_scale), -log_scale[:, 0]

    def inverse(
        self, inputs: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        shift, log_scale = self.shift_and_log_scale(context)
        return shift + _check(inputs) * torch.exp(log_scale), log_scale[:, 0]


class _Unconditional(Transform):
    """Let an unconditional nflows transform ignore the context."""

    def __init__(self, transform: Transform) -> None:
        super().__init__()
        self.transform = transform

    def forward(self, inputs, context=None):  # noqa: ANN001, ANN201, D102
        return self.transform(inputs)

    def inverse(self, inputs, context=None):  # noqa: ANN001, ANN201, D102
        return self.transform.inverse(inputs)


def build_transfer_flow(
    n_inputs: int,
    n_source: int,
    *,
    hidden1: Sequence[int],
    hidden2: Sequence[int],
    hidden3: Sequence[int],
    hidden_noise: Sequence[int],
    n_spline_layers: int = 0,
    num_bins: int = 8,
    tail_bound: float = 4.0,
    activation: str = "leaky_relu",
    dropout: float = 0.0,
    generator: torch.Generator | None = None,
) -> Flow:
    """The conditional flow ``p(y | [x, u])`` whose outer layer is the affine transfer.

    Parameters
    ----------
    n_inputs, n_source : int
        Widths of ``x`` and ``u``; the context is ``[x, u]``.
    hidden1, hidden2, hidden3 : sequence of int
        Hidden widths of ``g1``, ``h2`` (scale) and ``g3``.
    hidden_noise : sequence of int
        Hidden widths of the log noise-scale network ``s(x, u)``.
    n_spline_layers : int, default=0
        Monotone rational-quadratic spline layers on the noise (identity at initialisation,
        linear tails beyond ``tail_bound``); 0 keeps ``p(y | x)`` Gaussian.
    num_bins, tail_bound : int, float
        Spline resolution and range.
    activation, dropout, generator : see :class:`~affinetl.models._torch.nets.MLP`.

    Returns
    -------
    nflows.flows.base.Flow
        ``flow.log_prob(y, context)`` for ``y`` of shape (n, 1) and context (n, n_inputs +
        n_source); ``flow._transform`` maps data to noise.
    """
    kw = {"activation": activation, "dropout": dropout, "generator": generator}
    layers: list[Transform] = [
        AffineTransferTransform(n_inputs, n_source, hidden1, hidden2, **kw),
        ConditionalAffineTransform(
            slice(0, n_inputs), n_inputs, n_inputs + n_source, hidden3, hidden_noise, **kw
        ),
    ]
    for _ in range(n_spline_layers):
        layers.append(
            _Unconditional(
                PiecewiseRationalQuadraticCDF(
                    (1,),
                    num_bins=num_bins,
                    tails="linear",
                    tail_bound=tail_bound,
                    identity_init=True,
                )
            )
        )
    return Flow(CompositeTransform(layers), StandardNormal([1]))


def gauss_hermite(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of ``E[f(z)], z ~ N(0, 1)`` (probabilists' Gauss-Hermite, sum to 1)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)
    return nodes, weights / weights.sum()


__all__ += ["gauss_hermite"]
