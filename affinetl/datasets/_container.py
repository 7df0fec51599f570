"""The container every case-study loader returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["CaseStudyData"]


@dataclass(frozen=True)
class CaseStudyData:
    """A case-study data set: inputs, source quantities, target, ids, units and provenance.

    Rows of ``X``, ``source``, ``y`` and ``ids`` are aligned (same index, same order).

    Attributes
    ----------
    name : str
        Short name of the data set (``"ltc"``, ``"sarcos"``, ``"polymer_cp"``, ...).
    X : pandas.DataFrame or None
        Inputs of shape (n_samples, n_features) (descriptors, joint states); ``None`` where the
        inputs are computed by the user from ``smiles``.
    source : pandas.DataFrame
        Source quantities (simulated or related properties) of shape (n_samples, n_sources).
    y : pandas.DataFrame
        Target quantities (experiments) of shape (n_samples, n_targets); missing values are NaN.
        Empty (no columns) for pure source tables.
    ids : pandas.Series
        Identifier of each sample.
    smiles : pandas.Series or None
        Repeat-unit SMILES with ``*`` ends (polymer data sets), else ``None``.
    units : dict of str to str
        Unit of each column of ``source`` and ``y`` (and ``X`` where meaningful).
    citation : str
        The reference to cite when using the data.
    licence : str
        Licence or terms of use of the data.
    description : str
        What the data are, where they come from and how they were processed.
    notes : tuple of str
        Caveats of this particular load (e.g. an offline proxy in place of the real split).
    extras : mapping
        Data-set specific objects (pretrained source networks, descriptor blocks, splits).
    quality : pandas.DataFrame or None
        Data-quality flags of the targets: one column per column of ``y``, ``""`` where the
        value passed every check, else the reason it is suspect (see
        :mod:`affinetl.datasets` and ``docs/datasets.md``); ``None`` where not checked.
    """

    name: str
    X: pd.DataFrame | None
    source: pd.DataFrame
    y: pd.DataFrame
    ids: pd.Series
    smiles: pd.Series | None = None
    units: dict[str, str] = field(default_factory=dict)
    citation: str = ""
    licence: str = ""
    description: str = ""
    notes: tuple[str, ...] = ()
    extras: Mapping[str, Any] = field(default_factory=dict)
    quality: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        for label in ("X", "source", "y", "smiles", "quality"):
            value = getattr(self, label)
            if value is not None and len(value) != n:
                raise ValueError(f"{self.name}: {label} has {len(value)} rows, ids has {n}")

    @property
    def n_samples(self) -> int:
        """Number of rows."""
        return len(self.ids)

    def __repr__(self) -> str:
        x_shape = None if self.X is None else self.X.shape
        return (
            f"CaseStudyData(name={self.name!r}, n_samples={self.n_samples}, X={x_shape}, "
            f"source={list(self.source.columns)[:6]}, y={list(self.y.columns)}, "
            f"notes={len(self.notes)})"
        )
