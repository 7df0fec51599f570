"""Eigenvalue decay of the case studies' Gram matrices (the theory's assumption, on real data).

The excess-risk bound of the affine transfer depends on the eigenvalue decay of the kernels on
the source features ``u`` (K2), on the inputs ``x`` (K3) and of their Hadamard product
``K2 o K3`` (the kernel of the product g2 g3): with ``mu_i <= c i^(-1/s)`` a smaller ``s`` means
faster decay and a faster rate. This case computes the three spectra on each data set with the
kernels of the reproductions (RBF, ``gamma = 1 / (2 * dim)`` on standardised features) and the
decay exponents of :mod:`affinetl.theory` (envelope, the paper's definition, and a log-log fit),
and checks ``max(s2, s3) < s23 < s2 + s3``.
"""

from __future__ import annotations

import argparse
import logging
import os

import numpy as np
import pandas as pd

from ..datasets import load_ltc, load_sarcos
from ..theory import gram_spectrum, hadamard_decay
from ._common import ReproductionResult, Timer, progress, write_outputs
from ._grid import rbf
from .density import load_density_case

__all__ = ["add_arguments", "reproduce_spectra", "run"]

logger = logging.getLogger(__name__)


def _standardize(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    a = a[:, None] if a.ndim == 1 else a
    sd = a.std(0, ddof=1)
    return (a - a.mean(0)) / np.where(sd > 0, sd, 1.0)


def _datasets(n_sarcos: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(u, x) per data set, standardised."""
    out = {}
    sarcos = load_sarcos("proxy")
    rows = np.random.default_rng(seed).permutation(sarcos.n_samples)[:n_sarcos]
    torques = sarcos.y.to_numpy()[rows]
    out["SARCOS torque 1 (proxy pool)"] = (
        _standardize(torques[:, 1:]),
        _standardize(sarcos.X.to_numpy()[rows]),
    )
    ltc = load_ltc()
    has = ltc.y["LTC"].notna().to_numpy()
    net = ltc.extras["networks"][72]
    out["LTC (SPS network 72 output)"] = (
        _standardize(net.predict(ltc.X.to_numpy()[has])),
        _standardize(ltc.X.to_numpy()[has]),
    )
    X, u, _, _ = load_density_case("density", "afzal-md")
    out["Polymer density (Afzal MD)"] = (_standardize(u), _standardize(X.to_numpy()))
    return out


def reproduce_spectra(
    out_dir: str | os.PathLike[str] = "results/spectra",
    *,
    n_sarcos: int = 500,
    seed: int = 0,
    quick: bool = False,
) -> ReproductionResult:
    """Spectra and decay exponents of K2 (on u), K3 (on x) and K2 o K3 for each case study.

    Parameters
    ----------
    out_dir : path-like
        Output directory.
    n_sarcos : int
        Random SARCOS rows used (the Gram matrix is n x n).
    seed : int
        Seed of the SARCOS row sample.
    quick : bool
        Use 100 SARCOS rows.

    Returns
    -------
    ReproductionResult
        ``summary``: exponents ``s2``, ``s3``, ``s23`` (envelope and log-log) per data set and
        whether ``max(s2, s3) < s23 < s2 + s3``; ``records``: the spectra.
    """
    if quick:
        n_sarcos = 100
    with Timer() as timer:
        rows, spectra = [], []
        for name, (u, x) in progress(_datasets(n_sarcos, seed).items(), desc="spectra"):
            K2 = rbf(u, u, 1 / (2 * u.shape[1]))
            K3 = rbf(x, x, 1 / (2 * x.shape[1]))
            row: dict[str, object] = {
                "data": name,
                "n": len(u),
                "dim_u": u.shape[1],
                "dim_x": x.shape[1],
            }
            for method in ("envelope", "lstsq"):
                res = hadamard_decay(K2, K3, method=method)
                row.update(
                    {
                        f"s2_{method}": res.s2,
                        f"s3_{method}": res.s3,
                        f"s23_{method}": res.s23,
                        f"within_bounds_{method}": res.within_bounds,
                    }
                )
            rows.append(row)
            for label, K in (("K2 (u)", K2), ("K3 (x)", K3), ("K2 o K3", K2 * K3)):
                mu = gram_spectrum(K)
                spectra.append(
                    pd.DataFrame(
                        {
                            "data": name,
                            "kernel": label,
                            "i": np.arange(1, len(mu) + 1),
                            "eigenvalue": mu,
                        }
                    )
                )
    summary = pd.DataFrame(rows).set_index("data")
    records = pd.concat(spectra, ignore_index=True)
    notes = ["RBF kernels with gamma = 1/(2 dim) on standardised features; s: mu_i <= c i^(-1/s)."]
    result = ReproductionResult(
        case="spectra",
        records=records,
        summary=summary,
        seconds=timer.seconds,
        notes=notes,
        settings={"n_sarcos": n_sarcos, "seed": seed},
    )
    return write_outputs(result, out_dir, _figure(records))


def _figure(records: pd.DataFrame):
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    names = list(dict.fromkeys(records["data"]))
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4))
    for ax, name in zip(np.atleast_1d(axes), names):
        part = records[records["data"] == name]
        for label, curve in part.groupby("kernel"):
            positive = curve[curve["eigenvalue"] > 1e-14 * curve["eigenvalue"].max()]
            ax.loglog(positive["i"], positive["eigenvalue"], label=label)
        ax.set(title=name, xlabel="index i", ylabel="eigenvalue")
        ax.legend(fontsize=8)
    fig.suptitle("Eigenvalue decay of the case-study kernels")
    return fig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``affinetl reproduce spectra``."""
    parser.add_argument("--out", default="results/spectra", help="output directory")
    parser.add_argument("--quick", action="store_true", help="reduced run (seconds)")
    parser.add_argument("--n-sarcos", type=int, default=500)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``affinetl reproduce spectra``; prints the table, returns 0."""
    result = reproduce_spectra(args.out, n_sarcos=args.n_sarcos, quick=args.quick)
    print(result.report())  # noqa: T201 - CLI output
    return 0
