"""Source models of a polymer property, trained on a simulation table, predicting from SMILES.

:class:`PolymerSourceModel` is a scikit-learn regressor of a simulated property on the package's
polymer features (:func:`affinetl.featurize.featurize_polymers`). Fitted on SMILES it featurises
them itself; ``predict`` takes SMILES or the feature matrix, so the fitted model is a ``source=``
of every affinetl estimator (which passes it the feature matrix). Its cross-validated error on
the source table is kept in ``cv_rmse_``. :func:`train_source_model` reads a property table (a
built-in name, a CSV or a simdata results folder) and fits one.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import KFold, cross_val_predict

from ..base import check_is_fitted, validate_data
from ._kernel_ridge import LooKernelRidge

__all__ = ["SOURCE_MODELS", "PolymerSourceModel", "is_smiles", "train_source_model"]

#: Built-in regressors of :class:`PolymerSourceModel` by name.
SOURCE_MODELS = ("kernel-ridge", "gradient-boosting")


def _builtin_model(name: str, random_state: int | None) -> BaseEstimator:
    if name == "kernel-ridge":
        return LooKernelRidge(
            alphas=tuple(10.0 ** np.arange(-5, 2)), gamma_factors=(0.1, 0.25, 1.0, 4.0)
        )
    return HistGradientBoostingRegressor(
        max_iter=400, learning_rate=0.05, min_samples_leaf=5, random_state=random_state
    )


def is_smiles(X: Any) -> bool:
    """Whether ``X`` is a 1-D sequence (or one-column table) of strings: SMILES, not features."""
    if isinstance(X, str):
        return False
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            return "smiles" in X.columns and X.shape[1] == 1
        X = X.iloc[:, 0]
    arr = np.asarray(X, dtype=object)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    return arr.ndim == 1 and arr.size > 0 and all(isinstance(v, str) for v in arr)


def _smiles_series(X: Any) -> pd.Series:
    if isinstance(X, pd.DataFrame):
        X = X.iloc[:, 0]
    arr = np.asarray(X, dtype=object)
    return pd.Series(arr.reshape(-1), dtype=object)


class PolymerSourceModel(RegressorMixin, BaseEstimator):
    """A source model ``f_s``: a simulated polymer property learned from structure.

    Parameters
    ----------
    kinds : sequence of {"rdkit", "morgan", "ffkm"}, default=("rdkit", "morgan")
        Features computed from SMILES (:func:`affinetl.featurize.featurize_polymers`).
    model : {"kernel-ridge", "gradient-boosting", "auto"} or estimator, default="kernel-ridge"
        The regressor: RBF kernel ridge with width and penalty by closed-form leave-one-out
        (:class:`LooKernelRidge`), histogram gradient boosting, the better of the two by the
        cross-validated error (``"auto"``), or any scikit-learn regressor (cloned).
    cv : int, default=5
        Folds of the K-fold cross-validation that measures ``cv_rmse_`` (and chooses the
        model for ``"auto"``); ``0`` skips it (``cv_rmse_`` is then NaN, except for kernel
        ridge, whose leave-one-out error is free).
    radius, n_bits : int, default=2, 256
        Morgan fingerprint radius and length.
    random_state : int or None, default=0
        Seed of the folds and of gradient boosting.

    Attributes
    ----------
    estimator_ : estimator
        The fitted regressor.
    model_ : str
        Name of the regressor used (the choice of ``"auto"``).
    cv_rmse_ : float
        Cross-validated RMSE on the source table (leave-one-out for kernel ridge with
        ``cv=0``), in the unit of the property.
    cv_scores_ : dict of str to float
        Cross-validated RMSE of each candidate (``"auto"``) or of the model.
    n_features_in_ : int
        Width of the feature matrix.
    feature_names_ : list of str or None
        Feature columns when fitted on SMILES (the layout ``predict`` expects as a matrix).
    fitted_on_smiles_ : bool
    n_train_ : int
        Polymers in the source table.

    Examples
    --------
    >>> smiles = ["*CC*", "*CC(*)C", "*CC(*)c1ccccc1", "*CC(*)Cl", "*CC(*)(F)F", "*OCC*",
    ...           "*CC(*)C#N", "*CC(*)OC(C)=O"]
    >>> density = [0.86, 0.85, 1.04, 1.39, 1.78, 1.13, 1.18, 1.19]
    >>> f_s = PolymerSourceModel(cv=4).fit(smiles, density)
    >>> f_s.predict(["*CC(*)c1ccccc1"]).shape, bool(np.isfinite(f_s.cv_rmse_))
    ((1,), True)
    """

    def __init__(
        self,
        kinds: Sequence[str] = ("rdkit", "morgan"),
        *,
        model: str | BaseEstimator = "kernel-ridge",
        cv: int = 5,
        radius: int = 2,
        n_bits: int = 256,
        random_state: int | None = 0,
    ) -> None:
        self.kinds = kinds
        self.model = model
        self.cv = cv
        self.radius = radius
        self.n_bits = n_bits
        self.random_state = random_state

    def featurize(
        self, smiles: ArrayLike, *, cache_dir: str | os.PathLike[str] | None = None
    ) -> pd.DataFrame:
        """The features of repeat units, as this model computes them (one row per SMILES)."""
        from ..featurize import featurize_polymers  # noqa: PLC0415

        return featurize_polymers(
            _smiles_series(smiles),
            tuple(self.kinds),
            radius=self.radius,
            n_bits=self.n_bits,
            cache_dir=cache_dir,
        )

    def _candidates(self) -> dict[str, BaseEstimator]:
        if isinstance(self.model, str):
            if self.model == "auto":
                return {n: _builtin_model(n, self.random_state) for n in SOURCE_MODELS}
            if self.model not in SOURCE_MODELS:
                raise ValueError(
                    f"model must be one of {[*SOURCE_MODELS, 'auto']} or a scikit-learn "
                    f"regressor, got {self.model!r}"
                )
            return {self.model: _builtin_model(self.model, self.random_state)}
        if not hasattr(self.model, "fit") or not hasattr(self.model, "predict"):
            raise TypeError(f"model must have fit and predict, got {type(self.model).__name__}")
        return {type(self.model).__name__: clone(self.model)}

    def fit(self, X: ArrayLike, y: ArrayLike) -> PolymerSourceModel:
        """Learn the property from repeat-unit SMILES or a feature matrix.

        Parameters
        ----------
        X : sequence of str of shape (n_samples,), or array-like of shape (n_samples, n_features)
            Repeat-unit SMILES (featurised with ``kinds``) or precomputed features.
        y : array-like of shape (n_samples,)
            The simulated property.

        Returns
        -------
        self
        """
        self.fitted_on_smiles_ = is_smiles(X)
        self.feature_names_ = None
        if self.fitted_on_smiles_:
            features = self.featurize(X)
            self.feature_names_ = list(features.columns)
            X = features.to_numpy(dtype=float)
        X, y = validate_data(self, X, y, y_numeric=True)
        if X.shape[0] < 3:
            raise ValueError(
                f"PolymerSourceModel needs at least 3 polymers, got n_samples = {X.shape[0]}"
            )
        candidates = self._candidates()
        n_folds = min(int(self.cv), X.shape[0])
        scores: dict[str, float] = {}
        if n_folds >= 2:
            folds = KFold(n_splits=n_folds, shuffle=True, random_state=self.random_state)
            for name, est in candidates.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    pred = cross_val_predict(clone(est), X, y, cv=folds)
                scores[name] = float(np.sqrt(np.mean((pred - y) ** 2)))
            self.model_ = min(scores, key=scores.get)
        else:
            self.model_ = next(iter(candidates))
        self.estimator_ = candidates[self.model_].fit(X, y)
        if not scores and isinstance(self.estimator_, LooKernelRidge):
            scores[self.model_] = float(np.sqrt(self.estimator_.loo_mse_))
        self.cv_scores_ = scores
        self.cv_rmse_ = scores.get(self.model_, float("nan"))
        self.n_train_ = int(X.shape[0])
        return self

    def _features(self, X: ArrayLike) -> np.ndarray:
        if is_smiles(X):
            X = self.featurize(X).to_numpy(dtype=float)
        return validate_data(self, X, reset=False)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The source prediction ``f_s(x)``.

        Parameters
        ----------
        X : sequence of str of shape (n_samples,), or array-like of shape (n_samples, n_features)
            Repeat-unit SMILES, or the feature matrix (the layout of :meth:`featurize`).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return np.asarray(self.estimator_.predict(self._features(X)), dtype=float)


def train_source_model(
    table: str | os.PathLike[str] | pd.DataFrame | Sequence[str | os.PathLike[str]],
    prop: str,
    *,
    max_polymers: int | None = None,
    random_state: int | None = 0,
    **params: Any,
) -> PolymerSourceModel:
    """Train a source model of ``prop`` on a property table.

    Parameters
    ----------
    table : str, path-like, DataFrame or sequence of them
        ``"pi1070"``, ``"afzal2021-md"``, a CSV/Parquet file with ``smiles`` and ``prop``, a
        :mod:`simdata` results folder (:func:`load_property_table`), or a DataFrame with
        ``smiles`` and ``prop``; several are concatenated.
    prop : str
        The property (``"density"``, ``"Tg"``, ``"Cp"``, ...).
    max_polymers : int, optional
        Train on a random subset of this many polymers (learning curves in the table size).
    random_state : int or None, default=0
        Seed of the subset, the folds and the regressor.
    **params
        Parameters of :class:`PolymerSourceModel` (``kinds``, ``model``, ``cv``, ...).

    Returns
    -------
    PolymerSourceModel
        Fitted on SMILES; ``extras`` of the table are not kept.

    Examples
    --------
    >>> from importlib.resources import files
    >>> f_s = train_source_model(files("simdata.examples") / "validation_fast.csv", "density",
    ...                          kinds=("rdkit",), cv=3)
    >>> f_s.predict(["*CC(*)c1ccccc1"]).shape
    (1,)
    """
    from ._tables import load_property_table  # noqa: PLC0415

    specs = table if isinstance(table, (list, tuple)) else [table]
    parts = []
    for spec in specs:
        if isinstance(spec, pd.DataFrame):
            if "smiles" not in spec or prop not in spec:
                raise ValueError(f"the table needs 'smiles' and {prop!r}; found {list(spec)}")
            part = pd.DataFrame({"smiles": spec["smiles"], "y": spec[prop]}).dropna()
        else:
            part, _ = load_property_table(spec, prop)
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    if max_polymers is not None and max_polymers < len(frame):
        frame = frame.sample(n=int(max_polymers), random_state=random_state)
    model = PolymerSourceModel(random_state=random_state, **params)
    return model.fit(frame["smiles"].to_numpy(dtype=object), frame["y"].to_numpy(dtype=float))
