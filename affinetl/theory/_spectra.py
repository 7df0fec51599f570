"""Eigenvalue decay exponents of Gram matrices.

The excess-risk analysis of affine model transfer assumes that the eigenvalues of each Gram matrix
(``K1``, ``K3`` and the Hadamard product ``K2 o K3``) decay polynomially,
``mu_i <= c * i ** (-1 / s)`` with ``0 < s``; a smaller ``s`` means a faster decay and a smaller
model class. These functions estimate ``s`` from a finite Gram matrix or spectrum.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "HadamardDecay",
    "decay_exponent",
    "envelope_exponent",
    "gram_spectrum",
    "hadamard_decay",
    "loglog_exponent",
]

logger = logging.getLogger(__name__)


def _check_gram(K: ArrayLike, name: str = "K") -> np.ndarray:
    K = np.asarray(K, dtype=float)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"{name} must be a square 2-D Gram matrix, got shape {K.shape}")
    if K.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(K)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    scale = max(float(np.max(np.abs(K))), np.finfo(float).tiny)
    if not np.allclose(K, K.T, rtol=0.0, atol=1e-8 * scale):
        raise ValueError(f"{name} is not symmetric; pass a Gram matrix k(A, A)")
    return K


def _check_spectrum(spectrum: ArrayLike) -> np.ndarray:
    mu = np.asarray(spectrum, dtype=float)
    if mu.ndim != 1 or mu.size == 0:
        raise ValueError(f"spectrum must be a non-empty 1-D array, got shape {mu.shape}")
    if not np.all(np.isfinite(mu)):
        raise ValueError("spectrum contains NaN or infinite values")
    mu = np.sort(mu)[::-1]
    if mu[0] <= 0:
        raise ValueError("spectrum has no positive eigenvalue")
    return mu


def _positive_mask(mu: np.ndarray, rtol: float | None) -> np.ndarray:
    """Eigenvalues above the numerical-zero threshold ``rtol * mu_1``."""
    if rtol is None:
        rtol = mu.size * np.finfo(float).eps
    if rtol < 0:
        raise ValueError(f"rtol must be non-negative, got {rtol}")
    return mu > rtol * mu[0]


def gram_spectrum(K: ArrayLike) -> np.ndarray:
    """Eigenvalues of a symmetric Gram matrix, largest first.

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
        Symmetric Gram matrix.

    Returns
    -------
    mu : ndarray of shape (n_samples,)
        Eigenvalues in non-increasing order. Tiny negative values from round-off are kept; the
        decay-exponent functions skip everything below their numerical-zero threshold.

    Examples
    --------
    >>> gram_spectrum([[2.0, 0.0], [0.0, 1.0]]).tolist()
    [2.0, 1.0]
    """
    K = _check_gram(K)
    return np.linalg.eigvalsh(K)[::-1].copy()


def envelope_exponent(
    spectrum: ArrayLike,
    *,
    reference: Literal["trace", "first"] | float = "trace",
    rtol: float | None = None,
) -> float:
    """Tightest one-sided polynomial envelope exponent of a spectrum.

    Finds the smallest ``s`` with ``mu_i <= c * i ** (-1 / s)`` for every index ``i >= 1``
    (1-based), where ``c`` is the trace ``sum(mu)`` (the paper's constant) or ``mu_1``. In closed
    form, ``1 / s = min over i >= 2 with mu_i > 0 of log(c / mu_i) / log(i)``.

    Parameters
    ----------
    spectrum : array-like of shape (n,)
        Eigenvalues (any order; they are sorted, largest first).
    reference : {"trace", "first"} or float, default "trace"
        Envelope constant ``c``: ``"trace"`` is ``tr K = sum(mu)`` (including the skipped
        eigenvalues), ``"first"`` is ``mu_1`` (then an exact power law ``mu_i = mu_1 i^(-1/s)``
        returns ``s`` exactly), a float is used as given (it must be ``>= mu_1``).
    rtol : float, default None
        Eigenvalues ``<= rtol * mu_1`` count as numerically zero and are skipped. ``None`` uses
        ``n * machine epsilon``.

    Returns
    -------
    s : float
        Decay exponent; ``0.0`` when no eigenvalue beyond the first is positive (the envelope
        holds for any ``s``).

    Examples
    --------
    >>> mu = [1.0, 0.25, 1.0 / 9.0, 1.0 / 16.0]  # i ** -2, so s = 1/2
    >>> round(envelope_exponent(mu, reference="first"), 12)
    0.5
    """
    mu = _check_spectrum(spectrum)
    if isinstance(reference, str):
        if reference == "trace":
            c = float(np.sum(mu))
        elif reference == "first":
            c = float(mu[0])
        else:
            raise ValueError(f"reference must be 'trace', 'first' or a float, got {reference!r}")
    else:
        c = float(reference)
        if not np.isfinite(c) or c < mu[0]:
            raise ValueError(f"reference constant {c} must be finite and >= mu_1 = {mu[0]}")
    keep = _positive_mask(mu, rtol)
    keep[0] = False
    if not np.any(keep):
        return 0.0
    i = np.flatnonzero(keep) + 1.0
    inv_s = float(np.min(np.log(c / mu[keep]) / np.log(i)))
    if inv_s <= 0.0:
        return float(np.inf)
    return 1.0 / inv_s


def loglog_exponent(
    spectrum: ArrayLike,
    *,
    rtol: float | None = None,
    index_range: tuple[int, int] | None = None,
) -> float:
    """Decay exponent from a least-squares line through the log-log spectrum.

    Fits ``log mu_i = a - (1 / s) log i`` over the positive eigenvalues and returns ``s``.
    Unlike :func:`envelope_exponent` this is a typical, not a worst-case, decay.

    Parameters
    ----------
    spectrum : array-like of shape (n,)
        Eigenvalues (any order; they are sorted, largest first).
    rtol : float, default None
        Numerical-zero threshold relative to ``mu_1`` (default ``n * machine epsilon``).
    index_range : (int, int), default None
        1-based inclusive range of indices to fit (e.g. ``(2, 50)``); default all positive ones.

    Returns
    -------
    s : float
        ``-1 / slope``; ``inf`` when the fitted slope is not negative.

    Examples
    --------
    >>> import numpy as np
    >>> mu = np.arange(1, 101) ** -3.0  # s = 1/3
    >>> round(loglog_exponent(mu), 12)
    0.333333333333
    """
    mu = _check_spectrum(spectrum)
    keep = _positive_mask(mu, rtol)
    idx = np.arange(1, mu.size + 1)
    if index_range is not None:
        lo, hi = int(index_range[0]), int(index_range[1])
        if lo < 1 or hi < lo:
            raise ValueError(f"index_range must satisfy 1 <= lo <= hi, got {index_range}")
        keep &= (idx >= lo) & (idx <= hi)
    if np.count_nonzero(keep) < 2:
        raise ValueError(
            "need at least two positive eigenvalues in the fitted range to fit a slope; "
            "widen index_range or lower rtol"
        )
    slope = np.polyfit(np.log(idx[keep]), np.log(mu[keep]), 1)[0]
    if slope >= 0:
        logger.warning("log-log spectrum slope %.3g is not negative: no decay", slope)
        return float(np.inf)
    return float(-1.0 / slope)


def decay_exponent(
    K: ArrayLike,
    *,
    method: Literal["envelope", "lstsq"] = "envelope",
    rtol: float | None = None,
) -> float:
    """Eigenvalue decay exponent ``s`` of a Gram matrix.

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
        Symmetric Gram matrix.
    method : {"envelope", "lstsq"}, default "envelope"
        ``"envelope"``: :func:`envelope_exponent` with the trace as constant (the paper's
        definition); ``"lstsq"``: :func:`loglog_exponent`.
    rtol : float, default None
        Numerical-zero threshold relative to the largest eigenvalue.

    Returns
    -------
    s : float

    Examples
    --------
    >>> import numpy as np
    >>> decay_exponent(np.eye(4))  # flat spectrum: log(4 / 1) / log(4) = 1
    1.0
    """
    mu = gram_spectrum(K)
    if method == "envelope":
        return envelope_exponent(mu, rtol=rtol)
    if method == "lstsq":
        return loglog_exponent(mu, rtol=rtol)
    raise ValueError(f"method must be 'envelope' or 'lstsq', got {method!r}")


@dataclass(frozen=True)
class HadamardDecay:
    """Decay exponents of ``K2``, ``K3`` and their Hadamard product ``K2 o K3``.

    Attributes
    ----------
    s2, s3, s23 : float
        Exponents of ``K2``, ``K3`` and ``K2 o K3``.
    """

    s2: float
    s3: float
    s23: float

    @property
    def within_bounds(self) -> bool:
        """Whether ``max(s2, s3) < s23 < s2 + s3`` (strict)."""
        return bool(max(self.s2, self.s3) < self.s23 < self.s2 + self.s3)


def hadamard_decay(
    K2: ArrayLike,
    K3: ArrayLike,
    *,
    method: Literal["envelope", "lstsq"] = "envelope",
    rtol: float | None = None,
) -> HadamardDecay:
    """Decay exponents of two Gram matrices on the same samples and of their Hadamard product.

    Parameters
    ----------
    K2 : array-like of shape (n_samples, n_samples)
        Gram matrix of the source features ``u``.
    K3 : array-like of shape (n_samples, n_samples)
        Gram matrix of the inputs ``x``, same samples in the same order.
    method : {"envelope", "lstsq"}, default "envelope"
        See :func:`decay_exponent`.
    rtol : float, default None
        Numerical-zero threshold relative to each matrix's largest eigenvalue.

    Returns
    -------
    HadamardDecay

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, u = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    >>> K3 = np.exp(-((x[:, None] - x[None]) ** 2).sum(-1) / 4)
    >>> K2 = np.exp(-((u[:, None] - u[None]) ** 2).sum(-1) / 4)
    >>> res = hadamard_decay(K2, K3)
    >>> res.s23 > max(res.s2, res.s3)
    True
    """
    K2 = _check_gram(K2, "K2")
    K3 = _check_gram(K3, "K3")
    if K2.shape != K3.shape:
        raise ValueError(f"K2 and K3 must have the same shape, got {K2.shape} and {K3.shape}")
    return HadamardDecay(
        s2=decay_exponent(K2, method=method, rtol=rtol),
        s3=decay_exponent(K3, method=method, rtol=rtol),
        s23=decay_exponent(K2 * K3, method=method, rtol=rtol),
    )
