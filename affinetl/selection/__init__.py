"""Model selection for affine transfer: the form and its hyper-parameters by cross-validation.

:class:`AffineTransferCV` (kernel family) and :class:`LinearAffineTransferCV` (linear
fused-ridge family) choose between the affine model and its special cases (calibrated source,
HTL-offset, AffineTL-const, Direct, ...) on the training data alone, with closed-form hold-out
errors for every ridge-type block. Each form is a parameter of the canonical estimators
(``AffineTransferRegressor(form=...)``, ``LinearAffineTransferRegressor(form=...)``), which the
search refits.
"""

from __future__ import annotations

from .._forms import COMPLEXITY, G1_KERNEL_FORMS, KERNEL_FORMS, LINEAR_FORMS, form_complexity
from ._kernel_cv import AffineTransferCV
from ._linear_cv import LinearAffineTransferCV
from ._scoring import default_cv
from ._synthetic import GENERATING_FORMS, make_form_problem

__all__ = [
    "COMPLEXITY",
    "G1_KERNEL_FORMS",
    "GENERATING_FORMS",
    "KERNEL_FORMS",
    "LINEAR_FORMS",
    "AffineTransferCV",
    "LinearAffineTransferCV",
    "default_cv",
    "form_complexity",
    "make_form_problem",
]
