"""Source models and transfer methods compared by the learning-curve runner.

A transfer method is any callable
``method(X_source, y_source, X_train, y_train, X_test, random_state) -> y_pred`` (arrays in,
predictions of shape (n_test,) out). The built-in ones also take ``memo``, a dict shared by the
methods evaluated on the same source draw, so that they train one source model between them. :data:`TRANSFER_METHODS` holds the built-in ones by name;
each trains its own source model on ``(X_source, y_source)`` (the N simulated polymers) and
adapts it to the few experimental ``(X_train, y_train)``. Hyperparameters are chosen inside the
call (leave-one-out for kernel ridge, 3-fold CV for the transfer estimators), never on the test
polymers.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process.kernels import RBF, DotProduct
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from ..base import check_is_fitted, validate_data
from ..baselines import OffsetTransferRegressor
from ..kernels import default_gamma, gram_matrix
from ..models import AffineTransferRegressor, LinearAffineTransferRegressor

__all__ = ["TRANSFER_METHODS", "LooKernelRidge", "TransferMethod", "get_method"]

TransferMethod = Callable[
    [np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], np.ndarray
]

_ALPHAS = tuple(10.0 ** np.arange(-4, 2))
_GAMMA_FACTORS = (0.25, 1.0, 4.0)


class LooKernelRidge(RegressorMixin, BaseEstimator):
    """RBF kernel ridge with intercept, its penalty and width chosen by leave-one-out error.

    For each width the Gram matrix of the centred problem is eigendecomposed once; the
    leave-one-out residuals of every penalty then follow in closed form,
    ``(y - H y) / (1 - diag H)`` with ``H = Q L (L + alpha)^-1 Q'``.

    Parameters
    ----------
    alphas : sequence of float, default=(1e-4, ..., 10)
        Ridge penalties tried.
    gamma_factors : sequence of float, default=(0.25, 1, 4)
        Widths tried, as multiples of ``1 / (2 * n_features)`` on standardised inputs.
    standardize : bool, default=True
        Standardise the inputs on the training data.

    Attributes
    ----------
    alpha_, gamma_ : float
        Selected penalty and width.
    loo_mse_ : float
        Leave-one-out mean squared error of the selection.
    intercept_ : float
    dual_coef_ : ndarray of shape (n_samples,)
    X_fit_ : ndarray of shape (n_samples, n_features)
        Standardised training inputs.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, (80, 2))
    >>> model = LooKernelRidge().fit(X, np.sin(X[:, 0]))
    >>> bool(model.score(X, np.sin(X[:, 0])) > 0.95)
    True
    """

    def __init__(
        self,
        *,
        alphas: Sequence[float] = _ALPHAS,
        gamma_factors: Sequence[float] = _GAMMA_FACTORS,
        standardize: bool = True,
    ) -> None:
        self.alphas = alphas
        self.gamma_factors = gamma_factors
        self.standardize = standardize

    def fit(self, X: ArrayLike, y: ArrayLike) -> LooKernelRidge:
        """Select the width and penalty by leave-one-out error and fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, y_numeric=True)
        if X.shape[0] < 3:
            raise ValueError(f"LooKernelRidge needs at least 3 samples, got {X.shape[0]}")
        alphas = np.asarray(self.alphas, dtype=float)
        if alphas.size == 0 or np.any(alphas <= 0):
            raise ValueError("alphas must be a non-empty sequence of positive penalties")
        self.scaler_ = StandardScaler().fit(X) if self.standardize else None
        Z = X if self.scaler_ is None else self.scaler_.transform(X)
        n = Z.shape[0]
        yc = y - y.mean()
        best: tuple[float, float, float, np.ndarray, np.ndarray, np.ndarray] | None = None
        for factor in self.gamma_factors:
            gamma = factor * default_gamma(Z.shape[1])
            K = gram_matrix("rbf", Z, None, gamma)
            Kc = _centre(K)
            lam, Q = linalg.eigh(Kc, overwrite_a=True)
            lam = np.clip(lam, 0.0, None)
            Qy = Q.T @ yc
            shrink = lam[None, :] / (lam[None, :] + alphas[:, None])  # (n_alpha, n)
            fitted = (shrink * Qy[None, :]) @ Q.T
            # diagonal of the hat matrix: centred part plus the intercept's 1/n
            diag = shrink @ (Q.T**2) + 1.0 / n
            resid = (yc[None, :] - fitted) / np.clip(1.0 - diag, 1e-10, None)
            mse = np.mean(resid**2, axis=1)
            k = int(np.argmin(mse))
            if best is None or mse[k] < best[0]:
                best = (float(mse[k]), gamma, float(alphas[k]), lam, Q, K)
        self.loo_mse_, self.gamma_, self.alpha_, lam, Q, K = best
        # f(x) = b + k(x)' c with c = C Q (L + alpha)^-1 Q' yc (C: centring), no new solve
        coef = Q @ ((Q.T @ yc) / (lam + self.alpha_))
        self.dual_coef_ = coef - coef.mean()
        self.intercept_ = float(y.mean() - np.mean(K @ self.dual_coef_))
        self.X_fit_ = Z
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        Z = X if self.scaler_ is None else self.scaler_.transform(X)
        return self.intercept_ + gram_matrix("rbf", Z, self.X_fit_, self.gamma_) @ self.dual_coef_


def _centre(K: np.ndarray) -> np.ndarray:
    """``C K C`` with ``C = I - 11'/n``, in O(n^2)."""
    row = K.mean(axis=0)
    return K - row[None, :] - row[:, None] + row.mean()


def _folds(n: int, seed: int) -> KFold:
    return KFold(n_splits=min(3, n), shuffle=True, random_state=seed)


def _cv_fit(
    estimator: Any, grid: dict[str, list[Any]], X: np.ndarray, y: np.ndarray, seed: int
) -> Any:
    search = GridSearchCV(
        estimator,
        grid,
        cv=_folds(len(y), seed),
        scoring="neg_mean_squared_error",
        error_score=np.nan,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return search.fit(X, y).best_estimator_


def _source_model(
    X_source: np.ndarray, y_source: np.ndarray, memo: dict[str, Any] | None
) -> LooKernelRidge:
    """The kernel source model, shared through ``memo`` by the methods of one task."""
    if memo is not None and "krr" in memo:
        return memo["krr"]
    model = LooKernelRidge().fit(X_source, y_source)
    if memo is not None:
        memo["krr"] = model
    return model


def _with_source(model: Any, X: np.ndarray) -> np.ndarray:
    """Append the source prediction as the last column (the estimators' default layout)."""
    return np.column_stack([X, model.predict(X)])


def source_only(
    Xs: np.ndarray,
    ys: np.ndarray,
    Xt: np.ndarray,
    yt: np.ndarray,
    Xtest: np.ndarray,
    seed: int,
    memo: dict[str, Any] | None = None,
) -> np.ndarray:
    """The source model used as is (the simulation's error on the experiments)."""
    return _source_model(Xs, ys, memo).predict(Xtest)


def target_only(
    Xs: np.ndarray,
    ys: np.ndarray,
    Xt: np.ndarray,
    yt: np.ndarray,
    Xtest: np.ndarray,
    seed: int,
    memo: dict[str, Any] | None = None,
) -> np.ndarray:
    """Kernel ridge on the experimental samples alone (ignores the source)."""
    return LooKernelRidge().fit(Xt, yt).predict(Xtest)


def affine(
    Xs: np.ndarray,
    ys: np.ndarray,
    Xt: np.ndarray,
    yt: np.ndarray,
    Xtest: np.ndarray,
    seed: int,
    memo: dict[str, Any] | None = None,
) -> np.ndarray:
    """AffineTL-full: g1, g2 RBF + linear kernels on the source output, g3 RBF on x; 3-fold CV."""
    src = _source_model(Xs, ys, memo)
    est = AffineTransferRegressor(
        variant="full",
        kernel1=RBF(1.0) + DotProduct(sigma_0=0.0, sigma_0_bounds="fixed"),
        kernel2=RBF(1.0) + DotProduct(sigma_0=0.0, sigma_0_bounds="fixed"),
        max_iter=300,
        random_state=seed,
    )
    grid = {"lambda1": [1e-2, 1.0], "lambda2": [1.0], "lambda3": [1e-1, 1.0]}
    best = _cv_fit(est, grid, _with_source(src, Xt), yt, seed)
    return best.predict(_with_source(src, Xtest))


def linear_affine(
    Xs: np.ndarray,
    ys: np.ndarray,
    Xt: np.ndarray,
    yt: np.ndarray,
    Xtest: np.ndarray,
    seed: int,
    memo: dict[str, Any] | None = None,
) -> np.ndarray:
    """Linear affine transfer ``a0 + a1 u - (1 + b u) x'gamma``; ridge penalty by 3-fold CV."""
    src = _source_model(Xs, ys, memo)
    est = LinearAffineTransferRegressor(standardize=True, max_iter=200, tol=1e-5)
    grid = {"lambda_ridge": [1e-1, 1.0, 10.0]}
    best = _cv_fit(est, grid, _with_source(src, Xt), yt, seed)
    return best.predict(_with_source(src, Xtest))


def offset(
    Xs: np.ndarray,
    ys: np.ndarray,
    Xt: np.ndarray,
    yt: np.ndarray,
    Xtest: np.ndarray,
    seed: int,
    memo: dict[str, Any] | None = None,
) -> np.ndarray:
    """Offset learning: kernel ridge on ``y - f_s(x)``; penalty by 3-fold CV."""
    src = _source_model(Xs, ys, memo)
    grid = {"alpha": [1e-2, 1e-1, 1.0]}
    best = _cv_fit(OffsetTransferRegressor(), grid, _with_source(src, Xt), yt, seed)
    return best.predict(_with_source(src, Xtest))


def _pretrained_mlp(
    Xs: np.ndarray, ys: np.ndarray, seed: int, memo: dict[str, Any] | None
) -> tuple[MLPRegressor, StandardScaler, float, float]:
    if memo is not None and "mlp" in memo:
        mlp, scaler, y_mean, y_sd = memo["mlp"]
        return copy.deepcopy(mlp), scaler, y_mean, y_sd
    scaler = StandardScaler().fit(Xs)
    y_mean, y_sd = float(ys.mean()), float(ys.std()) or 1.0
    mlp = MLPRegressor(
        hidden_layer_sizes=(64, 32),
        alpha=1e-3,
        learning_rate_init=1e-3,
        max_iter=200,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(scaler.transform(Xs), (ys - y_mean) / y_sd)
    if memo is not None:
        memo["mlp"] = (copy.deepcopy(mlp), scaler, y_mean, y_sd)
    return mlp, scaler, y_mean, y_sd


def fine_tuning(
    Xs: np.ndarray,
    ys: np.ndarray,
    Xt: np.ndarray,
    yt: np.ndarray,
    Xtest: np.ndarray,
    seed: int,
    memo: dict[str, Any] | None = None,
) -> np.ndarray:
    """Fine-tuning: an MLP pretrained on the source, every weight trained further on the target.

    The network (64-32 ReLU, Adam) is pretrained on the N simulated values, then trained on
    the experimental samples from those weights with a 10x smaller learning rate for 100
    epochs (the usual fine-tuning recipe; no early stopping on so few samples).
    """
    mlp, scaler, y_mean, y_sd = _pretrained_mlp(Xs, ys, seed, memo)
    mlp.set_params(warm_start=True, learning_rate_init=1e-4, max_iter=100, early_stopping=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(scaler.transform(Xt), (yt - y_mean) / y_sd)
    return mlp.predict(scaler.transform(Xtest)) * y_sd + y_mean


def _hidden(mlp: MLPRegressor, Z: np.ndarray) -> np.ndarray:
    """Activations of the last hidden layer (ReLU) of a fitted MLPRegressor."""
    h = Z
    for W, b in zip(mlp.coefs_[:-1], mlp.intercepts_[:-1]):
        h = np.maximum(h @ W + b, 0.0)
    return h


def feature_extraction(
    Xs: np.ndarray,
    ys: np.ndarray,
    Xt: np.ndarray,
    yt: np.ndarray,
    Xtest: np.ndarray,
    seed: int,
    memo: dict[str, Any] | None = None,
) -> np.ndarray:
    """Feature extraction: ridge (LOO-tuned) on the last hidden layer of the source MLP."""
    mlp, scaler, _, _ = _pretrained_mlp(Xs, ys, seed, memo)
    head = RidgeCV(alphas=np.logspace(-3, 3, 13))
    head.fit(_hidden(mlp, scaler.transform(Xt)), yt)
    return head.predict(_hidden(mlp, scaler.transform(Xtest)))


#: Built-in transfer methods by name.
TRANSFER_METHODS: dict[str, TransferMethod] = {
    "affine": affine,
    "linear-affine": linear_affine,
    "offset": offset,
    "fine-tuning": fine_tuning,
    "feature-extraction": feature_extraction,
    "source-only": source_only,
    "target-only": target_only,
}

#: Methods that do not use the experimental training samples / the source database.
NO_TARGET_TRAINING = frozenset({"source-only"})
NO_SOURCE = frozenset({"target-only"})


def get_method(method: str | TransferMethod) -> tuple[str, TransferMethod]:
    """Name and callable of a transfer method (a name of :data:`TRANSFER_METHODS` or a callable)."""
    if callable(method):
        return getattr(method, "__name__", type(method).__name__), method
    if method not in TRANSFER_METHODS:
        raise ValueError(
            f"unknown transfer method {method!r}; choose one of {sorted(TRANSFER_METHODS)} "
            "or pass a callable (X_source, y_source, X_train, y_train, X_test, seed) -> y_pred"
        )
    return method, TRANSFER_METHODS[method]
