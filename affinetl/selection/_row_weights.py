"""Per-row weights of the averaged forms: where each form can be trusted in the source space."""

from __future__ import annotations

import numpy as np

from .._forms import form_design

__all__ = ["row_weights", "source_fit"]


def source_fit(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Training range of ``u`` (2, k), ``pinv`` of the Gram matrix of the design ``[1, u]`` and
    the mean leverage of its rows (``rank / n``): what :func:`row_weights` needs."""
    design = form_design("source_linear", u)
    leverage = float(np.linalg.matrix_rank(design)) / u.shape[0]
    return np.vstack([u.min(axis=0), u.max(axis=0)]), np.linalg.pinv(design.T @ design), leverage


def row_weights(
    w: np.ndarray,
    u: np.ndarray,
    linear: np.ndarray,
    limited: np.ndarray,
    source_range: np.ndarray,
    design_inv: np.ndarray,
    mean_leverage: float,
    keep_limited: float = 0.0,
) -> np.ndarray:
    """Form weights ``w`` adjusted per row of ``u`` (shape (n_rows, n_forms), rows sum to 1).

    ``linear`` forms (unpenalised ``a0 + a1'u`` in ``g1``) are scaled by
    ``(1 + mean_leverage) / (1 + h)``, ``h`` the row's leverage in the training design
    ``[1, u]`` (``design_inv``); ``limited`` forms (a kernel ``g1`` of ``u`` alone) get zero on
    rows outside ``source_range``, unless every form is limited. ``keep_limited`` in [0, 1]
    (:func:`~affinetl.selection._rules.outside_range_keep`) mixes the two: on those rows the
    weights are ``(1 - keep_limited)`` times the renormalised weights without the ``limited``
    forms plus ``keep_limited`` times the renormalised weights with them.
    """
    W = np.tile(np.asarray(w, dtype=float), (u.shape[0], 1))
    if linear.any():
        Z = form_design("source_linear", u)
        leverage = np.einsum("ij,jk,ik->i", Z, design_inv, Z)
        W[:, linear] *= ((1.0 + mean_leverage) / (1.0 + leverage))[:, None]
    kept = W / W.sum(axis=1, keepdims=True)
    if not limited.any() or limited.all():
        return kept
    lo, hi = source_range
    tol = 1e-9 * np.maximum(hi - lo, 1.0)
    W[np.ix_(np.any((u < lo - tol) | (u > hi + tol), axis=1), limited)] = 0.0
    return (1.0 - keep_limited) * W / W.sum(axis=1, keepdims=True) + keep_limited * kept
