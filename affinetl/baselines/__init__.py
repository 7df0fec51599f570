"""Baselines that the affine transfer model contains as special cases."""

from ._kernel_ridge import (
    AugmentedRegressor,
    DirectRegressor,
    OffsetTransferRegressor,
    ScaleTransferRegressor,
    SourceOnlyRegressor,
)

__all__ = [
    "AugmentedRegressor",
    "DirectRegressor",
    "OffsetTransferRegressor",
    "ScaleTransferRegressor",
    "SourceOnlyRegressor",
]
