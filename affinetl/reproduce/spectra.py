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

import os

import numpy as np
import pandas as pd

from ..datasets import load_ltc, load_sarcos
from ..theory import gram_spectrum, hadamard_decay
from ._common import (
    ReproductionResult,
    command_line,
    finish,
    progress,
    reproduction,
    standardize,
    subplots,
)
from ._kernel_case import rbf
from .density import load_density_case

__all__ = ["add_arguments", "reproduce_spectra", "run"]


def _datasets(n_sarcos: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(u, x) per data set, unstandardised."""
    sarcos = load_sarcos("proxy")
    rows = np.random.default_rng(seed).permutation(sarcos.n_samples)[:n_sarcos]
    ltc = load_ltc()
    has = ltc.y["LTC"].notna().to_numpy()
    X, u, _, _ = load_density_case("density", "afzal-md")
    return {
        "SARCOS torque 1 (proxy pool)": (sarcos.y.to_numpy()[rows, 1:], sarcos.X.to_numpy()[rows]),
        "LTC (SPS network 72 output)": (
            ltc.extras["networks"][72].predict(ltc.X.to_numpy()[has]),
            ltc.X.to_numpy()[has],
        ),
        "Polymer density (Afzal MD)": (u, X.to_numpy()),
    }


@reproduction(n_sarcos=100)
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
    rows, spectra = [], []
    for name, pair in progress(_datasets(n_sarcos, seed).items(), desc="spectra"):
        u, x = (standardize(np.reshape(a, (len(a), -1)).astype(float))[0] for a in pair)
        K2, K3 = rbf(u, u), rbf(x, x)
        row: dict[str, object] = {
            "data": name,
            "n": len(u),
            "dim_u": u.shape[1],
            "dim_x": x.shape[1],
        }
        for method in ("envelope", "lstsq"):
            res = hadamard_decay(K2, K3, method=method)
            for key in ("s2", "s3", "s23", "within_bounds"):
                row[f"{key}_{method}"] = getattr(res, key)
        rows.append(row)
        for label, K in (("K2 (u)", K2), ("K3 (x)", K3), ("K2 o K3", K2 * K3)):
            mu = gram_spectrum(K)
            spectrum = {
                "data": name,
                "kernel": label,
                "i": np.arange(1, len(mu) + 1),
                "eigenvalue": mu,
            }
            spectra.append(pd.DataFrame(spectrum))
    summary = pd.DataFrame(rows).set_index("data")
    records = pd.concat(spectra, ignore_index=True)
    notes = ["RBF kernels with gamma = 1/(2 dim) on standardised features; s: mu_i <= c i^(-1/s)."]
    return finish("spectra", records, summary, _figure(records), out_dir, notes)


def _figure(records: pd.DataFrame):
    names = list(dict.fromkeys(records["data"]))
    fig, axes = subplots(1, len(names), figsize=(5 * len(names), 4))
    for ax, name in zip(np.atleast_1d(axes), names):
        part = records[records["data"] == name]
        for label, curve in part.groupby("kernel"):
            positive = curve[curve["eigenvalue"] > 1e-14 * curve["eigenvalue"].max()]
            ax.loglog(positive["i"], positive["eigenvalue"], label=label)
        ax.set(title=name, xlabel="index i", ylabel="eigenvalue")
        ax.legend(fontsize=8)
    fig.suptitle("Eigenvalue decay of the case-study kernels")
    return fig


add_arguments, run = command_line(reproduce_spectra)
