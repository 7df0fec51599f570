"""Datasets produced by simdata itself, shipped with the package.

``validation_fast.csv``: the density-validation polymers of ``benchmarks/simdata/validate.py``
run with the ``fast`` preset (one row per finished polymer, every property with its
standard error, and the provenance columns ``job_id``, ``smiles``, ``preset``, ``settings``,
``versions``, ``platform``). See the simdata guide for how it was made.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

__all__ = ["load_validation"]


def load_validation(preset: str = "fast") -> Any:
    """The validation results of one preset as a :class:`pandas.DataFrame`.

    Parameters
    ----------
    preset : str, default="fast"
        Preset whose table to load (only ``"fast"`` is shipped so far).

    Returns
    -------
    pandas.DataFrame
        One row per polymer, columns as in :func:`simdata.store.load_results`.

    Raises
    ------
    ValueError
        If no table is shipped for ``preset``.
    """
    import pandas as pd

    path = resources.files(__name__) / f"validation_{preset}.csv"
    if not path.is_file():
        raise ValueError(f"no example table for preset {preset!r}; shipped: 'fast'")
    with resources.as_file(path) as p:
        return pd.read_csv(p)
