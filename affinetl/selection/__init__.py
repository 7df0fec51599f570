"""Model selection for affine transfer: the form and its hyper-parameters by cross-validation.

:class:`AffineTransferCV` (kernel family) and :class:`LinearAffineTransferCV` (linear
fused-ridge family) choose between the affine model and its special cases (calibrated source,
HTL-offset, AffineTL-const, Direct, ...) on the training data alone, with closed-form hold-out
errors for every ridge-type block. :class:`TransferFormRegressor` and
:class:`LinearTransferFormRegressor` fit one form with fixed hyper-parameters.
"""

from __future__ import annotations

from ._forms import (
    COMPLEXITY,
    G1_KERNEL_FORMS,
    KERNEL_FORMS,
    LINEAR_FORMS,
    LinearTransferFormRegressor,
    TransferFormRegressor,
    fit_full_kernel,
    form_complexity,
)
from ._search import AffineTransferCV, LinearAffineTransferCV, default_cv
from ._synthetic import GENERATING_FORMS, make_form_problem

__all__ = [
    "COMPLEXITY",
    "G1_KERNEL_FORMS",
    "KERNEL_FORMS",
    "LINEAR_FORMS",
    "AffineTransferCV",
    "LinearAffineTransferCV",
    "LinearTransferFormRegressor",
    "TransferFormRegressor",
    "GENERATING_FORMS",
    "default_cv",
    "fit_full_kernel",
    "form_complexity",
    "make_form_problem",
]
