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
    "demo": ("affinetl.cli", "AffineTL vs its baselines on a synthetic Sim2Real problem"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``affinetl demo``."""
    parser.add_argument("--out", default="results/demo", help="output folder (CSV + PNG)")
    parser.add_argument("--n-train", type=int, default=100, help="target training samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=None, help="parallel CV fits")


def run(args: argparse.Namespace) -> int:
    """Run the demo and print the comparison table."""
    from .demo import run_demo

    result = run_demo(args.out, n_train=args.n_train, random_state=args.seed, n_jobs=args.n_jobs)
    print("Synthetic Sim2Real problem: y = g1(u) + g2(u) g3(x), u = f_s(x) known")
    print(result.table[["model", "test_rmse"]].to_string(index=False, float_format="%.4f"))
    print(f"table:  {result.csv_path}\nfigure: {result.figure_path}")
    return 0


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
