from __future__ import annotations

import pytest

pytest.importorskip("rdkit")

from simdata.cli import main  # noqa: E402


def test_run_and_show_record_failures(tmp_path, capsys):
    table = tmp_path / "p.csv"
    table.write_text("smiles,name\n*C[Si]*,bad-si\n*CC,bad-star\n")
    out = tmp_path / "res"
    assert main(["-q", "run", str(table), "--out", str(out), "--workers", "0"]) == 1
    assert main(["show", str(out), "--to", str(tmp_path / "r.csv")]) == 0
    text = capsys.readouterr().out
    assert "bad-si" in text and "not covered by GAFF2" in text
    assert "2 polymers: {'failed': 2}" in text
    assert (tmp_path / "r.csv").exists()


def test_bad_override_and_empty_folder(tmp_path, capsys):
    table = tmp_path / "p.csv"
    table.write_text("smiles\n*CC*\n")
    assert main(["run", str(table), "--out", str(tmp_path), "--set", "n_chain=2"]) == 2
    assert main(["show", str(tmp_path / "none")]) == 1
