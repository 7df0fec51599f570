"""Block relaxation for the kernel affine transfer model: arrays in, arrays out.

The objective (Minami et al., NeurIPS 2023, eq. (6) with the representer theorem) is::

    L(a0, alpha, beta, gamma) = ||y - a0 - K1 alpha - (1 + K2 beta) o (K3 gamma)||^2
                                + l1 alpha'K1 alpha + l2 beta'K2 beta + l3 gamma'K3 gamma

It is convex in each block. Every update below is the exact block minimiser:

* ``beta`` given the rest: with ``d = K3 gamma`` and ``r = y - a0 - K1 alpha - d`` the block is
  ``min ||r - d o (K2 beta)||^2 + l2 beta'K2 beta``. Its normal equations
  ``(D^2 K2 + l2 I) beta = D r`` are not symmetric; the push-through identity gives the symmetric
  positive-definite form ``beta = D c`` with ``(D K2 D + l2 I) c = r`` (Cholesky).
* ``gamma`` given the rest: the same problem with ``d = 1 + K2 beta``, ``r = y - a0 - K1 alpha``.
* ``(a0, alpha)``: kernel ridge with an unpenalised intercept on ``r = y - g2 o g3``:
  ``alpha = A^{-1} (r - a0)``, ``a0 = 1'A^{-1} r / 1'A^{-1} 1`` with ``A = K1 + l1 I``, applied
  through the eigendecomposition of the fixed ``K1`` computed once.

When a Gram matrix has low numerical rank (``K = Phi Phi'`` with ``r << n`` columns), a scaled block
is solved in the ``r``-dimensional feature space instead, ``(Phi'D^2 Phi + l I) w = Phi'D r``,
which is the same minimiser at ``O(n r^2)`` cost. No pseudo-inverse is formed in any iteration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

__all__ = [
    "BlockRelaxationResult",
    "GramFactor",
    "ScaledBlockSolver",
    "affine_objective",
    "fit_affine_blocks",
    "fit_const_affine",
    "kernel_ridge_intercept",
    "update_scaled_block",
]

#: Eigenvalues below this fraction of the largest are treated as numerically zero.
RANK_RTOL = 1e-10
#: Size of the probe subsample used to skip the rank detection of clearly full-rank kernels.
RANK_PROBE = 600
#: Relative residual of the preconditioned conjugate-gradient block solves.
CG_RTOL = 1e-12
#: Conjugate-gradient steps after which the preconditioner is refactorised.
CG_MAX_STEPS = 12


def _solve_pos(M: np.ndarray, b: np.ndarray, what: str) -> np.ndarray:
    """Solve ``M x = b`` for symmetric positive-definite ``M`` (LAPACK ``posv``, M overwritten)."""
    _, x, info = linalg.lapack.dposv(M, b, lower=1, overwrite_a=1, overwrite_b=0)
    if info != 0:
        raise linalg.LinAlgError(
            f"the {what} system is not positive definite (LAPACK info={info}); increase the "
            "penalty of that block (lambda) or check the kernel for NaN"
        )
    return x


class GramFactor:
    """A fixed symmetric PSD Gram matrix, factorised once for the block updates.

    A pivoted Cholesky factorisation (LAPACK ``pstrf``) stopped at pivots below
    ``rank_rtol * max(diag K)`` gives ``K = Phi Phi'`` with ``Phi`` of shape (n, r). When
    ``r <= n / 3`` (typical for kernels on a few source features) the blocks are solved in that
    ``r``-dimensional space, with dual coefficients supported on the ``r`` pivot samples, which
    reproduce ``K`` exactly on the pivot columns. Otherwise the dense path is used, with the
    Cholesky factor of ``K + lam I`` cached per penalty.

    Parameters
    ----------
    K : ndarray of shape (n, n)
    rank_rtol : float
        Relative pivot tolerance that defines the numerical rank.
    """

    def __init__(self, K: np.ndarray, rank_rtol: float = RANK_RTOL) -> None:
        K = 0.5 * (K + K.T)
        self.K = K
        n = K.shape[0]
        top = float(np.max(np.diag(K))) if n else 0.0
        self._chol: dict[float, np.ndarray] = {}
        self.Phi: np.ndarray | None = None
        if top <= 0.0:
            self.rank = 0
            return
        m = min(n, RANK_PROBE)
        if m < n:
            # A full-rank kernel on a probe subsample is full rank on all samples too: skip the
            # O(n^3) pivoted factorisation when it cannot pay off.
            probe = np.linspace(0, n - 1, m).astype(int)
            _, _, probe_rank, _ = linalg.lapack.dpstrf(K[np.ix_(probe, probe)], tol=rank_rtol * top)
            if probe_rank > m // 3:
                self.rank = n
                return
        c, piv, rank, _ = linalg.lapack.dpstrf(K, tol=rank_rtol * top, lower=1)
        self.rank = int(rank)
        if self.rank <= n // 3:
            # pstrf factorises K[perm][:, perm] = L L' with perm = piv - 1.
            perm = piv - 1
            L = np.tril(c[:, : self.rank])
            self.Phi = np.empty((n, self.rank))
            self.Phi[perm] = L
            self.pivots = perm[: self.rank]
            self._L11 = L[: self.rank]
            self._K_pivots = K[:, self.pivots]
            self._off_pivots = np.ones(n, dtype=bool)
            self._off_pivots[self.pivots] = False

    def matvec(self, v: np.ndarray) -> np.ndarray:
        """``K @ v``; in ``O(n rank)`` when ``v`` is zero off the pivots (the low-rank duals are)."""
        if self.low_rank and not np.any(v[self._off_pivots]):
            return self._K_pivots @ v[self.pivots]
        return self.K @ v

    @property
    def low_rank(self) -> bool:
        """True when the blocks are solved in the low-rank feature space."""
        return self.Phi is not None

    def dual_from_features(self, w: np.ndarray) -> np.ndarray:
        """Dual coefficients ``theta`` (on the pivots) with ``K theta = Phi w``."""
        theta = np.zeros(self.K.shape[0])
        theta[self.pivots] = linalg.solve_triangular(self._L11, w, trans="T", lower=True)
        return theta

    def ridge_solve(self, v: np.ndarray, lam: float) -> np.ndarray:
        """``(K + lam I)^{-1} v``: Woodbury in the low-rank case, cached Cholesky otherwise."""
        if self.rank == 0:
            return v / lam
        if self.low_rank:
            Phi = self.Phi
            M = Phi.T @ Phi
            M.flat[:: M.shape[0] + 1] += lam
            return (v - Phi @ _solve_pos(M, Phi.T @ v, "kernel ridge")) / lam
        if lam not in self._chol:
            M = self.K.copy()
            M.flat[:: M.shape[0] + 1] += lam
            c, info = linalg.lapack.dpotrf(M, lower=1, overwrite_a=1)
            if info != 0:
                raise linalg.LinAlgError(
                    f"K + lambda I is not positive definite (LAPACK info={info}); increase lambda"
                )
            self._chol[lam] = c
        x, _ = linalg.lapack.dpotrs(self._chol[lam], v, lower=1)
        return x


def kernel_ridge_intercept(
    factor: GramFactor, r: np.ndarray, lam: float
) -> tuple[float, np.ndarray]:
    """Kernel ridge with an unpenalised intercept: ``min ||r - a0 - K a||^2 + lam a'K a``.

    The stationary point is ``a = (K + lam I)^{-1} (r - a0)`` with
    ``a0 = 1'(K + lam I)^{-1} r / 1'(K + lam I)^{-1} 1``.

    Parameters
    ----------
    factor : GramFactor
        The fixed Gram matrix ``K`` of shape (n, n).
    r : ndarray of shape (n,)
    lam : float
        Positive penalty.

    Returns
    -------
    a0 : float
    a : ndarray of shape (n,)
        Dual coefficients (supported on the pivots in the low-rank case).
    """
    ones = np.ones_like(r)
    sol = factor.ridge_solve(np.column_stack([r, ones]), lam)
    a0 = float(sol[:, 0].sum() / sol[:, 1].sum())
    a = sol[:, 0] - a0 * sol[:, 1]
    if factor.low_rank:
        a = factor.dual_from_features(factor.Phi.T @ a)
    return a0, a


def update_scaled_block(
    factor: GramFactor, d: np.ndarray, r: np.ndarray, lam: float, what: str = "block"
) -> np.ndarray:
    """Exact minimiser of ``||r - d o (K theta)||^2 + lam theta'K theta`` over ``theta``.

    Parameters
    ----------
    factor : GramFactor
        Gram matrix ``K`` of shape (n, n).
    d : ndarray of shape (n,)
        Elementwise scale.
    r : ndarray of shape (n,)
        Residual to fit.
    lam : float
        Positive penalty.
    what : str
        Name of the block, used in error messages.

    Returns
    -------
    theta : ndarray of shape (n,)
    """
    if factor.rank == 0:
        return np.zeros_like(r)
    if factor.low_rank:
        Phi = factor.Phi
        DPhi = d[:, None] * Phi
        M = DPhi.T @ DPhi
        M.flat[:: M.shape[0] + 1] += lam
        w = _solve_pos(M, DPhi.T @ r, what)
        return factor.dual_from_features(w)
    M = factor.K * np.outer(d, d)
    M.flat[:: M.shape[0] + 1] += lam
    return d * _solve_pos(M, r, what)


class ScaledBlockSolver:
    """Repeated exact solves of one scaled block ``min ||r - d o (K theta)||^2 + lam theta'K theta``.

    Inside the relaxation only ``d`` changes between sweeps, and slowly. In the dense case the
    solver keeps the Cholesky factor of ``D0 K D0 + lam I`` for a reference scale ``d0`` and solves
    later systems ``(D K D + lam I) c = r`` by conjugate gradients preconditioned with it, warm
    started at the previous ``c``, to a relative residual of ``CG_RTOL``: each sweep costs a few
    ``O(n^2)`` products instead of an ``O(n^3)`` factorisation. When the preconditioner has gone
    stale (no convergence within ``CG_MAX_STEPS`` steps) it is refactorised at the current ``d``
    and the system solved directly with it. Low-rank Gram matrices use the feature-space solve of
    :func:`update_scaled_block`.

    Parameters
    ----------
    factor : GramFactor
    lam : float
        Positive penalty.
    what : str
        Block name for error messages.
    """

    def __init__(self, factor: GramFactor, lam: float, what: str) -> None:
        self.factor, self.lam, self.what = factor, lam, what
        self._chol: np.ndarray | None = None
        self._c: np.ndarray | None = None
        self.n_factorisations = 0
        self.n_cg_steps = 0

    def _factorise(self, d: np.ndarray) -> None:
        M = self.factor.K * np.outer(d, d)
        M.flat[:: M.shape[0] + 1] += self.lam
        # M is symmetric, so its transpose is the same matrix in Fortran order: factorised in
        # place, without the copy LAPACK would make of a C-ordered array
        chol, info = linalg.lapack.dpotrf(M.T, lower=1, overwrite_a=1)
        if info != 0:
            raise linalg.LinAlgError(
                f"the {self.what} system is not positive definite (LAPACK info={info}); increase "
                "the penalty of that block (lambda) or check the kernel for NaN"
            )
        # applied once per CG step by two triangular solves (dtrsv: about one dgemv's time
        # here); an explicit inverse would cost twice the factorisation again
        self._chol = chol
        self.n_factorisations += 1

    def _precondition(self, v: np.ndarray) -> np.ndarray:
        trsv = linalg.blas.dtrsv
        return trsv(self._chol, trsv(self._chol, v, lower=1), lower=1, trans=1)

    def _pcg(self, d: np.ndarray, r: np.ndarray, rtol: float) -> np.ndarray | None:
        K, lam = self.factor.K, self.lam

        def matvec(v: np.ndarray) -> np.ndarray:
            return d * (K @ (d * v)) + lam * v

        x = self._c.copy()
        res = r - matvec(x)
        bound = rtol * float(np.linalg.norm(r))
        z = self._precondition(res)
        p, rz = z.copy(), float(res @ z)
        for _ in range(CG_MAX_STEPS):
            if np.linalg.norm(res) <= bound:
                return x
            self.n_cg_steps += 1
            Ap = matvec(p)
            step = rz / float(p @ Ap)
            x += step * p
            res -= step * Ap
            z = self._precondition(res)
            rz_new = float(res @ z)
            p = z + (rz_new / rz) * p
            rz = rz_new
        return x if np.linalg.norm(r - matvec(x)) <= bound else None

    def solve(self, d: np.ndarray, r: np.ndarray, rtol: float = CG_RTOL) -> np.ndarray:
        """Return ``theta`` minimising the block for scale ``d`` and residual ``r`` (each (n,)).

        ``rtol`` is the relative residual of the conjugate-gradient solve (looser while the
        relaxation is far from convergence: an inexact block step).
        """
        if self.factor.rank == 0 or self.factor.low_rank:
            return update_scaled_block(self.factor, d, r, self.lam, self.what)
        c = None
        if self._chol is not None and self._c is not None:
            c = self._pcg(d, r, max(rtol, CG_RTOL))
        if c is None:
            self._factorise(d)
            c = self._precondition(r)
        self._c = c
        return d * c


def affine_objective(
    y: np.ndarray,
    a0: float,
    h1: np.ndarray,
    h2: np.ndarray,
    g3: np.ndarray,
    pen: tuple[float, float, float],
    lams: tuple[float, float, float],
) -> float:
    """Value of the penalised objective from fitted values and the three RKHS norms."""
    res = y - a0 - h1 - (1.0 + h2) * g3
    return float(res @ res + lams[0] * pen[0] + lams[1] * pen[1] + lams[2] * pen[2])


#: Sweeps remembered by the Anderson acceleration of the block relaxation.
ANDERSON_MEMORY = 5


def _state_objective(y: np.ndarray, st: tuple[np.ndarray, ...], lams) -> float:
    """Objective of a state ``(a0, alpha, beta, gamma, h1, h2, g3)`` (fitted values included)."""
    pen = (st[1] @ st[4], st[2] @ st[5], st[3] @ st[6])
    return affine_objective(y, float(st[0][0]), st[4], st[5], st[6], pen, lams)


def _anderson(pairs) -> tuple[np.ndarray, ...] | None:
    """Anderson-accelerated state from (state before, state after) pairs of the last sweeps.

    With the sweep map ``G`` and residuals ``f_i = G(x_i) - x_i`` measured on the fitted values
    ``(a0, h1, h2, g3)``, ``theta`` minimises ``||f_k - dF theta||`` and the new state is
    ``G(x_k) - dG theta`` (Walker & Ni 2011), for the dual coefficients and the fitted values
    alike (both are linear in the states). None with fewer than two pairs.
    """
    if len(pairs) < 2:
        return None

    def fitted(st):
        return np.concatenate([st[0], st[4], st[5], st[6]])

    F = [fitted(g) - fitted(x) for x, g in pairs]
    dF = np.column_stack([F[i + 1] - F[i] for i in range(len(F) - 1)])
    theta = np.linalg.lstsq(dF, F[-1], rcond=None)[0]
    if not np.all(np.isfinite(theta)):
        return None
    G = [g for _, g in pairs]
    return tuple(
        G[-1][j] - sum(t * (G[i + 1][j] - G[i][j]) for i, t in enumerate(theta)) for j in range(7)
    )


@dataclass
class BlockRelaxationResult:
    """Output of :func:`fit_affine_blocks` (dual coefficients and diagnostics)."""

    intercept: float
    alpha: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    n_iter: int
    converged: bool
    objective_history: list[float]
    g2_zero: bool = False
    h2_zero: bool = False


def _rel_change(new: np.ndarray, old: np.ndarray) -> float:
    scale = float(np.max(np.abs(old))) if old.size else 0.0
    diff = float(np.max(np.abs(new - old))) if old.size else 0.0
    if scale == 0.0:
        return 0.0 if diff == 0.0 else np.inf
    return diff / scale


def fit_affine_blocks(
    F1: GramFactor,
    F2: GramFactor,
    F3: GramFactor,
    y: np.ndarray,
    lams: tuple[float, float, float],
    *,
    beta0: np.ndarray | None = None,
    gamma0: np.ndarray | None = None,
    alpha0: tuple[float, np.ndarray] | None = None,
    fit_h1: bool = True,
    max_iter: int = 1000,
    tol: float = 1e-4,
    prune: bool = False,
    prune_threshold: float = 1e-2,
    extrapolate: bool = False,
    callback=None,
) -> BlockRelaxationResult:
    """Block relaxation for the full affine transfer model.

    Parameters
    ----------
    F1, F2, F3 : GramFactor
        Gram matrices of ``h1`` (on u), ``h2`` (on u) and ``g3`` (on x), each (n, n).
    y : ndarray of shape (n,)
    lams : (l1, l2, l3)
        Positive penalties, already scaled (``lambda_scaling``).
    beta0, gamma0 : ndarray of shape (n,), optional
        Initial dual coefficients of ``h2`` and ``g3``. Without them the relaxation starts at
        the AffineTL-const solution (``beta = 0``; ``h1 = 0`` there when ``fit_h1`` is
        False), the shrinkage point ``g2 = 1``, and ``alpha0`` defaults to that solution's.
    alpha0 : (a0, alpha), optional
        Initial intercept and ``alpha``; by default kernel ridge of ``y`` on u (or
        ``a0 = mean(y)``, ``alpha = 0`` when ``fit_h1`` is False).
    fit_h1 : bool
        False fixes ``h1 = 0`` (the ``g1 = const`` special case).
    max_iter, tol : int, float
        Stop when the largest relative max-abs change of the blocks is below ``tol``.
    prune : bool
        Published pruning: ``||gamma|| < threshold`` sets ``g2 = 0`` for good (only ``g1``
        remains); ``||beta|| < threshold`` sets ``h2 = 0``.
    extrapolate : bool
        After each sweep, try the Anderson-accelerated point of the last ``ANDERSON_MEMORY``
        sweeps (:func:`_anderson`), else the extrapolated point
        ``theta_k + w (theta_k - theta_{k-1})`` (the step ``w`` grows on success and shrinks on
        failure), each kept only if it lowers the objective. The objective stays
        non-increasing; sweeps along the slow valley of the ``g2``/``g3`` trade-off become much
        fewer. The dense ``g3`` solves are then inexact while far from convergence (CG to a
        relative residual of ``1e-4`` times the last relative change).
    callback : callable, optional
        Called as ``callback(block_name, state_dict)`` after every block update (for tests).

    Returns
    -------
    BlockRelaxationResult
    """
    l1, l2, l3 = lams
    K1, K3 = F1.K, F3.K
    n = y.shape[0]
    if beta0 is None or gamma0 is None:
        if beta0 is not None or gamma0 is not None:
            raise ValueError("give both beta0 and gamma0, or neither (the AffineTL-const start)")
        a_c, alpha_c, gamma0 = fit_const_affine(K1 if fit_h1 else np.zeros_like(K1), K3, y, l1, l3)
        beta0 = np.zeros(n)
        if alpha0 is None:
            alpha0 = (a_c, alpha_c)
    if alpha0 is not None:
        a0 = float(alpha0[0])
        alpha = np.asarray(alpha0[1], dtype=float).copy() if fit_h1 else np.zeros(n)
    elif fit_h1:
        a0, alpha = kernel_ridge_intercept(F1, y, l1)
    else:
        a0, alpha = float(np.mean(y)), np.zeros(n)
    beta, gamma = beta0.astype(float).copy(), gamma0.astype(float).copy()
    h1, h2, g3 = F1.matvec(alpha), F2.matvec(beta), K3 @ gamma
    g2_zero = h2_zero = False

    def objective() -> float:
        scale = 0.0 if g2_zero else 1.0
        return affine_objective(
            y,
            a0,
            h1,
            h2,
            scale * g3,
            (alpha @ h1, beta @ h2, gamma @ g3),
            lams,
        )

    def notify(block: str) -> None:
        if callback is not None:
            callback(block, {"a0": a0, "alpha": alpha, "beta": beta, "gamma": gamma})

    S2 = ScaledBlockSolver(F2, l2, "beta (h2)")
    S3 = ScaledBlockSolver(F3, l3, "gamma (g3)")
    history = [objective()]
    converged = False
    step = 1.0
    last_change = np.inf
    prev: tuple[np.ndarray, ...] | None = None
    n_iter = 0
    pairs: list[tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]] = []
    while n_iter < max_iter:
        n_iter += 1
        old = (alpha.copy(), beta.copy(), gamma.copy(), a0)
        start = (np.array([a0]), alpha.copy(), beta.copy(), gamma.copy(), h1, h2, g3)
        flags_before = (g2_zero, h2_zero)
        if not g2_zero:
            if not h2_zero:
                beta = S2.solve(g3, y - a0 - h1 - g3)
                h2 = F2.matvec(beta)
                notify("beta")
            # accelerated runs solve inexactly while far from convergence: the CG tolerance
            # follows the last sweep's relative change (1e-4 of it, at most 1e-6); the plain
            # published relaxation keeps exact block solves
            rtol = min(1e-6, 1e-4 * last_change) if extrapolate else CG_RTOL
            gamma = S3.solve(1.0 + h2, y - a0 - h1, rtol)
            g3 = K3 @ gamma
            notify("gamma")
        r = y - (0.0 if g2_zero else 1.0) * (1.0 + h2) * g3
        if fit_h1:
            a0, alpha = kernel_ridge_intercept(F1, r, l1)
            h1 = F1.matvec(alpha)
        else:
            a0 = float(np.mean(r))
        notify("alpha")
        if prune and not g2_zero and np.linalg.norm(gamma) < prune_threshold:
            g2_zero = True
            beta, gamma = np.zeros(n), np.zeros(n)
            h2, g3 = np.zeros(n), np.zeros(n)
        if prune and not h2_zero and not g2_zero and np.linalg.norm(beta) < prune_threshold:
            h2_zero = True
            beta, h2 = np.zeros(n), np.zeros(n)
        current = objective()
        state = (np.array([a0]), alpha, beta, gamma, h1, h2, g3)
        # No extrapolation across a pruning step: the direction would revive a removed block.
        pruned_now = (g2_zero, h2_zero) != flags_before
        accelerated = False
        if extrapolate and not g2_zero and not pruned_now:
            pairs.append((start, state))
            del pairs[: -(ANDERSON_MEMORY + 1)]
            cand = _anderson(pairs)
            if cand is not None:
                c_obj = _state_objective(y, cand, lams)
                if c_obj < current:
                    a0, alpha, beta, gamma, h1, h2, g3 = float(cand[0][0]), *cand[1:]
                    current, accelerated = c_obj, True
        else:
            pairs.clear()
        if extrapolate and not accelerated and prev is not None and not g2_zero and not pruned_now:
            cand = tuple(v + step * (v - p) for v, p in zip(state, prev))
            c_obj = _state_objective(y, cand, lams)
            if c_obj < current:
                prev = state
                a0, alpha, beta, gamma, h1, h2, g3 = float(cand[0][0]), *cand[1:]
                current, step = c_obj, min(2.0 * step, 64.0)
            else:
                prev, step = state, max(step / 4.0, 0.25)
        else:
            prev = state
        history.append(current)
        change = max(
            _rel_change(alpha, old[0]),
            _rel_change(beta, old[1]),
            _rel_change(gamma, old[2]),
            _rel_change(np.array([a0]), np.array([old[3]])),
        )
        last_change = change
        if change < tol:
            converged = True
            break
    return BlockRelaxationResult(
        intercept=a0,
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        n_iter=n_iter,
        converged=converged,
        objective_history=history,
        g2_zero=g2_zero,
        h2_zero=h2_zero,
    )


def fit_const_affine(
    K1: np.ndarray, K3: np.ndarray, y: np.ndarray, l1: float, l3: float
) -> tuple[float, np.ndarray, np.ndarray]:
    """AffineTL-const (``g2 = 1``) as one joint linear system.

    ``min ||y - a0 - K1 alpha - K3 gamma||^2 + l1 alpha'K1 alpha + l3 gamma'K3 gamma`` has the
    stationary point ``alpha = c / l1``, ``gamma = c / l3`` with ``c`` the kernel ridge solution
    for the summed kernel ``K = K1 / l1 + K3 / l3`` and unit penalty.

    Returns
    -------
    a0 : float
    alpha, gamma : ndarray of shape (n,)
    """
    factor = GramFactor(K1 / l1 + K3 / l3)
    a0, c = kernel_ridge_intercept(factor, y, 1.0)
    return a0, c / l1, c / l3
