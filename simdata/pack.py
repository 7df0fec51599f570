"""Chains -> low-density periodic box with packmol."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .constants import AVOGADRO
from .errors import ParameterisationError
from .processes import run_process

__all__ = ["PackResult", "box_length_nm", "read_pdb_positions", "pack_chains"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackResult:
    """Output of :func:`pack_chains`.

    Attributes
    ----------
    pdb : Path
        Packed cell (Angstrom), chains in order.
    box_nm : float
        Cubic box edge, nm.
    n_atoms : int
        Atoms in the cell.
    """

    pdb: Path
    box_nm: float
    n_atoms: int


def box_length_nm(total_mass_amu: float, density_g_cm3: float) -> float:
    """Edge (nm) of the cube holding ``total_mass_amu`` at ``density_g_cm3``.

    Examples
    --------
    >>> round(box_length_nm(602.214076, 1.0), 4)
    1.0
    """
    if density_g_cm3 <= 0:
        raise ValueError("density must be positive")
    volume_cm3 = total_mass_amu / AVOGADRO / density_g_cm3
    return (volume_cm3 * 1e21) ** (1.0 / 3.0)


def read_pdb_positions(path: Path) -> np.ndarray:
    """Coordinates (Angstrom) of the ATOM/HETATM records, shape (n_atoms, 3)."""
    xyz = [
        (float(line[30:38]), float(line[38:46]), float(line[46:54]))
        for line in Path(path).read_text().splitlines()
        if line.startswith(("ATOM", "HETATM"))
    ]
    return np.asarray(xyz, dtype=float)


def _packmol() -> str:
    exe = shutil.which("packmol") or str(Path(sys.executable).parent / "packmol")
    if not Path(exe).exists():
        raise ParameterisationError("packmol not found; install it with `pip install packmol`")
    return exe


def pack_chains(
    chain_pdb: Path,
    n_chains: int,
    chain_mass_amu: float,
    density: float,
    workdir: Path,
    *,
    seed: int = 0,
    tolerance: float = 2.0,
) -> PackResult:
    """Place ``n_chains`` copies of a chain at random in a cube of the given density.

    Parameters
    ----------
    chain_pdb : Path
        One chain (Angstrom).
    n_chains : int
        Copies to place.
    chain_mass_amu : float
        Mass of one chain, amu; sets the box edge.
    density : float
        Target density of the packed cell, g/cm3 (low: 0.05-0.3).
    workdir : Path
        Output folder; ``box.pdb`` is written there.
    seed : int
        packmol seed.
    tolerance : float
        Minimum distance between atoms of different chains, Angstrom.

    Returns
    -------
    PackResult
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    box_nm = box_length_nm(n_chains * chain_mass_amu, density)
    margin = tolerance / 2
    xyz0 = read_pdb_positions(chain_pdb)
    n_per = len(xyz0)
    extent = float(np.sqrt(((xyz0[:, None] - xyz0[None]) ** 2).sum(-1)).max())
    if extent + 2 * margin + 2.0 > box_nm * 10.0:
        logger.info("chain extent %.1f A exceeds the box; packing at a lower density", extent)
        box_nm = (extent + 2 * margin + 2.0) / 10.0
    edge = box_nm * 10.0
    inp = "\n".join(
        [
            f"tolerance {tolerance}",
            "filetype pdb",
            f"seed {int(seed) + 1}",
            "output box_tmp.pdb",
            f"structure {Path(chain_pdb).resolve()}",
            f"  number {n_chains}",
            f"  inside box {margin:.3f} {margin:.3f} {margin:.3f} "
            f"{edge - margin:.3f} {edge - margin:.3f} {edge - margin:.3f}",
            "end structure",
        ]
    )
    (workdir / "packmol.inp").write_text(inp + "\n")
    try:
        res = run_process([_packmol()], workdir, stdin=workdir / "packmol.inp", timeout=3600)
    except subprocess.TimeoutExpired as exc:
        raise ParameterisationError("packmol timed out after 3600 s") from exc
    out = workdir / "box_tmp.pdb"
    if not out.exists():
        raise ParameterisationError(f"packmol failed: {res.stdout[-1500:]} {res.stderr[-500:]}")
    xyz = read_pdb_positions(out)
    if len(xyz) != n_chains * n_per:
        raise ParameterisationError(f"packmol wrote {len(xyz)} atoms, expected {n_chains * n_per}")
    if "ENDED WITHOUT PERFECT PACKING" in res.stdout:
        logger.warning(
            "packmol did not reach tolerance %.1f A; minimisation will fix it", tolerance
        )
    final = workdir / "box.pdb"
    out.replace(final)
    return PackResult(pdb=final, box_nm=box_nm, n_atoms=len(xyz))
