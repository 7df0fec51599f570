"""One-command reproductions of the affine-transfer paper's case studies.

Each case is a module with a ``reproduce_<case>(out_dir, ..., quick=False)`` function returning a
:class:`ReproductionResult` (records, a summary table with the published numbers, CSV and PNG
files) and the CLI pair ``add_arguments(parser)`` / ``run(args) -> int`` used by
``affinetl reproduce <case>``. :func:`reproduce` dispatches by case name.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

from ._common import ReproductionResult

__all__ = ["CASES", "ReproductionResult", "case_module", "demo", "reproduce"]

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
        raise ValueError(f"unknown case {case!r}; choose one of {sorted(CASES)}")
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


def demo(
    out_dir: str | os.PathLike[str] = "results/demo", *, n_reps: int = 5
) -> ReproductionResult:
    """The package's main demonstration: the Sim2Real polymer-density case on real data.

    Experimental densities of 117 polymers (Afzal et al. 2021) learned from n = 10, 20, 40 of
    them with the OPLS3e MD density as source feature; AffineTL against Direct, SourceOnly,
    Augmented, HTL-offset/scale and the raw simulation. About a minute on 2 cores.

    Parameters
    ----------
    out_dir : path-like
        Output directory (CSV files and a PNG figure).
    n_reps : int
        Random splits per training size.

    Returns
    -------
    ReproductionResult
        Print ``result.report()`` for the comparison table.
    """
    from .density import reproduce_density  # noqa: PLC0415

    return reproduce_density(out_dir, n_values=(10, 20, 40), n_reps=n_reps, cv_max_iter=300)
