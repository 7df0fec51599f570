"""Datasets produced by simdata itself, shipped with the package.

``validation_<preset>.csv``: the density-validation polymers of
``benchmarks/simdata/validate.py`` run with the ``fast`` preset (8 polymers, on a 2-core
CPU) and the ``standard`` preset (4, on an H100): one row per finished polymer, every
property with its standard error, and the provenance columns ``job_id``, ``smiles``,
``preset``, ``settings``, ``versions``, ``platform``. See the simdata guide for how they
were made.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

__all__ = ["load_validation", "shipped_presets"]


def shipped_presets() -> list[str]:
    """Names of the presets whose validation table ships with the package."""
    names = (f.name for f in resources.files(__name__).iterdir())
    return sorted(
        n[len("validation_") : -len(".csv")]
        for n in names
        if n.startswith("validation_") and n.endswith(".csv")
    )


def load_validation(preset: str = "fast") -> Any:
    """The validation results of one preset as a :class:`pandas.DataFrame`.

    Parameters
    ----------
    preset : str, default="fast"
        Preset whose table to load (``"fast"`` or ``"standard"``; see
        :func:`shipped_presets`).

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
        raise ValueError(f"no example table for preset {preset!r}; shipped: {shipped_presets()}")
    with resources.as_file(path) as p:
        return pd.read_csv(p)
