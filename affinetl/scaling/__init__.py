"""Sim2Real scaling laws: learning curves in the size N of the simulation database.

The error of a model pretrained on N simulated polymers and transferred to experiments falls
as ``E(N) = D N^-alpha + C``; ``C`` is the transfer gap that no amount of simulation removes.
This subpackage runs such curves (:func:`learning_curve`, :func:`scaling_study`), fits them
with bootstrap intervals (:func:`fit_power_law`, :func:`compare_power_laws`) and answers the
users' questions (:func:`n_for_target_error`, :func:`equivalent_samples`).
"""

from __future__ import annotations

from ._curves import Cell, learning_curve
from ._methods import TRANSFER_METHODS, LooKernelRidge, get_method
from ._plot import plot_learning_curves
from ._powerlaw import CNotIdentifiableWarning, PowerLawFit, fit_power_law, power_law
from ._questions import compare_power_laws, equivalent_samples, n_for_target_error
from ._study import ScalingStudy, load_property_table, scaling_study

__all__ = [
    "TRANSFER_METHODS",
    "CNotIdentifiableWarning",
    "Cell",
    "LooKernelRidge",
    "PowerLawFit",
    "ScalingStudy",
    "compare_power_laws",
    "equivalent_samples",
    "fit_power_law",
    "get_method",
    "learning_curve",
    "load_property_table",
    "n_for_target_error",
    "plot_learning_curves",
    "power_law",
    "scaling_study",
]
