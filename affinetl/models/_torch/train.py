"""The one training loop (Adam, mini-batches, validation, early stopping, schedules)."""

from __future__ import annotations

import contextlib
import copy
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = [
    "TrainResult",
    "deterministic_mode",
    "torch_threads",
    "fit_module",
    "resolve_device",
    "resolve_dtype",
]

logger = logging.getLogger(__name__)

#: ``loss_fn(batch) -> scalar`` where ``batch`` is the tuple of training tensors at some rows.
LossFn = Callable[[tuple[torch.Tensor, ...]], torch.Tensor]
#: ``callback(epoch, train_loss, val_loss) -> stop?`` (the estimators bind a 4th argument).
Callback = Callable[[int, float, float | None], bool | None]


@dataclass
class TrainResult:
    """What :func:`fit_module` did.

    Attributes
    ----------
    loss_curve : list of float
        Mean training loss of each epoch.
    validation_curve : list of float
        Validation loss after each epoch (empty without validation data).
    n_iter : int
        Epochs run.
    best_epoch : int
        Epoch (1-based) whose weights were kept (the last one without early stopping).
    stopped_early : bool
        Early stopping (``patience``) ended the training.
    stop_reason : {"max_epochs", "early_stopping", "callback"}
        Why the training ended.
    snapshots : dict
        ``epoch -> state_dict`` copies taken at the requested ``snapshot_epochs``.
    """

    loss_curve: list[float] = field(default_factory=list)
    validation_curve: list[float] = field(default_factory=list)
    n_iter: int = 0
    best_epoch: int = 0
    stopped_early: bool = False
    stop_reason: str = "max_epochs"
    snapshots: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` fails clearly without a GPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but torch sees no CUDA device; use 'cpu'")
    return torch.device(device)


def resolve_dtype(dtype: str) -> torch.dtype:
    """``"float32"`` or ``"float64"`` -> the torch dtype."""
    return {"float32": torch.float32, "float64": torch.float64}[dtype]


@contextlib.contextmanager
def deterministic_mode(enabled: bool) -> Iterator[None]:
    """Turn on ``torch.use_deterministic_algorithms`` inside the block, restoring it after."""
    if not enabled:
        yield
        return
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


@contextlib.contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Use ``n_threads`` intra-op threads inside the block (``None``: leave torch's setting).

    Small networks gain nothing from intra-op parallelism and lose a lot to thread contention
    on a busy machine, so the estimators train with one thread by default.
    """
    before = torch.get_num_threads()
    if n_threads is None or n_threads == before:
        yield
        return
    torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _shuffled(
    tensors: tuple[torch.Tensor, ...], generator: torch.Generator
) -> tuple[torch.Tensor, ...]:
    """The tensors with their rows in one random order (mini-batches are then slices)."""
    order = torch.randperm(tensors[0].shape[0], generator=generator).to(tensors[0].device)
    return tuple(t[order] for t in tensors)


def _scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, max_epochs: int
) -> torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau | None:
    if schedule == "constant":
        return None
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max_epochs)
    if schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=5)
    raise ValueError(f"unknown lr_schedule {schedule!r}; use 'constant', 'cosine' or 'plateau'")


def fit_module(
    module: nn.Module,
    loss_fn: LossFn,
    train: tuple[torch.Tensor, ...],
    *,
    validation: tuple[torch.Tensor, ...] | None = None,
    max_epochs: int = 100,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    lr_schedule: str = "constant",
    patience: int | None = None,
    tol: float = 0.0,
    param_groups: Sequence[Sequence[nn.Parameter]] | None = None,
    generator: torch.Generator,
    snapshot_epochs: Sequence[int] = (),
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Train ``module`` in place by minimising ``loss_fn`` with Adam.

    Parameters
    ----------
    module : nn.Module
        Network holding every trained parameter (switched to ``train()`` while fitting).
    loss_fn : callable
        ``loss_fn(batch) -> scalar tensor``; the batch is ``train`` indexed by rows.
    train : tuple of tensors
        Training tensors sharing their first dimension.
    validation : tuple of tensors, optional
        Held-out tensors: the validation loss (``loss_fn`` in eval mode, no gradient) drives
        early stopping and the ``"plateau"`` schedule.
    max_epochs, batch_size, lr, weight_decay : int, int, float, float
        Adam settings; ``weight_decay`` is L2 on every trained parameter.
    lr_schedule : {"constant", "cosine", "plateau"}
        Learning-rate schedule over epochs.
    patience : int, optional
        Stop after this many epochs without a validation improvement larger than ``tol`` and
        restore the best weights (needs ``validation``).
    param_groups : sequence of parameter lists, optional
        Block relaxation: epoch ``e`` updates only group ``e % len(param_groups)`` (one Adam
        per group); ``None`` trains all parameters jointly.
    generator : torch.Generator
        Shuffles the mini-batches (and nothing else is random here).
    snapshot_epochs : sequence of int
        Epochs after which a copy of the weights is kept (e.g. for picking epochs by CV).
    callbacks : sequence of callable
        ``callback(epoch, train_loss, val_loss)`` after every epoch (``val_loss`` is None
        without ``validation``), with ``module`` in eval mode; returning True stops the
        training after this epoch (the best weights are still restored under ``patience``),
        an exception propagates (e.g. ``optuna.TrialPruned``). Every callback is called
        each epoch, also after one has asked to stop.

    Returns
    -------
    TrainResult
    """
    if param_groups is None:
        groups = [[p for p in module.parameters() if p.requires_grad]]
    else:
        groups = [list(g) for g in param_groups if len(g)]
    if not groups or not groups[0]:
        raise ValueError("the module has no trainable parameters")
    # foreach: one multi-tensor kernel per Adam step instead of one per parameter
    optimizers = [
        torch.optim.Adam(g, lr=lr, weight_decay=weight_decay, foreach=True) for g in groups
    ]
    schedulers = [_scheduler(o, lr_schedule, max_epochs) for o in optimizers]
    n = train[0].shape[0]
    result = TrainResult()
    best = (math.inf, None)
    wanted = set(int(e) for e in snapshot_epochs)
    since_best = 0
    for epoch in range(1, max_epochs + 1):
        k = (epoch - 1) % len(groups)
        optimizer, scheduler = optimizers[k], schedulers[k]
        module.train()
        shuffled = _shuffled(train, generator)
        total = torch.zeros((), dtype=torch.float64)
        for start in range(0, n, batch_size):
            batch = tuple(t[start : start + batch_size] for t in shuffled)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(batch)
            loss.backward()
            optimizer.step()
            # summed as a tensor: no host sync per step; checked for NaN once per epoch
            total += loss.detach().to("cpu", torch.float64) * batch[0].shape[0]
        epoch_loss = float(total) / n
        if not math.isfinite(epoch_loss):
            raise FloatingPointError(
                f"training loss became {epoch_loss} at epoch {epoch}; lower lr or "
                "standardise the inputs"
            )
        result.loss_curve.append(epoch_loss)
        module.eval()
        val = None
        if validation is not None:
            with torch.no_grad():
                val = float(loss_fn(validation))
            result.validation_curve.append(val)
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(val if val is not None else result.loss_curve[-1])
        elif scheduler is not None:
            scheduler.step()
        result.n_iter = epoch
        if epoch in wanted:
            result.snapshots[epoch] = copy.deepcopy(module.state_dict())
        # a list, not any(): every callback sees every epoch
        stop = any([bool(cb(epoch, epoch_loss, val)) for cb in callbacks])
        if stop:
            result.stop_reason = "callback"
        if patience is not None and val is not None:
            if val < best[0] - tol:
                best = (val, copy.deepcopy(module.state_dict()))
                result.best_epoch, since_best = epoch, 0
            else:
                since_best += 1
                if since_best >= patience and not stop:
                    result.stopped_early = True
                    result.stop_reason = "early_stopping"
                    stop = True
        if stop:
            break
    if patience is not None and best[1] is not None:
        module.load_state_dict(best[1])
    else:
        result.best_epoch = result.n_iter
    module.eval()
    logger.debug(
        "trained %d epochs, final loss %.4g, best epoch %d",
        result.n_iter,
        result.loss_curve[-1],
        result.best_epoch,
    )
    return result
