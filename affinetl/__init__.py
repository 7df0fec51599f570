"""affinetl: Sim2Real transfer learning by affine model transfer."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
