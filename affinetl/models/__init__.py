"""Transfer models: kernel (block relaxation) and linear (fused ridge) affine transfer."""

from ._kernel import AffineTransferRegressor
from ._linear import LinearAffineTransferRegressor, LogDifferenceRegressor

__all__ = [
    "AffineTransferRegressor",
    "LinearAffineTransferRegressor",
    "LogDifferenceRegressor",
]
