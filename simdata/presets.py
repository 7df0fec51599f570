"""Simulation presets: frozen dataclasses whose every field can be overridden."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Preset", "PRESETS", "get_preset"]


@dataclass(frozen=True)
class Preset:
    """All settings of one simulation protocol.

    Parameters
    ----------
    name : str
        Preset name recorded with every result.
    n_chains : int
        Number of chains in the periodic cell.
    atoms_per_chain : int
        Target number of atoms per chain; the degree of polymerisation is the
        smallest one that reaches it (at least ``min_dp``).
    min_dp : int
        Smallest degree of polymerisation.
    tacticity : {"atactic", "isotactic", "syndiotactic"}
        Stereo arrangement of backbone stereocentres.
    charge_method : {"am1bcc", "gasteiger"}
        Partial charges. ``"am1bcc"`` runs sqm single-point AM1-BCC on an oligomer
        of at most ``charge_oligomer_atoms`` atoms and transfers the charges.
    charge_oligomer_atoms : int
        Atom budget of the charge oligomer (sqm fails above ~600 atoms).
    pack_density : float
        Density of the packed starting cell, g/cm3.
    timestep_fs : float
        Integration step, fs. Steps above 2 fs use hydrogen mass repartitioning.
    hydrogen_mass : float or None
        Hydrogen mass in amu for repartitioning (None keeps the real masses).
    aromatic_timestep_fs : float or None
        Integration step, fs, for cells with aromatic GAFF2 atom types (``ca``, ``cp``, ...),
        when smaller than ``timestep_fs``; None keeps ``timestep_fs``. Polystyrene blew up at
        4 fs with repartitioned hydrogens in every stage (CPU and CUDA) and ran at 2 fs.
    cutoff_nm : float
        Real-space cutoff of PME and Lennard-Jones, nm.
    friction_per_ps : float
        Langevin friction, 1/ps.
    temperature : float
        Target temperature, K.
    pressure_bar : float
        Target pressure, bar (1 atm = 1.01325 bar).
    compress_temperature : float
        Temperature of the compression stage, K.
    compress_pressure_bar : float
        Pressure of the compression stage, bar.
    compress_ps : float
        NPT time at ``compress_pressure_bar`` after the direct compression, ps.
    compress_target_density : float
        Density reached by direct scaling of the cell, g/cm3.
    compress_timestep_fs : float
        Integration step of the short dynamics between scaling cycles, fs (at most
        ``timestep_fs``). Each cycle starts from a strained, barely minimised cell; at
        4 fs nearly every cycle blew up once and was restarted at 2 fs.
    anneal_tmax : float
        Maximum temperature of the 21-step (Larsen) anneal, K.
    anneal_pmax_bar : float
        Maximum pressure of the 21-step anneal, bar.
    anneal_scale : float
        Length of the anneal relative to Larsen's scheme (1.0: ~1.2 ns).
    npt_ps : float
        Length of one NPT equilibration window at the target state, ps.
    max_npt_extensions : int
        How many extra windows to run when the equilibrium check fails.
    equil_density_tol : float
        Largest relative density change between window halves accepted as equilibrium.
    equil_energy_tol : float
        Largest relative potential-energy change between window halves accepted.
    production_ps : float
        Production length at the target state, ps.
    report_ps : float
        Sampling interval of the production, ps.
    cp_delta_t : float
        Temperature step of the finite-difference Cp and expansion runs, K
        (runs at T - dT and T + dT); 0 disables them.
    cp_run_ps : float
        Length of each finite-difference run, ps (the first fifth is discarded).
    conductivity_ps : float
        Length of the optional reverse non-equilibrium MD (Muller-Plathe) run for the
        thermal conductivity, ps; 0 (the default except in ``radonpy``) skips the stage.
    conductivity_swap_ps : float
        Interval between momentum exchanges of that run, ps.
    conductivity_slabs : int
        Slabs along z of that run (even, >= 6).
    conductivity_replicas : int
        Copies of the equilibrated cell stacked along z for that run (RadonPy's
        elongated cell: 3 copies along the heat flux); 1 runs on the cell itself.
    conductivity_flexible : bool
        Run that stage on a copy of the cell with every bond flexible and real hydrogen
        masses (step at most 1 fs), the model of RadonPy's values; rigid bonds to hydrogen
        remove degrees of freedom that carry heat.
    conductivity_timestep_fs : float
        Integration step of that run, fs, when smaller than the cell's step: the run is
        NVE, and at 4 fs with heavier hydrogens the energy drifts by several kJ/mol per ps
        in a 2,400-atom cell.
    structure_ps : float
        Length of the structure stage after production, ps (:mod:`simdata.analysis`: NPT
        with coordinates kept, for ``Rg``, ``r2``, ``nematic_order_parameter``, all-atom
        ``self-diffusion``, ``cohesive_energy_density`` and ``solubility_parameter``); 0
        skips it.
    structure_report_ps : float
        Interval between the frames of that stage, ps.
    tg_step_ps : float
        NPT time per temperature of the optional cooling scan for ``Tg``
        (:mod:`simdata.tg`), ps (twice that at ``tg_tmax``); 0 (the default except in
        ``radonpy``) skips it.
    tg_tmax, tg_tmin, tg_step : float
        The scan cools from ``tg_tmax`` to ``tg_tmin`` K in steps of ``tg_step`` K.
    strict_equilibrium : bool
        Also apply RadonPy's strict equilibrium check (moving-average spread of density
        below 0.1%, of total and kinetic energy below 0.05%, of bond, angle and nonbonded
        energy below 0.1% and of dihedral energy below 0.2%) to the production and
        structure frames; rows that fail it get ``not_equilibrated`` quality flags.
    n_blocks : int
        Fewest blocks of the jackknife errors of fluctuation properties (blocks are made
        at least two correlation times long when the run allows more).
    max_restarts : int
        NaN blow-ups recovered per stage (each halves the time step).
    platform : str
        OpenMM platform: ``"auto"`` (CUDA, then OpenCL, then CPU) or a platform name.
    chunk_ps : float
        Integration chunk between health checks and checkpoints, ps.
    """

    name: str = "fast"
    n_chains: int = 4
    atoms_per_chain: int = 300
    min_dp: int = 5
    tacticity: str = "atactic"
    charge_method: str = "am1bcc"
    charge_oligomer_atoms: int = 150
    pack_density: float = 0.15
    timestep_fs: float = 4.0
    hydrogen_mass: float | None = 3.0
    aromatic_timestep_fs: float | None = 2.0
    cutoff_nm: float = 0.9
    friction_per_ps: float = 1.0
    temperature: float = 300.0
    pressure_bar: float = 1.01325
    compress_temperature: float = 600.0
    compress_pressure_bar: float = 5000.0
    compress_ps: float = 20.0
    compress_target_density: float = 0.8
    compress_timestep_fs: float = 2.0
    anneal_tmax: float = 600.0
    anneal_pmax_bar: float = 50000.0
    anneal_scale: float = 0.1
    npt_ps: float = 50.0
    max_npt_extensions: int = 4
    equil_density_tol: float = 0.01
    equil_energy_tol: float = 0.01
    production_ps: float = 100.0
    report_ps: float = 0.4
    cp_delta_t: float = 20.0
    cp_run_ps: float = 25.0
    conductivity_ps: float = 0.0
    conductivity_swap_ps: float = 0.3
    conductivity_slabs: int = 10
    conductivity_replicas: int = 1
    conductivity_flexible: bool = False
    conductivity_timestep_fs: float = 2.0
    structure_ps: float = 50.0
    structure_report_ps: float = 1.0
    tg_step_ps: float = 0.0
    tg_tmax: float = 600.0
    tg_tmin: float = 200.0
    tg_step: float = 20.0
    strict_equilibrium: bool = False
    n_blocks: int = 5
    max_restarts: int = 3
    platform: str = "auto"
    chunk_ps: float = 10.0

    def replace(self, **overrides: Any) -> Preset:
        """Return a copy with some fields changed.

        Raises
        ------
        ValueError
            If a name is not a field of :class:`Preset`.
        """
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"unknown preset field(s) {unknown}; valid fields: {sorted(names)}")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-serialisable)."""
        return dataclasses.asdict(self)

    def settings_hash(self, *keys: str) -> str:
        """Short SHA-256 of the given fields (all fields when none are given).

        The settings of an optional stage that is switched off (``conductivity_*`` with
        ``conductivity_ps = 0``, ``tg_*`` with ``tg_step_ps = 0``) do not enter: they cannot
        change a result, and results stored before the stage existed keep their job ids.
        Fields added after results were stored (:data:`ADDED_FIELDS`) enter only when they
        differ from the value they were added with, for the same reason: the structure
        stage runs after production and restores its end state, so it changes no earlier
        column.
        """
        d = self.to_dict()
        if keys:
            return _sha({k: d[k] for k in keys})
        if not self.conductivity_ps:
            d = {k: v for k, v in d.items() if not k.startswith("conductivity_")}
        if not self.tg_step_ps:
            d = {k: v for k, v in d.items() if not k.startswith("tg_")}
        d = {k: v for k, v in d.items() if k not in ADDED_FIELDS or v != ADDED_FIELDS[k]}
        return _sha(d)

    @property
    def steps_per_ps(self) -> int:
        """Integration steps in one picosecond."""
        return max(1, round(1000.0 / self.timestep_fs))


#: Fields added after results were stored, with the value they were added with (left
#: out of :meth:`Preset.settings_hash` at that value, so that stored job ids stay valid).
ADDED_FIELDS: dict[str, Any] = {
    "structure_ps": 50.0,
    "structure_report_ps": 1.0,
    "tg_step_ps": 0.0,
    "strict_equilibrium": False,
    "conductivity_replicas": 1,
}


def _sha(d: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


PRESETS: dict[str, Preset] = {
    # A 2-core laptop in about ten minutes per polymer: 4 chains x ~300 atoms (~1,200 atoms),
    # 4 fs with heavier hydrogens, a tenth-length Larsen anneal, 50 ps NPT windows, 100 ps
    # production, 2 x 25 ps temperature steps (~0.35 ns of dynamics).
    "fast": Preset(),
    # 8 chains x ~600 atoms (~4,800 atoms), a 0.3-length anneal, 200 ps windows, 500 ps
    # production (4 fs with heavier hydrogens, like fast): a GPU, or hours on a laptop.
    "standard": Preset(
        name="standard",
        n_chains=8,
        atoms_per_chain=600,
        cutoff_nm=1.0,
        anneal_scale=0.3,
        npt_ps=200.0,
        max_npt_extensions=3,
        production_ps=500.0,
        cp_run_ps=100.0,
    ),
    # RadonPy-sized cells: 10 chains of ~1,000 atoms, the full Larsen scheme, RadonPy's
    # strict equilibrium check, a 200 ps structure stage, a Tg cooling scan
    # (600 -> 200 K in 20 K steps of 200 ps: ~4.4 ns) and RadonPy's reverse NEMD: the cell
    # stacked 3 times along the heat flux, 20 slabs, every bond flexible, an exchange
    # every 0.2 ps, 1 ns.
    "radonpy": Preset(
        name="radonpy",
        n_chains=10,
        atoms_per_chain=1000,
        timestep_fs=2.0,
        hydrogen_mass=None,
        cutoff_nm=1.0,
        charge_oligomer_atoms=300,
        pack_density=0.1,
        anneal_scale=1.0,
        npt_ps=800.0,
        max_npt_extensions=4,
        production_ps=1000.0,
        report_ps=1.0,
        cp_run_ps=200.0,
        structure_ps=200.0,
        tg_step_ps=200.0,
        strict_equilibrium=True,
        conductivity_ps=1000.0,
        conductivity_swap_ps=0.2,
        conductivity_slabs=20,
        conductivity_replicas=3,
        conductivity_flexible=True,
    ),
}


def get_preset(name: str | Preset = "fast", **overrides: Any) -> Preset:
    """Look up a preset by name and apply overrides.

    Parameters
    ----------
    name : str or Preset
        ``"fast"``, ``"standard"`` or ``"radonpy"``, or a :class:`Preset`.
    **overrides
        Field values to change.

    Returns
    -------
    Preset

    Examples
    --------
    >>> get_preset("fast", n_chains=2).n_chains
    2
    """
    if isinstance(name, Preset):
        base = name
    else:
        try:
            base = PRESETS[name]
        except KeyError:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
    return base.replace(**overrides) if overrides else base
