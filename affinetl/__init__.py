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
    _NEURAL,
    AffineTransferRegressor,
    LinearAffineTransferRegressor,
    LogDifferenceRegressor,
)
from .selection import AffineTransferCV, LinearAffineTransferCV

__version__ = "0.1.0"

#: Subpackages imported on first access (they pull optional dependencies: rdkit, torch, optuna).
_LAZY_SUBPACKAGES = {"datasets", "reproduce", "scaling", "theory", "tuning"}


def __getattr__(name: str):
    import importlib

    if name in _LAZY_SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NEURAL:  # torch + nflows only when a neural estimator is asked for
        return getattr(importlib.import_module(f"{__name__}.models"), name)
    if name == "TorchSourceNetwork":
        return importlib.import_module(f"{__name__}.sources").TorchSourceNetwork
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AffineTransferCV",
    "AffineTransferRegressor",
    "AugmentedRegressor",
    "DirectRegressor",
    "LinearAffineTransferCV",
    "LinearAffineTransferRegressor",
    "LogDifferenceRegressor",
    "OffsetTransferRegressor",
    "ScaleTransferRegressor",
    "SourceOnlyRegressor",
    "__version__",
]
