"""Grid-batched cross-validation for the kernel models of the case studies.

A published case study tunes every method by 5-fold CV over a grid for each of hundreds of
training sets. Fitting one estimator per grid point repeats the same work: the Gram matrices of
a fold do not depend on the penalties, and the block updates of many penalty settings can run as
one batched linear solve. The functions here take Gram matrices (arrays in, arrays out) and
return validation predictions for a whole grid at once:

* :func:`ridge_path`: kernel ridge with an unpenalised intercept for many penalties from one
  eigendecomposition (penalty 0 is the minimum-norm interpolant, as the published pseudo-inverse).
* :func:`affine_const_path`: AffineTL-const (``g2 = 1``) for a grid of ``(l1, l3)``: kernel ridge
  with the summed kernel ``K1 / l1 + K3 / l3``.
* :func:`affine_full_path`: AffineTL-full by block relaxation, all grid points advancing
  together; each block update is one batched solve of the push-through systems
  ``(D K D + l I) c = r`` used by :mod:`affinetl.models._kernel_solvers`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial.distance import cdist

from ..models._affine_newton import batch_members

__all__ = [
    "affine_const_path",
    "affine_full_path",
    "kfold_indices",
    "rbf",
    "ridge_path",
    "standardize",
]

#: Eigenvalues of (K + lam I) below this fraction of the largest are treated as zero.
PINV_RTOL = 1e-10


def rbf(A: np.ndarray, B: np.ndarray, gamma: float) -> np.ndarray:
    """RBF Gram matrix ``exp(-gamma ||a - b||^2)`` of shape (len(A), len(B))."""
    return np.exp(-gamma * cdist(A, B, "sqeuclidean"))


def standardize(train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Standardise columns with the training mean and sample sd (sd 0 -> 1)."""
    mean = train.mean(axis=0)
    sd = train.std(axis=0, ddof=1) if len(train) > 1 else np.ones(train.shape[1:])
    sd = np.where(sd > 0, sd, 1.0)
    return tuple((a - mean) / sd for a in (train, *others))


def kfold_indices(n: int, n_folds: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """Unshuffled K-fold splits (scikit-learn's ``KFold(n_folds)`` order)."""
    if n < n_folds:
        raise ValueError(f"{n_folds}-fold CV needs at least {n_folds} samples, got {n}")
    sizes = np.full(n_folds, n // n_folds)
    sizes[: n % n_folds] += 1
    stops = np.cumsum(sizes)
    folds = []
    for stop, size in zip(stops, sizes):
        test = np.arange(stop - size, stop)
        folds.append((np.setdiff1d(np.arange(n), test), test))
    return folds


def ridge_path(K: np.ndarray, y: np.ndarray, K_eval: np.ndarray, lams: ArrayLike) -> np.ndarray:
    """Kernel ridge with an unpenalised intercept for many penalties at once.

    Minimises ``||y - a0 - K a||^2 + lam a'K a`` for each ``lam``: ``a = (K + lam I)^+ (y - a0)``
    with ``a0 = 1'(K + lam I)^+ y / 1'(K + lam I)^+ 1``, from one eigendecomposition of ``K``.

    Parameters
    ----------
    K : ndarray of shape (n, n)
        Training Gram matrix.
    y : ndarray of shape (n,)
    K_eval : ndarray of shape (m, n)
        Gram matrix between evaluation and training points.
    lams : array-like of shape (p,)
        Non-negative penalties.

    Returns
    -------
    ndarray of shape (p, m)
        Predictions at the evaluation points for each penalty.
    """
    lams = np.asarray(lams, dtype=float)
    s, V = np.linalg.eigh(0.5 * (K + K.T))
    s = np.clip(s, 0.0, None)
    shifted = s[None, :] + lams[:, None]  # (p, n)
    top = shifted.max(axis=1, keepdims=True)
    inv = np.where(shifted > PINV_RTOL * top, 1.0 / np.where(shifted > 0, shifted, 1.0), 0.0)
    vy, v1 = V.T @ y, V.T @ np.ones_like(y)
    num = (inv * vy * v1).sum(axis=1)
    den = (inv * v1 * v1).sum(axis=1)
    a0 = np.where(den > 0, num / np.where(den > 0, den, 1.0), y.mean())
    coef = (inv * (vy[None, :] - a0[:, None] * v1[None, :])) @ V.T  # (p, n) dual coefficients
    return a0[:, None] + coef @ K_eval.T


def affine_const_path(
    K1: np.ndarray,
    K3: np.ndarray,
    y: np.ndarray,
    K1_eval: np.ndarray,
    K3_eval: np.ndarray,
    grid: ArrayLike,
) -> np.ndarray:
    """AffineTL-const predictions for a grid of ``(l1, l3)`` pairs.

    ``min ||y - a0 - K1 alpha - K3 gamma||^2 + l1 alpha'K1 alpha + l3 gamma'K3 gamma`` is kernel
    ridge with the kernel ``K1 / l1 + K3 / l3`` and unit penalty.

    Parameters
    ----------
    K1, K3 : ndarray of shape (n, n)
    y : ndarray of shape (n,)
    K1_eval, K3_eval : ndarray of shape (m, n)
    grid : array-like of shape (p, 2)
        Positive ``(l1, l3)`` pairs.

    Returns
    -------
    ndarray of shape (p, m)
    """
    grid = np.atleast_2d(np.asarray(grid, dtype=float))
    out = np.empty((len(grid), K1_eval.shape[0]))
    for j, (l1, l3) in enumerate(grid):
        out[j] = ridge_path(K1 / l1 + K3 / l3, y, K1_eval / l1 + K3_eval / l3, [1.0])[0]
    return out


def _scaled_solve(K: np.ndarray, d: np.ndarray, r: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``theta_b = d_b * c_b`` with ``(D_b K_b D_b + lam_b I) c_b = r_b`` for every batch row b."""
    M = K * (d[:, :, None] * d[:, None, :])
    idx = np.arange(K.shape[-1])
    M[:, idx, idx] += lam[:, None]
    return d * np.linalg.solve(M, r[:, :, None])[:, :, 0]


def _matvec(K: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (K @ v[:, :, None])[:, :, 0]


def _rel_change(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    scale = np.max(np.abs(old), axis=1)
    diff = np.max(np.abs(new - old), axis=1)
    safe = np.where(scale > 0, scale, 1.0)
    return np.where(scale > 0, diff / safe, np.where(diff > 0, np.inf, 0.0))


def affine_full_path(
    K1: np.ndarray,
    K2: np.ndarray,
    K3: np.ndarray,
    y: np.ndarray,
    evals: tuple[np.ndarray, np.ndarray, np.ndarray],
    grid: ArrayLike,
    *,
    random_state: int = 0,
    max_iter: int = 1000,
    tol: float = 1e-4,
    device: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """AffineTL-full predictions for a grid of ``(l1, l2, l3)`` by batched block relaxation.

    The algorithm of :func:`affinetl.models._kernel_solvers.fit_affine_blocks` without pruning:
    ``(a0, alpha)`` start at kernel ridge of ``y`` on ``K1``, ``beta`` and ``gamma`` at standard
    normal draws (the same draws for every problem and grid point); then ``beta``, ``gamma``
    and ``(a0, alpha)`` are replaced in turn by their exact block minimisers until the largest
    relative max-abs change of the blocks is below ``tol``. Several problems of equal size (CV
    folds, targets) and all grid points advance together as one batch; converged members are
    frozen and dropped from the working batch.

    Parameters
    ----------
    K1, K2, K3 : ndarray of shape (n, n) or (P, n, n)
        Gram matrices of h1, h2 (on u) and g3 (on x) for P problems.
    y : ndarray of shape (n,) or (P, n)
    evals : (K1_eval, K2_eval, K3_eval), each of shape (m, n) or (P, m, n)
        Gram matrices between evaluation and training points.
    grid : array-like of shape (p, 3) or (P, p, 3)
        Positive ``(l1, l2, l3)``, shared by all problems or one grid per problem.
    random_state : int
        Seed of the initial ``beta`` and ``gamma``.
    max_iter, tol : int, float
        Iteration limit and convergence tolerance.
    device : str, optional
        Run the iterations with torch on this device (``"cuda"``, ``"cpu"``) in float64
        instead of numpy; the same algorithm and results up to round-off.

    Returns
    -------
    predictions : ndarray of shape (P, p, m) (or (p, m) for 2-D inputs)
    n_iter : ndarray of shape (P, p) (or (p,))
        Iterations used (``max_iter`` where not converged).
    """
    single, y, (K1, K2, K3), (E1, E2, E3), prob, lam = batch_members(K1, K2, K3, y, evals, grid)
    P, n = y.shape
    p = len(prob) // P
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
    B = P * p
    beta = np.tile(beta0, (B, 1))
    gamma = np.tile(gamma0, (B, 1))
    a0, alpha = _ridge_step(Ainv, a1, den, Y)
    relax = _relax_numpy if device is None else _relax_torch
    alpha, beta, gamma, a0, n_iter = relax(
        (K1[prob], K2[prob], K3[prob], Ainv, a1, den, Y, l2, l3),
        (alpha, beta, gamma, a0),
        max_iter=max_iter,
        tol=tol,
        device=device,
    )
    pred = (
        a0[:, None]
        + np.einsum("bmj,bj->bm", E1[prob], alpha)
        + (1.0 + np.einsum("bmj,bj->bm", E2[prob], beta)) * np.einsum("bmj,bj->bm", E3[prob], gamma)
    )
    pred, n_iter = pred.reshape(P, p, -1), n_iter.reshape(P, p)
    return (pred[0], n_iter[0]) if single else (pred, n_iter)


def _ridge_step(A: np.ndarray, one: np.ndarray, dn: np.ndarray, r: np.ndarray):
    sol = _matvec(A, r)
    a0 = sol.sum(axis=1) / dn
    return a0, sol - a0[:, None] * one


def _relax_numpy(fixed, start, *, max_iter: int, tol: float, device: str | None = None):
    """Block relaxation of every batch member; returns (alpha, beta, gamma, a0, n_iter)."""
    alpha, beta, gamma, a0 = (v.copy() for v in start)
    B = len(a0)
    n_iter = np.full(B, max_iter)
    # working copies of the active members, compacted as members converge
    work = np.arange(B)
    wK1, wK2, wK3, wA, wa1, wden, wY, wl2, wl3 = fixed
    al, be, ga, a = alpha.copy(), beta.copy(), gamma.copy(), a0.copy()
    live = np.ones(B, dtype=bool)
    for it in range(1, max_iter + 1):
        h1, g3 = _matvec(wK1, al), _matvec(wK3, ga)
        be_new = _scaled_solve(wK2, g3, wY - a[:, None] - h1 - g3, wl2)
        h2 = _matvec(wK2, be_new)
        ga_new = _scaled_solve(wK3, 1.0 + h2, wY - a[:, None] - h1, wl3)
        g3 = _matvec(wK3, ga_new)
        a_new, al_new = _ridge_step(wA, wa1, wden, wY - (1.0 + h2) * g3)
        change = np.maximum.reduce(
            [
                _rel_change(al_new, al),
                _rel_change(be_new, be),
                _rel_change(ga_new, ga),
                _rel_change(a_new[:, None], a[:, None]),
            ]
        )
        al, be, ga, a = al_new, be_new, ga_new, a_new
        done = live & (change < tol)
        if done.any():
            members = work[done]
            alpha[members], beta[members], gamma[members], a0[members] = (
                al[done],
                be[done],
                ga[done],
                a[done],
            )
            n_iter[members] = it
            live &= ~done
        if not live.any():
            break
        if live.mean() < 0.7:  # compact the working batch
            keep = live
            work = work[keep]
            wK1, wK2, wK3, wA, wa1, wden, wY = (
                arr[keep] for arr in (wK1, wK2, wK3, wA, wa1, wden, wY)
            )
            wl2, wl3 = wl2[keep], wl3[keep]
            al, be, ga, a = al[keep], be[keep], ga[keep], a[keep]
            live = np.ones(len(work), dtype=bool)
    else:
        members = work[live]
        alpha[members], beta[members], gamma[members], a0[members] = (
            al[live],
            be[live],
            ga[live],
            a[live],
        )
    return alpha, beta, gamma, a0, n_iter


def _relax_torch(fixed, start, *, max_iter: int, tol: float, device: str | None = "cuda"):
    """:func:`_relax_numpy` with torch tensors (float64) on ``device``."""
    import torch  # noqa: PLC0415 - optional dependency (the nn extra)

    dev = torch.device(device)
    K1, K2, K3, A, one, dn, Y, l2, l3 = (
        torch.as_tensor(np.ascontiguousarray(v), device=dev) for v in fixed
    )
    alpha, beta, gamma, a0 = (torch.as_tensor(v.copy(), device=dev) for v in start)
    B, n = alpha.shape
    n_iter = torch.full((B,), max_iter, dtype=torch.int64, device=dev)
    eye = torch.eye(n, dtype=K1.dtype, device=dev)

    def mv(K, v):
        return (K @ v.unsqueeze(-1)).squeeze(-1)

    def scaled(K, d, r, lam):
        M = K * (d.unsqueeze(2) * d.unsqueeze(1)) + lam[:, None, None] * eye
        return d * torch.linalg.solve(M, r.unsqueeze(-1)).squeeze(-1)

    def rel(new, old):
        scale = old.abs().amax(dim=1)
        diff = (new - old).abs().amax(dim=1)
        inf = torch.full_like(diff, float("inf"))
        return torch.where(
            scale > 0,
            diff / torch.where(scale > 0, scale, 1.0),
            torch.where(diff > 0, inf, torch.zeros_like(diff)),
        )

    work = torch.arange(B, device=dev)
    al, be, ga, a = alpha.clone(), beta.clone(), gamma.clone(), a0.clone()
    for it in range(1, max_iter + 1):
        h1, g3 = mv(K1, al), mv(K3, ga)
        be_new = scaled(K2, g3, Y - a[:, None] - h1 - g3, l2)
        h2 = mv(K2, be_new)
        ga_new = scaled(K3, 1.0 + h2, Y - a[:, None] - h1, l3)
        g3 = mv(K3, ga_new)
        sol = mv(A, Y - (1.0 + h2) * g3)
        a_new = sol.sum(dim=1) / dn
        al_new = sol - a_new[:, None] * one
        change = torch.stack(
            [rel(al_new, al), rel(be_new, be), rel(ga_new, ga), rel(a_new[:, None], a[:, None])]
        ).amax(dim=0)
        al, be, ga, a = al_new, be_new, ga_new, a_new
        done = change < tol
        if bool(done.any()):
            members = work[done]
            alpha[members], beta[members], gamma[members], a0[members] = (
                al[done],
                be[done],
                ga[done],
                a[done],
            )
            n_iter[members] = it
            keep = ~done
            work = work[keep]
            K1, K2, K3, A, one, dn, Y, l2, l3 = (
                v[keep] for v in (K1, K2, K3, A, one, dn, Y, l2, l3)
            )
            al, be, ga, a = al[keep], be[keep], ga[keep], a[keep]
            if work.numel() == 0:
                break
    else:
        alpha[work], beta[work], gamma[work], a0[work] = al, be, ga, a
    return tuple(v.cpu().numpy() for v in (alpha, beta, gamma, a0, n_iter))
