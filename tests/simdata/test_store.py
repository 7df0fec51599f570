from __future__ import annotations

import json

import pytest

from simdata.errors import StoreError
from simdata.store import INDEX, SHARDS, ResultStore, atomic_write, load_results


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
    assert history.row_id.is_unique


def test_one_shard_per_writer_read_as_one_table(tmp_path):
    a, b = ResultStore(tmp_path), ResultStore(tmp_path)
    a.append({"job_id": "x", "status": "failed"})
    b.append({"job_id": "y", "status": "done"})
    a.append({"job_id": "x", "status": "done"})
    shards = sorted((tmp_path / SHARDS).glob("*.jsonl"))
    assert len(shards) == 2
    assert ResultStore(tmp_path).status() == {"x": "done", "y": "done"}
    assert len(load_results(tmp_path, all_rows=True)) == 3


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_compact_folds_shards_into_one_table(tmp_path, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    a, b = ResultStore(tmp_path), ResultStore(tmp_path)
    for i in range(5):
        (a if i % 2 else b).append({"job_id": f"j{i}", "status": "done", "density": 1.0 + i})
    a.append({"job_id": "j0", "status": "failed", "reason": "later"})
    before = load_results(tmp_path, all_rows=True)
    info = a.compact(fmt=fmt)
    assert info == {
        "rows": 6,
        "shards": 2,
        "path": str(tmp_path / ("results.parquet" if fmt == "parquet" else "results.base.jsonl")),
    }
    assert not list((tmp_path / SHARDS).glob("*.jsonl*"))
    after = load_results(tmp_path, all_rows=True)
    assert sorted(after.row_id) == sorted(before.row_id)
    assert ResultStore(tmp_path).status()["j0"] == "failed"
    index = json.loads((tmp_path / INDEX).read_text())
    assert index["status"]["j3"][0] == "done"
    # writing after a compaction goes to a new shard; a second compaction keeps everything
    b.append({"job_id": "j9", "status": "done"})
    assert ResultStore(tmp_path).status()["j9"] == "done"
    assert ResultStore(tmp_path).compact(fmt=fmt)["rows"] == 7


def test_interrupted_compaction_loses_and_doubles_nothing(tmp_path):
    store = ResultStore(tmp_path)
    for i in range(3):
        store.append({"job_id": f"j{i}", "status": "done"})
    store.compact(fmt="jsonl")
    store.append({"job_id": "j3", "status": "done"})
    # a compaction killed after sealing a shard and writing the table, before the unlink
    sealed = store._seal()
    rows = store.rows()
    store._write_table(rows, "jsonl")
    assert sealed[0].exists()
    history = load_results(tmp_path, all_rows=True)
    assert len(history) == 4 and history.row_id.is_unique
    assert ResultStore(tmp_path).compact(fmt="jsonl")["rows"] == 4


def test_incremental_state_sees_new_rows(tmp_path):
    reader, writer = ResultStore(tmp_path), ResultStore(tmp_path)
    assert reader.state() == {}
    writer.append({"job_id": "a", "status": "failed"})
    assert reader.status() == {"a": "failed"}
    writer.append({"job_id": "a", "status": "done"})
    writer.compact(fmt="jsonl")
    writer.append({"job_id": "b", "status": "done"})
    assert reader.status() == {"a": "done", "b": "done"}


def test_torn_last_line_ignored_corrupt_middle_raises(tmp_path):
    store = ResultStore(tmp_path / "r.jsonl")
    store.append({"job_id": "a", "status": "done"})
    with open(store.path, "a") as fh:
        fh.write('{"job_id": "b", "sta')
    assert [r["job_id"] for r in store.rows()] == ["a"]
    with open(store.path, "a") as fh:
        fh.write('\n{"job_id": "c", "status": "done"}\n')
    with pytest.raises(StoreError, match="corrupt row on line 2"):
        store.rows()


def test_append_after_torn_line_repairs_and_keeps_a_copy(tmp_path, caplog):
    store = ResultStore(tmp_path)
    store.append({"job_id": "a", "status": "done"})
    with open(store.shard, "a") as fh:
        fh.write('{"job_id": "b", "sta')
    store.append({"job_id": "c", "status": "done"})
    assert "torn last line" in caplog.text
    assert store.status() == {"a": "done", "c": "done"}
    copies = list((tmp_path / SHARDS).glob("*.torn-*"))
    assert [c.read_text() for c in copies] == ['{"job_id": "b", "sta']
    # the legacy single journal is repaired the same way
    legacy = ResultStore(tmp_path / "old" / "results.jsonl")
    legacy.append({"job_id": "a", "status": "done"})
    with open(legacy.path, "a") as fh:
        fh.write('{"job_id"')
    legacy.append({"job_id": "d", "status": "done"})
    assert legacy.status() == {"a": "done", "d": "done"}


def test_legacy_journal_is_read_with_new_shards(tmp_path):
    (tmp_path / "results.jsonl").write_text(
        '{"job_id": "a", "status": "failed"}\n{"job_id": "a", "status": "done"}\n'
    )
    store = ResultStore(tmp_path)
    assert store.status() == {"a": "done"}
    store.append({"job_id": "b", "status": "done"})
    assert load_results(tmp_path).job_id.tolist() == ["a", "b"]


def test_row_needs_id_and_status(tmp_path):
    with pytest.raises(ValueError, match="job_id"):
        ResultStore(tmp_path).append({"density": 1.0})


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "f.json"
    atomic_write(path, "one")
    atomic_write(path, b"two")
    assert path.read_text() == "two"
    assert [p.name for p in path.parent.iterdir()] == ["f.json"]


@pytest.mark.parametrize("preset, rows", [("fast", 8), ("standard", 4)])
def test_shipped_validation_table_has_provenance(preset, rows):
    from simdata import get_preset
    from simdata.examples import load_validation, shipped_presets

    assert {"fast", "standard"} <= set(shipped_presets())
    df = load_validation(preset)
    assert len(df) >= rows and (df.status == "done").all()
    assert (df.preset == preset).all()
    assert df.job_id.is_unique
    for col in ("smiles", "preset", "settings", "versions", "platform", "density", "density_sem"):
        assert df[col].notna().all(), col
    assert df.density.between(0.7, 1.8).all()
    # the rows were made with the preset's settings as shipped now (the job ids also carry
    # the protocol version and the polymer identity of the time they were made)
    current = get_preset(preset).to_dict()
    for text in df.settings:
        made = json.loads(text)
        assert {k: made[k] for k in made if k in current} == {
            k: current[k] for k in made if k in current
        }
    with pytest.raises(ValueError, match="no example table"):
        load_validation("radonpy")
