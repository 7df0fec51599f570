"""``python -m affinetl.tuning``: the ``affinetl tune`` command without the umbrella CLI."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
