"""Reference tables for the simdata benchmarks, read from the data mirror.

The mirror folder is ``$AFFINETL_DATA_MIRROR`` (default ``../shared/data`` relative to
the repository root). Files are read in place, never copied into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from rdkit import Chem, RDLogger

from simdata.build import backbone_length, cyclic_oligomer, parse_repeat_unit
from simdata.errors import PolymerSpecError

__all__ = ["mirror", "radonpy_table", "experimental_densities", "match_key"]

ROOT = Path(__file__).resolve().parents[2]


def mirror() -> Path:
    """The data mirror folder."""
    path = Path(os.environ.get("AFFINETL_DATA_MIRROR", ROOT.parent / "shared" / "data"))
    if not path.exists():
        raise FileNotFoundError(f"data mirror {path} not found; set AFFINETL_DATA_MIRROR")
    return path


def match_key(smiles: str, total_backbone: int = 60) -> str | None:
    """Canonical SMILES of the macrocycle of backbone length ``total_backbone``.

    Equal keys = same polymer written with different repeat units (cyclic shifts,
    multiples). None when the backbone length does not divide ``total_backbone``.
    """
    RDLogger.DisableLog("rdApp.*")
    try:
        ru = parse_repeat_unit(smiles)
        bb = backbone_length(ru)
        if bb < 1 or total_backbone % bb:
            return None
        return Chem.MolToSmiles(cyclic_oligomer(ru, total_backbone // bb, add_hs=False))
    except PolymerSpecError:
        return None
    finally:
        RDLogger.EnableLog("rdApp.*")


def radonpy_table() -> pd.DataFrame:
    """RadonPy ``PI1070.csv`` (MD properties of 1,070 polymers)."""
    return pd.read_csv(mirror() / "radonpy" / "PI1070.csv")


def experimental_densities() -> pd.DataFrame:
    """Afzal et al. (2021) experimental densities at 300 K: ``name``, ``smiles``, ``density_exp``."""
    raw = pd.read_csv(mirror() / "afzal2021" / "ap0c00524_si_001.csv")
    smi_col = [c for c in raw.columns if c.startswith("SMILES")][0]
    exp_col = [c for c in raw.columns if c.startswith("Experiment density")][0]
    df = pd.DataFrame(
        {
            "exp_name": raw["Poymer name"].str.strip(),
            "exp_smiles": raw[smi_col].str.replace("[Ce]", "*").str.replace("[Th]", "*"),
            "density_exp": pd.to_numeric(raw[exp_col], errors="coerce"),
        }
    )
    return df.dropna(subset=["density_exp"])
