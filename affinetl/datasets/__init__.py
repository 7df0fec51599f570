"""Case-study data sets of the affine-transfer paper and polymer Sim2Real tables.

Files are downloaded from their original public URLs on first use, verified by hash and cached
(``pooch.os_cache("affinetl")``); set ``AFFINETL_DATA_MIRROR`` to a local mirror directory to
read them from there instead (tests and CI), and ``AFFINETL_OFFLINE=1`` to forbid downloads.
"""

from __future__ import annotations

from ._container import CaseStudyData
from ._fetch import DataUnavailableError, fetch
from ._ltc import SPS_NETWORK_IDS, SourceNetwork, load_ltc, load_sps_network
from ._polymer_features import polymer_descriptors
from ._polymer_identity import (
    PolymerSmilesError,
    macrocycle_smiles,
    match_polymers,
    normalize_polymer_smiles,
    primitive_formula,
    same_polymer,
)
from ._polymers import (
    FFKM_BLOCKS,
    PI1070_PROPERTIES,
    afzal2021_quality,
    load_afzal2021,
    load_polymer_cp,
    load_radonpy_pi1070,
)
from ._quality import PHYSICAL_BOUNDS, flag_bounds, flag_disagreement, robust_z
from ._sarcos import load_sarcos

__all__ = [
    "FFKM_BLOCKS",
    "PHYSICAL_BOUNDS",
    "PI1070_PROPERTIES",
    "SPS_NETWORK_IDS",
    "CaseStudyData",
    "DataUnavailableError",
    "PolymerSmilesError",
    "SourceNetwork",
    "afzal2021_quality",
    "fetch",
    "flag_bounds",
    "flag_disagreement",
    "load_afzal2021",
    "load_ltc",
    "load_polymer_cp",
    "load_radonpy_pi1070",
    "load_sarcos",
    "load_sps_network",
    "macrocycle_smiles",
    "match_polymers",
    "normalize_polymer_smiles",
    "polymer_descriptors",
    "primitive_formula",
    "robust_z",
    "same_polymer",
]
