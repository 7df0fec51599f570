"""Command line: ``affinetl <command>``. Each command is a thin layer over the Python API.

Conventions shared by every sub-command: ``-v``/``-q`` (more or less logging; ``-q`` also hides
progress bars), defaults shown in ``--help``, and one error convention: a user error (a bad
option, missing or corrupt data, an output folder that cannot be made: an
:class:`~affinetl.exceptions.UsageError`) prints one line ``affinetl <command>: error: ...`` on
stderr and exits with status 2; any other exception is a bug, keeps its traceback and exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .exceptions import UsageError

__all__ = ["COMMANDS", "HelpFormatter", "build_parser", "main", "n_jobs_int", "positive_int"]

#: command -> (module with ``add_arguments(parser)`` and ``run(args) -> int``, help text)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "affinetl.demo",
        "the main job: AffineTransferCV vs the raw simulation and the baselines on real "
        "polymer densities",
    ),
    "scaling": (
        "affinetl.scaling._cli",
        "Sim2Real scaling-law learning curves E(N) = D N^-alpha + C",
    ),
    "sim2real": ("affinetl.sim2real._cli", "source model from simulations + AffineTransferCV"),
    "tune": (
        "affinetl.tuning._cli",
        "tune an estimator with Optuna (study on SQLite, an RDB URL or a journal file)",
    ),
}

#: Integer options of the reproductions that are not counts (every other one must be >= 1).
_NOT_COUNTS = {"seed", "n_jobs"}


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def n_jobs_int(text: str) -> int:
    """argparse type: a joblib worker count (>= 1, or negative: -1 is every CPU)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError("must be >= 1 or negative (-1: every CPU), got 0")
    return value


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default in ``--help``, except options without one (None, False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        no_default = action.default is None or action.default is False
        if no_default or isinstance(action, argparse._CountAction) or "default:" in help_text:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``prog: error: message``), exit status 2."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_verbosity(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``-v``/``-q`` (counted); on sub-commands they default to the top level's value."""
    default = 0 if top else argparse.SUPPRESS
    taken = parser._option_string_actions  # a command may define its own -v
    if "-v" not in taken and "--verbose" not in taken:
        parser.add_argument(
            "-v", "--verbose", action="count", default=default, help="more logging (-vv: debug)"
        )
    if "-q" not in taken and "--quiet" not in taken:
        parser.add_argument(
            "-q",
            "--quiet",
            action="count",
            default=default,
            help="errors only, no progress bars",
        )


def _with_out_folder(run: Callable[[argparse.Namespace], int]) -> Callable:
    """Create the ``--out`` folder before the work starts; failing to is a user error."""

    def wrapped(args: argparse.Namespace) -> int:
        out = getattr(args, "out", None)
        if out:
            try:
                Path(out).mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise UsageError(f"--out {str(out)!r}: cannot create the folder: {err}") from err
        return run(args)

    return wrapped


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    from .reproduce import CASES, case_module

    help_text = "reproduce a case study of the affine-transfer paper"
    rep = sub.add_parser("reproduce", help=help_text, description=help_text)
    _add_verbosity(rep, top=False)
    cases = rep.add_subparsers(dest="case", required=True, metavar="CASE")
    for case in CASES:
        module = case_module(case)
        first = (module.__doc__ or case).strip().splitlines()[0]
        p = cases.add_parser(case, help=first, description=first)
        module.add_arguments(p)
        for action in p._actions:  # integer options are counts: checked at the boundary
            if action.type is int and action.dest == "n_jobs":
                action.type = n_jobs_int
            elif action.type is int and action.dest not in _NOT_COUNTS:
                action.type = positive_int
        _add_verbosity(p, top=False)
        p.set_defaults(_run=_with_out_folder(module.run), _parser=p)


def build_parser() -> argparse.ArgumentParser:
    """The ``affinetl`` parser with one sub-parser per registered command."""
    from . import __version__

    parser = _Parser(
        prog="affinetl",
        description="Sim2Real transfer learning by affine model transfer: the main job (demo), "
        "the paper's case studies, tuning, scaling laws and Sim2Real from simulation tables.",
        epilog="affinetl COMMAND --help shows each command's options and their defaults.",
    )
    parser.add_argument("--version", action="version", version=f"affinetl {__version__}")
    _add_verbosity(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(module)
        mod.add_arguments(p)
        _add_verbosity(p, top=False)
        p.set_defaults(_run=mod.run, _parser=p)
    _add_reproduce(sub)
    return parser


def _log_level(args: argparse.Namespace) -> int:
    verbosity = int(getattr(args, "verbose", 0) or 0) - int(getattr(args, "quiet", 0) or 0)
    if verbosity >= 2:
        return logging.DEBUG
    return {1: logging.INFO, 0: logging.WARNING}.get(verbosity, logging.ERROR)


def _user_errors() -> tuple[type[Exception], ...]:
    """The exception types that are the user's to fix: one line and exit status 2."""
    from .datasets import DataUnavailableError, PolymerSmilesError  # noqa: PLC0415

    return (UsageError, DataUnavailableError, PolymerSmilesError)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``affinetl`` console script; returns the exit status.

    0 on success; 2 for a user error (one line on stderr); 130 when interrupted; an unexpected
    exception propagates with its traceback (exit status 1).
    """
    args, extra = build_parser().parse_known_args(argv)
    if extra:  # reported by the command's own parser: "affinetl <command>: error: ..."
        args._parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    package_logger = logging.getLogger("affinetl")
    previous = package_logger.level
    package_logger.setLevel(_log_level(args))
    prog = " ".join(
        ["affinetl", args.command] + ([args.case] if args.command == "reproduce" else [])
    )
    try:
        return int(args._run(args) or 0)
    except Exception as err:
        if not isinstance(err, _user_errors()):
            raise
        message = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
        print(f"{prog}: error: {message}", file=sys.stderr)  # noqa: T201 - CLI output
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)  # noqa: T201 - CLI output
        return 130
    finally:
        package_logger.setLevel(previous)


if __name__ == "__main__":
    sys.exit(main())
