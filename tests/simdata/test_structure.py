from __future__ import annotations

import numpy as np
import pytest

from simdata.structure import (
    backbone_path,
    bond_vectors,
    end_to_end_sq,
    msd_diffusion,
    nematic_order,
    radius_of_gyration,
)


def _straight_chains(n_chains: int, n_atoms: int, bond: float = 0.15) -> np.ndarray:
    x = np.zeros((n_chains, n_atoms, 3))
    x[:, :, 0] = np.arange(n_atoms) * bond
    x[:, :, 1] = np.arange(n_chains)[:, None] * 1.0  # side by side
    return x.reshape(-1, 3)


def test_straight_chain_r2_and_rg():
    n = 11
    x = _straight_chains(3, n)
    assert end_to_end_sq(x, 3, (0, n - 1)) == pytest.approx((10 * 0.15) ** 2)
    # rod of n equally spaced points: Rg^2 = L^2 (n + 1) / (12 (n - 1))
    length = 10 * 0.15
    assert radius_of_gyration(x, 3) == pytest.approx(np.sqrt(length**2 * (n + 1) / (12 * (n - 1))))
    with pytest.raises(ValueError, match="equal chains"):
        radius_of_gyration(x[:-1], 3)


def test_nematic_order_limits():
    x = _straight_chains(4, 20)
    path = backbone_path([(i, i + 1) for i in range(19)], 0, 19)
    assert nematic_order(bond_vectors(x, 4, path)) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    iso = rng.standard_normal((20_000, 3))
    assert 0 < nematic_order(iso) < 0.03
    # a planar isotropic set has order 1/4 along the plane... and -1/2 normal to it:
    # its largest eigenvalue is 1/4
    plane = np.column_stack([np.cos(a := rng.uniform(0, 2 * np.pi, 20_000)), np.sin(a), 0 * a])
    assert nematic_order(plane) == pytest.approx(0.25, abs=0.02)


def test_backbone_path_skips_side_groups():
    bonds = [(0, 1), (1, 2), (2, 3), (1, 4), (4, 5), (3, 6)]  # 4-5 side group
    assert backbone_path(bonds, 0, 6) == [0, 1, 2, 3, 6]
    with pytest.raises(ValueError, match="not bonded"):
        backbone_path(bonds, 0, 9)


def test_msd_diffusion_of_random_walkers_with_drift():
    rng = np.random.default_rng(2)
    d, dt, n = 0.02, 0.5, 400  # nm2/ps
    steps = rng.standard_normal((n, 500, 3)) * np.sqrt(2 * d * dt)
    x = np.cumsum(steps, axis=0) + (np.arange(n) * 0.1)[:, None, None]  # a uniform drift
    value, sem = msd_diffusion(np.arange(n) * dt, x)
    assert value == pytest.approx(d * 1e-6, rel=0.1)
    assert 0 < sem < 0.1 * value
    frozen = np.repeat(x[:1], n, axis=0)
    assert msd_diffusion(np.arange(n) * dt, frozen)[0] == 0.0
