"""Agreement of simdata's FFKM descriptors with the published ``PI_lib_FFKM.csv``.

    python benchmarks/simdata/ffkm_agreement.py [--n 100]

For polymers whose SMILES appear in ``MD_PI1070.csv`` (the Cp case study source
table), the 190 descriptors of :func:`simdata.descriptors.ffkm` are compared with
the published ones: mean absolute difference and Pearson r per parameter kind, and
the fraction of polymers whose block agrees to 0.02. Writes
``benchmarks/out/simdata/ffkm_agreement.csv`` and ``ffkm_agreement.png``.
Data are read from ``$AFFINETL_DATA_MIRROR`` (default ``../shared/data``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "out" / "simdata"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

KINDS = (
    "mass",
    "charge",
    "epsilon",
    "sigma",
    "k_bond",
    "r0",
    "polar",
    "k_angle",
    "theta0",
    "k_dih",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="polymers to compare (random, seed 0)")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from _data import mirror

    from simdata.descriptors import FFKM_NAMES, ffkm_table, load_gaff2

    ref = pd.read_csv(mirror() / "affinetl-paper" / "cp" / "PI_lib_FFKM.csv")
    md = pd.read_csv(mirror() / "affinetl-paper" / "cp" / "MD_PI1070.csv")
    ref = ref[ref.smiles.isin(md.smiles)].drop_duplicates("smiles")
    sample = ref.sample(min(args.n, len(ref)), random_state=0)
    ours = ffkm_table(sample.smiles, table=load_gaff2(), progress=True)
    ok = ~ours.isna().any(axis=1).values
    x, y = ours.values[ok], sample[list(FFKM_NAMES)].values[ok]
    names = np.array(FFKM_NAMES)
    rows = []
    for kind in KINDS:
        sel = np.array([n.rsplit("_", 1)[0] == kind for n in names])
        d = np.abs(x[:, sel] - y[:, sel])
        r = np.corrcoef(x[:, sel].ravel(), y[:, sel].ravel())[0, 1]
        rows.append(
            {
                "kind": kind,
                "features": int(sel.sum()),
                "mean_abs_diff": d.mean(),
                "max_abs_diff": d.max(),
                "pearson_r": r,
                "polymers_within_0.02": float((d.max(1) < 0.02).mean()),
            }
        )
    d_all = np.abs(x - y)
    rows.append(
        {
            "kind": "all",
            "features": len(names),
            "mean_abs_diff": d_all.mean(),
            "max_abs_diff": d_all.max(),
            "pearson_r": np.corrcoef(x.ravel(), y.ravel())[0, 1],
            "polymers_within_0.02": float((d_all.max(1) < 0.02).mean()),
        }
    )
    table = pd.DataFrame(rows)
    OUT.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT / "ffkm_agreement.csv", index=False)
    print(f"{ok.sum()} of {len(sample)} polymers typed (of {len(ref)} in MD_PI1070)")
    print(table.round(4).to_string(index=False))
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(y.ravel(), x.ravel(), ".", ms=2, alpha=0.3)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set_xlabel("published FFKM (PI_lib_FFKM.csv)")
    ax.set_ylabel("simdata FFKM")
    fig.tight_layout()
    fig.savefig(OUT / "ffkm_agreement.png", dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
