"""Physical constants, unit conversions and fixed protocol numbers, in one place.

Every module of :mod:`simdata` takes its constants from here, so that a value is written
once (CODATA 2018 exact values for the SI constants).
"""

from __future__ import annotations

__all__ = [
    "AVOGADRO",
    "KB",
    "R_KJ",
    "E_CHARGE",
    "ATM_BAR",
    "BAR_NM3_KJ_MOL",
    "KJ_MOL_J",
    "EWALD_TOLERANCE",
    "BAROSTAT_FREQUENCY",
    "MINIMISE_TOLERANCE",
    "GPU_MINIMISE_FORCE_CAP",
    "INTEGRATOR_SEED_OFFSET",
    "BAROSTAT_SEED_OFFSET",
    "VELOCITY_SEED_BASE",
    "VELOCITY_SEED_STRIDE",
]

#: Avogadro constant, 1/mol.
AVOGADRO = 6.02214076e23
#: Boltzmann constant, J/K.
KB = 1.380649e-23
#: Gas constant, kJ/(mol K).
R_KJ = KB * AVOGADRO / 1000.0
#: Elementary charge, C.
E_CHARGE = 1.602176634e-19
#: One standard atmosphere, bar.
ATM_BAR = 1.01325
#: 1 bar times 1 nm3, in kJ/mol (the p V term of the enthalpy).
BAR_NM3_KJ_MOL = 0.0602214076
#: One kJ/mol per molecule, in J.
KJ_MOL_J = 1000.0 / AVOGADRO

#: Relative error tolerance of the PME sums.
EWALD_TOLERANCE = 5e-4
#: Steps between Monte Carlo barostat moves while the barostat is on.
BAROSTAT_FREQUENCY = 25
#: Convergence tolerance of every energy minimisation, kJ/mol/nm.
MINIMISE_TOLERANCE = 10.0
#: Largest force (kJ/mol/nm) at which a minimisation may run in a GPU context. CUDA and
#: OpenCL accumulate forces in 64-bit fixed point (scale 2^32), which overflows near 2^31;
#: above this cap (a freshly packed or badly strained cell) the minimisation runs in a CPU
#: context instead.
GPU_MINIMISE_FORCE_CAP = 1.0e6

#: Integrator seed = job seed + this offset.
INTEGRATOR_SEED_OFFSET = 1
#: Monte Carlo barostat seed = job seed + this offset.
BAROSTAT_SEED_OFFSET = 7
#: Velocity seeds: ``VELOCITY_SEED_BASE + VELOCITY_SEED_STRIDE * job seed`` for the
#: minimisation stage, and ``VELOCITY_SEED_STRIDE * job seed + cycle`` for compression
#: cycles (seed 0 keeps the values of the validated runs: 11 and the cycle number).
VELOCITY_SEED_BASE = 11
#: See :data:`VELOCITY_SEED_BASE`.
VELOCITY_SEED_STRIDE = 1000
