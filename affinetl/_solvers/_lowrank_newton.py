"""Newton steps for the kernel affine model when the source kernels have low rank.

With a few source features the Gram matrices ``K1``, ``K2`` on ``u`` have low numerical rank
(``K = Phi Phi'`` with ``r << n`` columns, :class:`~._gram.GramFactor`), while ``K3`` on
the inputs ``x`` is dense. The objective of :func:`~._relaxation.fit_affine_blocks`,

    L = ||e||^2 + l1 ||w1||^2 + l2 ||w2||^2 + l3 gamma'K3 gamma,
    e = y - a0 - Phi1 w1 - d o (K3 gamma),   d = 1 + Phi2 w2,

then has a small block ``s = (a0, w1, w2)`` (``1 + r1 + r2`` unknowns) and one large block
``gamma`` (``n``). A Newton step eliminates ``gamma`` exactly: the ``gamma`` rows of the Newton
system are ``K3 [(D^2 K3 + l3 I) dgamma + C ds - v] = 0`` with ``v = d o e - l3 gamma``, so
``dgamma = N^{-1} (v - C ds)`` (``N = D^2 K3 + l3 I``) and the small block solves its Schur
complement ``(H_ss - C'S C) ds = -g_s - C'S v`` with the symmetric ``S = K3 N^{-1}``:

    S = (K3 - K3 D M^{-1} D K3) / l3,    M = D K3 D + l3 I   (Woodbury),

``M`` symmetric positive definite. Where no ``d`` is near zero (the usual case, ``g2`` close to
one) the identities ``N^{-1} = D M^{-1} D^{-1}`` and ``S = D^{-1} (I - l3 M^{-1}) D^{-1}`` need no
product with ``K3`` at all, and ``M`` is factorised in single precision when its condition
number is bounded by ``SINGLE_MAX_COND`` (an inexact Newton step; gradient and objective stay
exact). So a step costs one Cholesky factorisation of ``M`` and a solve with ``O(r1 + r2)``
right-hand sides; rejected trial steps (the exact Hessian is indefinite away from a minimum)
cost ``O(n (r1 + r2))`` each, plus one product ``K3 dgamma``.

The step logic is that of :func:`~._newton.newton_features` (damping only the small block; a
step is kept only when it lowers the objective). The first step keeps ``w2`` fixed at its start
(``w2 = 0``: the AffineTL-const solution), where the objective is quadratic and the step exact.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from ._gram import GramFactor, cholesky
from ._newton import BACKTRACK, MU_MAX  # the step logic's constants, shared
from ._objective import affine_objective, rel_change
from ._relaxation import AffineFit

__all__ = ["NEWTON_MAX_RANK", "fit_affine_newton", "newton_applies"]

#: Largest ``r1 + r2`` for which the Newton path is used (each step costs O(n^2 (r1 + r2))
#: besides the O(n^3 / 3) factorisation).
NEWTON_MAX_RANK = 200
#: ``g2 = d`` is treated as bounded away from zero (the cheaper scaled operators, single
#: precision factor) when ``min |d| > D_MIN max |d|``.
D_MIN = 1e-2
#: Largest bound on the condition number of ``M`` for which it is factorised in single
#: precision (relative error of the step about ``6e-8`` times it; the gradient and objective
#: are always exact).
SINGLE_MAX_COND = 1e5


def newton_applies(F1: GramFactor, F2: GramFactor, F3: GramFactor, fit_h1: bool = True) -> bool:
    """Whether :func:`fit_affine_newton` is the cheaper solver for these Gram matrices.

    True when ``K2`` (and ``K1`` if ``h1`` is fitted) has low rank, at most
    ``NEWTON_MAX_RANK`` together, and ``K3`` is dense (block relaxation already solves a
    low-rank ``K3`` in its feature space).
    """
    r1 = (F1.rank if F1.low_rank else None) if fit_h1 else 0
    r2 = F2.rank if (F2.low_rank or F2.rank == 0) else None
    if r1 is None or r2 is None or F3.low_rank or F3.rank == 0:
        return False
    return r1 + r2 <= NEWTON_MAX_RANK


def _features(F: GramFactor, n: int) -> np.ndarray:
    return F.Phi if F.rank > 0 else np.zeros((n, 0))


def _factorise(buf: np.ndarray, K3: np.ndarray, d: np.ndarray, l3: float):
    """Cholesky factor of ``M = D K3 D + l3 I`` in ``buf`` (its precision), as a solve."""
    np.multiply(K3, d[:, None], out=buf, casting="same_kind")
    buf *= d[None, :].astype(buf.dtype)
    buf.flat[:: K3.shape[0] + 1] += l3
    chol = cholesky(buf, "gamma (g3)")
    potrs = linalg.lapack.get_lapack_funcs("potrs", (buf,))
    return lambda Z: potrs(chol, Z.astype(buf.dtype), lower=1)[0].astype(float)


def _operators_scaled(K3, d, l3, X, buf):
    """``N^{-1} X = D M^{-1} D^{-1} X`` and ``S X = D^{-1} (D^{-1} X - l3 M^{-1} D^{-1} X)``.

    Exact when no ``d`` is zero (``N = D M D^{-1}``, ``K3 D = D^{-1} (M - l3 I)``); ``l3 M^{-1}``
    has norm at most one, so a single-precision factor only makes the Newton step inexact.
    """
    solve = _factorise(buf, K3, d, l3)
    Z = X / d[:, None]
    Q = solve(Z)
    return d[:, None] * Q, (Z - l3 * Q) / d[:, None]


def _operators_general(K3, d, l3, X, buf):
    """``N^{-1} X = (X - D M^{-1} D K3 X) / l3`` and ``S X = K3 N^{-1} X`` for any ``d``."""
    solve = _factorise(buf, K3, d, l3)
    Y = K3 @ X
    T = solve(d[:, None] * Y)
    return (X - d[:, None] * T) / l3, (Y - K3 @ (d[:, None] * T)) / l3


class _Linearisation:
    """The Newton system at one point: step columns, their images, gradient, small Hessian."""

    def __init__(self, A, P2, pen, y, K3, l3, lin, w2, gamma, g3, bufs, precise=False) -> None:
        q, r2 = A.shape[1], P2.shape[1]
        d = 1.0 + P2 @ w2
        e = y - A @ lin - d * g3
        B = g3[:, None] * P2
        # X = [D A, D B, e o P2, v]: N^{-1} X and S X make the step
        X = np.column_stack([d[:, None] * A, d[:, None] * B, e[:, None] * P2, d * e - l3 * gamma])
        dmax = float(np.max(np.abs(d)))
        # cond(M) <= 1 + max(d)^2 trace(K3) / l3 bounds the relative error of a single
        # precision solve (about 6e-8 cond(M)): single precision only where it stays small
        cond = 1.0 + dmax**2 * float(np.trace(K3)) / l3
        scaled = np.min(np.abs(d)) > D_MIN * dmax
        # the general operators subtract two products of size ~cond: double precision there
        self.single = not precise and scaled and cond <= SINGLE_MAX_COND
        dtype = np.float32 if self.single else np.float64
        buf = bufs.get(dtype)
        if buf is None:  # one n x n work array per precision, reused by every step
            buf = bufs[dtype] = np.empty(K3.shape, dtype=dtype)
        op = _operators_scaled if scaled else _operators_general
        NX, SX = op(K3, d, l3, X, buf)
        self.X, self.v = X[:, :-1], X[:, -1]
        self.NX, self.NX_v, self.SX = NX[:, :-1], NX[:, -1], SX[:, :-1]
        J = np.column_stack([A, B])
        self.H = J.T @ J
        self.H.flat[:: self.H.shape[0] + 1] += pen
        self.grad = np.concatenate([-(A.T @ e), -(B.T @ e)]) + pen * np.concatenate([lin, w2])
        self.K3, self.q, self.r2 = K3, q, r2

    def step(self, exact: bool, mu: float, frozen: bool):
        """``(ds, dgamma, K3 dgamma)`` of one damped step, or None if its system is singular.

        ``exact`` adds the cross term ``-P2' diag(e) K3`` of the exact Hessian (else
        Gauss-Newton); ``frozen`` keeps ``w2`` fixed (``ds`` is zero there).
        """
        q, r2 = self.q, self.r2
        m = q if frozen else q + r2
        C, SC, NC = self.X[:, :m].copy(), self.SX[:, :m].copy(), self.NX[:, :m].copy()
        if exact and not frozen:
            ie = slice(q + r2, q + 2 * r2)  # the e o P2 columns
            C[:, q:] -= self.X[:, ie]
            SC[:, q:] -= self.SX[:, ie]
            NC[:, q:] -= self.NX[:, ie]
        Hs = self.H[:m, :m] - C.T @ SC
        Hs = 0.5 * (Hs + Hs.T)
        if mu > 0.0:
            Hs.flat[:: m + 1] += mu * np.maximum(np.diag(self.H[:m, :m]), 1e-12)
        rhs = -self.grad[:m] - SC.T @ self.v
        try:
            factor = linalg.cho_factor(Hs, lower=True, check_finite=False)
        except linalg.LinAlgError:
            return None
        ds = np.zeros(q + r2)
        ds[:m] = linalg.cho_solve(factor, rhs, check_finite=False)
        dgamma = self.NX_v - NC @ ds[:m]  # N^{-1} (v - C ds)
        return ds, dgamma, self.K3 @ dgamma


def fit_affine_newton(
    F1: GramFactor,
    F2: GramFactor,
    F3: GramFactor,
    y: np.ndarray,
    lams: tuple[float, float, float],
    *,
    fit_h1: bool = True,
    max_iter: int = 200,
    tol: float = 1e-4,
) -> AffineFit:
    """AffineTL-full (or ``g1 = const``) by damped Newton steps; see the module docstring.

    Parameters
    ----------
    F1, F2, F3 : GramFactor
        Gram matrices of ``h1``, ``h2`` (low rank) and ``g3`` (dense), each (n, n); see
        :func:`newton_applies`.
    y : ndarray of shape (n,)
    lams : (l1, l2, l3)
        Positive penalties, already scaled.
    fit_h1 : bool
        False fixes ``h1 = 0`` (the ``g1 = const`` special case).
    max_iter : int
        Newton steps (accepted or not).
    tol : float
        Converged when an accepted step changes every block (``a0``, ``w1``, ``w2``, ``gamma``)
        by less than ``tol`` relative to its max-abs value, when a full undamped Newton step
        lowers the objective by a relative ``tol**2`` or less (the quadratic phase), or when
        no damped step lowers the objective (also in double precision).

    Returns
    -------
    AffineFit
        Dual coefficients (``alpha``, ``beta`` supported on the pivots of ``K1``, ``K2``);
        ``n_iter`` counts the Newton steps, ``objective_history`` the objective after each.
    """
    l1, l2, l3 = (float(v) for v in lams)
    K3 = F3.K
    n = y.shape[0]
    P1 = _features(F1, n) if fit_h1 else np.zeros((n, 0))
    P2 = _features(F2, n)
    r1, r2 = P1.shape[1], P2.shape[1]
    A = np.column_stack([np.ones(n), P1])  # design of the linear part of g1
    q = A.shape[1]
    pen = np.concatenate([np.zeros(1), np.full(r1, l1), np.full(r2, l2)])

    def objective(lin, w2, gamma, g3) -> float:
        pen = (lin[1:] @ lin[1:], w2 @ w2, gamma @ g3)
        return affine_objective(y, A @ lin, 0.0, P2 @ w2, g3, pen, (l1, l2, l3))

    # the first step solves the AffineTL-const problem (h2 = 0) exactly from any start
    lin, w2, gamma, g3 = np.zeros(q), np.zeros(r2), np.zeros(n), np.zeros(n)  # lin = (a0, w1)
    obj = objective(lin, w2, gamma, g3)
    history = [obj]
    converged = False
    n_iter = 0
    mu = 0.0
    frozen = True  # w2 held fixed: the first step
    bufs: dict = {}

    def search(lin_model: _Linearisation, mu: float):
        """The first trial step that lowers the objective, and its damping; None if none."""
        while mu <= MU_MAX:
            for exact in (False,) if frozen else (True, False):
                step = lin_model.step(exact, mu, frozen)
                if step is None:
                    continue
                ds, dgamma, dg3 = step
                t = 1.0
                for _ in range(BACKTRACK + 1):
                    trial = (lin + t * ds[:q], w2 + t * ds[q:], gamma + t * dgamma)
                    obj_t = objective(*trial, g3 + t * dg3)
                    if obj_t < obj:
                        return (*trial, obj_t, exact and t == 1.0 and mu == 0.0, t), mu
                    t *= 0.5
            mu = max(10.0 * mu, 1e-6)  # no step lowered the objective: damp harder
        return None, mu

    while n_iter < max_iter:
        n_iter += 1
        lin_model = _Linearisation(A, P2, pen, y, K3, l3, lin, w2, gamma, g3, bufs)
        accepted, mu_new = search(lin_model, mu)
        if accepted is None and lin_model.single:  # before calling it stationary: full precision
            lin_model = _Linearisation(A, P2, pen, y, K3, l3, lin, w2, gamma, g3, bufs, True)
            accepted, mu_new = search(lin_model, mu)
        mu = mu_new
        if accepted is None:  # no damped step lowers the objective: stationary
            converged = True
            history.append(obj)
            break
        lin_new, w2_new, gamma_new, obj_new, pure_newton, t = accepted
        if t == 1.0:  # a full step was taken: less damping next time
            mu = mu / 10.0 if mu > 1e-6 else 0.0
        pairs = zip((lin_new[:1], lin_new[1:], w2_new, gamma_new), (lin[:1], lin[1:], w2, gamma))
        change = max(rel_change(new, old) for new, old in pairs)
        decrease = obj - obj_new
        lin, w2, gamma = lin_new, w2_new, gamma_new
        g3 = K3 @ gamma  # fresh fitted values: no drift from the updates
        obj = objective(lin, w2, gamma, g3)
        history.append(obj)
        if frozen:
            frozen = False
            if r2 == 0:  # g2 has no free part: the quadratic step was the answer
                converged = True
                break
            continue
        # a full, undamped Newton step that lowers the objective by a relative tol^2 or less is
        # in the quadratic phase: the next one would change nothing that tol can see
        if change < tol or (pure_newton and decrease <= tol**2 * abs(obj)):
            converged = True
            break
    alpha = F1.dual_from_features(lin[1:]) if r1 else np.zeros(n)
    beta = F2.dual_from_features(w2) if r2 else np.zeros(n)
    return AffineFit(
        coef=lin[:1],
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        n_iter=n_iter,
        converged=converged,
        solver="lowrank_newton",
        objective_history=history,
    )
