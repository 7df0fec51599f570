"""LTC case study with the neural transfer models (Direct, Fine, Ext-k, Inv-k, flow).

The published protocol (Minami et al. 2023, LTC table): descriptors of the 45 crystals with an
LTC, target = standardised log LTC, random 40/5 splits (``train_test_split(train_size=40,
random_state=split)``) x the 10 pretrained SPS networks, RMSE in W/m/K after back-transforming
``exp(mean + sd * prediction)``. The models follow the paper's settings with one fixed
architecture each: LeakyReLU(0.01), one hidden layer per network of half its input width, L2 1e-2
(Adam ``weight_decay=2e-2``: the gradient of Keras' ``0.01 * ||w||^2``), Adam lr 1e-3, batch size
2, epochs chosen by 5-fold CV from {50, 75, 100} (one run per fold with weight snapshots at
50/75/100 epochs; ``--no-cv``: 100 epochs). The authors' notebook
(``12_LTC/20_PGM/200_TransferLearning.ipynb``) grid-searches more than this (dropout, two hidden
layers for Direct and Ext-k, widths, Fine's epochs in {0, ..., 50} without L2); docs/neural.md
lists the differences.

Run (the full protocol is the default: 10 splits x 10 networks, with the CV epoch choice; about
4,900 fits of 2,000 Adam steps, many hours on one core):

    OMP_NUM_THREADS=1 python benchmarks/neural/ltc_neural.py

Networks are the outer loop, so a run cut short by ``--time-budget`` (minutes; no new fit starts
after it) still holds every split of the first networks; ``--resume`` continues a CSV, and
``--first-network k --out other/`` runs networks k+1.. in a second process (concatenate the CSVs
and summarise with ``--from-csv``). Writes
``benchmarks/out/neural/ltc_neural.csv`` (one row per split, network, method, appended as each fit
ends) and ``ltc_neural.png``, and prints mean and median RMSE per method over the complete
(split, network) pairs, the median ratio to Direct on the same split and how often a method
beats Direct there.
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.model_selection import KFold, train_test_split
from tqdm import tqdm

from affinetl.datasets import SPS_NETWORK_IDS, load_ltc
from affinetl.models._neural import (
    AffineCouplingTransfer,
    FeatureExtractionRegressor,
    FineTuneRegressor,
    HiddenLayerAffineRegressor,
    NeuralDirectRegressor,
)
from affinetl.sources import TorchSourceNetwork

logger = logging.getLogger("ltc_neural")

PUBLISHED = {"Direct": 40.0, "Inv-3": 27.0}
EPOCHS = (50, 75, 100)


def _common(batch_size: int) -> dict:
    return {
        "lr": 1e-3,
        "weight_decay": 2e-2,
        "batch_size": batch_size,
        "early_stopping": False,
        "max_epochs": max(EPOCHS),
        "random_state": 0,
    }


def methods(net, layers, batch_size: int, fraction: float) -> dict:
    """The estimators of the table for one source network."""
    kw = _common(batch_size)
    h = (fraction,)
    out = {
        "Direct": NeuralDirectRegressor(hidden_layer_sizes=h, **kw),
        "Fine": FineTuneRegressor(network=net, **kw),
    }
    for k in layers:
        out[f"Ext-{k}"] = FeatureExtractionRegressor(
            network=net, layer=k, hidden_layer_sizes=h, **kw
        )
    for k in layers:
        out[f"Inv-{k}"] = HiddenLayerAffineRegressor(
            network=net, layer=k, hidden1=h, hidden2=h, hidden3=h, **kw
        )
    out["Flow-3"] = AffineCouplingTransfer(
        source=TorchSourceNetwork(net, layer=max(layers)),
        hidden1=h,
        hidden2=h,
        hidden3=h,
        hidden_noise=(8,),
        **kw,
    )
    return out


def cv_epochs(model, X: np.ndarray, y: np.ndarray, cv: bool) -> int:
    """Epoch count from {50, 75, 100} by 5-fold CV (snapshots of one run per fold)."""
    if not cv:
        return max(EPOCHS)
    errors = {e: [] for e in EPOCHS}
    for tr, va in KFold(5, shuffle=True, random_state=0).split(X):
        est = clone(model)
        est._snapshot_epochs = EPOCHS  # read by _train through fit_module
        est.fit(X[tr], y[tr])
        for e in EPOCHS:
            est.module_.load_state_dict(est.snapshots_[e])
            errors[e].append(np.mean((est.predict(X[va]) - y[va]) ** 2))
    return min(EPOCHS, key=lambda e: np.mean(errors[e]))


COLUMNS = ["split", "network", "method", "epochs", "rmse", "seconds"]


def run(args: argparse.Namespace, csv: Path) -> None:
    """Fit every (network, split, method) not yet in ``csv``, appending one row per fit."""
    data = load_ltc()
    has_y = data.y["LTC"].notna().to_numpy()
    raw_X = data.X.to_numpy()[has_y]
    log_y = np.log(data.y["LTC"].to_numpy()[has_y])
    y_mean, y_sd = log_y.mean(), log_y.std(ddof=1)
    Y = (log_y - y_mean) / y_sd
    nets = data.extras["networks"]
    done: set[tuple[int, int, str]] = set()
    if args.resume and csv.exists():
        old = pd.read_csv(csv)
        done = set(zip(old.split, old.network, old.method, strict=True))
    else:
        pd.DataFrame(columns=COLUMNS).to_csv(csv, index=False)
    ids = SPS_NETWORK_IDS[args.first_network : args.networks]
    jobs = [(s, n) for n in ids for s in range(args.splits)]
    start = time.monotonic()
    for split, net_id in tqdm(jobs, desc="network x split"):
        train, test = train_test_split(np.arange(len(Y)), train_size=40, random_state=split)
        for name, model in methods(nets[net_id], (1, 2, 3), args.batch_size, 0.5).items():
            # Direct does not use the source network: one fit per split, under the first network
            key = (split, SPS_NETWORK_IDS[0] if name == "Direct" else net_id, name)
            if key in done or (name == "Direct" and args.first_network > 0):
                continue
            if args.time_budget is not None and time.monotonic() - start > 60 * args.time_budget:
                logger.warning("time budget of %.0f min spent; stopping", args.time_budget)
                return
            t0 = time.perf_counter()
            epochs = cv_epochs(model, raw_X[train], Y[train], args.cv)
            est = clone(model).set_params(max_epochs=epochs).fit(raw_X[train], Y[train])
            pred = np.exp(est.predict(raw_X[test]) * y_sd + y_mean)
            truth = np.exp(Y[test] * y_sd + y_mean)
            rmse = float(np.sqrt(np.mean((pred - truth) ** 2)))
            row = [split, key[1], name, epochs, rmse, time.perf_counter() - t0]
            pd.DataFrame([row], columns=COLUMNS).to_csv(csv, mode="a", header=False, index=False)
            done.add(key)
            logger.info("split %d net %d %s: RMSE %.2f", split, net_id, name, rmse)


def complete_pairs(frame: pd.DataFrame, n_methods: int) -> pd.DataFrame:
    """Rows of the (split, network) pairs that have every method (Direct shared per split)."""
    direct = frame[frame.method == "Direct"].set_index("split")
    rest = frame[frame.method != "Direct"]
    full = rest.groupby(["split", "network"]).method.nunique() == n_methods - 1
    pairs = [p for p, ok in full.items() if ok and p[0] in direct.index]
    keep = rest.set_index(["split", "network"]).loc[pairs].reset_index() if pairs else rest[:0]
    shared = [{**direct.loc[s].to_dict(), "split": s, "network": n} for s, n in pairs]
    return pd.concat([keep, pd.DataFrame(shared, columns=frame.columns)], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--networks", type=int, default=10)
    parser.add_argument(
        "--first-network",
        type=int,
        default=0,
        help="skip the first networks (and Direct): a second worker on another CSV",
    )
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--no-cv", dest="cv", action="store_false", help="fixed 100 epochs")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/neural"))
    parser.add_argument(
        "--time-budget", type=float, default=None, help="minutes after which no new fit starts"
    )
    parser.add_argument("--resume", action="store_true", help="skip fits already in the CSV")
    parser.add_argument(
        "--from-csv", action="store_true", help="only summarise and plot an existing CSV"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)  # tiny networks: one thread is fastest and spares a shared machine
    args.out.mkdir(parents=True, exist_ok=True)
    csv = args.out / "ltc_neural.csv"
    if not args.from_csv:
        run(args, csv)
    methods_all = ("Direct", "Fine", "Ext-1", "Ext-2", "Ext-3", "Inv-1", "Inv-2", "Inv-3", "Flow-3")
    frame = complete_pairs(pd.read_csv(csv), len(methods_all))
    if frame.empty:
        raise SystemExit(f"{csv} holds no complete (split, network) pair yet")
    table = frame.groupby("method")["rmse"].agg(["mean", "median", "std", "count"])
    direct = frame[frame.method == "Direct"].groupby("split").rmse.first()
    paired = frame.assign(ratio=frame.rmse / frame.split.map(direct))
    table["median_ratio_to_direct"] = paired.groupby("method").ratio.median()
    table["beats_direct"] = (paired.ratio < 1).groupby(paired.method).mean()
    table["published_mean"] = pd.Series(PUBLISHED)
    order = [m for m in methods_all if m in table.index]
    table = table.loc[order]
    pairs = frame[["split", "network"]].drop_duplicates()
    print(f"machine: {platform.processor() or platform.machine()}, csv: {csv}")
    print(f"epochs used: {sorted(int(e) for e in frame.epochs.unique())}")
    print(
        f"{len(pairs)} complete (split, network) pairs: "
        f"splits {sorted(int(s) for s in pairs.split.unique())}, "
        f"networks {sorted(int(n) for n in pairs.network.unique())}"
    )
    print(table.round(2).to_string())
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.boxplot([frame.loc[frame.method == m, "rmse"] for m in order], tick_labels=order)
    ax.set_ylabel("test RMSE (W/m/K)")
    ax.set_title(f"LTC, {len(pairs)} (split, network) pairs")
    fig.tight_layout()
    fig.savefig(args.out / "ltc_neural.png", dpi=120)


if __name__ == "__main__":
    main()
