"""affinetl: Sim2Real transfer learning by affine model transfer.

The target is modelled as ``f_t(x) = g1(f_s(x)) + g2(f_s(x)) * g3(x)``: ``g1`` shifts the source
features across domains, ``g2`` scales by the source, ``g3`` is the domain-specific factor of the
input. Estimators follow the scikit-learn API.
"""

from __future__ import annotations

from .baselines import (
    AugmentedRegressor,
    DirectRegressor,
    OffsetTransferRegressor,
    ScaleTransferRegressor,
    SourceOnlyRegressor,
)
from .models import (
    AffineTransferRegressor,
    LinearAffineTransferRegressor,
    LogDifferenceRegressor,
)

__version__ = "0.1.0"

#: Subpackages imported on first access (they pull optional dependencies: rdkit, torch, optuna).
_LAZY_SUBPACKAGES = {"datasets", "reproduce", "theory"}


def __getattr__(name: str):
    if name in _LAZY_SUBPACKAGES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AffineTransferRegressor",
    "AugmentedRegressor",
    "DirectRegressor",
    "LinearAffineTransferRegressor",
    "LogDifferenceRegressor",
    "OffsetTransferRegressor",
    "ScaleTransferRegressor",
    "SourceOnlyRegressor",
    "__version__",
]
