"""``fit_many``: fits trained together end exactly where their own ``fit`` would."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("nflows")

from sklearn.base import clone  # noqa: E402

from affinetl.models import (  # noqa: E402
    AffineCouplingTransfer,
    FeatureExtractionRegressor,
    FineTuneRegressor,
    HiddenLayerAffineRegressor,
    NeuralAffineTransferRegressor,
    NeuralDirectRegressor,
    fit_many,
)
from affinetl.models._torch.batched import fit_modules_batched  # noqa: E402
from affinetl.models._torch.nets import MLP  # noqa: E402
from affinetl.sources import TorchSourceNetwork  # noqa: E402

FAST = {"max_epochs": 6, "batch_size": 4, "early_stopping": False, "weight_decay": 1e-2}


def _net(seed: int) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(5, 6),
        torch.nn.LeakyReLU(0.01),
        torch.nn.Linear(6, 4),
        torch.nn.LeakyReLU(0.01),
        torch.nn.Linear(4, 1),
    ).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)
    return net


def _kinds(net: torch.nn.Module) -> list:
    small = {"hidden1": (3,), "hidden2": (3,), "hidden3": (4,)}
    return [
        NeuralDirectRegressor(hidden_layer_sizes=(5,), **FAST),
        NeuralAffineTransferRegressor(source_columns=[0, 1], **small, **FAST),
        HiddenLayerAffineRegressor(network=net, layer=2, **small, **FAST),
        FeatureExtractionRegressor(network=net, layer=1, hidden_layer_sizes=(4,), **FAST),
        FineTuneRegressor(network=net, **FAST),
        AffineCouplingTransfer(
            source=TorchSourceNetwork(net, layer=2), hidden_noise=(4,), **small, **FAST
        ),
    ]


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 5))
    y = X[:, 0] + np.sin(X[:, 1]) + 0.1 * rng.normal(size=30)
    return X, y, rng


def test_fit_many_matches_separate_fits(problem):
    """Every estimator kind, several seeds, source networks and data sets: same predictions."""
    X, y, rng = problem
    ests, Xs, ys = [], [], []
    for net_seed in (0, 1):
        for proto in _kinds(_net(net_seed)):
            for seed in (0, 1):
                rows = rng.permutation(30)[:24]
                ests.append(clone(proto).set_params(random_state=seed))
                Xs.append(X[rows])
                ys.append(y[rows])
    alone = [clone(e).fit(a, b) for e, a, b in zip(ests, Xs, ys, strict=True)]
    assert fit_many(ests, Xs, ys, snapshot_epochs=(2, 6)) is not None
    for together, single in zip(ests, alone, strict=True):
        np.testing.assert_allclose(together.predict(X), single.predict(X), atol=1e-10)
        np.testing.assert_allclose(together.loss_curve_, single.loss_curve_, atol=1e-10)
        assert together.n_iter_ == single.n_iter_ == 6
        assert sorted(together.snapshots_) == [2, 6]
        assert not hasattr(together, "_snapshots_wanted")


def test_snapshots_are_the_shorter_runs(problem):
    """The weights after e of 6 epochs are an e-epoch fit (constant learning rate)."""
    X, y, _ = problem
    proto = NeuralDirectRegressor(hidden_layer_sizes=(5,), **FAST)
    ests = [clone(proto).set_params(random_state=s) for s in range(3)]
    fit_many(ests, X, y, snapshot_epochs=(3,))
    for seed, est in enumerate(ests):
        short = clone(proto).set_params(random_state=seed, max_epochs=3).fit(X, y)
        est.module_.load_state_dict(est.snapshots_[3])
        np.testing.assert_allclose(est.predict(X), short.predict(X), atol=1e-10)


def test_incompatible_fits_fall_back_to_their_own_fit(problem):
    """Early stopping, callbacks and block relaxation react to their own losses: fitted alone."""
    X, y, _ = problem
    seen = []
    ests = [
        NeuralDirectRegressor(max_epochs=30, early_stopping=True, n_iter_no_change=2),
        NeuralDirectRegressor(callbacks=[lambda *a: seen.append(a[0])], **FAST),
        NeuralAffineTransferRegressor(source_columns=[0], solver="block", **FAST),
        NeuralDirectRegressor(**FAST, random_state=0),
    ]
    alone = [clone(e).set_params(random_state=0).fit(X, y) for e in ests[:3]]
    for e in ests[:3]:
        e.set_params(random_state=0)
    seen.clear()  # the separate fit above ran the callback too
    fit_many(ests, X, y)
    assert seen == list(range(1, 7))
    for together, single in zip(ests[:3], alone, strict=True):
        np.testing.assert_allclose(together.predict(X), single.predict(X), atol=1e-10)
    assert ests[0].stop_reason_ == alone[0].stop_reason_


def test_fit_many_errors(problem):
    X, y, _ = problem
    with pytest.raises(TypeError, match="neural estimators"):
        fit_many([object()], X, y)
    with pytest.raises(ValueError, match="X has 1 entries for 2 estimators"):
        fit_many([NeuralDirectRegressor(), NeuralDirectRegressor()], [X], y)
    with pytest.raises(ValueError, match="lr"):  # parameters are validated as in fit
        fit_many([NeuralDirectRegressor(lr=-1.0)], X, y)


def test_batched_loop_rejects_mixed_members():
    g = torch.Generator().manual_seed(0)
    a, b = MLP(3, 1, (4,), generator=g), MLP(3, 1, (5,), generator=g)
    data = (torch.zeros(8, 3), torch.zeros(8))

    def loss(module, batch):
        return torch.mean((module(batch[0])[:, 0] - batch[1]) ** 2)

    with pytest.raises(ValueError, match="member 1 has other parameters"):
        fit_modules_batched([a, b], loss, [data, data], [g, g])
    c = MLP(3, 1, (4,), generator=g)
    with pytest.raises(ValueError, match="member 1's training tensors"):
        fit_modules_batched([a, c], loss, [data, (torch.zeros(6, 3), torch.zeros(6))], [g, g])
    with pytest.raises(ValueError, match="plateau"):
        fit_modules_batched([a, c], loss, [data, data], [g, g], lr_schedule="plateau")
