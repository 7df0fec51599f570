"""The kernel methods of the paper's case studies on standardised arrays, tuned by 5-fold CV.

Shared by the SARCOS and lattice-thermal-conductivity reproductions. Inputs ``x``, source
features ``u`` and target ``y`` arrive standardised on the training points; ``back`` maps a
standardised prediction to the original scale of the target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import product

import numpy as np

from .._solvers import affine_const_path, affine_full_newton_path, affine_full_path, ridge_path
from ._grid import kfold_indices, rbf

__all__ = [
    "CONST_GRID",
    "FULL_GRID",
    "RIDGE_GRID",
    "affine_full_batched",
    "five_folds",
    "source_gram",
    "standard_methods",
]

#: Published grids.
RIDGE_GRID = np.append(10 ** np.linspace(-4, 2, 49), 0.0)
FULL_GRID = np.array(
    list(product([1e-3, 1e-2, 1e-1, 1.0], [1e-2, 0.1, 1.0, 10.0], [1e-2, 0.1, 1.0, 10.0]))
)
CONST_GRID = np.array(list(product([1e-3, 1e-2, 1e-1, 1.0, 10.0], repeat=2)))


def _cv_ridge(Z: np.ndarray, y: np.ndarray, kernel: Callable, folds) -> int:
    """Index of the penalty of RIDGE_GRID with the smallest mean 5-fold validation MSE."""
    scores = np.zeros(len(RIDGE_GRID))
    for train, val in folds:
        K = kernel(Z[train], Z[train])
        pred = ridge_path(K, y[train], kernel(Z[val], Z[train]), RIDGE_GRID)
        scores += np.mean((pred - y[val]) ** 2, axis=1)
    return int(np.argmin(scores))


def _ridge_fit_predict(Z, y, Zt, kernel: Callable, lam) -> tuple[np.ndarray, np.ndarray]:
    """Fitted values and test predictions of kernel ridge with an intercept."""
    K = kernel(Z, Z)
    both = ridge_path(K, y, np.vstack([K, kernel(Zt, Z)]), [lam])[0]
    return both[: len(Z)], both[len(Z) :]


def _clip_away_from_zero(v: np.ndarray, threshold: float) -> np.ndarray:
    """The published ``avoid_zero``: values with ``|v| < threshold`` become +-threshold."""
    return np.where(np.abs(v) < threshold, np.where(v >= 0, threshold, -threshold), v)


def source_gram(A: np.ndarray, B: np.ndarray, linear: bool = False) -> np.ndarray:
    """Kernel on source features: RBF with ``gamma = 1 / (2 * dim)``, plus ``A B'`` if linear.

    The linear part lets g1 and g2 follow a source feature outside the training range, where
    an RBF alone decays to the intercept.
    """
    K = rbf(A, B, 1 / (2 * A.shape[1]))
    return K + A @ B.T if linear else K


def standard_methods(
    x: np.ndarray,
    u: np.ndarray,
    y: np.ndarray,
    xt: np.ndarray,
    ut: np.ndarray,
    back: Callable[[np.ndarray], np.ndarray],
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    linear_source: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Direct, SourceOnly, Augmented, HTL-offset, HTL-scale and AffineTL-const.

    Each is kernel ridge (RBF, ``gamma = 1 / (2 * dim)``) tuned by CV over the published grid.

    Parameters
    ----------
    x, xt : ndarray of shape (n, d), (m, d)
        Standardised inputs of the training and test points.
    u, ut : ndarray of shape (n, k), (m, k)
        Standardised source features.
    y : ndarray of shape (n,)
        Standardised target.
    back : callable
        Standardised target -> original scale.
    folds : list of (train, validation) index arrays
    linear_source : bool
        Add a linear kernel on ``u`` to the RBF of every kernel that sees ``u``
        (:func:`source_gram`).

    Returns
    -------
    predictions : dict of str to ndarray of shape (m,)
        Test predictions on the original scale.
    chosen : dict of str to float
        Selected penalties.
    """
    g_x, g_xu = 1 / (2 * x.shape[1]), 1 / (2 * (x.shape[1] + u.shape[1]))
    d = x.shape[1]

    def kx(A: np.ndarray, B: np.ndarray) -> np.ndarray:
        return rbf(A, B, g_x)

    def ku(A: np.ndarray, B: np.ndarray) -> np.ndarray:
        return source_gram(A, B, linear_source)

    def kxu(A: np.ndarray, B: np.ndarray) -> np.ndarray:
        K = rbf(A, B, g_xu)
        return K + A[:, d:] @ B[:, d:].T if linear_source else K

    preds: dict[str, np.ndarray] = {}
    y_raw = back(y)
    lam_d = RIDGE_GRID[_cv_ridge(x, y, kx, folds)]
    preds["Direct"] = back(_ridge_fit_predict(x, y, xt, kx, lam_d)[1])
    lam_s = RIDGE_GRID[_cv_ridge(u, y, ku, folds)]
    fit_s, pred_s = _ridge_fit_predict(u, y, ut, ku, lam_s)
    fit_s, pred_s = back(fit_s), back(pred_s)
    preds["SourceOnly"] = pred_s
    xu, xut = np.hstack([x, u]), np.hstack([xt, ut])
    lam_a = RIDGE_GRID[_cv_ridge(xu, y, kxu, folds)]
    preds["Augmented"] = back(_ridge_fit_predict(xu, y, xut, kxu, lam_a)[1])
    # HTL-offset: the residual of the SourceOnly fit, standardised, kernel ridge on x
    res = y_raw - fit_s
    r_mean, r_sd = res.mean(), res.std(ddof=1)
    r_sd = r_sd if r_sd > 0 else 1.0
    rs = (res - r_mean) / r_sd
    lam_o = RIDGE_GRID[_cv_ridge(x, rs, kx, folds)]
    preds["HTL-offset"] = _ridge_fit_predict(x, rs, xt, kx, lam_o)[1] * r_sd + r_mean + pred_s
    # HTL-scale: the ratio to the clipped SourceOnly fit
    denom = _clip_away_from_zero(fit_s, np.max(np.abs(fit_s)) / 20)
    ratio = y_raw / denom
    q_mean, q_sd = ratio.mean(), ratio.std(ddof=1)
    q_sd = q_sd if q_sd > 0 else 1.0
    qs = (ratio - q_mean) / q_sd
    lam_q = RIDGE_GRID[_cv_ridge(x, qs, kx, folds)]
    preds["HTL-scale"] = (_ridge_fit_predict(x, qs, xt, kx, lam_q)[1] * q_sd + q_mean) * pred_s
    # AffineTL-const: one joint linear solve per grid point
    scores = np.zeros(len(CONST_GRID))
    for train, val in folds:
        pred = affine_const_path(
            ku(u[train], u[train]),
            kx(x[train], x[train]),
            y[train],
            ku(u[val], u[train]),
            kx(x[val], x[train]),
            CONST_GRID,
        )
        scores += np.mean((pred - y[val]) ** 2, axis=1)
    l1, l3 = CONST_GRID[int(np.argmin(scores))]
    preds["AffineTL-const"] = back(
        affine_const_path(ku(u, u), kx(x, x), y, ku(ut, u), kx(xt, x), [(l1, l3)])[0]
    )
    chosen = {
        "lambda_direct": lam_d,
        "lambda_source": lam_s,
        "lambda1_const": l1,
        "lambda3_const": l3,
    }
    return preds, chosen


def affine_full_batched(
    problems: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    grid: np.ndarray = FULL_GRID,
    max_iter: int = 1000,
    cv_max_iter: int = 1000,
    linear_source: bool = False,
    device: str | None = None,
    solver: str = "relaxation",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AffineTL-full tuned by CV for several problems of equal size at once.

    Parameters
    ----------
    problems : sequence of (x, u, y, xt, ut)
        Standardised training inputs, source features, target and test inputs/features;
        all problems have the same number of training and of test points.
    folds : list of (train, validation) index arrays, shared by the problems
    grid : ndarray of shape (p, 3)
        ``(l1, l2, l3)`` grid.
    max_iter, cv_max_iter : int
        Iteration limits of the final fit and inside CV.
    linear_source : bool
        Add a linear kernel on ``u`` to the RBF of h1 and h2 (:func:`source_gram`).
    device : str, optional
        Torch device for the block relaxation (see :func:`affine_full_path`).
    solver : {"relaxation", "newton"}
        ``"relaxation"``: the published block relaxation from a random start
        (:func:`affine_full_path`). ``"newton"``: damped Newton steps from the AffineTL-const
        start (``affinetl._solvers.affine_full_newton_path``), tens of
        iterations instead of hundreds of sweeps (``device`` is ignored).

    Returns
    -------
    predictions : ndarray of shape (n_problems, m)
        Standardised test predictions.
    chosen : ndarray of shape (n_problems, 3)
        Selected penalties.
    n_iter : ndarray of shape (n_problems,)
        Iterations of the final fits.
    """
    K1s, K3s, E1s, E3s, ys, val_y = [], [], [], [], [], []
    for x, u, y, _xt, _ut in problems:
        g_x = 1 / (2 * x.shape[1])
        for train, val in folds:
            K1s.append(source_gram(u[train], u[train], linear_source))
            K3s.append(rbf(x[train], x[train], g_x))
            E1s.append(source_gram(u[val], u[train], linear_source))
            E3s.append(rbf(x[val], x[train], g_x))
            ys.append(y[train])
            val_y.append(y[val])
    K1s, K3s, E1s, E3s, ys, val_y = map(np.stack, (K1s, K3s, E1s, E3s, ys, val_y))
    if solver not in ("relaxation", "newton"):
        raise ValueError(f"solver must be 'relaxation' or 'newton', got {solver!r}")

    def path(K1, K3, y, evals, grid, max_iter):
        if solver == "newton":
            return affine_full_newton_path(K1, K1, K3, y, evals, grid)
        return affine_full_path(K1, K1, K3, y, evals, grid, max_iter=max_iter, device=device)

    pred, _ = path(K1s, K3s, ys, (E1s, E1s, E3s), grid, cv_max_iter)
    mse = np.mean((pred - val_y[:, None, :]) ** 2, axis=2).reshape(len(problems), len(folds), -1)
    best = grid[np.argmin(mse.mean(axis=1), axis=1)]
    K1f, K3f, E1f, E3f, yf = [], [], [], [], []
    for x, u, y, xt, ut in problems:
        g_x = 1 / (2 * x.shape[1])
        K1f.append(source_gram(u, u, linear_source))
        K3f.append(rbf(x, x, g_x))
        E1f.append(source_gram(ut, u, linear_source))
        E3f.append(rbf(xt, x, g_x))
        yf.append(y)
    K1f, K3f, E1f, E3f, yf = map(np.stack, (K1f, K3f, E1f, E3f, yf))
    final, n_iter = path(K1f, K3f, yf, (E1f, E1f, E3f), best[:, None, :], max_iter)
    return final[:, 0], best, n_iter[:, 0]


def five_folds(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The 5 unshuffled folds of GridSearchCV(cv=5)."""
    return kfold_indices(n, 5)
