"""Command line: ``simdata run TABLE --preset fast --out DIR`` and ``simdata show DIR``."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

__all__ = ["main"]

logger = logging.getLogger("simdata")


def _value(text: str) -> Any:
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


class RunCommand:
    """Simulate every polymer of a table, skipping finished ones."""

    name = "run"

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("table", help="CSV or Parquet with a 'smiles' column (and a name/id)")
        parser.add_argument("--preset", default="fast", help="fast | standard | radonpy")
        parser.add_argument("--out", required=True, help="results folder")
        parser.add_argument("--scheduler", default=None, help="Dask scheduler address")
        parser.add_argument(
            "--workers", type=int, default=None, help="LocalCluster workers (0: run in-process)"
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--retries", type=int, default=2)
        parser.add_argument("--cache", default=None, help="parameterisation cache folder")
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="FIELD=VALUE",
            help="override a preset field (repeatable), e.g. --set n_chains=4",
        )

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from tqdm.auto import tqdm

        from .cluster import make_jobs, read_table, run_table

        overrides = {}
        for item in args.set:
            if "=" not in item:
                raise SystemExit(f"--set expects FIELD=VALUE, got {item!r}")
            k, v = item.split("=", 1)
            overrides[k.strip()] = _value(v.strip())
        jobs = make_jobs(read_table(args.table), args.preset, seed=args.seed, **overrides)
        bar = tqdm(total=len(jobs), unit="polymer")
        failed = []

        def progress(event) -> None:
            if event.stage == "job":
                bar.update(1)
                bar.set_postfix_str(f"{event.info.get('name', '')} {event.kind}")
                if event.kind == "fail":
                    failed.append(event.info.get("name", event.job_id))

        try:
            run_table(
                jobs,
                args.out,
                scheduler=args.scheduler,
                n_workers=args.workers,
                retries=args.retries,
                cache_dir=args.cache,
                callback=progress,
            )
        finally:
            bar.close()
        if failed:
            logger.warning("%d polymer(s) failed: %s", len(failed), ", ".join(failed))
        return 1 if failed else 0


class ShowCommand:
    """Print the results of a folder (latest row per polymer)."""

    name = "show"

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("out", help="results folder")
        parser.add_argument("--all", action="store_true", help="every journal row (history)")
        parser.add_argument("--to", default=None, help="also write a .csv or .parquet copy")
        parser.add_argument(
            "--columns",
            default="name,status,density,density_sem,Cp,Cp_fd,Rg,ns_per_day,wall_s,reason",
            help="comma-separated columns to print",
        )

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        import pandas as pd

        from .store import load_results

        df = load_results(args.out, all_rows=args.all)
        if df.empty:
            sys.stdout.write(f"no results in {args.out}\n")
            return 1
        if args.to:
            if args.to.endswith(".parquet"):
                df.to_parquet(args.to, index=False)
            else:
                df.to_csv(args.to, index=False)
        cols = [c for c in args.columns.split(",") if c in df.columns]
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            sys.stdout.write(df[cols].to_string(index=False) + "\n")
            counts = df["status"].value_counts().to_dict()
            sys.stdout.write(f"{len(df)} polymers: {counts}\n")
        return 0


COMMANDS = (RunCommand, ShowCommand)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``simdata`` console script."""
    parser = argparse.ArgumentParser(
        prog="simdata", description="OpenMM polymer property generator"
    )
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("-q", "--quiet", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.__doc__)
        cmd.add_arguments(p)
        p.set_defaults(func=cmd.run)
    args = parser.parse_args(argv)
    level = (
        logging.ERROR
        if args.quiet
        else (
            logging.DEBUG if args.verbose > 1 else logging.INFO if args.verbose else logging.WARNING
        )
    )
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError) as exc:
        logger.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
