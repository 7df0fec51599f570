"""The affine transfer as a conditional normalizing flow (optional extra ``affinetl[nn]``).

:class:`AffineCouplingTransfer` models ``p(y | x)``; its outer layer is the affine transfer, with
predictive intervals, sampling, the log-density and the inverse map.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm
from sklearn.utils import check_random_state

from ..base import Interval, SourceFeatureMixin, fit_context, source_constraints, store_params

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the neural transfer models need torch and nflows: pip install 'affinetl[nn]'"
    ) from exc

from ._torch.flows import build_transfer_flow, gauss_hermite
from ._torch_common import (
    _affine_constraints,
    _FitPlan,
    _hidden,
    _numpy,
    _TorchEstimator,
    _training_constraints,
    _widths,
    fill_doc,
)

__all__ = ["AffineCouplingTransfer"]


def _flow_nll(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Mean negative log-likelihood of the standardised target (shared by fits, ``fit_many``)."""
    return -module.log_prob(batch[1], context=batch[0]).mean()


@fill_doc
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
    activation, dropout, weight_decay, lr, batch_size, max_epochs, ... :
        Shared by every neural estimator, described once in ``_TorchEstimator``.
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
        store_params(self, locals())

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
