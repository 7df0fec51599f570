"""Theory tools: eigenvalue decay, excess-risk rates and complexity terms from Gram matrices.

Everything here takes Gram matrices or spectra as arrays and needs no fitted estimator, so a user
can check the assumptions of the affine-transfer bounds on their own kernels and data.
"""

from __future__ import annotations

from ._complexity import (
    AffineComplexity,
    affine_complexity,
    compare_sources,
    local_rademacher,
    rademacher_bound,
    rademacher_monte_carlo,
)
from ._rates import RateFit, fit_rate, lambda_schedule, theoretical_rate, theoretical_slope
from ._spectra import (
    HadamardDecay,
    decay_exponent,
    envelope_exponent,
    gram_spectrum,
    hadamard_decay,
    loglog_exponent,
)

__all__ = [
    "AffineComplexity",
    "HadamardDecay",
    "RateFit",
    "affine_complexity",
    "compare_sources",
    "decay_exponent",
    "envelope_exponent",
    "fit_rate",
    "gram_spectrum",
    "hadamard_decay",
    "lambda_schedule",
    "local_rademacher",
    "loglog_exponent",
    "rademacher_bound",
    "rademacher_monte_carlo",
    "theoretical_rate",
    "theoretical_slope",
]
