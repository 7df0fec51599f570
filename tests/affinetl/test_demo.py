"""``affinetl demo``: the polymer-density showcase on a tiny configuration, and its summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from affinetl.demo import headline, run_demo
from affinetl.demo._polymer import MAIN, RAW, _split, summarize
from affinetl.exceptions import UsageError

METHODS = {
    MAIN,
    RAW,
    "MD calibrated",
    "HTL-offset",
    "HTL-scale",
    "SourceOnly",
    "Augmented",
    "Direct",
}


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory):
    return run_demo(tmp_path_factory.mktemp("demo"), n_values=(10,), n_splits=2, random_state=3)


def test_tiny_demo_writes_table_records_and_figures(tiny_demo):
    assert set(tiny_demo.table.index) == METHODS
    assert list(tiny_demo.table.columns) == ["mean n=10", "se n=10"]
    assert len(tiny_demo.records) == 2 * len(METHODS)
    assert np.all(np.isfinite(tiny_demo.table.to_numpy()))
    for key in ("records", "table", "error_vs_n", "parity", "domain_shift"):
        assert tiny_demo.files[key].stat().st_size > 0, key
        assert tiny_demo.files[key].stat().st_mode & 0o044 == 0o044, key  # readable by others
    saved = pd.read_csv(tiny_demo.files["table"], index_col=0)
    np.testing.assert_allclose(saved.to_numpy(), tiny_demo.table.to_numpy())
    report = tiny_demo.report()
    assert "±" in report and tiny_demo.headline in report
    assert tiny_demo.headline.startswith(f"{MAIN} (defaults) at n = 10:")


def test_the_raw_simulation_row_is_the_md_density(tiny_demo):
    from affinetl.demo import load_demo_case

    X, y, _ = load_demo_case()
    train, test, _ = _split(len(y), 10, 0, 3)
    raw = np.sqrt(np.mean((X["md_density"].to_numpy()[test] - y[test]) ** 2))
    rec = tiny_demo.records.set_index(["split", "method"]).loc[(0, RAW), "RMSE"]
    assert rec == pytest.approx(raw)


def test_parallel_workers_give_the_same_table(tiny_demo, tmp_path):
    again = run_demo(tmp_path, n_values=(10,), n_splits=2, random_state=3, n_jobs=2)
    pd.testing.assert_frame_equal(again.table, tiny_demo.table)


def test_the_seed_changes_the_splits():
    assert not np.array_equal(_split(100, 10, 0, 0)[0], _split(100, 10, 0, 1)[0])
    np.testing.assert_array_equal(_split(100, 10, 0, 0)[0], _split(100, 10, 0, 0)[0])
    assert not np.array_equal(_split(100, 10, 0, 0)[0], _split(100, 10, 1, 0)[0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_values": (3,)}, "training sizes"), ({"n_splits": 1}, "at least 2 splits")],
)
def test_bad_settings_are_usage_errors(kwargs, match, tmp_path):
    with pytest.raises(UsageError, match=match):
        run_demo(tmp_path, **kwargs)


def _records(errors: dict[str, list[float]], n: int = 10) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"n": n, "split": k, "method": m, "RMSE": e}
            for m, errs in errors.items()
            for k, e in enumerate(errs)
        ]
    )


def test_headline_names_the_best_and_the_gap_in_standard_errors():
    # paired differences to the best (HTL-offset): 0.01, 0.03 -> mean 0.02, SE 0.01 -> 2.0 SE
    records = _records({MAIN: [0.06, 0.08], "HTL-offset": [0.05, 0.05], RAW: [0.10, 0.10]})
    text = headline(records, summarize(records))
    assert "-30% vs the raw MD density" in text
    assert "n=10: 2.0 SE behind HTL-offset" in text


def test_headline_within_one_standard_error_and_best():
    records = pd.concat(
        [
            _records({MAIN: [0.050, 0.060], "HTL-offset": [0.052, 0.054], RAW: [0.1, 0.1]}, 10),
            _records({MAIN: [0.040, 0.042], "HTL-offset": [0.05, 0.05], RAW: [0.1, 0.1]}, 20),
        ]
    )
    text = headline(records, summarize(records))
    assert "n=10: within 1 SE of HTL-offset" in text
    assert "n=20: best" in text
    assert text.count("\n") == 0
