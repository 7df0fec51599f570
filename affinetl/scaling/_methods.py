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
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process.kernels import RBF, DotProduct
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from ..baselines import OffsetTransferRegressor
from ..models import AffineTransferRegressor, LinearAffineTransferRegressor
from ..selection import AffineTransferCV
from ..sources import LooKernelRidge, PolymerSourceModel

__all__ = ["TRANSFER_METHODS", "LooKernelRidge", "TransferMethod", "get_method"]

TransferMethod = Callable[
    [np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], np.ndarray
]


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
) -> PolymerSourceModel:
    """The source model (:class:`~affinetl.sources.PolymerSourceModel`, kernel ridge by
    leave-one-out), shared through ``memo`` by the methods of one task."""
    if memo is not None and "krr" in memo:
        return memo["krr"]
    model = PolymerSourceModel(model="kernel-ridge", cv=0).fit(X_source, y_source)
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
        form="full",
        kernel1=RBF(1.0) + DotProduct(sigma_0=0.0, sigma_0_bounds="fixed"),
        kernel2=RBF(1.0) + DotProduct(sigma_0=0.0, sigma_0_bounds="fixed"),
        max_iter=300,
        random_state=seed,
    )
    grid = {"lambda1": [1e-2, 1.0], "lambda2": [1.0], "lambda3": [1e-1, 1.0]}
    best = _cv_fit(est, grid, _with_source(src, Xt), yt, seed)
    return best.predict(_with_source(src, Xtest))


def affine_cv(
    Xs: np.ndarray,
    ys: np.ndarray,
    Xt: np.ndarray,
    yt: np.ndarray,
    Xtest: np.ndarray,
    seed: int,
    memo: dict[str, Any] | None = None,
) -> np.ndarray:
    """The package's selecting estimator: :class:`~affinetl.AffineTransferCV` with the source
    model as ``source=`` (its defaults: every form, CV-weighted average)."""
    src = _source_model(Xs, ys, memo)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = AffineTransferCV(source=src, random_state=seed).fit(Xt, yt)
    return model.predict(Xtest)


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
    "affine-cv": affine_cv,
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
