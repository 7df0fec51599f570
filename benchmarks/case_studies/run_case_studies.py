"""Full case-study reproductions with the paper's settings; writes CSV + PNG and prints tables.

Usage (from the repository root, data from the mirror or the download cache):

    python benchmarks/case_studies/run_case_studies.py --out benchmarks/out/case_studies \
        [--cases sarcos ltc density tg density-radonpy polymer-cp-synthetic spectra] \
        [--n-jobs 2] [--device cuda]

Each case prints its comparison table (with the published numbers) and its wall-clock time;
``timings.csv`` collects the times with the machine description.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from pathlib import Path

import pandas as pd

from affinetl.reproduce.density import reproduce_density
from affinetl.reproduce.ltc import reproduce_ltc
from affinetl.reproduce.polymer_cp import reproduce_polymer_cp
from affinetl.reproduce.sarcos import reproduce_sarcos
from affinetl.reproduce.spectra import reproduce_spectra

CASES = ("sarcos", "ltc", "density", "tg", "density-radonpy", "polymer-cp-synthetic", "spectra")


def _machine(device: str | None) -> str:
    text = f"{platform.machine()}, {os.cpu_count()} CPUs"
    if device:
        import torch

        text += f", torch {device}: {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/out/case_studies")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--device", default=None)
    parser.add_argument("--reps", type=int, default=20, help="SARCOS / polymer repetitions")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = Path(args.out)
    timings = []
    for case in args.cases:
        start = time.perf_counter()
        if case == "sarcos":
            result = reproduce_sarcos(out, n_reps=args.reps, n_jobs=args.n_jobs, device=args.device)
        elif case == "ltc":
            result = reproduce_ltc(out, n_jobs=args.n_jobs, device=args.device)
        elif case == "density":
            result = reproduce_density(out, n_reps=args.reps)
        elif case == "tg":
            result = reproduce_density(out, target="Tg", n_reps=args.reps)
        elif case == "density-radonpy":
            result = reproduce_density(
                out, source="radonpy", n_values=(10, 20, 40), n_reps=args.reps
            )
        elif case == "polymer-cp-synthetic":
            result = reproduce_polymer_cp(out, synthetic=True, n_splits=args.reps)
        else:
            result = reproduce_spectra(out)
        seconds = time.perf_counter() - start
        print(result.report(), flush=True)
        timings.append(
            {
                "case": case,
                "seconds": seconds,
                "machine": _machine(args.device),
                "n_jobs": args.n_jobs,
            }
        )
    pd.DataFrame(timings).to_csv(out / "timings.csv", index=False)
    print(pd.DataFrame(timings).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
