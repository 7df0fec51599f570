"""OpenMM reporters (``describeNextReport`` / ``report``) and pipeline events."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .constants import AVOGADRO

__all__ = ["JobEvent", "ObservableReporter", "HealthReporter", "equilibrated"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobEvent:
    """A pipeline event sent to callbacks ``Callable[[JobEvent], None]``.

    Attributes
    ----------
    job_id : str
        Job identifier.
    stage : str
        Stage name (``"build"``, ``"anneal"``, ``"production"``, ...).
    kind : str
        ``"start"``, ``"end"``, ``"skip"``, ``"restart"``, ``"extend"`` or ``"fail"``.
    info : dict
        Free-form details (density, elapsed seconds, reason).
    """

    job_id: str
    stage: str
    kind: str
    info: dict[str, Any] = field(default_factory=dict)


class ObservableReporter:
    """Records per-frame observables of a periodic molecular system.

    Every ``interval`` steps: time (ps), potential and kinetic energy (kJ/mol),
    volume (nm3), density (g/cm3); with ``n_chains`` given and ``positions=True``
    also the dipole moment (e nm), mean radius of gyration and end-to-end distance
    of the chains (nm), and chain centres of mass (nm).

    Parameters
    ----------
    interval : int
        Steps between frames.
    masses : array_like of shape (n_atoms,)
        Atomic masses, amu (real masses, not repartitioned ones).
    charges : array_like of shape (n_atoms,), optional
        Partial charges, e (for the dipole).
    n_chains : int
        Chains of equal length stored one after the other.
    ends : tuple of int, optional
        Indices (within a chain) of the two backbone end atoms.
    positions : bool
        Whether to fetch positions (needed for dipole, Rg, diffusion).
    """

    def __init__(
        self,
        interval: int,
        masses: np.ndarray,
        charges: np.ndarray | None = None,
        *,
        n_chains: int = 1,
        ends: tuple[int, int] | None = None,
        positions: bool = True,
    ) -> None:
        self.interval = int(interval)
        self.masses = np.asarray(masses, dtype=float)
        self.charges = None if charges is None else np.asarray(charges, dtype=float)
        self.n_chains = int(n_chains)
        self.ends = ends
        self.positions = positions
        self.total_mass = float(self.masses.sum())
        self.frames: dict[str, list] = {
            k: []
            for k in (
                "time",
                "potential",
                "kinetic",
                "volume",
                "density",
                "dipole",
                "rg",
                "e2e",
                "com",
            )
        }

    def describeNextReport(self, simulation) -> dict:  # noqa: N802 (OpenMM protocol)
        steps = self.interval - simulation.currentStep % self.interval
        include = ["energy"]
        if self.positions:
            include.append("positions")
        return {"steps": steps, "periodic": False, "include": include}

    def report(self, simulation, state) -> None:
        """Store one frame."""
        from openmm import unit

        box = state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(unit.nanometer)
        vol = float(abs(np.linalg.det(box)))
        f = self.frames
        f["time"].append(state.getTime().value_in_unit(unit.picosecond))
        f["potential"].append(state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))
        f["kinetic"].append(state.getKineticEnergy().value_in_unit(unit.kilojoule_per_mole))
        f["volume"].append(vol)
        f["density"].append(self.total_mass / AVOGADRO / (vol * 1e-21))
        if not self.positions:
            return
        x = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        if self.charges is not None:
            f["dipole"].append(self.charges @ x)
        per = len(x) // self.n_chains
        xc = x[: per * self.n_chains].reshape(self.n_chains, per, 3)
        m = self.masses[:per]
        com = (m[None, :, None] * xc).sum(1) / m.sum()
        f["com"].append(com)
        rg2 = (m[None, :] * ((xc - com[:, None, :]) ** 2).sum(-1)).sum(1) / m.sum()
        f["rg"].append(float(np.sqrt(rg2).mean()))
        if self.ends is not None:
            d = xc[:, self.ends[1]] - xc[:, self.ends[0]]
            f["e2e"].append(float(np.sqrt((d**2).sum(-1)).mean()))

    def arrays(self) -> dict[str, np.ndarray]:
        """Frames as arrays (empty ones dropped)."""
        return {k: np.asarray(v) for k, v in self.frames.items() if len(v)}

    def clear(self) -> None:
        """Forget the stored frames."""
        for v in self.frames.values():
            v.clear()


class HealthReporter:
    """Raises ``SimulationBlowUp`` on NaN/infinite energy or a collapsed box.

    Parameters
    ----------
    interval : int
        Steps between checks.
    callback : callable, optional
        Receives a :class:`JobEvent` on failure.
    """

    def __init__(self, interval: int, callback: Callable[[JobEvent], None] | None = None) -> None:
        self.interval = int(interval)
        self.callback = callback

    def describeNextReport(self, simulation) -> dict:  # noqa: N802 (OpenMM protocol)
        steps = self.interval - simulation.currentStep % self.interval
        return {"steps": steps, "periodic": None, "include": ["energy"]}

    def report(self, simulation, state) -> None:
        """Check the energies."""
        from openmm import unit

        from .errors import SimulationBlowUp

        e = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
        k = state.getKineticEnergy().value_in_unit(unit.kilojoule_per_mole)
        if not (math.isfinite(e) and math.isfinite(k)):
            raise SimulationBlowUp(f"energy is not finite (potential {e}, kinetic {k})")


def equilibrated(
    density: np.ndarray, potential: np.ndarray, *, density_tol: float, energy_tol: float
) -> tuple[bool, dict[str, float]]:
    """Equilibrium check on an NPT window.

    The window passes when the means of its two halves differ by less than the
    tolerances (relative), for density and for potential energy (relative to the
    mean absolute potential energy), and when the fitted density drift over the
    window is below ``density_tol`` as well.

    Returns
    -------
    ok : bool
    info : dict
        ``density_change``, ``density_drift`` and ``energy_change`` (relative).

    Examples
    --------
    >>> import numpy as np
    >>> ok, _ = equilibrated(np.full(10, 1.0), np.full(10, -5.0), density_tol=0.01, energy_tol=0.01)
    >>> ok
    True
    """
    density = np.asarray(density, dtype=float)
    potential = np.asarray(potential, dtype=float)
    n = len(density)
    if n < 4:
        return False, {"density_change": np.inf, "density_drift": np.inf, "energy_change": np.inf}
    h = n // 2
    rho = density.mean()
    dchange = abs(density[h:].mean() - density[:h].mean()) / rho
    slope = np.polyfit(np.arange(n), density, 1)[0]
    drift = abs(slope * n) / rho
    escale = max(abs(potential.mean()), 1e-12)
    echange = abs(potential[h:].mean() - potential[:h].mean()) / escale
    ok = dchange < density_tol and drift < density_tol and echange < energy_tol
    return bool(ok), {
        "density_change": float(dchange),
        "density_drift": float(drift),
        "energy_change": float(echange),
    }
