"""Polymer features from repeat-unit SMILES, shared by the scaling study and the generator.

Three kinds, concatenated in the order asked for:

- ``"rdkit"``: 12 RDKit descriptors per heavy atom plus element and aromatic fractions (20
  columns), and
- ``"morgan"``: a folded Morgan *count* fingerprint per heavy atom (``n_bits`` columns),

both computed on a macrocycle of the repeat unit closed head-to-tail
(:func:`affinetl.datasets.polymer_descriptors`): the two ``*`` ends become a real bond instead
of artificial end groups, so cyclic shifts and multiples of one repeat unit get the same
features; and

- ``"ffkm"``: the 190 force-field kernel-mean descriptors of the generator
  (``simdata.descriptors``), used when that module is installed.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .datasets import polymer_descriptors
from .polymer import PolymerSmilesError

__all__ = ["FEATURE_KINDS", "featurize_polymers"]

logger = logging.getLogger(__name__)

#: Feature kinds understood by :func:`featurize_polymers`.
FEATURE_KINDS = ("rdkit", "morgan", "ffkm")


def _ffkm(smiles: pd.Series) -> pd.DataFrame:
    try:
        from simdata.descriptors import ffkm_table  # noqa: PLC0415
    except ImportError as error:
        raise ImportError(
            "force-field kernel-mean descriptors ('ffkm') are computed by the generator's "
            "simdata.descriptors module, which this installation does not have (it needs "
            "pip install 'affinetl[md]'); use kinds=('rdkit', 'morgan') instead"
        ) from error
    out = ffkm_table(list(smiles)).add_prefix("ffkm_")
    out.index = smiles.index
    failed = smiles[out.isna().any(axis=1).to_numpy()]
    if len(failed):
        raise PolymerSmilesError(
            f"{len(failed)} repeat units could not be typed with GAFF2 for the FFKM "
            f"descriptors (drop them first): {list(failed)[:5]}"
        )
    return out


def _one_kind(smiles: pd.Series, kind: str, radius: int, n_bits: int) -> pd.DataFrame:
    if kind == "ffkm":
        return _ffkm(smiles)
    try:
        return polymer_descriptors(smiles, kind=kind, radius=radius, n_bits=n_bits)
    except PolymerSmilesError:
        pass
    # one bad repeat unit: compute row by row so that the message names every bad one
    bad = []
    for idx, text in smiles.items():
        try:
            polymer_descriptors([text], kind=kind, radius=radius, n_bits=n_bits)
        except PolymerSmilesError as error:
            bad.append(f"{idx}: {error}")
    raise PolymerSmilesError(
        f"{len(bad)} repeat units cannot be featurised (drop them first): " + "; ".join(bad[:5])
    )


def featurize_polymers(
    smiles: Sequence[str] | pd.Series,
    kinds: Sequence[str] = ("rdkit",),
    *,
    radius: int = 2,
    n_bits: int = 256,
    cache_dir: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Features of polymers from their repeat-unit SMILES (``*`` ends).

    Parameters
    ----------
    smiles : sequence of str or pandas.Series
        Repeat units with two ends (``*``, ``[*:n]`` or ``[Ce]``/``[Th]``).
    kinds : sequence of {"rdkit", "morgan", "ffkm"}, default=("rdkit",)
        Feature kinds, concatenated column-wise (see the module docstring).
    radius : int, default=2
        Morgan radius.
    n_bits : int, default=256
        Morgan fingerprint length.
    cache_dir : path-like, optional
        Folder where the features of this exact list of SMILES and settings are kept as CSV
        and read back on the next call (RDKit descriptors of ~1,000 polymers take seconds).

    Returns
    -------
    pandas.DataFrame of shape (n_polymers, n_features)
        Index of ``smiles`` when it is a Series; columns prefixed by their kind's names.

    Raises
    ------
    PolymerSmilesError
        Naming the repeat units that cannot be parsed or do not have two ends.

    Examples
    --------
    >>> F = featurize_polymers(["*CC*", "*CCCC*", "*CC(*)c1ccccc1"], kinds=("rdkit", "morgan"))
    >>> F.shape
    (3, 276)
    >>> bool(np.allclose(F.iloc[0], F.iloc[1]))
    True
    """
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in FEATURE_KINDS]
    if not kinds or unknown:
        raise ValueError(f"kinds must be a non-empty subset of {FEATURE_KINDS}, got {kinds}")
    series = smiles if isinstance(smiles, pd.Series) else pd.Series(list(smiles))
    if series.isna().any():
        raise ValueError(f"{int(series.isna().sum())} SMILES are missing (NaN)")
    path = None
    if cache_dir is not None:
        key = hashlib.sha256(
            "\n".join([*kinds, str(radius), str(n_bits), *map(str, series)]).encode()
        ).hexdigest()[:20]
        path = Path(cache_dir) / f"features-{key}.csv"
        if path.exists():
            frame = pd.read_csv(path, index_col=0)
            frame.index = series.index
            logger.info("features read from %s", path)
            return frame
    parts = [_one_kind(series, kind, radius, n_bits) for kind in kinds]
    frame = pd.concat(parts, axis=1)
    if not np.all(np.isfinite(frame.to_numpy(dtype=float))):
        raise ValueError("RDKit returned non-finite descriptors for some polymers")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        frame.to_csv(tmp)
        os.replace(tmp, path)
    return frame
