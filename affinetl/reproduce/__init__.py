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

#: Case name -> (module, reproduce function).
CASES: dict[str, tuple[str, str]] = {
    "sarcos": ("affinetl.reproduce.sarcos", "reproduce_sarcos"),
    "ltc": ("affinetl.reproduce.ltc", "reproduce_ltc"),
    "density": ("affinetl.reproduce.density", "reproduce_density"),
    "polymer-cp": ("affinetl.reproduce.polymer_cp", "reproduce_polymer_cp"),
    "spectra": ("affinetl.reproduce.spectra", "reproduce_spectra"),
}


def case_module(case: str) -> ModuleType:
    """The module of a case (with ``add_arguments`` and ``run`` for the CLI)."""
    if case not in CASES:
        raise UsageError(f"unknown case {case!r}; choose one of {sorted(CASES)}")
    return importlib.import_module(CASES[case][0])


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
    module = case_module(case)
    function = getattr(module, CASES[case][1])
    return function(
        out_dir if out_dir is not None else f"results/{case.replace('-', '_')}", **kwargs
    )
