"""``affinetl scaling`` command line (add_arguments + run) on small tables."""

from __future__ import annotations

import argparse
import os

import numpy as np
import pandas as pd
import pytest

from affinetl.scaling._cli import add_arguments, run

SIDE_GROUPS = [
    "C", "CC", "CCC", "CCCC", "C(C)C", "c1ccccc1", "F", "Cl", "OC", "OCC", "C(=O)OC",
    "C(=O)OCC", "C#N", "OC(=O)C", "C1CCCCC1", "c1ccc(C)cc1", "Br", "C(F)(F)F", "CO", "N",
]  # fmt: skip


def _tables(tmp_path):
    smiles = [f"*CC(*){r}" for r in SIDE_GROUPS] + [f"*CC(C)(*){r}" for r in SIDE_GROUPS]
    n_heavy = np.array([len([c for c in s if c.isalpha() and c.isupper()]) for s in smiles])
    md = 0.9 + 0.02 * n_heavy + 0.1 * np.array(["F" in s or "Cl" in s or "Br" in s for s in smiles])
    pd.DataFrame({"smiles": smiles, "density": md}).to_csv(tmp_path / "md.csv", index=False)
    exp = pd.DataFrame({"smiles": smiles, "density_exp": 1.05 * md - 0.02})
    exp.to_csv(tmp_path / "exp.csv", index=False)
    return tmp_path / "md.csv", tmp_path / "exp.csv"


def _parse(argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_runs_writes_outputs_and_resumes(tmp_path, capsys):
    md, exp = _tables(tmp_path)
    out = tmp_path / "out"
    argv = [
        "--source", str(md), "--target", str(exp), "--property", "density",
        "--method", "source-only", "target-only",
        "--n-grid", "8", "16", "24", "40", "--n-target", "8", "--n-target-grid", "4", "8", "12",
        "--n-test", "20", "--reps", "3", "--n-boot", "50", "--features", "rdkit",
        "--out", str(out), "--no-progress",
    ]  # fmt: skip
    assert run(_parse(argv)) == 0
    printed = capsys.readouterr().out
    assert "fitted laws" in printed and "equivalent experimental samples" in printed
    for name in ("cells.csv", "fits.csv", "equivalent.csv", "scaling.png", "report.txt"):
        assert (out / name).stat().st_size > 0
    cells = pd.read_csv(out / "cells.csv")
    assert len(cells) == 3 * (4 + 3) and not cells["cached"].any()
    fits = pd.read_csv(out / "fits.csv")
    assert set(fits["method"]) == {"source-only", "target-only"}
    # second run: every cell comes from the cache
    assert run(_parse(argv)) == 0
    assert pd.read_csv(out / "cells.csv")["cached"].all()


def test_cli_names_a_missing_property(tmp_path):
    md, exp = _tables(tmp_path)
    args = _parse(["--source", str(md), "--target", str(exp), "--property", "Tg",
                   "--out", str(tmp_path / "o"), "--no-progress"])  # fmt: skip
    with pytest.raises(ValueError, match="'Tg' column"):
        run(args)


@pytest.mark.slow
def test_cli_quick_on_the_real_tables(tmp_path, monkeypatch):
    """The issue's smoke test: PI1070 MD density -> Afzal experimental density, --quick."""
    monkeypatch.setenv(
        "AFFINETL_DATA_MIRROR", os.environ.get("AFFINETL_DATA_MIRROR", "../shared/data")
    )
    args = _parse(["--quick", "--out", str(tmp_path), "--no-progress"])
    assert run(args) == 0
    cells = pd.read_csv(tmp_path / "cells.csv")
    assert set(cells["method"]) == {"affine", "fine-tuning", "source-only", "target-only"}
    assert (cells["rmse"] > 0).all()
