"""Exceptions shared by the package and its command lines.

The command lines (``affinetl`` and ``simdata``) follow one convention: an error that is the
user's to fix (a bad argument, a missing or corrupt data file, settings that cannot work) is a
:class:`UsageError` or one of its subclasses; the command prints its message on one line and exits
with status 2. Any other exception is a bug: it keeps its traceback and the command exits 1.
"""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(ValueError):
    """An error the user can fix from its message alone (command lines: one line, exit 2)."""
