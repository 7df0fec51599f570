"""Smoke tests of the theory studies at their --quick size (slow: run with -m slow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(module: str, out: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", module, "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.slow
def test_hadamard_decay_quick(tmp_path: Path) -> None:
    stdout = _run("benchmarks.theory.hadamard_decay", tmp_path)
    df = pd.read_csv(tmp_path / "hadamard_decay.csv")
    assert (tmp_path / "hadamard_decay.png").stat().st_size > 0
    assert set(df.overlap) == set(range(11))
    assert df.groupby(["k2", "k3"]).ngroups == 25
    # the paper's claim on Matern/RBF pairs: the product decays slower than either factor
    smooth = df[(df.k2 != "linear") & (df.k3 != "linear")]
    assert (smooth.s23 > smooth[["s2", "s3"]].max(axis=1)).mean() > 0.95
    assert "share of runs" in stdout


@pytest.mark.slow
def test_excess_risk_rate_quick(tmp_path: Path) -> None:
    stdout = _run("benchmarks.theory.excess_risk_rate", tmp_path)
    df = pd.read_csv(tmp_path / "excess_risk_rate.csv")
    assert (df.excess_risk > 0).all()
    means = df.groupby("n").excess_risk.mean()
    assert means.iloc[-1] < means.iloc[0]  # more data, less excess risk
    assert "theoretical slope" in stdout


@pytest.mark.slow
def test_speed_scale_quick(tmp_path: Path) -> None:
    stdout = _run("benchmarks.theory.speed_scale", tmp_path)
    df = pd.read_csv(tmp_path / "speed_scale.csv")
    assert set(df.method) == {"krr", "affinetl_const", "affinetl_full", "nystroem_full"}
    assert df.fit_s.notna().all()
    assert "ratio to kernel ridge" in stdout
    # the large-n mode is compared with the exact fit where both run
    assert df[df.method == "nystroem_full"].pred_rel_diff_vs_exact.notna().all()


@pytest.mark.slow
def test_relatedness_quick(tmp_path: Path) -> None:
    stdout = _run("benchmarks.theory.relatedness", tmp_path)
    df = pd.read_csv(tmp_path / "relatedness.csv")
    assert set(df.relation) == {"strong", "weak"}
    assert (df.test_mse > 0).all()
    # a source that explains little cannot carry the weak task on its own
    weak = df[df.relation == "weak"].groupby("method").test_mse.mean()
    assert weak["source_only"] > weak["direct"]
    assert "AffineTL-full minus Direct" in stdout
