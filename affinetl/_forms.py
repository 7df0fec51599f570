"""The model forms: the affine model ``g1(u) + g2(u) g3(x)`` and its special cases.

================== ============================ ================ ============== ==========
form               g1(u)                        g2(u)            g3(x)          complexity
================== ============================ ================ ============== ==========
source_as_is       u  (the source as it is)     0                0              -2
source_plus_const  a0 + u                       0                0              -1
source_linear      a0 + a1'u                    0                0              0
offset             a0 + u  (HTL-offset)         1                kernel/linear  1
source_kernel      a0 + h1(u)                   0                0              1
direct             a0  (no transfer)            1                kernel/linear  1
ratio              a0 + u  (ratio learning)     u / rms(u)       kernel/linear  1
offset_calibrated  a0 + a1'u                    1                kernel/linear  2
ratio_calibrated   a0 + a1'u                    u / rms(u)       kernel/linear  2
const              a0 + h1(u)  (AffineTL-const) 1                kernel         3
full               a0 + h1(u)  (AffineTL-full)  1 + h2(u)        kernel/linear  4
================== ============================ ================ ============== ==========

``g1_const`` (``a0 + (1 + h2(u)) g3(x)``) is a further kernel form of the estimator, not
searched by the model selection. ``complexity`` orders the forms for the one-standard-error
rule (smaller is simpler). ``source_as_is``, ``source_plus_const`` and the two scale forms
``ratio`` (``a0 + u + u g3(x)``: HTL-scale, the ratio ``y / u`` learned as ``1 + g3``) and
``ratio_calibrated`` (``a0 + a1'u + u g3(x)``: the scale on top of the calibration) need a
source in the target's units (one source feature; the scale is the raw source divided by its
root mean square on the training data, :func:`source_rms`, so that ``g2`` is near 1 and the
penalty of ``g3`` means what it means in ``offset``); the model selection searches them only
with ``source_in_target_units=True``. The linear family has no ``source_kernel`` and ``const``
(with a linear ``g1`` the const form *is* ``offset_calibrated``).

A form is a parameter of the canonical estimators (``AffineTransferRegressor(form=...)``,
``LinearAffineTransferRegressor(form=...)``); this module only defines the family (names,
which blocks each form fits, its unpenalised design and its complexity), shared by the
estimators and :mod:`affinetl.selection`. To add a form, see ``docs/architecture.md``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "COMPLEXITY",
    "G1_KERNEL_FORMS",
    "KERNEL_FORMS",
    "LINEAR_FORMS",
    "RAW_SOURCE_FORMS",
    "RIDGE_FORM_KERNEL",
    "SOURCE_OFFSET_FORMS",
    "SOURCE_ONLY_FORMS",
    "SOURCE_SCALE_FORMS",
    "SOURCE_UNIT_FORMS",
    "TARGET_UNIT_FORMS",
    "SAMPLES_PER_COEF",
    "form_blocks",
    "form_complexity",
    "form_design",
    "form_target",
    "has_linear_source_terms",
    "source_rms",
]

#: The forms of the kernel family, simplest first, as in the table above: the complexity rank
#: (number of fitted blocks beyond the intercept) and the kernel blocks: ``"h1"`` (kernel on
#: u), ``"g3"`` (kernel on x), ``"h1+g3"`` (both, AffineTL-const: the summed kernel
#: ``K3 + (l3 / l1) K1``), ``"h1+h2+g3"`` (the bilinear full form) or None (the design alone).
_FORM_TABLE: dict[str, tuple[int, str | None]] = {
    "source_as_is": (-2, None),
    "source_plus_const": (-1, None),
    "source_linear": (0, None),
    "offset": (1, "g3"),
    "source_kernel": (1, "h1"),
    "direct": (1, "g3"),
    "ratio": (1, "u*g3"),
    "offset_calibrated": (2, "g3"),
    "ratio_calibrated": (2, "u*g3"),
    "const": (3, "h1+g3"),
    "full": (4, "h1+h2+g3"),
}
#: Forms of the kernel family, simplest first.
KERNEL_FORMS = tuple(_FORM_TABLE)
#: Forms of the linear (fused-ridge) family, simplest first.
LINEAR_FORMS = (
    "source_as_is",
    "source_plus_const",
    "source_linear",
    "offset",
    "direct",
    "offset_calibrated",
    "full",
)
#: Complexity rank of each form (number of fitted blocks beyond the intercept).
COMPLEXITY = {form: rank for form, (rank, _) in _FORM_TABLE.items()}
#: The kernel block(s) of each ridge-type kernel form (one solve; see ``_FORM_TABLE``). The
#: bilinear forms (``full``, ``g1_const``) are not ridge-type.
RIDGE_FORM_KERNEL = {form: kind for form, (_, kind) in _FORM_TABLE.items() if form != "full"}
#: Kernel forms with an ``h1`` block, which may also carry the linear source terms ``a1'u``.
G1_KERNEL_FORMS = ("source_kernel", "const", "full")
#: Forms whose ``g1`` contains the raw source ``u`` itself (fitted on ``y - u``).
SOURCE_OFFSET_FORMS = ("source_as_is", "source_plus_const", "offset", "ratio")
#: Forms whose scale is the raw source, ``g2 = u / rms(u)`` (ratio learning, :func:`source_rms`).
SOURCE_SCALE_FORMS = ("ratio", "ratio_calibrated")
#: Forms that use the raw source itself (in ``g1`` or as the scale ``g2``): they need exactly
#: one source feature.
RAW_SOURCE_FORMS = (*SOURCE_OFFSET_FORMS, "ratio_calibrated")
#: Forms with the unpenalised design of ``g1`` alone, no kernel or domain block (the source
#: as is, the source plus a constant, the calibration ``a0 + a1'u``): one least-squares solve
#: in either family, and the simple forms the averaged selection is anchored to.
SOURCE_ONLY_FORMS = tuple(form for form, (_, kind) in _FORM_TABLE.items() if kind is None)
#: Forms that use the source in the target's units with a fixed unit slope and no domain
#: block: the zero- and one-parameter special cases of ``source_in_target_units=True``.
SOURCE_UNIT_FORMS = ("source_as_is", "source_plus_const")
#: Forms that need the source in the target's units (``source_in_target_units=True``).
TARGET_UNIT_FORMS = (*SOURCE_UNIT_FORMS, *SOURCE_SCALE_FORMS)
#: Fewest training samples per unpenalised coefficient for a calibration to count as simple.
SAMPLES_PER_COEF = 5


def has_linear_source_terms(form: str, g1_linear: bool = False) -> bool:
    """Whether the kernel family's form has unpenalised linear source terms ``a1'u`` in ``g1``.

    The calibration forms (``source_linear``, ``offset_calibrated``, ``ratio_calibrated``)
    always have them; the kernel-``g1`` forms (:data:`G1_KERNEL_FORMS`) have them when
    ``g1_linear``.
    """
    return form in ("source_linear", "offset_calibrated", "ratio_calibrated") or bool(
        g1_linear and form in G1_KERNEL_FORMS
    )


def form_design(form: str, u: np.ndarray, g1_linear: bool = False) -> np.ndarray:
    """Unpenalised design of ``g1``: ``[1, u]`` with linear source terms
    (:func:`has_linear_source_terms`), no column for ``source_as_is`` (nothing is fitted),
    else ``[1]``."""
    if form == "source_as_is":
        return np.ones((u.shape[0], 0))
    ones = np.ones((u.shape[0], 1))
    return np.hstack([ones, u]) if has_linear_source_terms(form, g1_linear) else ones


def form_complexity(
    form: str, n_source: int, g1_linear: bool = False, n_train: int | None = None
) -> int:
    """Complexity of a candidate for the one-standard-error rule (smaller is simpler).

    :data:`COMPLEXITY` of the form, plus, where its unpenalised linear source coefficients
    are many for the training size, their number beyond the first: a calibration ``a0 + a1'u``
    on ``k`` source features costs ``k - 1`` more (``k`` more when added to a kernel ``g1``)
    when ``1 + k`` exceeds ``n_train / SAMPLES_PER_COEF`` (``n_train``: training samples per
    CV fold; ``None`` always counts them). With one source feature this is the order of
    :data:`COMPLEXITY`. With six (SARCOS: the other torques) an unpenalised calibration fitted
    on nine points per fold is not the "simple" model, while on 64 points it is.

    Parameters
    ----------
    form : str
    n_source : int
        Number of source features ``k``.
    g1_linear : bool
        Whether a kernel-``g1`` form carries the linear source terms.
    n_train : int, optional
        Training samples per fold.

    Returns
    -------
    int
    """
    if not has_linear_source_terms(form, g1_linear) or (
        n_train is not None and (1 + n_source) * SAMPLES_PER_COEF <= n_train
    ):
        return COMPLEXITY[form]
    # a calibration's COMPLEXITY counts its first source coefficient already
    return COMPLEXITY[form] + n_source - (form not in G1_KERNEL_FORMS)


def form_target(form: str, y: np.ndarray, u_raw: np.ndarray) -> np.ndarray:
    """Target of the ridge fit: ``y - u`` for :data:`SOURCE_OFFSET_FORMS` (raw ``u``), else
    ``y``."""
    return y - u_raw[:, 0] if form in SOURCE_OFFSET_FORMS else y


def source_rms(u_raw: np.ndarray, standardize: bool = True) -> float:
    """Unit of the scale ``g2 = u / rms`` of :data:`SOURCE_SCALE_FORMS`: the root mean square
    of the first raw source column (1 without ``standardize``, or where it is zero)."""
    if not standardize or u_raw.shape[1] == 0:
        return 1.0
    rms = float(np.sqrt(np.mean(u_raw[:, 0] ** 2)))
    return rms if rms > 0 and np.isfinite(rms) else 1.0


def form_blocks(form: str) -> tuple[bool, bool, bool]:
    """Which of ``h1``, ``h2``, ``g3`` the kernel form fits."""
    blocks = "h2+g3" if form == "g1_const" else _FORM_TABLE[form][1] or ""
    return "h1" in blocks, "h2" in blocks, "g3" in blocks
