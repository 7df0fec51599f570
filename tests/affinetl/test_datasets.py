"""Tests of the case-study loaders (read from the local mirror, never the network)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affinetl import datasets
from affinetl.datasets import _fetch

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def mirror(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read data from the mirror (default ../shared/data), never download, private cache."""
    import os

    path = Path(os.environ.get(_fetch.MIRROR_ENV) or REPO.parent / "shared" / "data")
    if not (path / "SHA256SUMS").is_file():
        pytest.skip(f"data mirror {path} not available")
    monkeypatch.setenv(_fetch.MIRROR_ENV, str(path))
    monkeypatch.setenv(_fetch.OFFLINE_ENV, "1")
    monkeypatch.setenv(_fetch.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "affinetl-cache"))
    return path


def test_registry_matches_the_mirror_checksums(mirror: Path) -> None:
    sums = {}
    for line in (mirror / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name.removeprefix("./")] = digest
    entries = _fetch.registry()
    sha = {n: e.digest for n, e in entries.items() if e.algorithm == "sha256"}
    assert sha == sums
    for entry in entries.values():
        assert entry.url.startswith("https://raw.githubusercontent.com/")
        assert len(entry.url.split("/")[5]) == 40  # pinned to a commit


def test_gitblob_digest_is_git_hash_object(tmp_path: Path) -> None:
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello\n")  # `git hash-object` of this content is well known
    assert _fetch.file_digest(path, "gitblob") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_fetch_unknown_name() -> None:
    with pytest.raises(KeyError, match="not a registered"):
        datasets.fetch("nope.csv")


def test_fetch_rejects_a_corrupt_mirror_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "radonpy" / "PI1070.csv"
    bad.parent.mkdir()
    bad.write_text("smiles,density\n*CC*,0.9\n")
    monkeypatch.setenv(_fetch.MIRROR_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="does not match"):
        datasets.fetch("radonpy/PI1070.csv")


def test_fetch_offline_without_a_copy_raises(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv(_fetch.MIRROR_ENV, str(tmp_path))
    with pytest.raises(datasets.DataUnavailableError, match="AFFINETL_OFFLINE"):
        datasets.fetch("radonpy/PI1070.csv")


def test_fetch_uses_a_verified_cache_copy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mirror: Path
) -> None:
    cache = tmp_path / "cache"
    (cache / "radonpy").mkdir(parents=True)
    shutil.copy(mirror / "radonpy" / "PI1070.csv", cache / "radonpy" / "PI1070.csv")
    monkeypatch.delenv(_fetch.MIRROR_ENV)
    monkeypatch.setenv(_fetch.CACHE_ENV, str(cache))
    assert datasets.fetch("radonpy/PI1070.csv") == cache / "radonpy" / "PI1070.csv"


def test_failed_download_is_tried_once_per_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Offline, a loader with a fallback (SARCOS "auto") called in a loop must not retry the
    download (and log it) every time; the error names the innermost cause on one line."""
    import socket

    calls = []

    def unreachable(url, **_):
        calls.append(url)
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except OSError as dns:
            raise ConnectionError(f"HTTPSConnectionPool(host=...): Max retries ({dns})") from dns

    monkeypatch.setattr(_fetch, "_FAILED_DOWNLOADS", {})
    monkeypatch.setattr(_fetch.pooch, "retrieve", unreachable)
    monkeypatch.setenv(_fetch.MIRROR_ENV, str(tmp_path))
    monkeypatch.setenv(_fetch.OFFLINE_ENV, "0")
    monkeypatch.setenv(_fetch.CACHE_ENV, str(tmp_path / "cache"))
    for attempt in range(3):
        with pytest.raises(datasets.DataUnavailableError) as error:
            datasets.fetch("radonpy/PI1070.csv")
        assert "gaierror: [Errno -2] Name or service not known" in str(error.value)
        assert "Max retries" not in str(error.value)
        assert ("failed earlier in this process" in str(error.value)) == (attempt > 0)
    assert len(calls) == 1


def test_load_ltc_shapes_and_pickle_conversion() -> None:
    data = datasets.load_ltc()
    assert data.X.shape == (320, 278)
    assert int(data.y["LTC"].notna().sum()) == 45
    assert (data.source["SPS"] > 0).all()
    assert "CC" not in data.licence  # no licence claimed that the source does not give
    converted = list((_fetch.cache_dir() / "converted").glob("SPSTC_290-*/desc.npz"))
    assert len(converted) == 1
    again = datasets.load_ltc(networks=False)  # second load: from the npz cache
    pd.testing.assert_frame_equal(again.X, data.X)


def test_sps_networks_reproduce_the_source_property() -> None:
    data = datasets.load_ltc()
    networks = data.extras["networks"]
    assert sorted(networks) == sorted(datasets.SPS_NETWORK_IDS)
    log_sps = np.log(data.source["SPS"].to_numpy())
    target = (log_sps - log_sps.mean()) / log_sps.std(ddof=1)
    for net in networks.values():
        out = net.predict(data.X)
        assert out.shape == (320,)
        assert np.corrcoef(out, target)[0, 1] > 0.94
        assert net.transform(data.X, layer=3).shape == (320, net.hidden_widths[2])
    net = networks[72]
    # the network on raw descriptors equals a plain forward pass on standardised ones
    z = ((data.X - data.extras["x_mean"]) / data.extras["x_scale"]).to_numpy()
    h = z
    for k, (w, b) in enumerate(zip(net.weights, net.biases)):
        h = h @ w + b
        if k < 3:
            h = np.maximum(h, 0.01 * h)
    np.testing.assert_allclose(net.predict(data.X), h[:, 0], rtol=1e-6)


def test_source_network_errors() -> None:
    net = datasets.SourceNetwork([np.eye(2), np.ones((2, 1))], [np.zeros(2), np.zeros(1)])
    with pytest.raises(ValueError, match="expects X of shape"):
        net.predict(np.ones((3, 5)))
    with pytest.raises(ValueError, match="layer must be in 1..2"):
        net.transform(np.ones((3, 2)), layer=3)
    with pytest.raises(ValueError, match="do not match"):
        datasets.SourceNetwork([np.eye(2)], [np.zeros(3)])
    with pytest.raises(ValueError, match="network_id"):
        datasets.load_sps_network(1)


def test_load_sarcos_proxy_offline() -> None:
    with pytest.warns(UserWarning, match="offline proxy"):
        data = datasets.load_sarcos()
    assert data.extras["proxy"] is True
    assert "OFFLINE PROXY" in data.notes[0]
    split = data.extras["split"]
    assert (split == "pool").sum() == 3000 and (split == "test").sum() == 1449
    assert data.X.shape == (4449, 21) and data.y.shape == (4449, 7)
    with pytest.raises(datasets.DataUnavailableError):
        datasets.load_sarcos("full")
    with pytest.raises(ValueError, match="training must be"):
        datasets.load_sarcos("train")


def test_load_radonpy_pi1070() -> None:
    data = datasets.load_radonpy_pi1070()
    assert data.n_samples == 1077
    assert list(data.source.columns) == list(datasets.PI1070_PROPERTIES)
    assert len(data.source.columns) == 26
    assert data.smiles.str.count(r"\*").eq(2).all()
    assert 0.8 < data.source["density"].median() < 1.5


def test_load_afzal2021() -> None:
    data = datasets.load_afzal2021(suspect="keep")
    assert data.n_samples == 315
    assert int(data.y["density_exp"].notna().sum()) == 117
    assert int(data.y["Tg_exp"].notna().sum()) == 315
    assert not data.smiles.str.contains("Ce|Th").any()
    # MD and experiment agree to within 10 % on average (the paper's validation)
    both = data.y["density_exp"].notna()
    rel = (data.source["density_md"] - data.y["density_exp"]).abs() / data.y["density_exp"]
    assert rel[both].mean() < 0.1


def test_load_polymer_cp_without_experiment() -> None:
    data = datasets.load_polymer_cp()
    assert data.X.shape == (70, 190)
    assert data.y["Cp_exp"].isna().all()
    assert "No experimental Cp" in data.notes[0]
    assert len(set(data.extras["blocks"])) == 10


def test_load_polymer_cp_with_pid_and_smiles(tmp_path: Path) -> None:
    base = datasets.load_polymer_cp()
    pids = base.ids.iloc[:3].tolist()
    # one row by PID, one by a rewritten SMILES (doubled repeat unit), one unknown
    smiles = base.smiles.iloc[3]
    doubled = smiles.replace("*", "[*:1]", 1)
    rows = pd.DataFrame(
        {
            "PID": pids + [None, None],
            "smiles": [None, None, None, smiles, "*[Xe]*"],
            "Cp": [1000.0, 1100.0, 1200.0, 1300.0, 1400.0],
        }
    )
    path = tmp_path / "cp.csv"
    rows.to_csv(path, index=False)
    data = datasets.load_polymer_cp(path)
    assert data.n_samples == 4
    got = dict(zip(data.ids, data.y["Cp_exp"]))
    assert got[pids[0]] == 1000.0 and got[base.ids.iloc[3]] == 1300.0
    assert "matched no polymer" in data.notes[0]
    assert doubled.startswith("[*:1]")
    with pytest.raises(ValueError, match="'Cp' column"):
        datasets.load_polymer_cp(pd.DataFrame({"PID": pids}))
    with pytest.raises(ValueError, match="'PID'"):
        datasets.load_polymer_cp(pd.DataFrame({"Cp": [1.0]}))


def test_polymer_descriptors_are_intensive() -> None:
    d = datasets.polymer_descriptors(["*CC*", "*CCCC*", "*CC(*)c1ccccc1"])
    np.testing.assert_allclose(d.iloc[0], d.iloc[1])
    assert d.loc[2, "frac_aromatic"] == pytest.approx(6 / 8)
    m = datasets.polymer_descriptors(["*CC*"], kind="morgan", n_bits=64)
    assert m.shape == (1, 64)
