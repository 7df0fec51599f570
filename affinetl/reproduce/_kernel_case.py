"""The kernel methods of the paper's case studies on standardised arrays, tuned by 5-fold CV.

Shared by the SARCOS and lattice-thermal-conductivity reproductions. Inputs ``x``, source
features ``u`` and target ``y`` arrive standardised on the training points; ``back`` maps a
standardised prediction to the original scale of the target. The grid-batched solvers (penalty
paths, AffineTL-const, batched Newton and block relaxation) live in :mod:`affinetl._solvers`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import product

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.model_selection import KFold

from .._solvers import affine_const_path, affine_full_path, ridge_path
from ._common import cv_scores, standardize_target

__all__ = [
    "CONST_GRID",
    "FULL_GRID",
    "RIDGE_GRID",
    "affine_full_batched",
    "five_folds",
    "rbf",
    "source_gram",
    "standard_methods",
]

#: Published grids.
RIDGE_GRID = np.append(10 ** np.linspace(-4, 2, 49), 0.0)
FULL_GRID = np.array(
    list(product([1e-3, 1e-2, 1e-1, 1.0], [1e-2, 0.1, 1.0, 10.0], [1e-2, 0.1, 1.0, 10.0]))
)
CONST_GRID = np.array(list(product([1e-3, 1e-2, 1e-1, 1.0, 10.0], repeat=2)))


def rbf(A: np.ndarray, B: np.ndarray, gamma: float) -> np.ndarray:
    """RBF Gram matrix ``exp(-gamma ||a - b||^2)`` of shape (len(A), len(B))."""
    return np.exp(-gamma * cdist(A, B, "sqeuclidean"))


def five_folds(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The 5 unshuffled folds of GridSearchCV(cv=5): ``KFold(5)`` on ``n`` samples."""
    return list(KFold(5).split(np.empty((n, 0))))


def _tuned(
    solve: Callable[..., np.ndarray],
    kernels: Sequence[tuple[Callable, np.ndarray]],
    y: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    grid: np.ndarray,
    n_eval: int,
) -> np.ndarray:
    """Predictions at points ``0..n_eval-1`` with the grid point of the smallest CV error.

    ``kernels`` are ``(kernel, Z)`` pairs, ``Z`` holding the ``len(y)`` training points, then
    the test points; ``solve(*fit_grams, y, *eval_grams, grid)`` predicts for every grid point
    (:func:`~affinetl._solvers.ridge_path`, :func:`~affinetl._solvers.affine_const_path`).
    """

    def grams(rows: np.ndarray, cols: np.ndarray) -> list[np.ndarray]:
        return [kernel(Z[rows], Z[cols]) for kernel, Z in kernels]

    def path(train: np.ndarray, val: np.ndarray) -> np.ndarray:
        return solve(*grams(train, train), y[train], *grams(val, train), grid)

    best = grid[int(np.argmin(cv_scores(path, y, folds)))]
    train = np.arange(len(y))
    return solve(*grams(train, train), y, *grams(np.arange(n_eval), train), [best])[0]


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
) -> dict[str, np.ndarray]:
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
    dict of str to ndarray of shape (m,)
        Test predictions on the original scale.
    """
    d = x.shape[1]
    kx = partial(rbf, gamma=1 / (2 * d))
    ku = partial(source_gram, linear=linear_source)

    def kxu(A: np.ndarray, B: np.ndarray) -> np.ndarray:
        K = rbf(A, B, 1 / (2 * A.shape[1]))
        return K + A[:, d:] @ B[:, d:].T if linear_source else K

    xa, ua = np.vstack([x, xt]), np.vstack([u, ut])
    n, n_eval = len(y), len(x) + len(xt)

    def ridge(Z: np.ndarray, kernel: Callable, target: np.ndarray) -> tuple[np.ndarray, ...]:
        """Kernel ridge tuned by CV: fitted values and test predictions."""
        both = _tuned(ridge_path, [(kernel, Z)], target, folds, RIDGE_GRID, n_eval)
        return both[:n], both[n:]

    preds = {"Direct": back(ridge(xa, kx, y)[1])}
    fit_s, pred_s = map(back, ridge(ua, ku, y))
    preds["SourceOnly"] = pred_s
    preds["Augmented"] = back(ridge(np.hstack([xa, ua]), kxu, y)[1])
    # HTL-offset: the residual of the SourceOnly fit, standardised, kernel ridge on x
    rs, back_r = standardize_target(back(y) - fit_s)
    preds["HTL-offset"] = back_r(ridge(xa, kx, rs)[1]) + pred_s
    # HTL-scale: the ratio to the clipped SourceOnly fit
    qs, back_q = standardize_target(
        back(y) / _clip_away_from_zero(fit_s, np.max(np.abs(fit_s)) / 20)
    )
    preds["HTL-scale"] = back_q(ridge(xa, kx, qs)[1]) * pred_s
    # AffineTL-const: one joint linear solve per grid point
    const = _tuned(affine_const_path, [(ku, ua), (kx, xa)], y, folds, CONST_GRID, n_eval)
    preds["AffineTL-const"] = back(const[n:])
    return preds


def _stacked_grams(
    pairs: Iterable[tuple[np.ndarray, ...]], linear_source: bool
) -> list[np.ndarray]:
    """``(K1, K3, E1, E3)`` stacked over ``(u_fit, x_fit, u_eval, x_eval)`` tuples."""
    grams = [
        (
            source_gram(uf, uf, linear_source),
            rbf(xf, xf, 1 / (2 * xf.shape[1])),
            source_gram(ue, uf, linear_source),
            rbf(xe, xf, 1 / (2 * xf.shape[1])),
        )
        for uf, xf, ue, xe in pairs
    ]
    return [np.stack(parts) for parts in zip(*grams)]


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
) -> np.ndarray:
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
        start, tens of iterations instead of hundreds of sweeps (``max_iter``, ``cv_max_iter``
        and ``device`` are ignored).

    Returns
    -------
    ndarray of shape (n_problems, m)
        Standardised test predictions.
    """
    if solver not in ("relaxation", "newton"):
        raise ValueError(f"solver must be 'relaxation' or 'newton', got {solver!r}")

    def path(K1, K3, E1, E3, y, grid, max_iter):
        limit = None if solver == "newton" else max_iter  # Newton: its default of 200 steps
        evals = (E1, E1, E3)
        return affine_full_path(
            K1, K1, K3, y, evals, grid, solver=solver, max_iter=limit, device=device
        )

    cv = [(u[tr], x[tr], u[va], x[va]) for x, u, _, _, _ in problems for tr, va in folds]
    ys = np.stack([y[tr] for _, _, y, _, _ in problems for tr, _ in folds])
    val_y = np.stack([y[va] for _, _, y, _, _ in problems for _, va in folds])
    pred, _ = path(*_stacked_grams(cv, linear_source), ys, grid, cv_max_iter)
    mse = np.mean((pred - val_y[:, None, :]) ** 2, axis=2).reshape(len(problems), len(folds), -1)
    best = grid[np.argmin(mse.mean(axis=1), axis=1)]
    final = _stacked_grams([(u, x, ut, xt) for x, u, _, xt, ut in problems], linear_source)
    yf = np.stack([y for _, _, y, _, _ in problems])
    return path(*final, yf, best[:, None, :], max_iter)[0][:, 0]
