"""``affinetl sim2real`` on a tiny configuration: the shipped simdata examples as source."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affinetl.cli import main
from affinetl.exceptions import UsageError
from affinetl.sim2real import sim2real
from affinetl.sources import load_source_model

EXAMPLES = files("simdata.examples")
SOURCES = [str(EXAMPLES / "validation_fast.csv"), str(EXAMPLES / "validation_standard.csv")]

# handbook densities of amorphous polymers (g/cm3), and one wrong row (polystyrene at 1.92)
EXPERIMENTS = [
    ("*CC*", 0.855),
    ("*CC(*)C", 0.85),
    ("*CC(*)c1ccccc1", 1.05),
    ("*CC(*)Cl", 1.39),
    ("*CC(C)(*)C(=O)OC", 1.17),
    ("*CC(*)OC(C)=O", 1.19),
    ("*CC(C)(*)C", 0.92),
    ("*CC(*)(F)F", 1.78),
    ("*CCO*", 1.13),
    ("*CC(*)C#N", 1.18),
    ("*CC(*)c1ccccc1", 1.92),
]


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "experiments.csv"
    pd.DataFrame(EXPERIMENTS, columns=["smiles", "density"]).to_csv(path, index=False)
    return path


def test_sim2real_writes_predictions_figure_and_model(tmp_path: Path, target: Path) -> None:
    out = tmp_path / "out"
    result = sim2real(SOURCES, target, out_dir=out, kinds=("rdkit",), n_folds=3)
    for name in ("predictions", "metrics", "figure", "source_model", "report"):
        assert result.paths[name].is_file(), name
    pred = pd.read_csv(result.paths["predictions"])
    assert len(pred) == len(EXPERIMENTS) - 1  # the out-of-bounds polystyrene row is left out
    assert (pred["lower"] < pred["pred"]).all() and (pred["pred"] < pred["upper"]).all()
    np.testing.assert_allclose(pred["g1"] + pred["g2"] * pred["g3"], pred["pred"], atol=1e-8)
    metrics = dict(zip(result.metrics["quantity"], result.metrics["value"]))
    assert metrics["experimental values out of bounds"] == 1
    assert metrics["source polymers"] == result.source_model.n_train_
    f_s = load_source_model(result.paths["source_model"])
    np.testing.assert_array_equal(f_s.predict(pred["smiles"]), pred["f_s"])
    kept = sim2real(SOURCES, target, out_dir=None, kinds=("rdkit",), n_folds=3, keep_suspect=True)
    assert len(kept.predictions) == len(EXPERIMENTS)


def test_sim2real_command_with_curve(tmp_path: Path, target: Path) -> None:
    out = tmp_path / "cli"
    args = ["sim2real", "--source", *SOURCES, "--target", str(target), "--out", str(out)]
    args += ["--features", "rdkit", "--folds", "3", "--curve", "--n-grid", "5", "8", "12"]
    args += ["--reps", "2", "--n-target", "4", "--no-progress"]
    assert main(args) == 0
    assert (out / "domain_shift.png").is_file() and (out / "predictions.csv").is_file()
    cells = pd.read_csv(out / "curve" / "cells.csv")
    assert set(cells["method"]) == {"affine-cv", "source-only", "target-only"}
    assert sorted(cells.loc[cells.method == "affine-cv", "n_source"].unique()) == [5, 8, 12]
    assert (out / "curve" / "scaling.png").is_file()


def test_sim2real_names_bad_input(tmp_path: Path, target: Path) -> None:
    with pytest.raises(UsageError, match="neither a built-in"):
        sim2real(tmp_path / "missing.csv", target, out_dir=None)
    with pytest.raises(UsageError, match="'Tg'"):
        sim2real(SOURCES, target, prop="Tg", out_dir=None)
