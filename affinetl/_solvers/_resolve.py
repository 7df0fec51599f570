"""The one rule that picks the solver of the affine transfer model."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["NEWTON_MAX_N", "resolve_solver"]

#: Up to this training size the exact kernel model is fitted by Newton steps on its exact
#: feature maps (``O((3n)^3)`` per step); above it, the structured low-rank Newton or the
#: block relaxation (``O(n^2)`` per sweep).
NEWTON_MAX_N = 300


def resolve_solver(
    solver: str,
    *,
    form: str,
    n_samples: int,
    approximation: str | None = None,
    design_columns: int = 1,
    prune: bool = False,
    init: str = "const",
    low_rank: Callable[[], bool] | None = None,
    family: str = "kernel",
    penalty_definite: bool = True,
    scale_penalised: bool = True,
) -> str:
    """Turn ``solver`` (``"auto"``, ``"newton"``, ``"lowrank_newton"`` or
    ``"relaxation"``, the solvers of the bilinear forms) into the solver that fits.

    ``"auto"``: ``"ridge"`` for the ridge-type forms; for ``full`` and ``g1_const``
    ``"newton"`` (damped Newton on feature maps: the approximation's, or the exact ones of the
    kernels up to :data:`NEWTON_MAX_N` samples, or with linear source terms in ``g1``), else
    ``"lowrank_newton"`` where the source Gram matrices have low rank (``low_rank()``), else
    ``"relaxation"``; pruning and the random start need the relaxation. The linear family's
    ``full`` form (``family="linear"``): ``"newton"`` where its objective has a minimiser (the
    penalty of ``w`` positive definite and ``b`` penalised), else ``"relaxation"``, the
    published algorithm, whose fit is where it stops.

    Parameters
    ----------
    solver : {"auto", "newton", "lowrank_newton", "relaxation"}
    form : str
        The model form.
    n_samples : int
    approximation : {None, "nystroem", "random_features"}
    design_columns : int
        Unpenalised columns of ``g1`` (1: the intercept; more with linear source terms).
    prune, init
        The estimator's options (pruning and ``init="random"`` are relaxation features).
    low_rank : callable, optional
        Returns whether the low-rank Newton solver applies (called only when needed: it
        factorises the Gram matrices).
    family : {"kernel", "linear"}
        The kernel model or the linear model (:mod:`._linear`).
    penalty_definite, scale_penalised : bool
        Linear family: whether the penalty matrix of ``w`` is positive definite (a positive
        ``lambda_ridge``), and whether ``b`` is penalised (a positive ``lambda_scale``).

    Returns
    -------
    str
        ``"ridge"`` (the ridge-type forms: one closed-form solve) or the solver named.

    Raises
    ------
    ValueError
        When the requested solver cannot fit this configuration.
    """
    if form not in ("full", "g1_const") or (family == "linear" and form != "full"):
        return "ridge"
    if family == "linear":
        if solver == "auto":
            return "newton" if penalty_definite and scale_penalised else "relaxation"
        if solver not in ("newton", "relaxation"):
            raise ValueError(
                f"the linear model is fitted by 'newton' or 'relaxation', got {solver!r}"
            )
        if solver == "newton" and not penalty_definite:
            raise ValueError(
                "solver='newton' needs a positive-definite penalty of w (lambda_ridge > 0); "
                "use solver='relaxation' or 'auto'"
            )
        return solver
    needs_relaxation = prune or (init == "random" and approximation is None)
    if solver == "auto":
        if approximation is not None or (
            not needs_relaxation and (n_samples <= NEWTON_MAX_N or design_columns > 1)
        ):
            return "newton"
        if not needs_relaxation and low_rank is not None and low_rank():
            return "lowrank_newton"
        return "relaxation"
    if approximation is not None and solver != "newton":
        raise ValueError(
            f"approximation={approximation!r} is fitted by solver='newton' (feature space), "
            f"got solver={solver!r}"
        )
    if solver != "relaxation" and needs_relaxation:
        raise ValueError(
            f"prune=True and init='random' need solver='relaxation' (or 'auto'), got {solver!r}"
        )
    if solver != "newton" and design_columns > 1:
        raise ValueError(
            "linear source terms in g1 (g1_linear=True) need solver='newton' (or 'auto'), "
            f"got {solver!r}"
        )
    if solver == "lowrank_newton" and not (low_rank is not None and low_rank()):
        raise ValueError(
            "solver='lowrank_newton' needs low-rank source Gram matrices K1, K2 (a few source "
            "features) and a full-rank K3; use solver='newton' or 'relaxation'"
        )
    return solver
