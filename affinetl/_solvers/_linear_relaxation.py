"""Block relaxation of the linear affine model ``y ~ a0 + a1'u + (1 + b'u) x'w``, batched.

One implementation for the estimator (:class:`~affinetl.LinearAffineTransferRegressor`), the
model selection (the ``full`` form of :class:`~affinetl.LinearAffineTransferCV`) and the
polymer heat-capacity reproduction: ``w`` carries the penalty ``w'P w`` (a fused ridge,
:func:`~._linear.fused_penalty`), ``a0, a1, b`` are unpenalised. From ``(a0, a1)`` by least
squares and ``b = 0``, ``w = 0``, each sweep replaces ``w`` (penalised least squares), ``b`` and
``(a0, a1)`` (least squares) by their exact block minimisers, so the objective never increases.
Many penalty matrices advance together; converged members are frozen. The ``w`` block is
solved in the input space or, given the inverse penalties, in the sample space
(:func:`~._linear.scaled_ridge_step`), whichever the caller finds cheaper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._linear import scaled_ridge_step, solve_penalized_lsq

__all__ = ["LinearRelaxationResult", "linear_affine_relaxation"]


@dataclass
class LinearRelaxationResult:
    """Output of :func:`linear_affine_relaxation` for ``q`` penalty matrices.

    ``intercept`` (q,), ``source_coef`` and ``scale_coef`` (q, k), ``coef`` (q, p) with
    ``g3 = x @ coef``; ``n_iter`` (q,), ``converged`` (q,), ``objective_history`` (sweeps + 1, q).
    """

    intercept: np.ndarray
    source_coef: np.ndarray
    scale_coef: np.ndarray
    coef: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    objective_history: np.ndarray


def _objective(x, u, y, a0, a1, b, w, P):
    xw = w @ x.T
    res = y[None] - a0[:, None] - a1 @ u.T - (1.0 + b @ u.T) * xw
    return np.einsum("sn,sn->s", res, res) + np.einsum("sp,spq,sq->s", w, P, w)


def linear_affine_relaxation(
    x: np.ndarray,
    u: np.ndarray,
    y: np.ndarray,
    P: np.ndarray | None,
    *,
    Pinv: np.ndarray | None = None,
    start: tuple[np.ndarray, ...] | None = None,
    max_iter: int = 1000,
    tol: float = 1e-6,
) -> LinearRelaxationResult:
    """Fit ``y ~ a0 + a1'u + (1 + b'u) x'w`` with penalty ``w'P w`` for every ``P``.

    Parameters
    ----------
    x : ndarray of shape (n, p)
    u : ndarray of shape (n, k)
    y : ndarray of shape (n,)
    P : ndarray of shape (q, p, p) or (p, p), or None
        Penalty matrices (symmetric PSD, ``x'x + P`` positive definite); None with ``Pinv``
        (no objective history is then recorded).
    Pinv : ndarray of shape (q, p, p), optional
        Their inverses: the ``w`` block is then solved in sample space.
    start : (a0, a1, b, w), optional
        Warm start of shapes (q,), (q, k), (q, k), (q, p); default ``(a0, a1)`` by least
        squares, ``b = 0``, ``w = 0``.
    max_iter, tol : int, float
        Stop a member when the largest absolute change of ``(a0, a1, b, w)`` is below ``tol``
        times their largest absolute old value.

    Returns
    -------
    LinearRelaxationResult
    """
    if P is not None:
        P = np.asarray(P, dtype=float)
        P = P[None] if P.ndim == 2 else P
    q = len(P) if P is not None else len(Pinv)
    n, p, k = y.shape[0], x.shape[1], u.shape[1]
    Zu = np.hstack([np.ones((n, 1)), u])
    if start is None:
        coef = solve_penalized_lsq(Zu[None], y[None])[0]
        a0, a1 = np.full(q, coef[0]), np.tile(coef[1:], (q, 1))
        b, w = np.zeros((q, k)), np.zeros((q, p))
    else:
        a0, a1, b, w = (np.array(v, dtype=float).reshape(q, -1) for v in start)
        a0 = a0[:, 0]
        a1, b = a1.reshape(q, k), b.reshape(q, k)
    history = [] if P is None else [_objective(x, u, y, a0, a1, b, w, P)]
    n_iter = np.full(q, max_iter)
    converged = np.zeros(q, dtype=bool)
    live = np.ones(q, dtype=bool)
    for it in range(1, max_iter + 1):
        act = np.flatnonzero(live)
        old = np.column_stack([a0[act], a1[act], b[act], w[act]])
        r = y[None] - a0[act, None] - a1[act] @ u.T  # (s, n)
        e = 1.0 + b[act] @ u.T
        w_new = scaled_ridge_step(
            x, e, r, None if P is None else P[act], None if Pinv is None else Pinv[act]
        )
        xw = w_new @ x.T
        A = u[None] * xw[:, :, None]
        b_new = np.zeros((len(act), k))
        moving = np.any(xw != 0, axis=1)
        if moving.any():
            b_new[moving] = solve_penalized_lsq(A[moving], (r - xw)[moving])
        target = y[None] - (1.0 + b_new @ u.T) * xw
        coef = solve_penalized_lsq(np.broadcast_to(Zu, (len(act), n, k + 1)), target)
        a0[act], a1[act], b[act], w[act] = coef[:, 0], coef[:, 1:], b_new, w_new
        if P is not None:
            history.append(_objective(x, u, y, a0, a1, b, w, P))
        new = np.column_stack([a0[act], a1[act], b[act], w[act]])
        scale = np.maximum(np.max(np.abs(old), axis=1), 1e-300)
        done = np.max(np.abs(new - old), axis=1) / scale < tol
        n_iter[act[done]] = it
        converged[act[done]] = True
        live[act[done]] = False
        if not live.any():
            break
    return LinearRelaxationResult(a0, a1, b, w, n_iter, converged, np.asarray(history))
