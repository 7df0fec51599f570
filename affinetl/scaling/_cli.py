"""``affinetl scaling``: learning curves of Sim2Real transfer in the simulation database size."""

from __future__ import annotations

import argparse
import logging

from ._methods import TRANSFER_METHODS

__all__ = ["add_arguments", "run"]

logger = logging.getLogger(__name__)

_QUICK = {"n_grid": [20, 40, 80, 160], "n_reps": 3, "n_boot": 200, "n_target_grid": [10, 20, 30]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``affinetl scaling``."""
    parser.add_argument(
        "--source",
        nargs="+",
        default=["pi1070"],
        help="simulated table(s): 'pi1070', 'afzal2021-md', CSV/Parquet with smiles and the "
        "property, or a simdata results folder; several are concatenated (default: pi1070)",
    )
    parser.add_argument(
        "--target",
        default="afzal2021",
        help="experimental table: 'afzal2021' or CSV/Parquet with smiles and the property",
    )
    parser.add_argument("--property", default="density", help="property column (default density)")
    parser.add_argument(
        "--method",
        nargs="+",
        default=["affine", "fine-tuning", "source-only", "target-only"],
        choices=sorted(TRANSFER_METHODS),
        metavar="METHOD",
        help=f"transfer methods to compare: {', '.join(sorted(TRANSFER_METHODS))}",
    )
    parser.add_argument(
        "--n-grid",
        type=int,
        nargs="+",
        default=[30, 60, 120, 250, 500, 1000],
        help="source sizes N",
    )
    parser.add_argument("--n-target", type=int, default=20, help="experimental training polymers")
    parser.add_argument(
        "--n-target-grid",
        type=int,
        nargs="+",
        default=[10, 20, 30, 45, 60],
        help="experimental sizes of the target-only curve (equivalent samples)",
    )
    parser.add_argument("--n-test", type=int, default=None, help="held-out experimental polymers")
    parser.add_argument("--reps", type=int, default=10, help="repetitions per N")
    parser.add_argument(
        "--features",
        nargs="+",
        default=["rdkit", "morgan"],
        choices=["rdkit", "morgan", "ffkm"],
        help="polymer features (ffkm: force-field kernel means from simdata.descriptors)",
    )
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap refits per curve")
    parser.add_argument("--out", default="results/scaling", help="output folder (and cache)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel joblib workers")
    parser.add_argument(
        "--scheduler", default=None, help="Dask scheduler address (tcp://host:8786) to run on"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="small run: N in 20..160, 3 repetitions (smoke test)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``affinetl scaling``: runs the study, prints its report, returns 0."""
    from ._study import scaling_study  # noqa: PLC0415

    settings = {
        "n_grid": args.n_grid,
        "n_reps": args.reps,
        "n_boot": args.n_boot,
        "n_target_grid": args.n_target_grid,
    }
    if args.quick:
        settings.update(_QUICK)
    client = None
    if args.scheduler:
        from distributed import Client  # noqa: PLC0415

        client = Client(args.scheduler)
    try:
        study = scaling_study(
            args.source,
            args.target,
            prop=args.property,
            methods=args.method,
            n_target=args.n_target,
            n_test=args.n_test,
            kinds=args.features,
            out_dir=args.out,
            n_jobs=args.jobs,
            client=client,
            random_state=args.seed,
            progress=not args.no_progress,
            **settings,
        )
    finally:
        if client is not None:
            client.close()
    print(study.report())  # noqa: T201 - CLI output
    for name, path in study.paths.items():
        print(f"{name}: {path}")  # noqa: T201
    return 0
