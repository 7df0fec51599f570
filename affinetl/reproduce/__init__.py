"""One-command reproductions of the affine-transfer paper's case studies.

Each case is a module with a ``reproduce_<case>(out_dir, ..., quick=False)`` function returning a
:class:`ReproductionResult` (records, a summary table with the published numbers, CSV and PNG
files) and the CLI pair ``add_arguments(parser)`` / ``run(args) -> int`` used by
``affinetl reproduce <case>``. :func:`reproduce` dispatches by case name. The package's main
demonstration, the polymer-density case through the public estimators, is
:func:`affinetl.demo.run_demo` (``affinetl demo``).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

from ..exceptions import UsageError
from ._common import ReproductionResult

__all__ = ["CASES", "ReproductionResult", "case_module", "reproduce"]

#: The case names; case ``a-b`` is ``reproduce_a_b`` of :mod:`affinetl.reproduce.a_b`.
CASES = ("sarcos", "ltc", "density", "polymer-cp", "spectra")


def case_module(case: str) -> ModuleType:
    """The module of a case (with ``add_arguments`` and ``run`` for the CLI)."""
    if case not in CASES:
        raise UsageError(f"unknown case {case!r}; choose one of {sorted(CASES)}")
    return importlib.import_module(f"{__name__}.{case.replace('-', '_')}")


def reproduce(
    case: str, out_dir: str | os.PathLike[str] | None = None, **kwargs: Any
) -> ReproductionResult:
    """Run one case study.

    Parameters
    ----------
    case : str
        One of :data:`CASES`.
    out_dir : path-like, optional
        Output directory (default ``results/<case>``).
    **kwargs
        Options of that case's ``reproduce_<case>`` function (e.g. ``quick=True``).

    Returns
    -------
    ReproductionResult

    Examples
    --------
    >>> from affinetl.reproduce import reproduce
    >>> result = reproduce("density", quick=True)  # doctest: +SKIP
    >>> print(result.report())  # doctest: +SKIP
    """
    stem = case.replace("-", "_")
    function = getattr(case_module(case), f"reproduce_{stem}")
    return function(out_dir if out_dir is not None else f"results/{stem}", **kwargs)
