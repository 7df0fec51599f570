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


def test_added_fields_keep_stored_job_ids():
    """Fields added for issue 23 leave the hash at the value they were added with, so the
    ids of results stored before them (the shipped example tables) stay valid."""
    import hashlib
    import json

    from simdata.presets import ADDED_FIELDS

    fast = get_preset("fast")
    old = {
        k: v
        for k, v in fast.to_dict().items()
        if k not in ADDED_FIELDS and not k.startswith(("conductivity_", "tg_"))
    }
    expected = hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:16]
    assert fast.settings_hash() == expected
    assert fast.replace(structure_ps=20.0).settings_hash() != expected
    assert fast.replace(tg_tmax=500.0).settings_hash() == expected  # scan off: no effect
    on = fast.replace(tg_step_ps=100.0)
    assert on.replace(tg_tmax=500.0).settings_hash() != on.settings_hash()
    radon = get_preset("radonpy")
    assert radon.tg_step_ps > 0 and radon.strict_equilibrium
