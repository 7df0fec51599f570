"""Command line: ``simdata run TABLE --out DIR``, ``simdata show DIR``, ``simdata compact DIR``.

Every option is checked before any work starts. A user error (a bad option, setting, table
or store) prints one line naming the problem and exits with status 2; an unexpected error
keeps its traceback and exits 1 (the convention of :mod:`affinetl.exceptions`).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any

from .errors import UsageError

__all__ = ["main", "parse_overrides", "check_preset"]

logger = logging.getLogger("simdata")

_SHOW_COLUMNS = "name,status,failed_stage,density,density_sem,Cp,Cp_fd,Rg,ns_per_day,wall_s,reason"

#: Allowed values of the preset's text settings.
_CHOICES = {
    "tacticity": ("atactic", "isotactic", "syndiotactic"),
    "charge_method": ("am1bcc", "gasteiger"),
    "platform": ("auto", "CPU", "CUDA", "OpenCL", "HIP", "Reference"),
}
#: Settings that must be >= 2, >= 1 (counts) or > 0; every other number must be >= 0
#: (0 switches an optional stage off, e.g. ``conductivity_ps``).
_AT_LEAST_TWO = {"n_blocks"}
_AT_LEAST_ONE = {
    "n_chains",
    "atoms_per_chain",
    "min_dp",
    "charge_oligomer_atoms",
    "conductivity_replicas",
}
_POSITIVE = {
    "pack_density",
    "timestep_fs",
    "cutoff_nm",
    "temperature",
    "pressure_bar",
    "compress_temperature",
    "compress_pressure_bar",
    "compress_target_density",
    "compress_timestep_fs",
    "anneal_tmax",
    "anneal_pmax_bar",
    "npt_ps",
    "production_ps",
    "report_ps",
    "chunk_ps",
    "equil_density_tol",
    "equil_energy_tol",
    "conductivity_swap_ps",
    "conductivity_timestep_fs",
    "conductivity_slabs",
    "aromatic_timestep_fs",
    "hydrogen_mass",
}


def _convert(name: str, text: str, annotation: str) -> Any:
    kinds = [k.strip() for k in str(annotation).split("|")]
    low = text.strip().lower()
    if "None" in kinds and low in ("none", "null"):
        return None
    if "bool" in kinds:
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise UsageError(f"--set {name}={text}: expected true or false")
    if "int" in kinds:
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"--set {name}={text}: expected a whole number") from None
    if "float" in kinds:
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"--set {name}={text}: expected a number") from None
        if not math.isfinite(value):
            raise UsageError(f"--set {name}={text}: expected a finite number")
        return value
    return text.strip()


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["FIELD=VALUE", ...]`` -> typed preset overrides.

    Values are converted by the type of the :class:`~simdata.presets.Preset` field (whole
    numbers, numbers, true/false, ``none`` where allowed, text).

    Raises
    ------
    UsageError
        An item without ``=``, an unknown field (with the closest field names), or a value
        of the wrong type.

    Examples
    --------
    >>> parse_overrides(["n_chains=8", "hydrogen_mass=none"])
    {'n_chains': 8, 'hydrogen_mass': None}
    """
    from .presets import Preset

    fields = {f.name: f.type for f in dataclasses.fields(Preset)}
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--set expects FIELD=VALUE, got {item!r}")
        key, text = (part.strip() for part in item.split("=", 1))
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise UsageError(f"--set: unknown preset field {key!r}{hint}")
        out[key] = _convert(key, text, fields[key])
    return out


def check_preset(preset) -> None:
    """Check the ranges of every setting of a preset (before any MD runs).

    Raises
    ------
    UsageError
        Naming the first setting out of range (e.g. ``production_ps=-5``).

    Examples
    --------
    >>> from simdata.presets import get_preset
    >>> check_preset(get_preset("fast", production_ps=-5))
    Traceback (most recent call last):
    ...
    affinetl.exceptions.UsageError: production_ps=-5: must be > 0
    """
    for f in dataclasses.fields(preset):
        value = getattr(preset, f.name)
        if f.name in _CHOICES:
            if value not in _CHOICES[f.name]:
                raise UsageError(f"{f.name}={value}: choose one of {', '.join(_CHOICES[f.name])}")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):
            raise UsageError(f"{f.name}={value}: must be finite")
        if f.name in _AT_LEAST_TWO and value < 2:
            raise UsageError(f"{f.name}={value}: must be >= 2")
        if f.name in _AT_LEAST_ONE and value < 1:
            raise UsageError(f"{f.name}={value}: must be >= 1")
        if f.name in _POSITIVE and value <= 0:
            raise UsageError(f"{f.name}={value}: must be > 0")
        if value < 0:
            raise UsageError(f"{f.name}={value}: must be >= 0")
    if preset.report_ps > preset.production_ps:
        raise UsageError(
            f"report_ps={preset.report_ps} is longer than production_ps={preset.production_ps}"
        )
    if preset.cp_delta_t >= preset.temperature:
        raise UsageError(
            f"cp_delta_t={preset.cp_delta_t} must be below temperature={preset.temperature}"
        )
    if preset.timestep_fs > 5:
        raise UsageError(f"timestep_fs={preset.timestep_fs}: at most 5 fs")
    if preset.hydrogen_mass is not None and preset.hydrogen_mass < 1.008:
        raise UsageError(f"hydrogen_mass={preset.hydrogen_mass}: at least 1.008 amu (or none)")


def _read_table(path: str):
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{path}: no such polymer table")
    try:
        if p.suffix == ".parquet":
            df = pd.read_parquet(p)
        elif p.suffix in (".csv", ".txt", ".tsv"):
            df = pd.read_csv(p, sep="\t" if p.suffix == ".tsv" else ",")
        else:
            raise UsageError(f"{path}: expected a .csv or .parquet polymer table")
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        if isinstance(exc, UsageError):
            raise
        raise UsageError(f"{path}: cannot read the table ({exc})") from exc
    if "smiles" not in df.columns:
        raise UsageError(f"{path}: the table needs a 'smiles' column (found {list(df.columns)})")
    from .cluster import read_table

    return read_table(p)


class RunCommand:
    """Simulate every polymer of a table, skipping finished ones."""

    name = "run"

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        from .campaign import DUPLICATES, KEEP

        parser.add_argument("table", help="CSV or Parquet with a 'smiles' column (and a name/id)")
        parser.add_argument("--preset", default="fast", help="fast | standard | radonpy")
        parser.add_argument("--out", required=True, help="results folder")
        parser.add_argument("--scheduler", default=None, help="Dask scheduler address")
        parser.add_argument(
            "--workers", type=int, default=None, help="LocalCluster workers (0: run in-process)"
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--retries", type=int, default=2, help="Dask retries of a task")
        parser.add_argument("--cache", default=None, help="parameterisation cache folder")
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="FIELD=VALUE",
            help="override a preset field (repeatable), e.g. --set n_chains=4",
        )
        parser.add_argument("--retry-failed", action="store_true", help="run failed polymers again")
        parser.add_argument(
            "--keep",
            choices=KEEP,
            default="all",
            help="what stays of a finished job's folder: all files; the summaries, system "
            "and last state (final); nothing (none)",
        )
        parser.add_argument(
            "--archive",
            action="store_true",
            help="pack a finished job's folder into archive/<job_id>.tar.gz before pruning",
        )
        parser.add_argument(
            "--duplicates",
            choices=DUPLICATES,
            default="error",
            help="one polymer in two rows (same SMILES or another spelling): an error, or "
            "keep the first row",
        )
        parser.add_argument(
            "--lease-ttl",
            type=float,
            default=600.0,
            help="seconds without heartbeat after which another driver takes a job over",
        )
        parser.add_argument(
            "--no-compact", action="store_true", help="leave the store's shards uncompacted"
        )

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from .campaign import Campaign, check_polymer_table
        from .cluster import make_jobs
        from .presets import get_preset

        # every option is checked before any work starts
        if args.workers is not None and args.workers < 0:
            raise UsageError(f"--workers must be >= 0 (0: run in this process), got {args.workers}")
        if args.retries < 0:
            raise UsageError(f"--retries must be >= 0, got {args.retries}")
        if args.seed < 0:
            raise UsageError(f"--seed must be >= 0, got {args.seed}")
        if not (args.lease_ttl > 0 and math.isfinite(args.lease_ttl)):
            raise UsageError(
                f"--lease-ttl must be a positive number of seconds, got {args.lease_ttl}"
            )
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {args.out}: exists and is not a folder")
        cache = None
        if args.cache is not None:
            cache = Path(args.cache).resolve()  # tools run in other folders
            if cache.exists() and not cache.is_dir():
                raise UsageError(f"--cache {args.cache}: exists and is not a folder")
        overrides = parse_overrides(args.set)
        try:
            preset = get_preset(args.preset, **overrides)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        check_preset(preset)
        table = check_polymer_table(_read_table(args.table), duplicates=args.duplicates)
        jobs = make_jobs(table, preset, seed=args.seed)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--out {args.out}: cannot create the folder ({exc})") from None
        camp = Campaign(
            out,
            retry_failed=args.retry_failed,
            keep=args.keep,
            archive=args.archive,
            lease_ttl=args.lease_ttl,
        )
        try:
            failed = _run_jobs(jobs, camp, args, cache)
        finally:
            camp.close()
        if not args.no_compact:
            camp.store.compact()
        if failed:
            logger.warning("%d polymer(s) failed: %s", len(failed), ", ".join(failed))
        return 1 if failed else 0


def _run_jobs(jobs, camp, args, cache) -> list[str]:
    """Run the campaign's jobs (in this process, or on Dask); names of the failed ones."""
    from tqdm.auto import tqdm

    todo, skipped = camp.plan(jobs)
    if skipped["failed"]:
        logger.warning(
            "%d polymer(s) failed before and are skipped (--retry-failed runs them again)",
            skipped["failed"],
        )
    failed: list[str] = []
    bar = tqdm(total=len(todo), unit="polymer", disable=not todo)

    def progress(row: dict[str, Any]) -> None:
        bar.update(1)
        bar.set_postfix_str(f"{row.get('name', '')} {row.get('status', '')}")
        if row.get("status") != "done":
            failed.append(str(row.get("name") or row["job_id"]))

    try:
        if args.scheduler is None and args.workers == 0:
            from .campaign import drive, failure_row
            from .job import run_job

            out = str(camp.out)
            drive(
                todo,
                camp,
                lambda job: run_job(job, out, cache_dir=cache),
                on_row=progress,
                on_error=failure_row,
            )
        else:
            from .cluster import run_table

            # on Dask each job is leased just before it is submitted (run_campaign's
            # claim) and released once its row is stored: drivers on one folder share it
            def on_event(event) -> None:
                if event.stage == "job" and event.kind in ("end", "fail"):
                    progress({"job_id": event.job_id, **event.info, "status": event.kind})

            run_table(
                todo,
                camp.out,
                scheduler=args.scheduler,
                n_workers=args.workers,
                retries=args.retries,
                cache_dir=cache,
                callback=on_event,
                campaign=camp,
            )
    finally:
        bar.close()
    return failed


class ShowCommand:
    """Print the results of a folder (latest row per polymer)."""

    name = "show"

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("out", help="results folder")
        parser.add_argument("--all", action="store_true", help="every row (history)")
        parser.add_argument("--to", default=None, help="also write a .csv or .parquet copy")
        parser.add_argument(
            "--columns",
            default=_SHOW_COLUMNS,
            help="comma-separated columns to print",
        )

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        import pandas as pd

        from .store import load_results

        if args.to is not None:
            to = Path(args.to)
            if to.suffix not in (".csv", ".parquet"):
                raise UsageError(f"--to {args.to}: expected a .csv or .parquet file name")
            if not to.parent.is_dir():
                raise UsageError(f"--to {args.to}: the folder {to.parent} does not exist")
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise UsageError(f"{args.out}: not a results folder")
        df = load_results(args.out, all_rows=args.all)
        if df.empty:
            sys.stdout.write(f"no results in {args.out}\n")
            return 1
        wanted = [c.strip() for c in args.columns.split(",") if c.strip()]
        default = args.columns == _SHOW_COLUMNS  # columns a run may not have yet
        unknown = [c for c in wanted if c not in df.columns]
        if unknown and not default:
            raise UsageError(
                f"--columns: no column(s) {unknown} in the results; columns: {sorted(df.columns)}"
            )
        if args.to:
            _write_table(df, Path(args.to))
        cols = [c for c in wanted if c in df.columns]
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            sys.stdout.write(df[cols].to_string(index=False) + "\n")
            counts = df["status"].value_counts().to_dict()
            sys.stdout.write(f"{len(df)} polymers: {counts}\n")
        return 0


def _write_table(df, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)
        os.replace(tmp, path)
        from .columns import write_sidecar

        write_sidecar(path, df.columns)  # <table>.columns.json: meanings and units
    finally:
        if tmp.exists():
            tmp.unlink()


class CompactCommand:
    """Fold the store's shards into one table (Parquet with pyarrow, else JSON lines)."""

    name = "compact"

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("out", help="results folder")
        parser.add_argument("--format", choices=("auto", "parquet", "jsonl"), default="auto")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from .store import ResultStore

        if not Path(args.out).is_dir():
            raise UsageError(f"{args.out}: no such results folder")
        info = ResultStore(args.out).compact(fmt=args.format)
        sys.stdout.write(f"{info['rows']} rows from {info['shards']} shard(s) in {info['path']}\n")
        return 0


COMMANDS = (RunCommand, ShowCommand, CompactCommand)


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
    except UsageError as exc:  # the user's to fix: one line, exit 2
        sys.stderr.write(f"simdata {args.command}: error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
