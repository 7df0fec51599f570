from __future__ import annotations

import pytest

from simdata.store import ResultStore, load_results


def test_append_and_replay(tmp_path):
    store = ResultStore(tmp_path)
    store.append({"job_id": "a", "status": "failed", "reason": "boom"})
    store.append({"job_id": "b", "status": "done", "density": 1.0})
    store.append({"job_id": "a", "status": "done", "density": float("nan")})
    assert store.finished_ids() == {"a", "b"}
    df = load_results(tmp_path)
    assert len(df) == 2
    assert df.set_index("job_id").loc["a", "status"] == "done"
    history = load_results(tmp_path, all_rows=True)
    assert list(history.status) == ["failed", "done", "done"]
    assert history.density.isna().iloc[2]  # NaN stored as null


def test_torn_last_line_ignored_corrupt_middle_raises(tmp_path):
    store = ResultStore(tmp_path / "r.jsonl")
    store.append({"job_id": "a", "status": "done"})
    with open(store.path, "a") as fh:
        fh.write('{"job_id": "b", "sta')
    assert [r["job_id"] for r in store.rows()] == ["a"]
    with open(store.path, "a") as fh:
        fh.write('\n{"job_id": "c", "status": "done"}\n')
    with pytest.raises(ValueError, match="corrupt row on line 2"):
        store.rows()


def test_row_needs_id_and_status(tmp_path):
    with pytest.raises(ValueError, match="job_id"):
        ResultStore(tmp_path).append({"density": 1.0})


@pytest.mark.parametrize("preset, rows", [("fast", 8), ("standard", 4)])
def test_shipped_validation_table_has_provenance(preset, rows):
    from simdata import Job, get_preset
    from simdata.examples import load_validation, shipped_presets

    assert set(shipped_presets()) == {"fast", "standard"}
    df = load_validation(preset)
    assert len(df) >= rows and (df.status == "done").all()
    assert (df.preset == preset).all()
    assert df.job_id.is_unique
    for col in ("smiles", "preset", "settings", "versions", "platform", "density", "density_sem"):
        assert df[col].notna().all(), col
    assert df.density.between(0.7, 1.8).all()
    # the rows are jobs of the preset as shipped now (same settings, same job ids)
    ids = [
        Job(r.smiles, r["name"], get_preset(preset), int(r.get("seed", 0))).job_id
        for _, r in df.iterrows()
    ]
    assert ids == df.job_id.tolist()
    with pytest.raises(ValueError, match="no example table"):
        load_validation("radonpy")
