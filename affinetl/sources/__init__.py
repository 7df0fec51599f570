"""Source models ``f_s``: trained on simulation tables, or pretrained torch networks.

- :class:`PolymerSourceModel` / :func:`train_source_model`: a simulated polymer property (a
  :mod:`simdata` results folder, RadonPy PI1070, any CSV with ``smiles``) learned from structure,
  with its cross-validated error, predicting from SMILES or features; pass it as ``source=`` to
  any affinetl estimator. :func:`save_source_model` / :func:`load_source_model` store it
  without pickle (skops, trusted types only).
- :class:`TorchSourceNetwork`: a pretrained ``torch.nn.Module``, its output or a hidden layer
  (needs the optional extra ``affinetl[nn]``; imported on first use).
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
    if name in _TORCH_NAMES:
        from . import _torch  # noqa: PLC0415 - torch is optional

        return getattr(_torch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
