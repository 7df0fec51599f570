"""Speed of ``fit_many`` against one ``fit`` after another, for the LTC protocol's fits.

One (split, method) of ``ltc_neural.py``: every one of the 10 pretrained SPS networks with 5 CV
folds (32 rows) and the final fit (40 rows), batch size 2, Adam. Both ways fit the same
estimators in the same run; the predictions are compared to show the fits are the same.

    AFFINETL_DATA_MIRROR=... OMP_NUM_THREADS=1 python benchmarks/neural/fit_many_speed.py

``--epochs`` (default 10) shortens every fit; the time per fit scales with it. Writes
``benchmarks/out/neural/fit_many_speed.csv`` and prints the table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from ltc_neural import methods
from sklearn.base import clone
from sklearn.model_selection import KFold, train_test_split

from affinetl.datasets import SPS_NETWORK_IDS, load_ltc
from affinetl.models import fit_many


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--methods", nargs="+", default=["Ext-3", "Fine", "Inv-3", "Flow-3"])
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/neural"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_ltc()
    has_y = data.y["LTC"].notna().to_numpy()
    X = data.X.to_numpy()[has_y]
    y = np.log(data.y["LTC"].to_numpy()[has_y])
    y = (y - y.mean()) / y.std()
    train, _ = train_test_split(np.arange(len(y)), train_size=40, random_state=0)
    X, y = X[train], y[train]
    rows = [tr for tr, _ in KFold(5, shuffle=True, random_state=0).split(X)] + [np.arange(40)]
    nets = data.extras["networks"]
    records = []
    for name in args.methods:
        ests = [
            clone(methods(nets[i], (1, 2, 3), 2, 0.5, args.dtype)[name]).set_params(
                max_epochs=args.epochs
            )
            for i in SPS_NETWORK_IDS
            for _ in rows
        ]
        data_X = [X[r] for _ in SPS_NETWORK_IDS for r in rows]
        data_y = [y[r] for _ in SPS_NETWORK_IDS for r in rows]
        t0 = time.perf_counter()
        alone = [clone(e).fit(a, b) for e, a, b in zip(ests, data_X, data_y, strict=True)]
        t_alone = time.perf_counter() - t0
        t0 = time.perf_counter()
        fit_many(ests, data_X, data_y)
        t_together = time.perf_counter() - t0
        diff = max(
            float(np.abs(a.predict(X) - b.predict(X)).max())
            for a, b in zip(ests, alone, strict=True)
        )
        records.append(
            {
                "method": name,
                "fits": len(ests),
                "epochs": args.epochs,
                "seconds_one_by_one": t_alone,
                "seconds_fit_many": t_together,
                "speedup": t_alone / t_together,
                "max_prediction_difference": diff,
            }
        )
        print(records[-1], flush=True)
    table = pd.DataFrame(records)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "fit_many_speed.csv", index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
