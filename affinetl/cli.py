"""Command line: ``affinetl <command>``. Each command is a thin layer over the Python API."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

__all__ = ["main"]

#: command -> (module with ``add_arguments(parser)`` and ``run(args) -> int``, help text)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("affinetl.demo", "the main job: AffineTL vs its baselines (real polymer data)"),
    "scaling": (
        "affinetl.scaling._cli",
        "Sim2Real scaling-law learning curves E(N) = D N^-alpha + C",
    ),
    "tune": (
        "affinetl.tuning._cli",
        "tune an estimator with Optuna (study on SQLite, an RDB URL or a journal file)",
    ),
}


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    from .reproduce import CASES, case_module

    rep = sub.add_parser("reproduce", help="reproduce a case study of the affine-transfer paper")
    cases = rep.add_subparsers(dest="case", required=True)
    for case in CASES:
        module = case_module(case)
        p = cases.add_parser(case, help=(module.__doc__ or case).strip().splitlines()[0])
        module.add_arguments(p)
        p.set_defaults(_run=module.run)


def build_parser() -> argparse.ArgumentParser:
    """The ``affinetl`` parser with one sub-parser per registered command."""
    parser = argparse.ArgumentParser(prog="affinetl", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(module)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    _add_reproduce(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``affinetl`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    return int(args._run(args))


if __name__ == "__main__":
    sys.exit(main())
