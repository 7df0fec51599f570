"""Synthetic Sim2Real problems with known transfer components ``g1, g2, g3``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SyntheticTransferProblem", "make_affine_transfer"]


@dataclass(frozen=True)
class SyntheticTransferProblem:
    """A synthetic data set: ``X = [x, u]`` with the source feature ``u`` in the last column.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_inputs + 1)
    y : ndarray of shape (n_samples,)
    components : dict of str to ndarray of shape (n_samples,)
        The true ``g1(u)``, ``g2(u)`` and ``g3(x)``; ``y = g1 + g2 * g3 + noise``.
    """

    X: np.ndarray
    y: np.ndarray
    components: dict[str, np.ndarray]


def make_affine_transfer(
    n_samples: int, *, noise: float = 0.05, random_state: int | None = None
) -> SyntheticTransferProblem:
    """Draw a Sim2Real problem from the affine model with known components.

    The inputs ``x`` are uniform on ``[-2, 2]^5``. The source ``u = f_s(x)`` is a rough function of
    the first three inputs (hard to learn from a few samples, as a simulation is), the target is::

        y = g1(u) + g2(u) g3(x) + noise,  g1 = 1 + 2u,  g2 = 1 + tanh(u) / 2,
        g3 = cos(1.5 x4) + x5 / 2

    Parameters
    ----------
    n_samples : int
    noise : float, default=0.05
        Standard deviation of the Gaussian noise on ``y``.
    random_state : int or None

    Returns
    -------
    SyntheticTransferProblem

    Examples
    --------
    >>> p = make_affine_transfer(10, random_state=0)
    >>> p.X.shape, p.y.shape
    ((10, 6), (10,))
    """
    rng = np.random.default_rng(random_state)
    x = rng.uniform(-2, 2, size=(n_samples, 5))
    u = np.sin(2 * x[:, 0]) * np.cos(2 * x[:, 1]) + 0.5 * np.sin(3 * x[:, 2])
    g1 = 1.0 + 2.0 * u
    g2 = 1.0 + 0.5 * np.tanh(u)
    g3 = np.cos(1.5 * x[:, 3]) + 0.5 * x[:, 4]
    y = g1 + g2 * g3 + noise * rng.standard_normal(n_samples)
    return SyntheticTransferProblem(np.column_stack([x, u]), y, {"g1": g1, "g2": g2, "g3": g3})
