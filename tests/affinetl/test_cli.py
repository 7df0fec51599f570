"""The ``affinetl`` command line."""

from __future__ import annotations

import pandas as pd

from affinetl.cli import main


def test_demo_writes_table_and_figure(tmp_path, capsys):
    assert main(["demo", "--synthetic", "--out", str(tmp_path), "--n-train", "40"]) == 0
    table = pd.read_csv(tmp_path / "demo_scores.csv")
    assert set(table["model"]) >= {"AffineTL-full", "Direct", "SourceOnly"}
    assert (tmp_path / "demo_components.png").stat().st_size > 0
    assert "AffineTL-full" in capsys.readouterr().out
