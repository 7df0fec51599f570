from __future__ import annotations

import pytest

from simdata.presets import PRESETS, get_preset


def test_presets_and_overrides():
    assert set(PRESETS) == {"fast", "standard", "radonpy"}
    fast = get_preset("fast")
    assert fast.n_chains * fast.atoms_per_chain <= 3000  # a 2-core laptop: ~1,200 atoms
    radon = get_preset("radonpy")
    assert radon.n_chains == 10 and radon.atoms_per_chain == 1000
    p = get_preset("fast", n_chains=2, platform="CPU")
    assert (p.n_chains, p.platform) == (2, "CPU")
    assert p.settings_hash() != fast.settings_hash()
    assert get_preset(p) is p
    assert fast.steps_per_ps == 250


def test_bad_preset_names():
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("huge")
    with pytest.raises(ValueError, match="n_chain"):
        get_preset("fast", n_chain=3)
