"""Neural affine transfer models: recovery, flow identities, calibration, errors, persistence."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("nflows")

from affinetl.datasets import SourceNetwork  # noqa: E402
from affinetl.models import (  # noqa: E402
    AffineCouplingTransfer,
    FeatureExtractionRegressor,
    FineTuneRegressor,
    HiddenLayerAffineRegressor,
    NeuralAffineTransferRegressor,
    NeuralDirectRegressor,
)
from affinetl.sources import TorchSourceNetwork, torch_network  # noqa: E402

# full-batch Adam: few, cheap steps (the default suite must stay fast)
FAST = {"batch_size": 256, "lr": 1e-2, "max_epochs": 250, "early_stopping": False}


def rmse(model, X, y):
    return float(np.sqrt(np.mean((model.predict(X) - y) ** 2)))


def _affine_problem(n, seed, noise=0.05):
    """Known g1, g2, g3; the last column of X is the (rough) source feature."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 5))
    u = np.sin(2 * x[:, 0]) * np.cos(2 * x[:, 1]) + 0.5 * np.sin(3 * x[:, 2])
    y = 1.0 + 2.0 * u + (1.0 + 0.5 * np.tanh(u)) * (np.cos(1.5 * x[:, 3]) + 0.5 * x[:, 4])
    return np.column_stack([x, u]), y + noise * rng.standard_normal(n)


@pytest.fixture(scope="module")
def affine_data():
    X, y = _affine_problem(150, 0)
    Xt, yt = _affine_problem(500, 1, noise=0.0)
    direct = NeuralDirectRegressor(hidden_layer_sizes=(16,), random_state=0, **FAST).fit(X, y)
    return X, y, Xt, yt, rmse(direct, Xt, yt)


@pytest.mark.parametrize(
    "model",
    [
        NeuralAffineTransferRegressor(hidden1=(16,), hidden2=(8,), hidden3=(16,), random_state=0),
        AffineCouplingTransfer(
            hidden1=(16,), hidden2=(8,), hidden3=(16,), hidden_noise=(8,), random_state=0
        ),
    ],
    ids=["neural-affine", "flow"],
)
def test_affine_models_beat_direct(model, affine_data):
    X, y, Xt, yt, direct_rmse = affine_data
    model.set_params(**FAST).fit(X, y)
    assert rmse(model, Xt, yt) < 0.9 * direct_rmse


def test_block_relaxation_fits(affine_data):
    X, y, Xt, yt, _ = affine_data
    model = NeuralAffineTransferRegressor(
        hidden1=(16,), hidden2=(8,), hidden3=(16,), solver="block", random_state=0, **FAST
    ).fit(X, y)
    assert model.score(Xt, yt) > 0.9
    # g2 starts at the shrinkage point 1 and stays positive on this problem
    assert np.all(model.predict_components(Xt)["g2"] > 0)


def test_components_compose_prediction(affine_data):
    X, y, Xt, _, _ = affine_data
    model = NeuralAffineTransferRegressor(max_epochs=3, random_state=0).fit(X, y)
    c = model.predict_components(Xt)
    np.testing.assert_allclose(c["g1"] + c["g2"] * c["g3"], model.predict(Xt))
    assert model.predict(Xt).dtype == np.float64
    untrained = NeuralAffineTransferRegressor(max_epochs=1, lr=1e-12, random_state=0).fit(X, y)
    np.testing.assert_allclose(untrained.predict_components(Xt)["g2"], 1.0, atol=1e-9)


# -- a pretrained source network whose output is the source feature ---------------------------
def _source_net():
    g = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(6, 16),
        torch.nn.LeakyReLU(0.01),
        torch.nn.Linear(16, 16),
        torch.nn.LeakyReLU(0.01),
        torch.nn.Linear(16, 1),
    ).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.8 * torch.randn(p.shape, generator=g, dtype=torch.float64))
    return net


def _network_problem(net, n, seed, noise=0.05):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, size=(n, 6))
    with torch.no_grad():
        u = net(torch.as_tensor(x))[:, 0].numpy() / 3.0
    y = 1.0 + u + (1.0 + 0.3 * np.tanh(u)) * 0.5 * x[:, 0]
    return x, y + noise * rng.standard_normal(n)


@pytest.fixture(scope="module")
def network_data():
    net = _source_net()
    x, y = _network_problem(net, 100, 0)
    xt, yt = _network_problem(net, 500, 1, noise=0.0)
    direct = NeuralDirectRegressor(random_state=0, **FAST).fit(x, y)
    return net, x, y, xt, yt, rmse(direct, xt, yt)


@pytest.mark.parametrize(
    "make",
    [
        lambda net: FineTuneRegressor(network=net, n_layers=1, lr=3e-2),
        lambda net: FeatureExtractionRegressor(network=net, layer=2, lr=1e-2),
        lambda net: HiddenLayerAffineRegressor(network=net, layer=None, lr=1e-2),
    ],
    ids=["fine", "ext-2", "inv-output"],
)
def test_source_network_variants_beat_direct(make, network_data):
    net, x, y, xt, yt, direct_rmse = network_data
    model = make(net).set_params(random_state=0, max_epochs=250, batch_size=256)
    model.set_params(early_stopping=False).fit(x, y)
    assert rmse(model, xt, yt) < direct_rmse
    # the network passed in is never modified
    assert torch.equal(net[0].weight, _source_net()[0].weight)


# -- source networks: conversion, hidden layers, errors ---------------------------------------
def _numpy_net():
    rng = np.random.default_rng(3)
    weights = [rng.normal(size=(4, 5)), rng.normal(size=(5, 3)), rng.normal(size=(3, 1))]
    biases = [rng.normal(size=5), rng.normal(size=3), rng.normal(size=1)]
    return SourceNetwork(weights, biases, input_mean=np.ones(4), input_scale=2 * np.ones(4))


@pytest.mark.parametrize("layer", [1, 2, None, "act1", "dense2"])
def test_torch_source_network_matches_numpy(layer):
    net = _numpy_net()
    X = np.random.default_rng(0).normal(size=(7, 4))
    got = TorchSourceNetwork(net, layer=layer).transform(X)
    if layer == "dense2":  # pre-activation of hidden layer 2
        h = net.transform(X, layer=1)
        expected = h @ net.weights[1] + net.biases[1]
    else:
        expected = net.transform(X, layer={"act1": 1}.get(layer, layer))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_source_network_errors():
    net = _numpy_net()
    with pytest.raises(ValueError, match="input width"):
        TorchSourceNetwork(net).transform(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="no layer named 'hidden9'"):
        TorchSourceNetwork(net, layer="hidden9").transform(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="hidden layer index"):
        TorchSourceNetwork(net, layer=3).transform(np.zeros((3, 4)))
    X = np.zeros((3, 4))
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        TorchSourceNetwork(net).transform(X)
    with pytest.raises(ValueError, match="input width"):
        FineTuneRegressor(network=net, max_epochs=1).fit(np.zeros((10, 3)), np.arange(10.0))
    with pytest.raises(ValueError, match="input width"):
        HiddenLayerAffineRegressor(network=net, max_epochs=1).fit(
            np.zeros((10, 3)), np.arange(10.0)
        )
    with pytest.raises(ValueError, match="no layer named"):
        FeatureExtractionRegressor(network=net, layer="nope", max_epochs=1).fit(
            np.zeros((10, 4)), np.arange(10.0)
        )


@pytest.mark.parametrize(
    "model", [NeuralAffineTransferRegressor(max_epochs=1), AffineCouplingTransfer(max_epochs=1)]
)
def test_nan_inputs_rejected(model):
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = X[:, 0].copy()
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X, y)
    y[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(np.nan_to_num(X), y)


# -- the flow: identities, likelihood, calibration --------------------------------------------
def _hetero_problem(n, seed):
    """Known heteroscedastic noise: sd = 0.1 exp(0.7 x0)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 2))
    u = np.sin(2 * x[:, 0])
    mean = 1.0 + u + (1.0 + 0.3 * u) * x[:, 1]
    sd = 0.1 * np.exp(0.7 * x[:, 0])
    return np.column_stack([x, u]), mean + sd * rng.standard_normal(n), mean


@pytest.fixture(scope="module")
def hetero_flow():
    X, y, _ = _hetero_problem(1000, 0)
    flow = AffineCouplingTransfer(
        hidden1=(16,),
        hidden2=(8,),
        hidden3=(16,),
        hidden_noise=(16,),
        batch_size=100,
        lr=1e-2,
        max_epochs=150,
        random_state=0,
    ).fit(X, y)
    return flow


@pytest.fixture(scope="module")
def small_flow():
    """A briefly trained flow: enough for identities that hold for any weights."""
    X, y, _ = _hetero_problem(200, 0)
    return AffineCouplingTransfer(
        hidden1=(8,),
        hidden2=(4,),
        hidden3=(8,),
        hidden_noise=(4,),
        batch_size=256,
        lr=1e-2,
        max_epochs=30,
        early_stopping=False,
        random_state=0,
    ).fit(X, y)


def test_flow_inverse_of_forward(small_flow):
    hetero_flow = small_flow
    X, y, _ = _hetero_problem(200, 5)
    for level in ("affine", "latent"):
        v = hetero_flow.inverse(X, y, level=level)
        np.testing.assert_allclose(hetero_flow.forward(X, v, level=level), y, atol=1e-5)
        z = np.random.default_rng(1).normal(size=200)
        np.testing.assert_allclose(
            hetero_flow.inverse(X, hetero_flow.forward(X, z, level=level), level=level),
            z,
            atol=1e-5,
        )
    c = hetero_flow.predict_components(X)
    np.testing.assert_allclose(
        hetero_flow.inverse(X, y, level="affine"), (y - c["g1"]) / c["g2"], rtol=1e-10
    )


def test_flow_mean_std_quantiles_consistent(small_flow):
    hetero_flow = small_flow
    X, _, _ = _hetero_problem(50, 6)
    mean, std = hetero_flow.predict(X, return_std=True)
    c = hetero_flow.predict_components(X)
    np.testing.assert_allclose(mean, c["g1"] + c["g2"] * c["g3"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(std, c["g2"] * c["sigma"], rtol=1e-7)
    q = hetero_flow.predict_quantiles(X, [0.05, 0.5, 0.95])
    np.testing.assert_allclose(q[:, 1], mean, atol=1e-9)  # Gaussian: median = mean
    np.testing.assert_allclose(q[:, 2] - q[:, 1], 1.6448536269514722 * std, rtol=1e-7)
    s = hetero_flow.sample(X[:5], n_samples=4000, random_state=0)
    np.testing.assert_allclose(s.mean(axis=1), mean[:5], atol=5 * std[:5].max() / np.sqrt(4000))
    with pytest.raises(ValueError, match="between 0 and 1"):
        hetero_flow.predict_quantiles(X, [0.0, 0.5])


@pytest.mark.slow
def test_flow_calibration_and_likelihood(hetero_flow):
    X, y, mean_true = _hetero_problem(2000, 1)
    lo, hi = hetero_flow.predict_interval(X, coverage=0.9).T
    coverage = float(np.mean((y >= lo) & (y <= hi)))
    assert 0.85 <= coverage <= 0.95, coverage
    # oracle homoscedastic Gaussian: the true mean and the best constant sd
    Xtr, ytr, mtr = _hetero_problem(1000, 0)
    sd = np.std(ytr - mtr)
    homo = -0.5 * np.log(2 * np.pi * sd**2) - 0.5 * ((y - mean_true) / sd) ** 2
    assert hetero_flow.log_prob(X, y).mean() > homo.mean() + 0.3


# -- seeds, persistence ------------------------------------------------------------------------
def test_seeding_is_local_and_reproducible(affine_data):
    X, y, Xt, _, _ = affine_data
    state = torch.random.get_rng_state()
    a = NeuralAffineTransferRegressor(max_epochs=3, random_state=7).fit(X, y).predict(Xt)
    b = NeuralAffineTransferRegressor(max_epochs=3, random_state=7).fit(X, y).predict(Xt)
    c = NeuralAffineTransferRegressor(max_epochs=3, random_state=8).fit(X, y).predict(Xt)
    assert torch.equal(state, torch.random.get_rng_state())
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_float32_predicts_float64(affine_data):
    X, y, Xt, _, _ = affine_data
    model = NeuralDirectRegressor(max_epochs=2, dtype="float32", random_state=0).fit(X, y)
    assert model.predict(Xt).dtype == np.float64


def test_save_load_roundtrip(tmp_path, small_flow):
    hetero_flow = small_flow
    X, y, _ = _hetero_problem(30, 9)
    hetero_flow.save(tmp_path / "flow")
    loaded = AffineCouplingTransfer.load(tmp_path / "flow")
    np.testing.assert_array_equal(loaded.predict(X), hetero_flow.predict(X))
    np.testing.assert_array_equal(loaded.log_prob(X, y), hetero_flow.log_prob(X, y))
    net = _source_net()
    xs, ys = _network_problem(net, 30, 0)
    inv = HiddenLayerAffineRegressor(network=net, layer=2, max_epochs=2, random_state=0)
    inv.fit(xs, ys).save(tmp_path / "inv")
    with pytest.raises(ValueError, match="network"):
        HiddenLayerAffineRegressor.load(tmp_path / "inv")
    again = HiddenLayerAffineRegressor.load(tmp_path / "inv", network=net)
    np.testing.assert_array_equal(again.predict(xs), inv.predict(xs))
    with pytest.raises(ValueError, match="holds a"):
        NeuralDirectRegressor.load(tmp_path / "inv")


def test_torch_network_copies_modules():
    net = _source_net()
    copy = torch_network(net)
    assert copy is not net
    with torch.no_grad():
        copy[0].weight.add_(1.0)
    assert not torch.equal(copy[0].weight, net[0].weight)
