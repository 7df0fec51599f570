"""Whether the source is the target's own quantity in the target's units.

The zero- and one-parameter forms (``source_as_is``, ``source_plus_const``), the offset
``y - u`` and the scale forms mean something only when the single source feature measures the
target's quantity in the target's units (an MD density for a measured density). The user may
declare it (``source_in_target_units=True`` or ``False``); by default (``"auto"``) the training
data decide with the *difference test*: two measurements of one quantity differ by less than
either varies, so on the search's own splits the held-out error of ``y - u`` about its
training mean (the source plus a constant) must be below both that of ``y`` about its training
mean and that of ``u`` about its. The test needs no constant and is unit-aware both ways: a
source in much smaller units leaves ``y - u`` as variable as ``y``, one in much larger units
makes it as variable as ``u``. A source column standardised on the training rows while ``y`` is
not (a ``StandardScaler`` in a ``Pipeline``) has lost its units: ``True`` raises; ``"auto"``
and ``False`` warn and leave the forms that use ``y - u`` out of the default family. With ``y``
standardised as well, ``"auto"`` takes the source as not in the target's units (the test
would only ask whether the correlation exceeds about one half).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

__all__ = ["check_source_units", "difference_test", "resolve_units", "standardised"]


def standardised(v: np.ndarray) -> bool:
    """Whether ``v`` has mean 0 and standard deviation 1 to rounding (a scaler's output on
    exactly these rows)."""
    sd = float(np.std(v))
    return abs(float(np.mean(v))) <= 1e-8 * max(sd, 1.0) and abs(sd - 1.0) <= 1e-8


def _mean_cv_error(v: np.ndarray, splits: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean over the splits of the held-out mean squared error of ``v`` predicted by its
    training mean."""
    return float(np.mean([np.mean((v[te] - v[tr].mean()) ** 2) for tr, te in splits]))


def difference_test(
    u: np.ndarray, y: np.ndarray, splits: Sequence[tuple[np.ndarray, np.ndarray]]
) -> bool:
    """Whether ``y - u`` varies less than both ``y`` and ``u`` on held-out data.

    Parameters
    ----------
    u, y : ndarray of shape (n_samples,)
        The single source feature and the target, as given to ``fit``.
    splits : sequence of (train, test) index arrays
        The search's splits.

    Returns
    -------
    bool
        True when the held-out error of the source plus a constant is below that of the
        training mean of ``y`` and of the training mean of ``u``.
    """
    d = _mean_cv_error(y - u, splits)
    return d < min(_mean_cv_error(y, splits), _mean_cv_error(u, splits))


def check_source_units(u: np.ndarray, y: np.ndarray, units: bool, explicit: bool) -> bool:
    """Whether the source column was standardised on the training rows while ``y`` was not:
    it has then lost the target's units, and ``y - u`` means nothing. Raises with ``units``;
    else warns that the forms using ``y - u`` are left out of the default family (searched as
    given when the user named them, ``explicit``)."""
    if not standardised(u) or standardised(y):
        return False
    msg = (
        "the source column has mean 0 and standard deviation 1 on the training data (a "
        "StandardScaler applied to it?) while y does not: the forms that use y - u "
        "(source_as_is, source_plus_const, offset, ratio) need the source in the target's "
        "units; pass the source column through unscaled (e.g. ColumnTransformer(..., "
        "remainder='passthrough'))"
    )
    if units:
        raise ValueError(msg + " or set source_in_target_units=False")
    what = "searched as given" if explicit else "left out"
    warnings.warn(f"{msg}; the forms that use y - u are {what}", UserWarning, stacklevel=4)
    return True


def resolve_units(
    setting: bool | str,
    u: np.ndarray,
    y: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
) -> bool:
    """``source_in_target_units`` as fitted: the declaration, or the :func:`difference_test`
    for ``"auto"`` (False with several source features or a standardised source column, also
    when ``y`` is standardised as well).

    Raises
    ------
    ValueError
        ``True`` with more than one source feature.
    """
    if setting == "auto":
        # a standardised source column has no units left to compare (with y standardised
        # too, the test would only ask whether the correlation exceeds about one half)
        if u.shape[1] != 1 or standardised(u[:, 0]):
            return False
        return difference_test(u[:, 0], y, splits)
    if setting and u.shape[1] != 1:
        raise ValueError(
            f"source_in_target_units=True needs exactly one source feature (the target's "
            f"own quantity), got {u.shape[1]}"
        )
    return bool(setting)
