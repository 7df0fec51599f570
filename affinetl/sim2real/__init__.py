"""Sim2Real end to end: train a source model on simulations, transfer it to experiments.

:func:`sim2real` (command line: ``affinetl sim2real``) trains
:class:`~affinetl.sources.PolymerSourceModel` on a simulation table (a :mod:`simdata` results
folder, RadonPy PI1070, any CSV with ``smiles``), fits :class:`~affinetl.AffineTransferCV` on the
experiments with it as ``source=``, and writes predictions with intervals, the learned domain
shift figure and, optionally, the learning curve in the size of the source table.
"""

from __future__ import annotations

from ._figure import plot_domain_shift
from ._pipeline import Sim2RealResult, sim2real

__all__ = ["Sim2RealResult", "plot_domain_shift", "sim2real"]
