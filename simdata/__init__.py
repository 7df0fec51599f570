"""simdata: OpenMM polymer property generator (the Sim2Real source domain).

One repeat-unit SMILES -> chain (RDKit) -> GAFF2 (AmberTools) -> packed cell
(packmol) -> compression, 21-step anneal, NPT check, production (OpenMM) ->
density, Cp, Cv, expansion, compressibility, Rg, dielectric constant, diffusion,
optionally thermal conductivity (reverse non-equilibrium MD), stored append-only and
run at scale on Dask.
"""

from __future__ import annotations

from .cluster import make_jobs, read_table, run_table
from .errors import ParameterisationError, PolymerSpecError, SimdataError, SimulationBlowUp
from .job import Job, run_job
from .presets import PRESETS, Preset, get_preset
from .store import ResultStore, load_results

__all__ = [
    "Job",
    "PRESETS",
    "ParameterisationError",
    "PolymerSpecError",
    "Preset",
    "ResultStore",
    "SimdataError",
    "SimulationBlowUp",
    "get_preset",
    "load_results",
    "make_jobs",
    "read_table",
    "run_job",
    "run_table",
]
