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


def _table(tmp_path, text="smiles,name\n*CC*,PE\n"):
    path = tmp_path / "p.csv"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--workers", "-1"], "--workers must be >= 0"),
        (["--retries", "-2"], "--retries must be >= 0"),
        (["--seed", "-1"], "--seed must be >= 0"),
        (["--lease-ttl", "0"], "--lease-ttl must be a positive"),
        (["--set", "production_ps=-5"], "production_ps=-5.0: must be > 0"),
        (["--set", "n_chains=0"], "n_chains=0: must be >= 1"),
        (["--set", "n_chains=2.5"], "n_chains=2.5: expected a whole number"),
        (["--set", "cutoff_nm=abc"], "cutoff_nm=abc: expected a number"),
        (["--set", "cutoff_nm=nan"], "expected a finite number"),
        (["--set", "conductivity_flexible=maybe"], "expected true or false"),
        (["--set", "tacticity=random"], "tacticity=random: choose one of"),
        (["--set", "charge_method=resp"], "charge_method=resp: choose one of"),
        (["--set", "n_chain=2"], "unknown preset field 'n_chain'; did you mean n_chains"),
        (["--set", "n_chains"], "--set expects FIELD=VALUE"),
        (["--set", "report_ps=50", "--set", "production_ps=10"], "report_ps=50.0 is longer"),
        (["--set", "cp_delta_t=400"], "cp_delta_t=400.0 must be below temperature"),
        (["--set", "timestep_fs=8"], "timestep_fs=8.0: at most 5 fs"),
        (["--set", "hydrogen_mass=0.5"], "hydrogen_mass=0.5: at least 1.008"),
        (["--preset", "huge"], "unknown preset 'huge'"),
    ],
)
def test_bad_options_one_line_exit_2_before_any_work(tmp_path, capsys, extra, message):
    out = tmp_path / "res"
    assert main(["run", _table(tmp_path), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()  # nothing was started


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("smiles,name\n*CC*,PE\n*CC(*)C,PE\n", "the name 'PE' is used by rows [1, 2]"),
        (
            "smiles,name\n*CC*,PE\n*CC*,PE2\n",
            "rows 1 ('PE', '*CC*') and 2 ('PE2', '*CC*') are the same SMILES",
        ),
        ("smiles,name\n*OCC*,PEO\n*COC*,PEO-b\n", "are the same polymer (*CCO*)"),
        ("smiles,name\n*CC*,PE\n,empty\n", "1 row(s) have no SMILES (rows [2])"),
        ("name\nPE\n", "needs a 'smiles' column"),
        ("smiles,name\n", "has no rows"),
    ],
)
def test_bad_tables_name_the_rows(tmp_path, capsys, text, message):
    assert main(["run", _table(tmp_path, text), "--out", str(tmp_path / "res")]) == 2
    err = capsys.readouterr().err
    assert message in err, err


def test_missing_table_and_bad_paths(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    cases = [
        (
            ["run", str(tmp_path / "none.csv"), "--out", str(tmp_path / "r")],
            "no such polymer table",
        ),
        (["run", _table(tmp_path), "--out", str(tmp_path / "file")], "is not a folder"),
        (
            [
                "run",
                _table(tmp_path),
                "--out",
                str(tmp_path / "r"),
                "--cache",
                str(tmp_path / "file"),
            ],
            "--cache",
        ),
        (["show", str(tmp_path), "--to", str(tmp_path / "no" / "x.csv")], "does not exist"),
        (["show", str(tmp_path), "--to", str(tmp_path / "x.xlsx")], "expected a .csv or .parquet"),
        (["compact", str(tmp_path / "nowhere")], "no such results folder"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err


def test_duplicates_first_policy_keeps_first_row(tmp_path, capsys):
    import pandas as pd

    from simdata.campaign import check_polymer_table

    table = pd.DataFrame({"smiles": ["*OCC*", "*CC*", "*COC*"], "name": ["a", "b", "c"]})
    kept = check_polymer_table(table, duplicates="first")
    assert kept.name.tolist() == ["a", "b"]
    out = tmp_path / "res"
    assert (
        main(
            [
                "-q",
                "run",
                _table(tmp_path, "smiles,name\n*C[Si]*,a\n"),
                "--out",
                str(out),
                "--workers",
                "0",
            ]
        )
        == 1
    )
    assert main(["show", str(out), "--columns", "name,nope"]) == 2
    assert "no column(s) ['nope']" in capsys.readouterr().err


def test_failed_rows_rerun_only_on_request(tmp_path, capsys):
    from simdata.store import load_results

    table = _table(tmp_path, "smiles,name\n*C[Si]*,bad-si\n")
    out = tmp_path / "res"
    assert main(["-q", "run", table, "--out", str(out), "--workers", "0"]) == 1
    assert main(["-q", "run", table, "--out", str(out), "--workers", "0"]) == 0
    assert len(load_results(out, all_rows=True)) == 1
    assert main(["-q", "run", table, "--out", str(out), "--workers", "0", "--retry-failed"]) == 1
    rows = load_results(out, all_rows=True)
    assert len(rows) == 2 and (rows.status == "failed").all()
    assert rows.reason.str.contains("not covered by GAFF2").all()
    assert main(["compact", str(out)]) == 0
    assert "2 rows from 0 shard(s)" in capsys.readouterr().out  # run compacted already
