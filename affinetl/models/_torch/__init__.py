"""Torch building blocks of the neural transfer models (optional extra ``affinetl[nn]``).

``nets``: MLPs and the affine-transfer network ``g1 + g2 * g3``; ``flows``: the affine transfer
as an nflows transform and the conditional flow built on it; ``train``: the one training loop.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the neural transfer models need torch and nflows: pip install 'affinetl[nn]'"
    ) from exc
