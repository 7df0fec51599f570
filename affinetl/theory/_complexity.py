"""Rademacher-style complexity terms of the affine-transfer model class from Gram matrices.

For an RKHS ball ``{h : ||h|| <= B}`` the empirical Rademacher complexity on ``n`` points obeys
``B sqrt(tr K) / (n sqrt 2) <= R_n <= B sqrt(tr K) / n`` (Jensen above, the Khintchine-Kahane
inequality of Latala and Oleszkiewicz below). The affine class
``a0 + h1(u) + (1 + h2(u)) g3(x)`` is contained in the sum of three balls, with kernels ``k1``,
``k3`` and the product kernel ``k2 k3`` (Gram matrix ``K2 o K3``) for ``h2 g3``, whose norm is at
most ``||h2|| ||g3||``. The local complexity ``sqrt((2/n) sum_i min(r, mu_i / n))`` (Bartlett,
Bousquet and Mendelson, 2005) adds the eigenvalue decay, which distinguishes sources even when
every kernel has unit diagonal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ._spectra import _check_gram, decay_exponent, gram_spectrum

__all__ = [
    "AffineComplexity",
    "affine_complexity",
    "compare_sources",
    "local_rademacher",
    "rademacher_bound",
    "rademacher_monte_carlo",
]


def _check_radius(radius: float, name: str = "radius") -> float:
    radius = float(radius)
    if not np.isfinite(radius) or radius < 0:
        raise ValueError(f"{name} must be finite and non-negative, got {radius}")
    return radius


def rademacher_bound(K: ArrayLike, radius: float = 1.0) -> float:
    """Trace bound ``radius * sqrt(tr K) / n`` on the empirical Rademacher complexity.

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
        Gram matrix on the sample.
    radius : float, default 1.0
        RKHS-norm radius ``B`` of the ball.

    Returns
    -------
    bound : float

    Examples
    --------
    >>> import numpy as np
    >>> rademacher_bound(np.eye(100))
    0.1
    """
    K = _check_gram(K)
    tr = float(np.trace(K))
    if tr < 0:
        raise ValueError(f"K has negative trace {tr}; it is not a Gram matrix")
    return _check_radius(radius) * float(np.sqrt(tr)) / K.shape[0]


def rademacher_monte_carlo(
    K: ArrayLike,
    radius: float = 1.0,
    *,
    n_draws: int = 1000,
    random_state: int | np.random.Generator | None = None,
) -> float:
    """Monte-Carlo estimate of the empirical Rademacher complexity of an RKHS ball.

    ``R_n = (radius / n) E_sigma sqrt(sigma' K sigma)`` with independent random signs
    ``sigma``: the supremum over the ball is attained in closed form, so only the expectation is
    sampled.

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
        Gram matrix on the sample (positive semi-definite).
    radius : float, default 1.0
        RKHS-norm radius of the ball.
    n_draws : int, default 1000
        Number of sign vectors.
    random_state : int, Generator or None, default None
        Seed of the signs.

    Returns
    -------
    estimate : float

    Examples
    --------
    >>> import numpy as np
    >>> rademacher_monte_carlo(np.eye(100), n_draws=10, random_state=0)  # sigma' sigma = n
    0.1
    """
    K = _check_gram(K)
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    n = K.shape[0]
    rng = np.random.default_rng(random_state)
    sigma = rng.choice([-1.0, 1.0], size=(n_draws, n))
    quad = np.einsum("bi,ij,bj->b", sigma, K, sigma)
    return _check_radius(radius) * float(np.mean(np.sqrt(np.maximum(quad, 0.0)))) / n


def local_rademacher(K: ArrayLike, r: float, radius: float = 1.0) -> float:
    """Spectral bound on the local Rademacher complexity of an RKHS ball.

    ``radius * sqrt((2/n) sum_i min(r, mu_i / n))`` with ``mu_i`` the eigenvalues of ``K`` and
    ``r`` the localisation radius (an L2 variance level of the functions). It grows with ``r``
    and is capped by ``sqrt(2) * rademacher_bound(K, radius)`` as ``r -> inf``.

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
        Gram matrix on the sample.
    r : float
        Localisation radius, ``r > 0``.
    radius : float, default 1.0
        RKHS-norm radius of the ball.

    Returns
    -------
    value : float

    Examples
    --------
    >>> import numpy as np
    >>> round(local_rademacher(np.eye(50), r=1.0), 12)  # min(1, 1/50) = 1/50 each
    0.2
    """
    if not np.isfinite(r) or r <= 0:
        raise ValueError(f"localisation radius r must be positive and finite, got {r}")
    mu = np.maximum(gram_spectrum(K), 0.0)
    n = mu.size
    return _check_radius(radius) * float(np.sqrt(2.0 / n * np.sum(np.minimum(r, mu / n))))


@dataclass(frozen=True)
class AffineComplexity:
    """Complexity terms of the affine-transfer class on one sample.

    Attributes
    ----------
    term1 : float
        ``B1 sqrt(tr K1) / n`` (the shift ``h1(u)``).
    term3 : float
        ``B3 sqrt(tr K3) / n`` (the domain-specific factor ``g3(x)``).
    term23 : float
        ``B2 B3 sqrt(tr(K2 o K3)) / n`` (the interaction ``h2(u) g3(x)``).
    local1, local3, local23 : float or None
        The same three terms as local complexities at radius ``r`` (``None`` if no ``r``).
    s1, s3, s23 : float
        Envelope decay exponents of ``K1``, ``K3`` and ``K2 o K3``.
    """

    term1: float
    term3: float
    term23: float
    local1: float | None
    local3: float | None
    local23: float | None
    s1: float
    s3: float
    s23: float

    @property
    def total(self) -> float:
        """Sum of the three trace terms: a bound on the class's Rademacher complexity."""
        return self.term1 + self.term3 + self.term23

    @property
    def local_total(self) -> float | None:
        """Sum of the three local terms, or ``None``."""
        if self.local1 is None:
            return None
        return self.local1 + self.local3 + self.local23

    @property
    def s(self) -> float:
        """Slowest decay ``max(s1, s3, s23)``, which sets the excess-risk rate."""
        return max(self.s1, self.s3, self.s23)


def affine_complexity(
    K1: ArrayLike,
    K2: ArrayLike,
    K3: ArrayLike,
    *,
    radii: tuple[float, float, float] = (1.0, 1.0, 1.0),
    r: float | None = None,
) -> AffineComplexity:
    """Rademacher-style complexity terms of ``a0 + h1(u) + (1 + h2(u)) g3(x)``.

    Parameters
    ----------
    K1 : array-like of shape (n_samples, n_samples)
        Gram matrix of ``k1`` on the source features ``u``.
    K2 : array-like of shape (n_samples, n_samples)
        Gram matrix of ``k2`` on ``u``.
    K3 : array-like of shape (n_samples, n_samples)
        Gram matrix of ``k3`` on the inputs ``x``.
    radii : (float, float, float), default (1, 1, 1)
        RKHS-norm radii ``(B1, B2, B3)`` of ``h1``, ``h2`` and ``g3``.
    r : float, default None
        Localisation radius; when given, the local terms are computed too.

    Returns
    -------
    AffineComplexity

    Examples
    --------
    >>> import numpy as np
    >>> I = np.eye(4)
    >>> c = affine_complexity(I, I, I)
    >>> c.term1, c.term23, c.total
    (0.5, 0.5, 1.5)
    """
    K1 = _check_gram(K1, "K1")
    K2 = _check_gram(K2, "K2")
    K3 = _check_gram(K3, "K3")
    if not (K1.shape == K2.shape == K3.shape):
        raise ValueError(f"K1, K2, K3 must share one shape, got {K1.shape}, {K2.shape}, {K3.shape}")
    if len(radii) != 3:
        raise ValueError(f"radii must be (B1, B2, B3), got {radii!r}")
    b1, b2, b3 = (_check_radius(b, "radii") for b in radii)
    K23 = K2 * K3
    local = (None, None, None)
    if r is not None:
        local = (
            local_rademacher(K1, r, b1),
            local_rademacher(K3, r, b3),
            local_rademacher(K23, r, b2 * b3),
        )
    return AffineComplexity(
        term1=rademacher_bound(K1, b1),
        term3=rademacher_bound(K3, b3),
        term23=rademacher_bound(K23, b2 * b3),
        local1=local[0],
        local3=local[1],
        local23=local[2],
        s1=decay_exponent(K1),
        s3=decay_exponent(K3),
        s23=decay_exponent(K23),
    )


def compare_sources(
    K3: ArrayLike,
    candidates: Mapping[str, tuple[ArrayLike, ArrayLike]],
    *,
    radii: tuple[float, float, float] = (1.0, 1.0, 1.0),
    r: float | None = None,
) -> pd.DataFrame:
    """Complexity terms for several source candidates on the same inputs, before fitting.

    Parameters
    ----------
    K3 : array-like of shape (n_samples, n_samples)
        Gram matrix of the inputs ``x``.
    candidates : mapping of str to (K1, K2)
        For each candidate source, its Gram matrices ``K1`` and ``K2`` on the same samples.
    radii : (float, float, float), default (1, 1, 1)
        RKHS-norm radii ``(B1, B2, B3)``.
    r : float, default None
        Localisation radius for the local terms; default ``1 / n``.

    Returns
    -------
    table : pandas.DataFrame
        One row per candidate (index = name) with columns ``term1``, ``term3``, ``term23``,
        ``total``, ``local_total``, ``s1``, ``s3``, ``s23``, ``s`` and
        ``theoretical_slope`` (``-1 / (1 + s)``), sorted by ``local_total`` then ``s``
        (smallest complexity first).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(40, 3))
    >>> rbf = lambda a: np.exp(-((a[:, None] - a[None]) ** 2).sum(-1) / 6)
    >>> K3 = rbf(x)
    >>> table = compare_sources(K3, {"x0": (rbf(x[:, :1]),) * 2,
    ...                              "noise": (rbf(rng.normal(size=(40, 1))),) * 2})
    >>> table.index[0]
    'x0'
    """
    if not candidates:
        raise ValueError("candidates is empty: pass {name: (K1, K2)}")
    K3 = _check_gram(K3, "K3")
    r_eff = 1.0 / K3.shape[0] if r is None else float(r)
    rows = {}
    for name, pair in candidates.items():
        if len(pair) != 2:
            raise ValueError(f"candidate {name!r} must be a pair (K1, K2)")
        c = affine_complexity(pair[0], pair[1], K3, radii=radii, r=r_eff)
        rows[name] = {
            "term1": c.term1,
            "term3": c.term3,
            "term23": c.term23,
            "total": c.total,
            "local_total": c.local_total,
            "s1": c.s1,
            "s3": c.s3,
            "s23": c.s23,
            "s": c.s,
            "theoretical_slope": -1.0 / (1.0 + c.s),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    return table.sort_values(["local_total", "s"], kind="stable")
