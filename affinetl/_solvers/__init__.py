"""Private numerical layer of affinetl: every solver of the affine transfer model, once.

Arrays in, arrays out; no estimators, files or command lines. The estimators
(:mod:`affinetl.models`, :mod:`affinetl.baselines`), the model selection
(:mod:`affinetl.selection`), the reproductions and the scaling study call these functions.

=========================  ==============================================================
module                     concept
=========================  ==============================================================
``_objective``             the penalised objective, its gradient, the stopping measure
``_gram``                  Gram matrices factorised once (low rank detected), scaled blocks
``_ridge``                 ridge with an unpenalised design: fits, penalty paths, closed-form
                           leave-one-out and K-fold hold-out errors, AffineTL-const
``_newton``                damped Newton on feature maps, batched (one problem = batch of one)
``_lowrank_newton``        Newton steps that eliminate ``g3`` when ``K1, K2`` have low rank
``_relaxation``            block relaxation, one sweep loop for one problem (factorised Gram
                           matrices, pruning, acceleration) or many (batched, numpy or torch)
``_linear``                fused-ridge penalties and penalised least squares
``_linear_relaxation``     block relaxation of the linear affine model, batched
``_resolve``               :func:`resolve_solver`, the one rule that picks the solver
``_affine``                entry points of the bilinear forms: one problem (exact kernels or
                           feature maps), a batch of members, a penalty grid
=========================  ==============================================================

The names below are those the rest of the package calls; the modules hold the rest.
"""

from __future__ import annotations

from ._affine import (
    affine_full_newton_path,
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
    solve_penalized_lsq,
)
from ._linear_relaxation import linear_affine_relaxation
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
    "affine_full_newton_path",
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
    "linear_affine_relaxation",
    "loo_residuals",
    "newton_features",
    "ridge_path",
    "solve_penalized_lsq",
]
