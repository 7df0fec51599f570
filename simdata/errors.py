"""Exceptions raised by the pipeline; ``job.py`` records them as failure reasons.

Errors the user can fix from the message alone are also :class:`affinetl.exceptions.UsageError`
(a ``ValueError``): the ``simdata`` command prints them on one line and exits 2.
"""

from __future__ import annotations

from affinetl.exceptions import UsageError
from affinetl.polymer import PolymerSmilesError

__all__ = [
    "SimdataError",
    "PolymerSpecError",
    "ParameterisationError",
    "SimulationBlowUp",
    "StoreError",
    "UsageError",
]


class SimdataError(RuntimeError):
    """Base class of every expected pipeline failure."""


class PolymerSpecError(SimdataError, PolymerSmilesError):
    """The repeat-unit SMILES cannot describe a linear polymer the generator can simulate.

    A subclass of :class:`affinetl.polymer.PolymerSmilesError` (so of ``UsageError`` and
    ``ValueError``): one error type for bad repeat units in the package and the generator.
    """


class ParameterisationError(SimdataError):
    """antechamber / parmchk2 / tleap / sqm failed."""


class SimulationBlowUp(SimdataError):
    """The dynamics produced NaN or infinite energies beyond the allowed restarts."""


class StoreError(SimdataError, UsageError):
    """A result store that cannot be read as it is (a corrupt row in the middle of a shard)."""
