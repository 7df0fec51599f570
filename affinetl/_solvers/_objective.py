"""The penalised objective of the affine transfer model and the stopping measure.

The model ``y ~ g1(u) + g2(u) g3(x)`` with ``g1 = Z c + h1``, ``g2 = 1 + h2`` and RKHS (or
feature-space) blocks ``h1, h2, g3`` has one objective (Minami et al., NeurIPS 2023, eq. (6)
with the representer theorem)::

    L = ||y - Z c - h1 - (1 + h2) o g3||^2 + l1 ||h1||^2 + l2 ||h2||^2 + l3 ||g3||^2

written here once: from fitted values and squared norms (:func:`affine_objective`, the kernel
solvers) and on feature maps ``h = P w`` for a batch of problems (:func:`feature_objective`, the
Newton solvers). Every solver measures convergence by
:func:`rel_change`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["affine_objective", "change_ratio", "feature_objective", "rel_change"]


def affine_objective(
    y: np.ndarray,
    a0: float,
    h1: np.ndarray,
    h2: np.ndarray,
    g3: np.ndarray,
    pen: tuple[float, float, float],
    lams: tuple[float, float, float],
) -> float:
    """Value of the penalised objective from fitted values and the three squared RKHS norms.

    Parameters
    ----------
    y : ndarray of shape (n,)
    a0 : float or ndarray of shape (n,)
        Unpenalised part of ``g1`` (intercept, or the fitted design ``Z c``).
    h1, h2, g3 : ndarray of shape (n,)
        Fitted values of the three blocks.
    pen : (float, float, float)
        Squared norms ``alpha'K1 alpha``, ``beta'K2 beta``, ``gamma'K3 gamma``.
    lams : (float, float, float)
        Penalties.

    Returns
    -------
    float
    """
    res = y - a0 - h1 - (1.0 + h2) * g3
    return float(res @ res + lams[0] * pen[0] + lams[1] * pen[1] + lams[2] * pen[2])


def _bmv(A: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``A_b v_b`` for every batch member (numpy arrays or torch tensors)."""
    return (A @ v[..., None])[..., 0]


def feature_objective(
    theta: np.ndarray,
    Z: np.ndarray,
    P1: np.ndarray,
    P2: np.ndarray,
    P3: np.ndarray,
    y: np.ndarray,
    pen: np.ndarray,
    blocks: tuple[slice, slice, slice, slice],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The objective on feature maps for a batch of ``B`` members.

    Parameters
    ----------
    theta : ndarray of shape (B, p)
        ``(c, w1, w2, w3)`` of every member, laid out by ``blocks``.
    Z, P1, P2, P3 : ndarray of shape (B, n, q), (B, n, m1), (B, n, m2), (B, n, m3)
        Unpenalised design of ``g1`` and the feature maps of ``h1``, ``h2`` and ``g3``.
    y : ndarray of shape (B, n)
    pen : ndarray of shape (B, p)
        Penalty of every coefficient (0 on the design).
    blocks : (slice, slice, slice, slice)
        Positions of ``c, w1, w2, w3`` in ``theta``.

    Returns
    -------
    obj : ndarray of shape (B,)
    e : ndarray of shape (B, n)
        Residuals.
    d : ndarray of shape (B, n)
        ``g2 = 1 + P2 w2``.
    f3 : ndarray of shape (B, n)
        ``g3 = P3 w3``.
    """
    s0, s1, s2, s3 = blocks
    f3 = _bmv(P3, theta[:, s3])
    d = 1.0 + _bmv(P2, theta[:, s2])
    e = y - _bmv(Z, theta[:, s0]) - _bmv(P1, theta[:, s1]) - d * f3
    obj = np.einsum("bn,bn->b", e, e) + np.einsum("bi,bi->b", pen, theta**2)
    return obj, e, d, f3


def rel_change(new: np.ndarray, old: np.ndarray) -> float | np.ndarray:
    """Largest absolute change relative to the largest absolute old value, along the last axis.

    0 when nothing changed; ``inf`` when a block moves away from zero. A float for 1-D input,
    else an array over the leading axes.
    """
    new, old = np.asarray(new, dtype=float), np.asarray(old, dtype=float)
    if old.shape[-1] == 0:
        out = np.zeros(old.shape[:-1])
    else:
        out = change_ratio(np.max(np.abs(new - old), axis=-1), np.max(np.abs(old), axis=-1))
    return float(out) if out.ndim == 0 else out


def change_ratio(diff: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``diff / scale`` of :func:`rel_change` from the largest absolute change ``diff`` and the
    largest absolute old value ``scale``: 0 when nothing changed, ``inf`` away from zero."""
    safe = np.where(scale > 0, scale, 1.0)
    return np.where(scale > 0, diff / safe, np.where(diff > 0, np.inf, 0.0))
