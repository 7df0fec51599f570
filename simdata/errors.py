"""Exceptions raised by the pipeline; ``job.py`` records them as failure reasons."""

from __future__ import annotations

__all__ = ["SimdataError", "PolymerSpecError", "ParameterisationError", "SimulationBlowUp"]


class SimdataError(RuntimeError):
    """Base class of every expected pipeline failure."""


class PolymerSpecError(SimdataError, ValueError):
    """The repeat-unit SMILES cannot describe a linear polymer."""


class ParameterisationError(SimdataError):
    """antechamber / parmchk2 / tleap / sqm failed."""


class SimulationBlowUp(SimdataError):
    """The dynamics produced NaN or infinite energies beyond the allowed restarts."""
