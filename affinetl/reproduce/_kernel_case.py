"""The kernel methods of the paper's case studies on standardised arrays, tuned by 5-fold CV.

Shared by the SARCOS, lattice-thermal-conductivity and density reproductions. Inputs ``x``,
source features ``u`` and target ``y`` arrive standardised on the training points; ``back`` maps
a standardised prediction to the original scale of the target. The grid-batched solvers (penalty
paths, AffineTL-const, batched Newton and block relaxation) live in :mod:`affinetl._solvers`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from itertools import product

import numpy as np
from sklearn.model_selection import KFold

from .._solvers import affine_const_path, affine_full_path, ridge_path
from ..kernels import gram_matrix
from ._common import cv_scores, standardize_target

__all__ = [
    "CONST_GRID",
    "FULL_GRID",
    "RIDGE_GRID",
    "five_folds",
    "kernel_methods",
    "rbf",
]

#: Published grids.
RIDGE_GRID = np.append(10 ** np.linspace(-4, 2, 49), 0.0)
FULL_GRID = np.array(
    list(product([1e-3, 1e-2, 1e-1, 1.0], [1e-2, 0.1, 1.0, 10.0], [1e-2, 0.1, 1.0, 10.0]))
)
CONST_GRID = np.array(list(product([1e-3, 1e-2, 1e-1, 1.0, 10.0], repeat=2)))


#: The kernel of the case studies, ``rbf(A, B, gamma=None)``: RBF Gram matrix with the
#: published width ``1 / (2 * dim)`` by default.
rbf = partial(gram_matrix, "rbf")


def five_folds(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The 5 unshuffled folds of GridSearchCV(cv=5): ``KFold(5)`` on ``n`` samples."""
    return list(KFold(5).split(np.empty((n, 0))))


def _tuned(
    solve: Callable[..., np.ndarray],
    kernels: Sequence[tuple[Callable, np.ndarray]],
    y: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    grid: np.ndarray,
) -> np.ndarray:
    """Predictions at all points with the grid point of the smallest CV error.

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
    return solve(*grams(train, train), y, *grams(slice(None), train), [best])[0]


def _source_kernel(linear: bool) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The kernel on source features: RBF, plus a linear kernel with ``linear``, which lets
    g1 and g2 follow a source feature outside the training range (an RBF alone decays to the
    intercept there)."""
    return partial(gram_matrix, "rbf+linear" if linear else "rbf")


def _standard_methods(
    x: np.ndarray,
    xt: np.ndarray,
    u: np.ndarray,
    ut: np.ndarray,
    y: np.ndarray,
    back: Callable[[np.ndarray], np.ndarray],
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    linear_source: bool,
) -> dict[str, np.ndarray]:
    """The methods of :func:`kernel_methods` but AffineTL-full, for one problem."""
    d = x.shape[1]
    ku = _source_kernel(linear_source)

    def kxu(A: np.ndarray, B: np.ndarray) -> np.ndarray:
        return rbf(A, B) + A[:, d:] @ B[:, d:].T if linear_source else rbf(A, B)

    xa, ua = np.vstack([x, xt]), np.vstack([u, ut])
    n = len(y)

    def ridge(Z: np.ndarray, kernel: Callable, target: np.ndarray) -> tuple[np.ndarray, ...]:
        """Kernel ridge tuned by CV: fitted values and test predictions."""
        both = _tuned(ridge_path, [(kernel, Z)], target, folds, RIDGE_GRID)
        return both[:n], both[n:]

    preds = {"Direct": back(ridge(xa, rbf, y)[1])}
    fit_s, pred_s = map(back, ridge(ua, ku, y))
    preds["SourceOnly"] = pred_s
    preds["Augmented"] = back(ridge(np.hstack([xa, ua]), kxu, y)[1])
    # HTL-offset: the residual of the SourceOnly fit, standardised, kernel ridge on x
    rs, back_r = standardize_target(back(y) - fit_s)
    preds["HTL-offset"] = back_r(ridge(xa, rbf, rs)[1]) + pred_s
    # HTL-scale: the ratio to the SourceOnly fit, whose values below t in size become +-t (the
    # published avoid_zero)
    t = np.max(np.abs(fit_s)) / 20
    clipped = np.where(np.abs(fit_s) < t, np.where(fit_s >= 0, t, -t), fit_s)
    qs, back_q = standardize_target(back(y) / clipped)
    preds["HTL-scale"] = back_q(ridge(xa, rbf, qs)[1]) * pred_s
    # AffineTL-const: one joint linear solve per grid point
    const = _tuned(affine_const_path, [(ku, ua), (rbf, xa)], y, folds, CONST_GRID)
    preds["AffineTL-const"] = back(const[n:])
    return preds


def kernel_methods(
    problems: Sequence[tuple[np.ndarray, ...]],
    *,
    standard: int | None = None,
    linear_source: bool = False,
    max_iter: int = 1000,
    cv_max_iter: int = 1000,
    device: str | None = None,
    solver: str = "relaxation",
) -> list[dict[str, np.ndarray]]:
    """Direct, SourceOnly, Augmented, HTL-offset, HTL-scale, AffineTL-const and AffineTL-full.

    Each is a kernel model (:func:`rbf` on ``x``, :func:`_source_kernel` on ``u``) tuned by 5-fold
    CV (:func:`five_folds`) over the published grid; AffineTL-full runs batched over the
    problems, folds and grid.

    Parameters
    ----------
    problems : sequence of (x, xt, u, ut, y, back)
        Standardised inputs of the training and test points, of shape (n, d) and (m, d),
        standardised source features, (n, k) and (m, k), standardised target (n,), and the map
        of a standardised prediction to the original scale; n and m are the same for all.
    standard : int, optional
        Only the first ``standard`` problems get the methods other than AffineTL-full
        (default: all).
    linear_source : bool
        Add a linear kernel on ``u`` to the RBF of every kernel that sees ``u``
        (:func:`_source_kernel`).
    max_iter, cv_max_iter : int
        AffineTL-full iteration limits of the final fit and inside CV.
    device : str, optional
        Torch device for the block relaxation (see :func:`affine_full_path`).
    solver : {"relaxation", "newton"}
        AffineTL-full by ``"relaxation"``, the published block relaxation from a random start
        (:func:`affine_full_path`), or ``"newton"``, damped Newton steps from the
        AffineTL-const start, tens of iterations instead of hundreds of sweeps (``max_iter``,
        ``cv_max_iter`` and ``device`` are ignored).

    Returns
    -------
    list of dict of str to ndarray of shape (m,)
        Per problem, the test predictions on the original scale (AffineTL-full last).
    """
    if solver not in ("relaxation", "newton"):
        raise ValueError(f"solver must be 'relaxation' or 'newton', got {solver!r}")
    n_standard = len(problems) if standard is None else standard
    folds = five_folds(len(problems[0][4]))
    preds = [
        _standard_methods(*problem, folds, linear_source) if i < n_standard else {}
        for i, problem in enumerate(problems)
    ]
    ku = _source_kernel(linear_source)

    def path(fits, targets, grid, max_iter):
        """AffineTL-full predictions for stacked ``(x_fit, u_fit, x_eval, u_eval)`` and targets."""
        grams = [(ku(uf, uf), rbf(xf, xf), ku(ue, uf), rbf(xe, xf)) for xf, uf, xe, ue in fits]
        K1, K3, E1, E3 = (np.stack(parts) for parts in zip(*grams))
        limit = None if solver == "newton" else max_iter  # Newton: its default of 200 steps
        options = {"solver": solver, "max_iter": limit, "device": device}
        return affine_full_path(K1, K1, K3, np.stack(targets), (E1, E1, E3), grid, **options)[0]

    cv = [(x[tr], u[tr], x[va], u[va]) for x, _, u, *_ in problems for tr, va in folds]
    pred = path(cv, [y[tr] for *_, y, _ in problems for tr, _ in folds], FULL_GRID, cv_max_iter)
    val_y = np.stack([y[va] for *_, y, _ in problems for _, va in folds])
    mse = np.mean((pred - val_y[:, None, :]) ** 2, axis=2).reshape(len(problems), len(folds), -1)
    best = FULL_GRID[np.argmin(mse.mean(axis=1), axis=1)]
    final = [(x, u, xt, ut) for x, xt, u, ut, *_ in problems]
    full = path(final, [y for *_, y, _ in problems], best[:, None, :], max_iter)[:, 0]
    for methods, (*_, back), f in zip(preds, problems, full):
        methods["AffineTL-full"] = back(f)
    return preds
