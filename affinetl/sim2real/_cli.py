"""``affinetl sim2real``: source model from simulations, AffineTransferCV on experiments."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``affinetl sim2real``."""
    parser.add_argument(
        "--source",
        nargs="+",
        required=True,
        help="simulated table(s): a simdata results folder or CSV, 'pi1070', or any CSV with "
        "smiles and the property; several are concatenated",
    )
    parser.add_argument(
        "--target",
        required=True,
        help="experimental table: CSV with smiles and the property (or <property>_exp), or "
        "'afzal2021'",
    )
    parser.add_argument("--property", default="density", help="property column (default density)")
    parser.add_argument("--out", default="results/sim2real", help="output folder")
    parser.add_argument(
        "--features",
        nargs="+",
        default=["rdkit", "morgan"],
        choices=["rdkit", "morgan", "ffkm"],
        help="polymer features of the source model",
    )
    parser.add_argument(
        "--source-model",
        default="kernel-ridge",
        choices=["kernel-ridge", "gradient-boosting", "auto"],
        help="regressor of the source model ('auto': the lower CV error)",
    )
    parser.add_argument("--folds", type=int, default=5, help="CV folds on the experiments")
    parser.add_argument(
        "--keep-suspect",
        action="store_true",
        help="keep experimental values outside physical bounds (left out by default)",
    )
    parser.add_argument(
        "--curve", action="store_true", help="also the learning curve in the source-table size"
    )
    parser.add_argument(
        "--n-grid", type=int, nargs="+", default=[30, 100, 300, 1000], help="source sizes N"
    )
    parser.add_argument("--reps", type=int, default=5, help="repetitions per N (--curve)")
    parser.add_argument(
        "--n-target", type=int, default=20, help="experimental training polymers (--curve)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``affinetl sim2real``: fits, writes the outputs, prints the metrics."""
    from ..exceptions import UsageError  # noqa: PLC0415
    from ._pipeline import sim2real  # noqa: PLC0415

    if args.folds < 2:
        raise UsageError(f"--folds must be at least 2, got {args.folds}")
    if args.reps < 1:
        raise UsageError(f"--reps must be at least 1, got {args.reps}")
    result = sim2real(
        args.source,
        args.target,
        prop=args.property,
        out_dir=args.out,
        kinds=args.features,
        source_model=args.source_model,
        n_folds=args.folds,
        keep_suspect=args.keep_suspect,
        curve=args.curve,
        n_grid=args.n_grid,
        n_reps=args.reps,
        n_target=args.n_target,
        random_state=args.seed,
        progress=not args.no_progress,
    )
    print(result.report())  # noqa: T201 - CLI output
    print(f"wall time: {result.seconds:.0f} s")  # noqa: T201
    for name, path in result.paths.items():
        print(f"{name}: {path}")  # noqa: T201
    return 0
