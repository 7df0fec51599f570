"""Cohesive energy density and the Hildebrand solubility parameter.

The intermolecular energy of a frame is the potential energy of the periodic cell minus
the energies of its chains, each alone in vacuum at the same coordinates:

    E_inter = U_cell - sum_i U_chain_i,   CED = -<E_inter / V>,   delta = sqrt(CED)

(the definition of RadonPy-style and most MD studies: the energy to take the chains of
the cell apart to infinite separation, per volume). The chains alone are evaluated
without cutoff; the cell with its own PME and cutoff, so the intrachain
Lennard-Jones pairs beyond the cutoff (a small attraction) count as intermolecular with
the opposite sign, and each chain's interaction with its own periodic images counts as
intermolecular (as it physically is in the bulk).
"""

from __future__ import annotations

import numpy as np

__all__ = ["chain_system", "ChainEnergies", "cohesive_properties"]

#: Force-group numbers of the chain system, for the energy terms.
TERM_GROUPS = {"bond": 1, "angle": 2, "dihedral": 3, "nonbonded": 4}


def chain_system(system, atoms: list[int] | range):
    """A vacuum ``openmm.System`` of some atoms of ``system`` (one chain), no cutoff.

    Copies harmonic bonds, harmonic angles, periodic torsions and the nonbonded force
    (charges, Lennard-Jones, exceptions) among ``atoms``; constraints, barostats and
    centre-of-mass motion removers are left out. Force groups follow
    :data:`TERM_GROUPS`.

    Raises
    ------
    ValueError
        If ``system`` holds a force with energy of another type (it would be lost).
    """
    import openmm

    atoms = list(atoms)
    index = {a: i for i, a in enumerate(atoms)}
    out = openmm.System()
    for a in atoms:
        out.addParticle(system.getParticleMass(a))
    for force in system.getForces():
        name = force.__class__.__name__
        if name == "HarmonicBondForce":
            new = openmm.HarmonicBondForce()
            for k in range(force.getNumBonds()):
                i, j, r0, kk = force.getBondParameters(k)
                if i in index and j in index:
                    new.addBond(index[i], index[j], r0, kk)
            new.setForceGroup(TERM_GROUPS["bond"])
        elif name == "HarmonicAngleForce":
            new = openmm.HarmonicAngleForce()
            for k in range(force.getNumAngles()):
                i, j, m, th, kk = force.getAngleParameters(k)
                if i in index and j in index and m in index:
                    new.addAngle(index[i], index[j], index[m], th, kk)
            new.setForceGroup(TERM_GROUPS["angle"])
        elif name == "PeriodicTorsionForce":
            new = openmm.PeriodicTorsionForce()
            for k in range(force.getNumTorsions()):
                i, j, m, n, per, ph, kk = force.getTorsionParameters(k)
                if all(a in index for a in (i, j, m, n)):
                    new.addTorsion(index[i], index[j], index[m], index[n], per, ph, kk)
            new.setForceGroup(TERM_GROUPS["dihedral"])
        elif name == "NonbondedForce":
            new = openmm.NonbondedForce()
            new.setNonbondedMethod(openmm.NonbondedForce.NoCutoff)
            for a in atoms:
                new.addParticle(*force.getParticleParameters(a))
            for k in range(force.getNumExceptions()):
                i, j, q, s, e = force.getExceptionParameters(k)
                if i in index and j in index:
                    new.addException(index[i], index[j], q, s, e)
            new.setForceGroup(TERM_GROUPS["nonbonded"])
        elif name in ("MonteCarloBarostat", "CMMotionRemover", "AndersenThermostat"):
            continue
        else:
            raise ValueError(f"chain_system cannot copy a {name}; its energy would be lost")
        out.addForce(new)
    return out


class ChainEnergies:
    """Energies of the chains of a cell, each alone in vacuum (identical chains).

    Parameters
    ----------
    system : openmm.System
        The cell's system (PME or any periodic method).
    n_chains : int
        Chains of equal length stored one after the other.
    platform : str
        OpenMM platform of the vacuum evaluations (``"Reference"`` is exact and fast
        enough for a chain of a few thousand atoms).
    """

    def __init__(self, system, n_chains: int, platform: str = "CPU") -> None:
        import openmm

        n = system.getNumParticles()
        if n % n_chains:
            raise ValueError(f"{n} atoms do not split into {n_chains} equal chains")
        self.n_chains = n_chains
        self.per = n // n_chains
        sub = chain_system(system, range(self.per))
        plat = openmm.Platform.getPlatformByName(platform)
        props = {"Threads": "1"} if platform == "CPU" else {}
        self.context = openmm.Context(sub, openmm.VerletIntegrator(0.001), plat, props)

    def terms(self, positions_nm: np.ndarray) -> dict[str, float]:
        """Sum over chains of each energy term (kJ/mol) and the total, ``"intra"``."""
        from openmm import unit

        x = np.asarray(positions_nm, dtype=float).reshape(self.n_chains, self.per, 3)
        out = dict.fromkeys(TERM_GROUPS, 0.0)
        for chain in x:
            self.context.setPositions(chain * unit.nanometer)
            for term, group in TERM_GROUPS.items():
                e = self.context.getState(getEnergy=True, groups={group}).getPotentialEnergy()
                out[term] += e.value_in_unit(unit.kilojoule_per_mole)
        out["intra"] = sum(out[t] for t in TERM_GROUPS)
        return out


def cohesive_properties(e_inter_kj_mol, volume_nm3) -> dict[str, float]:
    """Cohesive energy density (J/cm3 = MPa) and solubility parameter (MPa^0.5).

    Parameters
    ----------
    e_inter_kj_mol : array_like of shape (n_frames,)
        Intermolecular energy of the cell per frame (negative when cohesive), kJ/mol.
    volume_nm3 : array_like of shape (n_frames,)
        Cell volume per frame.

    Returns
    -------
    dict
        ``cohesive_energy_density``, ``solubility_parameter`` with ``_sem`` (from
        :func:`simdata.uncertainty.mean_sem`; the solubility parameter's by the delta
        method) and ``cohesive_energy_density_neff``.

    Examples
    --------
    >>> out = cohesive_properties([-602.214076] * 4, [1.0] * 4)
    >>> round(out["cohesive_energy_density"], 6), round(out["solubility_parameter"], 6)
    (1000.0, 31.622777)
    """
    from .uncertainty import mean_sem

    e = np.asarray(e_inter_kj_mol, dtype=float)
    v = np.asarray(volume_nm3, dtype=float)
    # kJ/mol per nm3 -> J/cm3: 1e3 / N_A per 1e-21 cm3
    ced_frames = -e / v * 1e3 / 6.02214076e23 / 1e-21
    ced, ced_sem, n_eff = mean_sem(ced_frames)
    delta = float(np.sqrt(ced)) if ced > 0 else float("nan")
    return {
        "cohesive_energy_density": ced,
        "cohesive_energy_density_sem": ced_sem,
        "cohesive_energy_density_neff": n_eff,
        "solubility_parameter": delta,
        "solubility_parameter_sem": ced_sem / (2.0 * delta) if ced > 0 else float("nan"),
    }
