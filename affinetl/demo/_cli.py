"""``affinetl demo``: options and entry point."""

from __future__ import annotations

import argparse

from ..cli import n_jobs_int, positive_int
from ..exceptions import UsageError

__all__ = ["add_arguments", "run"]

#: Settings of the real-data demo: option -> default.
_REAL = {"n_values": (10, 20, 40), "splits": 20}
#: Settings of the synthetic demo: option -> default.
_SYNTHETIC = {"n_train": 100}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``affinetl demo``."""
    parser.add_argument("--out", default="results/demo", help="output folder (CSV and PNG files)")
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="run the self-contained synthetic problem with known g1, g2, g3 instead of the "
        "real polymer-density case (no data files needed)",
    )
    parser.add_argument(
        "--n-values",
        type=positive_int,
        nargs="+",
        default=None,
        help="real data: numbers of measured training polymers (default: 10 20 40)",
    )
    parser.add_argument(
        "--splits",
        "--reps",
        dest="splits",
        type=positive_int,
        default=None,
        help="real data: random splits per n (default: 20)",
    )
    parser.add_argument(
        "--n-train",
        type=positive_int,
        default=None,
        help="--synthetic: training samples (default: 100)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the splits and CV shuffles")
    parser.add_argument(
        "--n-jobs", type=n_jobs_int, default=1, help="parallel workers (joblib; -1: every CPU)"
    )


def _settings(args: argparse.Namespace, own: dict, other: dict, mode: str) -> dict:
    """The mode's settings with their defaults; an option of the other mode is an error."""
    given = [k for k in other if getattr(args, k) is not None]
    if given:
        names = ", ".join("--" + k.replace("_", "-") for k in given)
        raise UsageError(f"{names} does not apply to the {mode} demo")
    return {
        k: default if getattr(args, k) is None else getattr(args, k) for k, default in own.items()
    }


def run(args: argparse.Namespace) -> int:
    """``affinetl demo``: print the comparison table and where the files are; return 0."""
    if args.synthetic:
        from ._synthetic import run_synthetic_demo  # noqa: PLC0415

        settings = _settings(args, _SYNTHETIC, _REAL, "synthetic")
        result = run_synthetic_demo(
            args.out, n_train=settings["n_train"], random_state=args.seed, n_jobs=args.n_jobs
        )
        print("Synthetic Sim2Real problem: y = g1(u) + g2(u) g3(x), u = f_s(x) known")  # noqa: T201
        print(result.table[["model", "test_rmse"]].to_string(index=False, float_format="%.4f"))  # noqa: T201
        print(f"table:  {result.csv_path}\nfigure: {result.figure_path}")  # noqa: T201
        return 0
    from ._polymer import run_demo  # noqa: PLC0415

    settings = _settings(args, _REAL, _SYNTHETIC, "real-data")
    result = run_demo(
        args.out,
        n_values=settings["n_values"],
        n_splits=settings["splits"],
        random_state=args.seed,
        n_jobs=args.n_jobs,
    )
    print(result.report())  # noqa: T201
    return 0
