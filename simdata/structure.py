"""Chain structure and atom mobility from unwrapped coordinates: Rg, r2, nematic order, MSD.

All functions take positions of ``n_chains`` identical chains stored one after the other
(the layout of simdata cells), in nm, unwrapped (as OpenMM returns them without
``enforcePeriodicBox``), so that every chain is whole.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "chain_view",
    "radius_of_gyration",
    "end_to_end_sq",
    "backbone_path",
    "bond_vectors",
    "nematic_order",
    "msd_diffusion",
]


def chain_view(x: ArrayLike, n_chains: int) -> np.ndarray:
    """Positions reshaped to ``(n_chains, atoms_per_chain, 3)``.

    Raises
    ------
    ValueError
        If the atoms do not split into ``n_chains`` equal chains.
    """
    x = np.asarray(x, dtype=float)
    if n_chains < 1 or len(x) % n_chains:
        raise ValueError(f"{len(x)} atoms do not split into {n_chains} equal chains")
    return x.reshape(n_chains, len(x) // n_chains, 3)


def radius_of_gyration(x: ArrayLike, n_chains: int) -> float:
    """Mean over chains of the unweighted radius of gyration (nm), as ``mdtraj.compute_rg``.

    Examples
    --------
    >>> round(radius_of_gyration([[0, 0, 0], [2, 0, 0]], 1), 6)
    1.0
    """
    xc = chain_view(x, n_chains)
    d = xc - xc.mean(1, keepdims=True)
    return float(np.sqrt((d**2).sum(-1).mean(1)).mean())


def end_to_end_sq(x: ArrayLike, n_chains: int, ends: tuple[int, int]) -> float:
    """Mean over chains of the squared distance between the two end atoms (nm2).

    Examples
    --------
    >>> end_to_end_sq([[0, 0, 0], [1, 0, 0], [3, 0, 0]], 1, (0, 2))
    9.0
    """
    xc = chain_view(x, n_chains)
    d = xc[:, ends[1]] - xc[:, ends[0]]
    return float((d**2).sum(-1).mean())


def backbone_path(bonds: list[tuple[int, int]], start: int, end: int) -> list[int]:
    """Shortest bonded path from ``start`` to ``end`` (breadth-first), atoms in order.

    Raises
    ------
    ValueError
        If the two atoms are not connected.

    Examples
    --------
    >>> backbone_path([(0, 1), (1, 2), (1, 3), (2, 4)], 0, 4)
    [0, 1, 2, 4]
    """
    nbrs: dict[int, list[int]] = {}
    for a, b in bonds:
        nbrs.setdefault(a, []).append(b)
        nbrs.setdefault(b, []).append(a)
    prev = {start: start}
    queue = deque([start])
    while queue:
        a = queue.popleft()
        if a == end:
            break
        for b in nbrs.get(a, ()):
            if b not in prev:
                prev[b] = a
                queue.append(b)
    if end not in prev:
        raise ValueError(f"atoms {start} and {end} are not bonded to each other through a path")
    path = [end]
    while path[-1] != start:
        path.append(prev[path[-1]])
    return path[::-1]


def bond_vectors(x: ArrayLike, n_chains: int, path: list[int]) -> np.ndarray:
    """Unit vectors of consecutive backbone atoms of every chain, shape (n, 3)."""
    xc = chain_view(x, n_chains)[:, path]
    v = np.diff(xc, axis=1).reshape(-1, 3)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def nematic_order(vectors: ArrayLike) -> float:
    """Nematic order parameter: the largest eigenvalue of ``Q = <3/2 u u - 1/2 I>``.

    1 for perfectly aligned vectors, about ``1/sqrt(n)`` above 0 for ``n`` random ones
    (the finite-sample bias of the largest eigenvalue).

    Examples
    --------
    >>> nematic_order([[0, 0, 1], [0, 0, -2]])
    1.0
    """
    u = np.asarray(vectors, dtype=float)
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    q = 1.5 * np.einsum("ni,nj->ij", u, u) / len(u) - 0.5 * np.eye(3)
    return float(np.linalg.eigvalsh(q)[-1])


def msd_diffusion(
    time_ps: ArrayLike, x: ArrayLike, masses: ArrayLike | None = None
) -> tuple[float, float]:
    """Self-diffusion coefficient (m2/s) from the mean square displacement of particles.

    The drift of the centre of mass is removed, the MSD over all time origins is fitted
    by a straight line over lags from 10% to 50% of the run, and ``D = slope / 6``.

    Parameters
    ----------
    time_ps : array_like of shape (n_frames,)
    x : array_like of shape (n_frames, n_particles, 3)
        Unwrapped positions, nm.
    masses : array_like of shape (n_particles,), optional
        Weights of the centre-of-mass drift (default equal).

    Returns
    -------
    D : float
        m2/s (negative slopes, possible for a caged glass with noise, give 0).
    D_sem : float
        Standard error from the two halves of the particles (each fitted alone).
    """
    t = np.asarray(time_ps, dtype=float)
    x = np.asarray(x, dtype=float)
    w = np.ones(x.shape[1]) if masses is None else np.asarray(masses, dtype=float)
    x = x - (np.einsum("p,fpk->fk", w, x) / w.sum())[:, None, :]
    n = len(t)
    lags = np.unique(np.linspace(max(1, n // 10), max(2, n // 2), 10).astype(int))
    lags = lags[lags < n]
    dt = t[lags] - t[0]

    def fit(xs: np.ndarray) -> float:
        msd = np.array([((xs[lag:] - xs[:-lag]) ** 2).sum(-1).mean() for lag in lags])
        return float(max(np.polyfit(dt, msd, 1)[0], 0.0) / 6.0 * 1e-6)

    if len(lags) < 2:
        return float("nan"), float("nan")
    d = fit(x)
    half = x.shape[1] // 2
    if half < 1:
        return d, float("nan")
    parts = [fit(x[:, :half]), fit(x[:, half:])]
    return d, float(abs(parts[0] - parts[1]) / 2.0)
