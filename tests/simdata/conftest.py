from __future__ import annotations

import pytest

from simdata.presets import get_preset


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("simdata_cache")


@pytest.fixture
def tiny_preset():
    """A few short *CC* chains and a protocol of a few hundred steps."""
    return get_preset(
        "fast",
        n_chains=4,
        atoms_per_chain=100,
        charge_method="gasteiger",
        cutoff_nm=0.6,
        compress_ps=1.0,
        compress_target_density=0.6,
        anneal_scale=0.01,
        npt_ps=2.0,
        max_npt_extensions=0,
        production_ps=2.0,
        report_ps=0.1,
        cp_delta_t=0.0,
        chunk_ps=1.0,
        platform="CPU",
        structure_ps=2.0,
        structure_report_ps=0.1,
    )
