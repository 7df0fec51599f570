"""Tests of the case-study reproductions: the grid engine against oracles, tiny end-to-end runs."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pytest

from affinetl import _solvers
from affinetl.datasets import _fetch
from affinetl.reproduce._common import ReproductionResult, command_line
from affinetl.reproduce._kernel_case import five_folds, rbf

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def mirror(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read data from the mirror (default ../shared/data), never download, private cache."""
    path = Path(os.environ.get(_fetch.MIRROR_ENV) or REPO.parent / "shared" / "data")
    if not (path / "SHA256SUMS").is_file():
        pytest.skip(f"data mirror {path} not available")
    monkeypatch.setenv(_fetch.MIRROR_ENV, str(path))
    monkeypatch.setenv(_fetch.OFFLINE_ENV, "1")
    monkeypatch.setenv(_fetch.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "affinetl-cache"))
    return path


@pytest.fixture
def problem() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    n = 20
    x, u = rng.standard_normal((n, 4)), rng.standard_normal((n, 2))
    y = np.sin(u[:, 0]) + (1 + 0.5 * u[:, 1]) * x[:, 0] + 0.1 * rng.standard_normal(n)
    return x, u, y


def test_ridge_path_matches_a_direct_solve(problem) -> None:
    x, _, y = problem
    K = rbf(x, x, 0.2)
    lams = [1e-3, 0.1, 10.0]
    pred = _solvers.ridge_path(K, y, K, lams)
    n = len(y)
    for lam, p in zip(lams, pred):
        # min ||y - a0 - K a||^2 + lam a'K a: normal equations in (a0, a), a in span
        M = np.block(
            [[K @ K + lam * K, K.sum(1, keepdims=True)], [K.sum(0)[None], np.full((1, 1), n)]]
        )
        sol = np.linalg.lstsq(M, np.concatenate([K @ y, [y.sum()]]), rcond=None)[0]
        np.testing.assert_allclose(p, K @ sol[:n] + sol[n], atol=1e-7)


def test_ridge_path_zero_penalty_interpolates(problem) -> None:
    x, _, y = problem
    K = rbf(x, x, 0.2)
    np.testing.assert_allclose(_solvers.ridge_path(K, y, K, [0.0])[0], y, atol=1e-6)


def test_affine_const_path_matches_the_joint_solve(problem) -> None:
    from affinetl._solvers import fit_const_affine

    x, u, y = problem
    K1, K3 = rbf(u, u, 0.25), rbf(x, x, 0.125)
    pred = _solvers.affine_const_path(K1, K3, y, K1, K3, [(0.1, 1.0), (1.0, 0.01)])
    for (l1, l3), p in zip([(0.1, 1.0), (1.0, 0.01)], pred):
        a0, alpha, gamma = fit_const_affine(K1, K3, y, l1, l3)
        np.testing.assert_allclose(p, a0 + K1 @ alpha + K3 @ gamma, atol=1e-8)


def _stacked_full_path_inputs(problem):
    """Two stacked problems (the second with a shifted target) and a shared grid, as the
    AffineTL-full grid paths take them: ``(K1, K2, K3, y, evals, grid)`` with ``K2 = K1``."""
    x, u, y = problem
    K1, K3 = rbf(u, u, 0.25), rbf(x, x, 0.125)
    grid = [(1e-2, 0.1, 1.0), (1.0, 10.0, 0.01), (0.1, 1.0, 0.1)]
    inputs = (
        np.stack([K1, K1]),
        np.stack([K1, K1]),
        np.stack([K3, K3]),
        np.stack([y, y + 1.0]),
        (K1[None], K1[None], K3[None]),
        grid,
    )
    return K1, K3, y, grid, inputs


def test_affine_full_path_matches_the_estimator_solver(problem) -> None:
    from affinetl._solvers import GramFactor, fit_affine_blocks

    K1, K3, y, grid, inputs = _stacked_full_path_inputs(problem)
    pred, n_iter = _solvers.affine_full_path(*inputs)
    rng = np.random.default_rng(0)
    beta0, gamma0 = rng.standard_normal(len(y)), rng.standard_normal(len(y))
    for k, target in enumerate([y, y + 1.0]):
        for j, lams in enumerate(grid):
            res = fit_affine_blocks(
                GramFactor(K1),
                GramFactor(K1),
                GramFactor(K3),
                target,
                lams,
                beta0=beta0,
                gamma0=gamma0,
            )
            fitted = res.intercept + K1 @ res.alpha + (1 + K1 @ res.beta) * (K3 @ res.gamma)
            np.testing.assert_allclose(pred[k, j], fitted, rtol=1e-7, atol=1e-7)
            assert n_iter[k, j] == res.n_iter


def test_affine_full_newton_path_matches_converged_block_relaxation(problem) -> None:
    from affinetl._solvers import GramFactor, affine_full_path, fit_affine_blocks

    K1, K3, y, grid, inputs = _stacked_full_path_inputs(problem)
    pred, n_iter = affine_full_path(*inputs, solver="newton", tol=1e-10)
    for k, target in enumerate([y, y + 1.0]):
        for j, lams in enumerate(grid):
            # the same start (AffineTL-const, the relaxation's default), run to a tight tolerance
            res = fit_affine_blocks(
                GramFactor(K1),
                GramFactor(K1),
                GramFactor(K3),
                target,
                lams,
                max_iter=50000,
                tol=1e-12,
            )
            fitted = res.intercept + K1 @ res.alpha + (1 + K1 @ res.beta) * (K3 @ res.gamma)
            np.testing.assert_allclose(pred[k, j], fitted, rtol=1e-6, atol=1e-6)
            assert n_iter[k, j] < min(res.n_iter, 200)


def test_five_folds_are_unshuffled_and_partition() -> None:
    folds = five_folds(12)
    assert [len(v) for _, v in folds] == [3, 3, 2, 2, 2]
    assert np.array_equal(np.concatenate([v for _, v in folds]), np.arange(12))
    for train, val in folds:
        assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(12))
    with pytest.raises(ValueError, match="number of samples"):
        five_folds(4)


def test_command_line_options_follow_the_signature(capsys) -> None:
    calls = []

    def reproduce_toy(
        out_dir: str = "results/toy",
        *,
        n_reps: int = 20,
        sizes: tuple[int, ...] = (5, 10),
        kind: Literal["a", "b"] = "a",
        linear_source: bool = True,
        device: str | None = None,
        quick: bool = False,
    ) -> ReproductionResult:
        """Toy.

        Parameters
        ----------
        out_dir : str
            Output directory.
        n_reps : int
            Repetitions (5 % of the
            paper's 400).
        sizes, kind : tuple of int, str
            Settings of :func:`affinetl.reproduce.reproduce`.
        linear_source, device, quick : bool, str, bool
            Switches.

        Returns
        -------
        ReproductionResult
        """
        calls.append(locals())
        return ReproductionResult("toy", pd.DataFrame(), pd.DataFrame({"x": [1.0]}))

    add_arguments, run = command_line(reproduce_toy)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    helps = {a.dest: a.help for a in parser._actions}
    assert helps["n_reps"] == "Repetitions (5 %% of the paper's 400)."
    assert "(5 % of the paper's 400)" in " ".join(parser.format_help().split())
    assert helps["kind"] == "Settings of affinetl.reproduce.reproduce."
    assert run(parser.parse_args([])) == 0
    assert calls[-1]["out_dir"] == "results/toy" and calls[-1]["linear_source"] is True
    argv = "--out o --reps 3 --sizes 5 --kind b --rbf-only --device cpu --quick".split()
    run(parser.parse_args(argv))
    assert {k: v for k, v in calls[-1].items() if k != "calls"} == {
        "out_dir": "o",
        "n_reps": 3,
        "sizes": [5],
        "kind": "b",
        "linear_source": False,
        "device": "cpu",
        "quick": True,
    }
    assert "== affinetl reproduce toy ==" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args(["--kind", "c"])


def test_reproduce_sarcos_tiny(mirror: Path, tmp_path: Path) -> None:
    from affinetl.reproduce.sarcos import METHODS, reproduce_sarcos

    result = reproduce_sarcos(
        tmp_path, n_values=(5,), n_reps=1, torques=(2,), max_iter=100, cv_max_iter=100
    )
    assert set(result.records["method"]) == set(METHODS)
    assert len(result.records) == len(METHODS)
    assert result.settings["proxy"] is True
    assert any("OFFLINE PROXY" in note for note in result.notes)
    assert all(path.is_file() for path in result.files.values())
    assert (result.records["MSE"] > 0).all()
    assert "published_MSE" in result.summary
    with pytest.raises(ValueError, match="multiples of 5"):
        reproduce_sarcos(tmp_path, n_values=(7,))


def test_reproduce_density_tiny(mirror: Path, tmp_path: Path) -> None:
    from affinetl.reproduce.density import reproduce_density

    result = reproduce_density(tmp_path, n_values=(10,), n_reps=1, cv_max_iter=100)
    rmse = result.records.set_index("method")["RMSE"]
    assert 0.0 < rmse["MD as is"] < 0.1  # OPLS3e densities are within ~5 % of experiment
    assert rmse["Direct"] > rmse["SourceOnly"]  # the source carries the information
    assert result.files["figure"].stat().st_size > 0


def test_reproduce_ltc_tiny(mirror: Path, tmp_path: Path) -> None:
    from affinetl.reproduce.ltc import reproduce_ltc

    result = reproduce_ltc(
        tmp_path, n_splits=1, networks=(72,), layers=(), max_iter=50, cv_max_iter=50
    )
    methods = set(result.records["method"])
    assert {"Direct", "AffineTL-full (output)", "AffineTL-const"} <= methods
    assert (result.records["RMSE"] > 0).all()


def test_linear_grid_matches_the_estimators() -> None:
    from affinetl import LinearAffineTransferRegressor, LogDifferenceRegressor
    from affinetl._solvers import fused_inverses
    from affinetl._solvers import fused_ridge_path as log_difference_path
    from affinetl.reproduce.polymer_cp import _linear_affine_path as linear_affine_path

    rng = np.random.default_rng(1)
    n, p, blocks = 30, 25, [5, 10, 10]
    x, u = rng.standard_normal((n, p)), rng.standard_normal(n)
    y = 0.5 + 1.2 * u - (1 + 0.3 * u) * (x @ np.sin(np.arange(p) / 3)) * 0.3
    y += 0.05 * rng.standard_normal(n)
    grid = [(1.0, 2.0), (0.3, 0.0), (3.0, 10.0)]
    Pinv = fused_inverses(p, blocks, grid)
    pred, gamma, n_iter = linear_affine_path(x, u, y, x, u, Pinv, max_iter=1000, tol=1e-6)
    positive = np.exp(y / 5)
    log_pred = log_difference_path(x, np.log(positive) - u / 5, x, Pinv)
    for j, (ls, lt) in enumerate(grid):
        # the paper's model and algorithm: b unpenalised, block relaxation
        est = LinearAffineTransferRegressor(
            lambda_ridge=ls, lambda_fused=lt, blocks=blocks, lambda_scale=0.0, solver="relaxation"
        )
        est.fit(np.c_[x, u], y)
        np.testing.assert_allclose(pred[j], est.predict(np.c_[x, u]), atol=1e-9)
        np.testing.assert_allclose(gamma[j], -est.coef_, atol=1e-9)  # the paper's gamma = -w
        assert n_iter[j] == est.n_iter_
        logd = LogDifferenceRegressor(lambda_ridge=ls, lambda_fused=lt, blocks=blocks)
        logd.fit(np.c_[x, np.exp(u / 5)], positive)
        np.testing.assert_allclose(
            u / 5 + log_pred[j], np.log(logd.predict(np.c_[x, np.exp(u / 5)])), atol=1e-9
        )


def test_reproduce_polymer_cp_synthetic(mirror: Path, tmp_path: Path) -> None:
    from affinetl.reproduce.polymer_cp import reproduce_polymer_cp, synthetic_experimental_cp

    experimental = tmp_path / "cp.csv"
    synthetic_experimental_cp(seed=3).to_csv(experimental, index=False)
    result = reproduce_polymer_cp(tmp_path, experimental, n_splits=1, quick=True, max_iter=200)
    assert set(result.records["method"]) == {
        "AffineTL (linear)",
        "Log-difference",
        "Linear regression",
    }
    # the synthetic truth has log-noise 0.05: errors are of that size, far below log Cp's spread
    assert (result.records["RMSE_logCp"] < 0.2).all()
    gamma = pd.read_csv(result.files["gamma"])
    assert len(gamma) == 190 and gamma["block"].nunique() == 10
    with pytest.raises(ValueError, match="needs experimental Cp"):
        reproduce_polymer_cp(tmp_path)


def test_reproduce_spectra_quick(mirror: Path, tmp_path: Path) -> None:
    from affinetl.reproduce import reproduce

    result = reproduce("spectra", tmp_path, quick=True)
    assert len(result.summary) == 3
    assert (result.summary["s23_envelope"] >= result.summary["s3_envelope"] - 1e-12).all()
    assert set(result.records["kernel"]) == {"K2 (u)", "K3 (x)", "K2 o K3"}
    with pytest.raises(ValueError, match="unknown case"):
        reproduce("nope")


@pytest.mark.slow
def test_affine_full_path_torch_matches_numpy(problem) -> None:
    pytest.importorskip("torch")
    x, u, y = problem
    K1, K3 = rbf(u, u, 0.25), rbf(x, x, 0.125)
    grid = [(1e-2, 0.1, 1.0), (1.0, 10.0, 0.01)]
    ref, it_ref = _solvers.affine_full_path(K1, K1, K3, y, (K1, K1, K3), grid, max_iter=25)
    got, it_got = _solvers.affine_full_path(
        K1, K1, K3, y, (K1, K1, K3), grid, max_iter=25, device="cpu"
    )
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(it_got, it_ref)
