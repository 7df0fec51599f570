"""Property tables of polymers: built-in sets, CSV/Parquet files and simdata results folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["BUILTIN_TABLES", "load_property_table"]

#: Built-in tables by name.
BUILTIN_TABLES = {
    "pi1070": "RadonPy PI1070 (MD, 1,070 polymers)",
    "afzal2021": "Afzal et al. 2021 (experimental density, Tg; suspect values left out)",
    "afzal2021-md": "Afzal et al. 2021 (OPLS3e MD density, Tg)",
}


def _builtin(name: str, prop: str) -> tuple[pd.DataFrame, str]:
    from ..datasets import load_afzal2021, load_radonpy_pi1070  # noqa: PLC0415

    if name == "pi1070":
        data = load_radonpy_pi1070()
        if prop not in data.source:
            raise ValueError(f"PI1070 has no property {prop!r}; it has {list(data.source)}")
        values, unit = data.source[prop], data.units.get(prop, "")
    else:
        data = load_afzal2021()
        column = f"{prop}_exp" if name == "afzal2021" else f"{prop}_md"
        frame = data.y if name == "afzal2021" else data.source
        if column not in frame:
            raise ValueError(f"{name} has no {prop!r} ({column}); it has density and Tg")
        values, unit = frame[column], data.units.get(column, "")
    return pd.DataFrame({"smiles": data.smiles, "y": values}), unit


def _read_frame(path: Path) -> pd.DataFrame:
    if path.is_dir():
        try:
            from simdata.store import load_results  # noqa: PLC0415
        except ImportError as error:  # pragma: no cover - simdata ships with affinetl
            raise ImportError(
                "reading a simdata results folder needs the simdata package"
            ) from error
        frame = load_results(path)
        if frame.empty:
            raise ValueError(f"{path}: the simdata results folder holds no results")
    elif path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path)
    if "status" in frame:
        frame = frame[frame["status"] == "done"]
    return frame


def load_property_table(spec: str | os.PathLike[str], prop: str) -> tuple[pd.DataFrame, str]:
    """A table of polymers with one property: ``smiles`` and ``y`` columns, NaN rows dropped.

    Parameters
    ----------
    spec : str or path-like
        A built-in name (``"pi1070"``, ``"afzal2021"`` for experiments with the suspect values
        of :func:`affinetl.datasets.load_afzal2021` left out, ``"afzal2021-md"``), a CSV or
        Parquet file with a ``smiles`` column and a column named ``prop`` (or
        ``prop + "_exp"``), or a :mod:`simdata` results folder; rows with a ``status`` other
        than ``"done"`` are dropped.
    prop : str
        Property name (``"density"``, ``"Tg"``, ``"Cp"``, ...).

    Returns
    -------
    table : pandas.DataFrame
        Columns ``smiles`` and ``y``.
    unit : str
        Unit of ``y`` where known, else ``""``.

    Raises
    ------
    FileNotFoundError
        When ``spec`` is neither a built-in name nor an existing file or folder.
    ValueError
        When the table lacks ``smiles`` or the property, or no row has a finite value.

    Examples
    --------
    >>> from importlib.resources import files
    >>> table, _ = load_property_table(files("simdata.examples") / "validation_fast.csv",
    ...                                "density")
    >>> list(table.columns), len(table) > 3
    (['smiles', 'y'], True)
    """
    text = str(spec)
    if text in BUILTIN_TABLES:
        table, unit = _builtin(text, prop)
    else:
        path = Path(spec)
        if not path.exists():
            raise FileNotFoundError(
                f"{text!r} is neither a built-in table ({sorted(BUILTIN_TABLES)}) nor a file "
                "or simdata results folder"
            )
        frame = _read_frame(path)
        column = next((c for c in (prop, f"{prop}_exp") if c in frame), None)
        if "smiles" not in frame or column is None:
            raise ValueError(
                f"{text}: the table needs a 'smiles' column and a {prop!r} column; found "
                f"{list(frame.columns)}"
            )
        table = pd.DataFrame(
            {"smiles": frame["smiles"], "y": pd.to_numeric(frame[column], errors="coerce")}
        )
        unit = ""
    keep = table["smiles"].notna() & np.isfinite(table["y"])
    if not keep.any():
        raise ValueError(f"{text}: no polymer has a finite {prop!r}")
    return table[keep].reset_index(drop=True), unit
