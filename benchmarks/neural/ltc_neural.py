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

The networks are float32 (``--dtype``), as Keras' were. All fits of one (split, method), i.e.
the 10 networks x (5 CV folds + the final fit), train together in one vectorised loop
(:func:`affinetl.models.fit_many`), each exactly as its own ``fit`` would.

Run (the full protocol is the default: 10 splits x 10 networks, with the CV epoch choice; 4,860
fits of 1,600-2,000 Adam steps; 4 hours of fit time on this 2-core machine, 2 hours of wall time
in two processes):

    OMP_NUM_THREADS=1 python benchmarks/neural/ltc_neural.py

Splits are the outer loop and rows are appended after each (split, method), so a run cut short
by ``--time-budget`` (minutes; no new (split, method) starts after it) keeps every finished
one; ``--resume`` continues a CSV, and ``--first-split k --out other/`` runs splits k.. in a
second process (concatenate the CSVs and summarise with ``--from-csv``). Writes
``benchmarks/out/neural/ltc_neural.csv`` (one row per split, network, method) and
``ltc_neural.png``, and prints mean and median RMSE per method over the complete
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
from affinetl.models import (
    AffineCouplingTransfer,
    FeatureExtractionRegressor,
    FineTuneRegressor,
    HiddenLayerAffineRegressor,
    NeuralDirectRegressor,
    fit_many,
)
from affinetl.sources import TorchSourceNetwork

logger = logging.getLogger("ltc_neural")

PUBLISHED = {"Direct": 40.0, "Inv-3": 27.0}
EPOCHS = (50, 75, 100)


def _common(batch_size: int, dtype: str) -> dict:
    return {
        "dtype": dtype,
        "lr": 1e-3,
        "weight_decay": 2e-2,
        "batch_size": batch_size,
        "early_stopping": False,
        "max_epochs": max(EPOCHS),
        "random_state": 0,
    }


def methods(net, layers, batch_size: int, fraction: float, dtype: str) -> dict:
    """The estimators of the table for one source network."""
    kw = _common(batch_size, dtype)
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


METHOD_NAMES = ("Direct", "Fine", "Ext-1", "Ext-2", "Ext-3", "Inv-1", "Inv-2", "Inv-3", "Flow-3")
COLUMNS = ["split", "network", "method", "epochs", "rmse", "seconds"]


def _mse_at(est, epoch: int, X: np.ndarray, y: np.ndarray) -> float:
    """Squared error of ``est`` with its weights after ``epoch`` epochs."""
    est.module_.load_state_dict(est.snapshots_[epoch])
    return float(np.mean((est.predict(X) - y) ** 2))


def fit_method(name: str, protos: dict, X: np.ndarray, Y: np.ndarray, cv: bool) -> dict:
    """Every network's fold fits and final fit of one method, trained together by ``fit_many``.

    Returns ``network -> (epochs, fitted final estimator)``: the epochs from {50, 75, 100} with
    the lowest mean 5-fold CV error (each fold trained once for 100 epochs with snapshots at
    50/75/100; ``cv=False``: 100), and the fit on all rows with those epochs' weights (the first
    ``e`` epochs of a 100-epoch run with a constant learning rate are an ``e``-epoch run).
    """
    folds = list(KFold(5, shuffle=True, random_state=0).split(X)) if cv else []
    jobs = [(net, fold) for net in protos for fold in [*range(len(folds)), None]]
    ests = [clone(protos[net]) for net, _ in jobs]
    rows = [np.arange(len(Y)) if fold is None else folds[fold][0] for _, fold in jobs]
    fit_many(ests, [X[r] for r in rows], [Y[r] for r in rows], snapshot_epochs=EPOCHS)
    out = {}
    for net in protos:
        mine = [(est, fold) for est, (n, fold) in zip(ests, jobs, strict=True) if n == net]
        errors = {max(EPOCHS): 0.0}
        if cv:
            held_out = [(est, folds[f][1]) for est, f in mine if f is not None]
            errors = {
                e: np.mean([_mse_at(est, e, X[v], Y[v]) for est, v in held_out]) for e in EPOCHS
            }
        epochs = min(errors, key=errors.get)
        final = mine[-1][0]
        final.module_.load_state_dict(final.snapshots_[epochs])
        out[net] = (epochs, final)
    return out


def run(args: argparse.Namespace, csv: Path) -> None:
    """Fit every (split, network, method) not yet in ``csv``, appending its rows per method."""
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
    ids = SPS_NETWORK_IDS[: args.networks]
    start = time.monotonic()
    for split in tqdm(range(args.first_split, args.splits), desc="split"):
        train, test = train_test_split(np.arange(len(Y)), train_size=40, random_state=split)
        truth = np.exp(Y[test] * y_sd + y_mean)
        for name in METHOD_NAMES:
            # Direct does not use the source network: one fit per split, under the first network
            todo = [
                n for n in (ids[:1] if name == "Direct" else ids) if (split, n, name) not in done
            ]
            if not todo:
                continue
            if args.time_budget is not None and time.monotonic() - start > 60 * args.time_budget:
                logger.warning("time budget of %.0f min spent; stopping", args.time_budget)
                return
            t0 = time.perf_counter()
            protos = {
                n: methods(nets[n], (1, 2, 3), args.batch_size, 0.5, args.dtype)[name] for n in todo
            }
            fitted = fit_method(name, protos, raw_X[train], Y[train], args.cv)
            seconds = (time.perf_counter() - t0) / len(todo)
            rows = []
            for net, (epochs, est) in fitted.items():
                pred = np.exp(est.predict(raw_X[test]) * y_sd + y_mean)
                rmse = float(np.sqrt(np.mean((pred - truth) ** 2)))
                rows.append([split, net, name, epochs, rmse, seconds])
                done.add((split, net, name))
            pd.DataFrame(rows, columns=COLUMNS).to_csv(csv, mode="a", header=False, index=False)
            logger.info(
                "split %d %s: median RMSE %.2f", split, name, np.median([r[4] for r in rows])
            )


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
        "--first-split",
        type=int,
        default=0,
        help="start at this split: a second worker on another CSV runs --first-split k",
    )
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="network precision (float32: the Keras default of the paper, and cheaper here)",
    )
    parser.add_argument("--no-cv", dest="cv", action="store_false", help="fixed 100 epochs")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/neural"))
    parser.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="minutes after which no new (split, method) batch starts",
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
    methods_all = METHOD_NAMES
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
    ax.set_yscale("log")  # per-pair RMSEs span 1 to several hundred W/m/K
    ax.set_ylabel("test RMSE (W/m/K)")
    ax.set_title(f"LTC, {len(pairs)} (split, network) pairs")
    fig.tight_layout()
    fig.savefig(args.out / "ltc_neural.png", dpi=120)


if __name__ == "__main__":
    main()
