"""Train many same-shaped modules at once: one vectorised Adam loop over stacked weights.

Small networks on a CPU spend most of a training step in per-call overhead and in Adam's
element-wise passes over a few thousand weights. Cross-validation folds, repeated splits and the
pretrained source networks of a case study give many *independent* fits of the same
architecture; :func:`fit_modules_batched` stacks their weights along a new leading axis
(``torch.func.stack_module_state``), evaluates every member's loss on its own mini-batch with
``torch.func.vmap`` and takes one Adam step on the stacked tensors.

Adam and L2 weight decay act element-wise and the summed loss separates over members, so each
member follows exactly the trajectory it would follow alone (same initial weights, same
mini-batch order from its own generator), up to floating-point rounding.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .train import TrainResult, _scheduler

__all__ = ["fit_modules_batched", "module_signature"]

#: ``loss(module, batch) -> scalar``: one member's loss on one mini-batch.
MemberLoss = Callable[[nn.Module, tuple[torch.Tensor, ...]], torch.Tensor]


class _LossOf(nn.Module):
    """``forward(*batch) = loss(module, batch)``: a loss as a module, for ``functional_call``."""

    def __init__(self, module: nn.Module, loss: MemberLoss) -> None:
        super().__init__()
        self.member = module
        self.loss = loss

    def forward(self, *batch: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.loss(self.member, batch)


def module_signature(module: nn.Module) -> list[tuple[str, tuple[int, ...], bool, torch.dtype]]:
    """Name, shape, trainability and dtype of each parameter: equal for members of one batch."""
    return [(k, tuple(p.shape), p.requires_grad, p.dtype) for k, p in module.named_parameters()]


def _check_members(
    modules: Sequence[nn.Module],
    trains: Sequence[tuple[torch.Tensor, ...]],
    generators: Sequence[torch.Generator],
) -> None:
    if not modules:
        raise ValueError("fit_modules_batched needs at least one module")
    if not len(modules) == len(trains) == len(generators):
        raise ValueError(
            f"got {len(modules)} modules, {len(trains)} training sets and {len(generators)} "
            "generators; one of each per member"
        )
    first = module_signature(modules[0])
    for i, module in enumerate(modules[1:], start=1):
        if module_signature(module) != first:
            raise ValueError(
                f"member {i} has other parameters (names, shapes, dtypes or frozen layers) "
                "than member 0; only modules of one architecture train together"
            )
    shapes = [tuple(t.shape for t in train) for train in trains]
    for i, s in enumerate(shapes[1:], start=1):
        if s != shapes[0]:
            raise ValueError(
                f"member {i}'s training tensors have shapes {s}, member 0's {shapes[0]}; "
                "every member needs the same number of rows and columns"
            )


def fit_modules_batched(
    modules: Sequence[nn.Module],
    loss: MemberLoss,
    trains: Sequence[tuple[torch.Tensor, ...]],
    generators: Sequence[torch.Generator],
    *,
    max_epochs: int = 100,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    lr_schedule: str = "constant",
    snapshot_epochs: Sequence[int] = (),
) -> list[TrainResult]:
    """Train every module on its own data with Adam, all members in one vectorised loop.

    Parameters
    ----------
    modules : sequence of nn.Module
        Members of one architecture (equal parameter names, shapes, dtypes and frozen
        parameters). Each is trained in place: its final weights are copied back.
    loss : callable
        ``loss(module, batch) -> scalar``, the same function for every member; ``batch`` is the
        member's training tensors at the rows of one mini-batch.
    trains : sequence of tuple of tensors
        Each member's training tensors; all members have the same shapes.
    generators : sequence of torch.Generator
        Each member's generator, which orders its mini-batches every epoch exactly as
        :func:`~affinetl.models._torch.train.fit_module` would.
    max_epochs, batch_size, lr, weight_decay, lr_schedule :
        As :func:`~affinetl.models._torch.train.fit_module` (shared by every member;
        ``lr_schedule="plateau"`` reacts to one member's loss and is not allowed).
    snapshot_epochs : sequence of int
        Epochs after which each member's weights are copied into its result's ``snapshots``.

    Returns
    -------
    list of TrainResult
        One per member, in order.

    Raises
    ------
    FloatingPointError
        When a member's epoch loss is not finite (naming the first such member).
    """
    _check_members(modules, trains, generators)
    if lr_schedule == "plateau":
        raise ValueError("lr_schedule='plateau' follows one model's loss; train members alone")
    wrapped = [_LossOf(m, loss) for m in modules]
    params, buffers = stack_module_state(wrapped)
    base = copy.deepcopy(wrapped[0]).to("meta")
    trained = [p for p in params.values() if p.requires_grad]
    if not trained:
        raise ValueError("the modules have no trainable parameters")
    optimizer = torch.optim.Adam(trained, lr=lr, weight_decay=weight_decay, foreach=True)
    scheduler = _scheduler(optimizer, lr_schedule, max_epochs)

    def member_loss(p: dict, b: dict, *batch: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), batch)

    # dropout draws differ per member (as they would across separate fits)
    batched_loss = vmap(member_loss, randomness="different")
    stacked = tuple(torch.stack(ts) for ts in zip(*trains, strict=True))
    n_members, n = stacked[0].shape[:2]
    rows = torch.arange(n_members, device=stacked[0].device)[:, None]
    keys = set(modules[0].state_dict())
    results = [TrainResult() for _ in modules]
    wanted = set(int(e) for e in snapshot_epochs)
    for epoch in range(1, max_epochs + 1):
        base.train()
        order = torch.stack([torch.randperm(n, generator=g) for g in generators])
        shuffled = tuple(t[rows, order.to(t.device)] for t in stacked)
        total = torch.zeros(n_members, dtype=torch.float64)
        for start in range(0, n, batch_size):
            batch = tuple(t[:, start : start + batch_size] for t in shuffled)
            optimizer.zero_grad(set_to_none=True)
            losses = batched_loss(params, buffers, *batch)
            losses.sum().backward()
            optimizer.step()
            total += losses.detach().to("cpu", torch.float64) * batch[0].shape[1]
        epoch_loss = (total / n).tolist()
        bad = [i for i, v in enumerate(epoch_loss) if not math.isfinite(v)]
        if bad:
            raise FloatingPointError(
                f"training loss of member {bad[0]} became {epoch_loss[bad[0]]} at epoch "
                f"{epoch}; lower lr or standardise the inputs"
            )
        if scheduler is not None:
            scheduler.step()
        for i, result in enumerate(results):
            result.loss_curve.append(epoch_loss[i])
            result.n_iter = result.best_epoch = epoch
        if epoch in wanted:
            for i, result in enumerate(results):
                result.snapshots[epoch] = _member_state(params, buffers, i, keys)
    for i, module in enumerate(modules):
        module.load_state_dict(_member_state(params, buffers, i, keys))
        module.eval()
    return results


def _member_state(params: dict, buffers: dict, i: int, keys: set[str]) -> dict[str, torch.Tensor]:
    """Member ``i``'s slice of the stacked entries named in its state dict ``keys``.

    Names lose the loss wrapper's ``member.`` prefix; non-persistent buffers are left out.
    """
    prefix = "member."
    return {
        k[len(prefix) :]: v[i].detach().clone()
        for k, v in {**params, **buffers}.items()
        if k[len(prefix) :] in keys
    }
