"""Block relaxation for many problems and penalty settings at once, in numpy or torch.

The published algorithm of :func:`~._relaxation.fit_affine_blocks` without pruning or
acceleration: ``(a0, alpha)`` start at kernel ridge of ``y`` on ``K1``, ``beta`` and ``gamma`` at
standard normal draws (the same draws for every member); then ``beta``, ``gamma`` and
``(a0, alpha)`` are replaced in turn by their exact block minimisers (one batched solve of the
push-through systems ``(D K D + l I) c = r`` each) until the largest relative max-abs change of
the blocks is below ``tol``. Converged members are frozen and dropped from the working batch.

The iteration is written once over an array namespace: numpy, or torch (float64) on a device.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["relaxation_path"]


class _Numpy:
    """The few array operations the relaxation needs, for numpy."""

    def __init__(self, device: str | None = None) -> None:
        self.solve = np.linalg.solve

    def asarray(self, v: np.ndarray) -> np.ndarray:
        return np.array(v)

    def amax(self, v):
        return np.max(v, axis=1)

    def numpy(self, v) -> np.ndarray:
        return np.asarray(v)


class _Torch:
    """The same operations for torch tensors (float64) on ``device``."""

    def __init__(self, device: str) -> None:
        import torch  # noqa: PLC0415 - optional dependency (the nn extra)

        self.torch = torch
        self.device = torch.device(device)
        self.solve = torch.linalg.solve

    def asarray(self, v: np.ndarray):
        return self.torch.as_tensor(np.ascontiguousarray(v), device=self.device).clone()

    def amax(self, v):
        return self.torch.amax(v, dim=1)

    def numpy(self, v) -> np.ndarray:
        return v.cpu().numpy()


def _matvec(K, v):
    return (K @ v[:, :, None])[:, :, 0]


def _scaled_solve(xp, K, d, r, lam):
    """``theta_b = d_b * c_b`` with ``(D_b K_b D_b + lam_b I) c_b = r_b`` for every batch row b."""
    M = K * (d[:, :, None] * d[:, None, :])
    idx = np.arange(K.shape[-1])
    M[:, idx, idx] += lam[:, None]
    return d * xp.solve(M, r[:, :, None])[:, :, 0]


def _rel_change(xp, new, old) -> np.ndarray:
    scale = xp.numpy(xp.amax(abs(old)))
    diff = xp.numpy(xp.amax(abs(new - old)))
    safe = np.where(scale > 0, scale, 1.0)
    return np.where(scale > 0, diff / safe, np.where(diff > 0, np.inf, 0.0))


def _relax(xp: Any, fixed, start, *, max_iter: int, tol: float):
    """Block relaxation of every batch member; returns (alpha, beta, gamma, a0, n_iter)."""
    wK1, wK2, wK3, wA, wa1, wden, wY, wl2, wl3 = (xp.asarray(v) for v in fixed)
    alpha, beta, gamma, a0 = (np.array(v) for v in start)
    B = len(a0)
    n_iter = np.full(B, max_iter)
    work = np.arange(B)  # the members in the working batch, compacted as members converge
    al, be, ga, a = (xp.asarray(v) for v in start)
    live = np.ones(B, dtype=bool)
    for it in range(1, max_iter + 1):
        h1, g3 = _matvec(wK1, al), _matvec(wK3, ga)
        be_new = _scaled_solve(xp, wK2, g3, wY - a[:, None] - h1 - g3, wl2)
        h2 = _matvec(wK2, be_new)
        ga_new = _scaled_solve(xp, wK3, 1.0 + h2, wY - a[:, None] - h1, wl3)
        g3 = _matvec(wK3, ga_new)
        sol = _matvec(wA, wY - (1.0 + h2) * g3)
        a_new = sol.sum(1) / wden
        al_new = sol - a_new[:, None] * wa1
        changes = [
            _rel_change(xp, new, old)
            for new, old in ((al_new, al), (be_new, be), (ga_new, ga), (a_new[:, None], a[:, None]))
        ]
        change = np.maximum.reduce(changes)
        al, be, ga, a = al_new, be_new, ga_new, a_new
        done = live & (change < tol)
        if done.any():
            members = work[done]
            for out, cur in ((alpha, al), (beta, be), (gamma, ga), (a0, a)):
                out[members] = xp.numpy(cur[done])
            n_iter[members] = it
            live &= ~done
        if not live.any():
            break
        if live.mean() < 0.7:  # compact the working batch
            work = work[live]
            keep = live if isinstance(wK1, np.ndarray) else xp.asarray(live)
            wK1, wK2, wK3, wA, wa1, wden, wY, wl2, wl3 = (
                v[keep] for v in (wK1, wK2, wK3, wA, wa1, wden, wY, wl2, wl3)
            )
            al, be, ga, a = al[keep], be[keep], ga[keep], a[keep]
            live = np.ones(len(work), dtype=bool)
    else:
        members = work[live]
        keep = live if isinstance(wK1, np.ndarray) else xp.asarray(live)
        for out, cur in ((alpha, al), (beta, be), (gamma, ga), (a0, a)):
            out[members] = xp.numpy(cur[keep])
    return alpha, beta, gamma, a0, n_iter


def relaxation_path(
    K1: np.ndarray,
    K2: np.ndarray,
    K3: np.ndarray,
    y: np.ndarray,
    evals: tuple[np.ndarray, np.ndarray, np.ndarray],
    prob: np.ndarray,
    lam: np.ndarray,
    *,
    random_state: int = 0,
    max_iter: int = 1000,
    tol: float = 1e-4,
    device: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """AffineTL-full predictions of ``B`` members (problem ``prob[b]``, penalties ``lam[b]``).

    The batched block relaxation of the module docstring, behind
    :func:`~._affine.affine_full_path` (which documents the arguments; here every array has
    its problem axis, and ``lam`` is (B, 3)). Returns the predictions (B, m) and the
    iterations (B,).
    """
    P, n = y.shape
    l1, l2, l3 = lam.T
    # (K1 + l1 I)^{-1} per batch member from one eigendecomposition per problem
    s, V = np.linalg.eigh(0.5 * (K1 + K1.transpose(0, 2, 1)))
    s = np.clip(s, 0.0, None)
    Vb = V[prob]
    Ainv = np.einsum("bij,bj,bkj->bik", Vb, 1.0 / (s[prob] + l1[:, None]), Vb)
    a1 = Ainv.sum(axis=2)  # A^{-1} 1
    den = a1.sum(axis=1)
    Y = y[prob]
    rng = np.random.default_rng(random_state)
    beta0, gamma0 = rng.standard_normal(n), rng.standard_normal(n)
    beta = np.tile(beta0, (len(prob), 1))
    gamma = np.tile(gamma0, (len(prob), 1))
    sol = _matvec(Ainv, Y)
    a0 = sol.sum(axis=1) / den
    alpha = sol - a0[:, None] * a1
    xp = _Numpy() if device is None else _Torch(device)
    alpha, beta, gamma, a0, n_iter = _relax(
        xp,
        (K1[prob], K2[prob], K3[prob], Ainv, a1, den, Y, l2, l3),
        (alpha, beta, gamma, a0),
        max_iter=max_iter,
        tol=tol,
    )
    E1, E2, E3 = (E[prob] for E in evals)
    h1, h2, g3 = (np.einsum("bmj,bj->bm", E, v) for E, v in ((E1, alpha), (E2, beta), (E3, gamma)))
    return a0[:, None] + h1 + (1.0 + h2) * g3, n_iter
