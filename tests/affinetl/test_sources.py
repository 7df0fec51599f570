"""Source models trained on property tables: estimator checks, SMILES in, safe save/load."""

from __future__ import annotations

import zipfile
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from affinetl import AffineTransferCV
from affinetl.sources import (
    LooKernelRidge,
    PolymerSourceModel,
    UntrustedSourceModelError,
    is_smiles,
    load_property_table,
    load_source_model,
    save_source_model,
    train_source_model,
)

EXAMPLES = files("simdata.examples")

SMILES = [
    "*CC*",
    "*CC(*)C",
    "*CC(*)c1ccccc1",
    "*CC(*)Cl",
    "*CC(*)(F)F",
    "*OCC*",
    "*CC(*)C#N",
    "*CC(*)OC(C)=O",
    "*CC(C)(*)C(=O)OC",
    "*CC(*)CC",
    "*O[Si](*)(C)C",
    "*CC(*)O",
]
DENSITY = [0.86, 0.85, 1.04, 1.39, 1.78, 1.13, 1.18, 1.19, 1.17, 0.86, 0.97, 1.26]


@parametrize_with_checks([PolymerSourceModel(model="kernel-ridge", cv=0)])
def test_sklearn_compatible(estimator, check) -> None:
    check(estimator)


def test_fit_on_smiles_predicts_from_smiles_and_features() -> None:
    model = PolymerSourceModel(kinds=("rdkit",), cv=4).fit(SMILES, DENSITY)
    assert model.fitted_on_smiles_ and model.n_train_ == len(SMILES)
    assert np.isfinite(model.cv_rmse_) and model.cv_rmse_ > 0
    features = model.featurize(SMILES)
    assert list(features.columns) == model.feature_names_
    np.testing.assert_allclose(model.predict(SMILES), model.predict(features.to_numpy()))
    np.testing.assert_allclose(model.predict(pd.Series(SMILES)), model.predict(SMILES))
    with pytest.raises(ValueError, match="features"):
        model.predict(np.ones((2, 3)))


def test_auto_picks_the_lower_cv_error() -> None:
    model = PolymerSourceModel(kinds=("rdkit",), model="auto", cv=2).fit(SMILES, DENSITY)
    assert set(model.cv_scores_) == {"kernel-ridge", "gradient-boosting"}
    assert model.cv_rmse_ == min(model.cv_scores_.values())
    assert model.model_ == min(model.cv_scores_, key=model.cv_scores_.get)


def test_kernel_ridge_cv_zero_records_the_leave_one_out_error() -> None:
    model = PolymerSourceModel(kinds=("rdkit",), cv=0).fit(SMILES, DENSITY)
    assert model.cv_rmse_ == pytest.approx(np.sqrt(model.estimator_.loo_mse_))


def test_is_smiles() -> None:
    assert is_smiles(["*CC*"]) and is_smiles(np.array(["*CC*"], dtype=object)[:, None])
    assert not is_smiles(np.ones((3, 2))) and not is_smiles("*CC*") and not is_smiles([])


def test_source_model_is_a_source_for_the_selecting_estimator() -> None:
    model = PolymerSourceModel(kinds=("rdkit",), cv=0).fit(SMILES, DENSITY)
    X = model.featurize(SMILES).to_numpy()
    y = 1.05 * np.asarray(DENSITY) + 0.03
    transfer = AffineTransferCV(source=model, forms=["source_linear", "offset"], cv=3).fit(X, y)
    assert transfer.predict(X).shape == (len(SMILES),)


def test_save_load_round_trip(tmp_path: Path) -> None:
    for kind in ("kernel-ridge", "gradient-boosting"):
        model = PolymerSourceModel(kinds=("rdkit", "morgan"), model=kind, cv=0, n_bits=64)
        model.fit(SMILES, DENSITY)
        path = save_source_model(model, tmp_path / f"{kind}.skops")
        loaded = load_source_model(path)
        assert isinstance(loaded, PolymerSourceModel)
        np.testing.assert_array_equal(loaded.predict(SMILES), model.predict(SMILES))
        assert loaded.cv_rmse_ == model.cv_rmse_ or np.isnan(model.cv_rmse_)


def test_load_refuses_unknown_types(tmp_path: Path) -> None:
    import datetime

    import skops.io as sio

    model = PolymerSourceModel(kinds=("rdkit",), cv=0).fit(SMILES, DENSITY)
    model.trained_on_ = datetime.date(2026, 1, 1)  # a type outside the trusted list
    path = save_source_model(model, tmp_path / "dated.skops")
    with pytest.raises(UntrustedSourceModelError, match="datetime.date"):
        load_source_model(path)
    # the caller may trust a type it has checked
    extra = sio.get_untrusted_types(file=path)
    loaded = load_source_model(path, trusted=extra)
    assert loaded.trained_on_ == model.trained_on_
    np.testing.assert_array_equal(loaded.predict(SMILES), model.predict(SMILES))
    assert zipfile.is_zipfile(path)  # a zip of JSON and arrays, no pickle stream


def test_train_source_model_from_simdata_tables() -> None:
    fast = EXAMPLES / "validation_fast.csv"
    table, _ = load_property_table(fast, "density")
    model = train_source_model([fast], "density", kinds=("rdkit",), cv=3)
    assert model.n_train_ == len(table)
    frame = pd.DataFrame({"smiles": SMILES, "density": DENSITY})
    sub = train_source_model(frame, "density", kinds=("rdkit",), cv=0, max_polymers=8)
    assert sub.n_train_ == 8
    with pytest.raises(FileNotFoundError, match="neither a built-in"):
        train_source_model("no-such-table.csv", "density")
    with pytest.raises(ValueError, match="'Tg'"):
        train_source_model(frame, "Tg")


def test_loo_kernel_ridge_moved_but_same() -> None:
    from affinetl.scaling import LooKernelRidge as FromScaling

    assert FromScaling is LooKernelRidge
