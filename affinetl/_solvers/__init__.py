"""Private numerical layer of affinetl: every solver of the affine transfer model, once.

Arrays in, arrays out; no estimators, files or command lines. The estimators
(:mod:`affinetl.models`, :mod:`affinetl.baselines`), the model selection
(:mod:`affinetl.selection`), the reproductions and the scaling study call these functions.
``docs/architecture.md`` lists the modules and their concepts; the names below are those the rest
of the package calls, the modules hold the rest.
"""

from __future__ import annotations

from ._affine import (
    affine_full_path,
    fit_affine_batch,
    fit_affine_features,
    fit_affine_kernel,
)
from ._gram import GramFactor, ScaledBlockSolver
from ._linear import (
    difference_matrix,
    fused_inverses,
    fused_penalty,
    fused_ridge_path,
    linear_affine_newton,
    linear_affine_relaxation,
    linear_objective,
    scale_penalty,
    solve_penalized_lsq,
)
from ._newton import newton_features
from ._objective import affine_objective
from ._relaxation import fit_affine_blocks
from ._ridge import (
    affine_const_path,
    eigh_psd,
    fit_const_affine,
    fit_partial_ridge,
    holdout_path,
    kernel_ridge_intercept,
    loo_residuals,
    ridge_path,
)

__all__ = [
    "GramFactor",
    "ScaledBlockSolver",
    "affine_const_path",
    "affine_full_path",
    "affine_objective",
    "difference_matrix",
    "eigh_psd",
    "fit_affine_batch",
    "fit_affine_blocks",
    "fit_affine_features",
    "fit_affine_kernel",
    "fit_const_affine",
    "fit_partial_ridge",
    "fused_inverses",
    "fused_penalty",
    "fused_ridge_path",
    "holdout_path",
    "kernel_ridge_intercept",
    "linear_affine_newton",
    "linear_affine_relaxation",
    "linear_objective",
    "loo_residuals",
    "newton_features",
    "ridge_path",
    "scale_penalty",
    "solve_penalized_lsq",
]
