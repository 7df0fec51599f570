"""Source models ``f_s``: trained on simulation tables, or pretrained torch networks.

- :class:`PolymerSourceModel` / :func:`train_source_model`: a simulated polymer property (a
  :mod:`simdata` results folder, RadonPy PI1070, any CSV with ``smiles``) learned from structure,
  with its cross-validated error, predicting from SMILES or features; pass it as ``source=`` to
  any affinetl estimator. :func:`save_source_model` / :func:`load_source_model` store it
  without pickle (skops, trusted types only).
- :class:`TorchSourceNetwork`: a pretrained ``torch.nn.Module``, its output or a hidden layer
  (needs the optional extra ``affinetl[nn]``).
"""

from __future__ import annotations

from typing import Any

from ._kernel_ridge import LooKernelRidge
from ._persist import (
    TRUSTED_TYPES,
    UntrustedSourceModelError,
    load_source_model,
    save_source_model,
)
from ._polymer import SOURCE_MODELS, PolymerSourceModel, is_smiles, train_source_model
from ._tables import BUILTIN_TABLES, load_property_table

try:  # torch is optional: the torch source networks need the extra affinetl[nn]
    from ._torch import Standardize, TorchSourceNetwork, hidden_layer_module, torch_network
except ImportError as _error:  # pragma: no cover - depends on the environment
    _TORCH_ERROR: ImportError | None = _error
else:
    _TORCH_ERROR = None

_TORCH_NAMES = ("Standardize", "TorchSourceNetwork", "hidden_layer_module", "torch_network")

__all__ = [
    "BUILTIN_TABLES",
    "SOURCE_MODELS",
    "TRUSTED_TYPES",
    "LooKernelRidge",
    "PolymerSourceModel",
    "Standardize",
    "TorchSourceNetwork",
    "UntrustedSourceModelError",
    "hidden_layer_module",
    "is_smiles",
    "load_property_table",
    "load_source_model",
    "save_source_model",
    "torch_network",
    "train_source_model",
]


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES and _TORCH_ERROR is not None:
        raise ImportError(str(_TORCH_ERROR)) from _TORCH_ERROR
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
