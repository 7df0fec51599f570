from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("rdkit")

from simdata import Job, get_preset, load_results, make_jobs, run_job, run_table  # noqa: E402
from simdata.cluster import read_table  # noqa: E402


def test_job_ids_are_deterministic():
    p = get_preset("fast")
    a = Job("*CC(*)C", "PP", p, 0)
    b = Job("*C(C*)C", "other name", p, 0)
    assert a.job_id == b.job_id  # same canonical SMILES, preset and seed
    assert a.job_id != Job("*CC(*)C", "PP", p, 1).job_id
    assert a.job_id != Job("*CC(*)C", "PP", get_preset("standard"), 0).job_id
    assert a.job_id != Job("*CC(*)C", "PP", p.replace(n_chains=3), 0).job_id


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [("*CC", "exactly two '*'"), ("*C[Si]*", "not covered by GAFF2"), ("C(((", "invalid SMILES")],
)
def test_bad_polymer_is_a_failed_row(tmp_path, smiles, reason):
    row = run_job(Job(smiles, "P-x", get_preset("fast"), 0), tmp_path)
    assert row["status"] == "failed"
    assert (
        "PolymerSpecError" in row["reason"] and "P-x" in row["reason"] and reason in row["reason"]
    )


def _fake_job(job, out, cache_dir=None):
    if "N" in job.smiles:
        raise RuntimeError("unexpected crash")
    return {"job_id": job.job_id, "name": job.name, "status": "done", "density": 1.0}


def test_run_table_in_process_skips_finished_and_records_failures(tmp_path):
    table = pd.DataFrame(
        {"smiles": ["*CC*", "*CC(*)C", "*CC(*)C#N"], "monomer_ID": ["a", "b", "c"]}
    )
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    jobs = make_jobs(read_table(path), "fast")
    events = []
    run_table(jobs, tmp_path / "out", n_workers=0, job_fn=_fake_job, callback=events.append)
    df = load_results(tmp_path / "out").set_index("name")
    assert df.loc["a", "status"] == "done" and df.loc["b", "status"] == "done"
    assert df.loc["c", "status"] == "failed" and "unexpected crash" in df.loc["c", "reason"]
    events.clear()
    run_table(jobs, tmp_path / "out", n_workers=0, job_fn=_fake_job, callback=events.append)
    kinds = sorted(e.kind for e in events)
    assert kinds == ["fail", "skip", "skip"]  # finished ones skipped, the failed one retried
    assert len(load_results(tmp_path / "out", all_rows=True)) == 4


def test_read_table_requires_smiles(tmp_path):
    (tmp_path / "t.csv").write_text("x\n1\n")
    with pytest.raises(ValueError, match="'smiles' column"):
        read_table(tmp_path / "t.csv")
