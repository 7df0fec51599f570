"""Fixed Gram matrices factorised once (:class:`GramFactor`), and the scaled block solves of
the relaxation (:class:`ScaledBlockSolver`). No pseudo-inverse is formed."""

from __future__ import annotations

import numpy as np
from scipy import linalg

__all__ = ["GramFactor", "ScaledBlockSolver", "cholesky", "feature_ridge"]

#: Eigenvalues below this fraction of the largest are treated as numerically zero.
RANK_RTOL = 1e-10
#: Size of the probe subsample used to skip the rank detection of clearly full-rank kernels.
RANK_PROBE = 600
#: Relative residual of the preconditioned conjugate-gradient block solves.
CG_RTOL = 1e-12
#: Conjugate-gradient steps after which the preconditioner is refactorised.
CG_MAX_STEPS = 12


def _not_pd(what: str, info: int) -> linalg.LinAlgError:
    return linalg.LinAlgError(
        f"the {what} system is not positive definite (LAPACK info={info}); increase the "
        "penalty of that block (lambda) or check the kernel for NaN"
    )


def feature_ridge(A: np.ndarray, b: np.ndarray, lam: float, what: str) -> np.ndarray:
    """``(A'A + lam I)^{-1} A'b`` by LAPACK ``posv``: ridge in a (low-rank) feature space."""
    M = A.T @ A
    M.flat[:: M.shape[0] + 1] += lam
    _, x, info = linalg.lapack.dposv(M, A.T @ b, lower=1, overwrite_a=1, overwrite_b=0)
    if info != 0:
        raise _not_pd(what, info)
    return x


def cholesky(M: np.ndarray, what: str) -> np.ndarray:
    """Lower Cholesky factor of the symmetric positive-definite ``M``, factorised in place.

    ``M`` is symmetric, so its transpose is the same matrix in Fortran order: LAPACK factorises
    it without the copy it would make of a C-ordered array. Single or double precision.
    """
    potrf = linalg.lapack.get_lapack_funcs("potrf", (M,))
    chol, info = potrf(M.T, lower=1, overwrite_a=1)
    if info != 0:
        raise _not_pd(what, info)
    return chol


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
            return (v - self.Phi @ feature_ridge(self.Phi, v, lam, "kernel ridge")) / lam
        if lam not in self._chol:
            M = self.K.copy()
            M.flat[:: M.shape[0] + 1] += lam
            self._chol[lam] = cholesky(M, "kernel ridge (K + lambda I)")
        x, _ = linalg.lapack.dpotrs(self._chol[lam], v, lower=1)
        return x


class ScaledBlockSolver:
    """Repeated exact solves of one scaled block ``min ||r - d o (K theta)||^2 + lam theta'K theta``.

    Inside the relaxation only ``d`` changes between sweeps, and slowly. In the dense case the
    solver keeps the Cholesky factor of ``D0 K D0 + lam I`` for a reference scale ``d0`` and solves
    later systems ``(D K D + lam I) c = r`` by conjugate gradients preconditioned with it, warm
    started at the previous ``c``, to a relative residual of ``CG_RTOL``: each sweep costs a few
    ``O(n^2)`` products instead of an ``O(n^3)`` factorisation. When the preconditioner has gone
    stale (no convergence within ``CG_MAX_STEPS`` steps) it is refactorised at the current ``d``
    and the system solved directly with it (so the first solve is a direct one). A low-rank
    ``K = Phi Phi'`` is solved in its feature space, ``(Phi'D^2 Phi + lam I) w = Phi'D r``,
    with the dual coefficients on its pivots.

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
        # applied once per CG step by two triangular solves (dtrsv: about one dgemv's time
        # here); an explicit inverse would cost twice the factorisation again
        self._chol = cholesky(M, self.what)
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
        factor = self.factor
        if factor.rank == 0:
            return np.zeros_like(r)
        if factor.low_rank:
            w = feature_ridge(d[:, None] * factor.Phi, r, self.lam, self.what)
            return factor.dual_from_features(w)
        c = None
        if self._chol is not None and self._c is not None:
            c = self._pcg(d, r, max(rtol, CG_RTOL))
        if c is None:
            self._factorise(d)
            c = self._precondition(r)
        self._c = c
        return d * c
