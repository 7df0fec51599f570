"""Helpers shared by the theory studies: machine description, output folder, table printing."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["machine", "out_dir", "print_table", "standardize"]


def machine() -> str:
    """One line describing the machine and thread settings the study ran on."""
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    return (
        f"{platform.node()} | {platform.processor() or platform.machine()} | "
        f"{os.cpu_count()} logical cores | OMP_NUM_THREADS={threads} | "
        f"python {platform.python_version()} | numpy {np.__version__}"
    )


def out_dir(path: str | Path) -> Path:
    """Create and return the output folder."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


def print_table(df: pd.DataFrame, title: str, floatfmt: str = "{:.3f}") -> None:
    """Print a titled plain-text table (benchmarks report to stdout)."""
    print(f"\n== {title}")
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        print(df.to_string(float_format=lambda v: floatfmt.format(v)))


def standardize(a: np.ndarray) -> np.ndarray:
    """Columns to zero mean and unit variance."""
    sd = a.std(axis=0)
    sd[sd == 0] = 1.0
    return (a - a.mean(axis=0)) / sd
