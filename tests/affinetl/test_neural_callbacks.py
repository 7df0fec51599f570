"""Per-epoch ``callbacks`` of the torch estimators: every epoch seen, stopping, errors, clone."""

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
)
from affinetl.models._torch.train import fit_module  # noqa: E402

# full-batch, few epochs: each fit is a few milliseconds
FAST = {"batch_size": 64, "lr": 1e-2, "max_epochs": 6, "early_stopping": False, "random_state": 0}


def _net():
    g = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.LeakyReLU(0.01), torch.nn.Linear(4, 1)
    ).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g, dtype=torch.float64))
    return net


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 3))
    return X, X[:, 0] - 2 * X[:, 1] + 0.5 * X[:, 2] ** 2


MODELS = {
    "direct": lambda: NeuralDirectRegressor(hidden_layer_sizes=(8,)),
    "affine": lambda: NeuralAffineTransferRegressor(hidden1=(4,), hidden2=(4,), hidden3=(4,)),
    "affine-block": lambda: NeuralAffineTransferRegressor(
        hidden1=(4,), hidden2=(4,), hidden3=(4,), solver="block"
    ),
    "flow": lambda: AffineCouplingTransfer(
        hidden1=(4,), hidden2=(4,), hidden3=(4,), hidden_noise=(4,)
    ),
    "fine": lambda: FineTuneRegressor(network=_net()),
    "ext": lambda: FeatureExtractionRegressor(network=_net(), hidden_layer_sizes=(4,)),
    "inv": lambda: HiddenLayerAffineRegressor(
        network=_net(), hidden1=(4,), hidden2=(4,), hidden3=(4,)
    ),
}


class Recorder:
    """Records every call, and a prediction with the weights of that epoch."""

    def __init__(self, X, stop_at=None):
        self.X, self.stop_at = X, stop_at
        self.calls, self.predictions = [], {}

    def __call__(self, epoch, train_loss, val_loss, estimator):
        self.calls.append((epoch, train_loss, val_loss, estimator))
        self.predictions[epoch] = estimator.predict(self.X)
        return epoch == self.stop_at


@pytest.mark.parametrize("name", list(MODELS))
def test_callback_sees_every_epoch(name):
    X, y = _data()
    recorder = Recorder(X[:5])
    model = MODELS[name]().set_params(**FAST, callbacks=[recorder]).fit(X, y)
    epochs = [c[0] for c in recorder.calls]
    assert epochs == list(range(1, FAST["max_epochs"] + 1)) and model.n_iter_ == 6
    np.testing.assert_allclose([c[1] for c in recorder.calls], model.loss_curve_)
    assert all(c[2] is None and c[3] is model for c in recorder.calls)
    assert model.stop_reason_ == "max_epochs"
    # the estimator passed in predicts with the weights of that epoch: the last equals the fit
    np.testing.assert_allclose(recorder.predictions[6], model.predict(X[:5]))
    assert not np.allclose(recorder.predictions[1], recorder.predictions[6])


@pytest.mark.parametrize("name", ["direct", "affine", "flow", "fine"])
def test_callback_stops_training(name):
    X, y = _data()
    recorder = Recorder(X[:5], stop_at=3)
    model = MODELS[name]().set_params(**FAST, callbacks=[recorder]).fit(X, y)
    assert [c[0] for c in recorder.calls] == [1, 2, 3]
    assert model.n_iter_ == 3 and model.stop_reason_ == "callback"
    assert len(model.loss_curve_) == 3
    # the model keeps the weights of the epoch it stopped at
    np.testing.assert_allclose(model.predict(X[:5]), recorder.predictions[3])
    # same as a run of exactly three epochs
    three = MODELS[name]().set_params(**{**FAST, "max_epochs": 3}).fit(X, y)
    np.testing.assert_allclose(model.predict(X), three.predict(X))


def test_callback_sees_validation_loss_and_stop_keeps_best_weights():
    X, y = _data(60)
    recorder = Recorder(X[:5], stop_at=8)
    model = NeuralDirectRegressor(
        hidden_layer_sizes=(8,),
        lr=5e-2,
        batch_size=64,
        max_epochs=20,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=50,
        random_state=0,
        callbacks=[recorder],
    ).fit(X, y)
    vals = [c[2] for c in recorder.calls]
    assert len(vals) == 8 and all(isinstance(v, float) for v in vals)
    np.testing.assert_allclose(vals, model.validation_curve_)
    assert model.stop_reason_ == "callback"
    assert model.best_epoch_ == 1 + int(np.argmin(vals))
    np.testing.assert_allclose(model.predict(X[:5]), recorder.predictions[model.best_epoch_])


def test_every_callback_runs_and_errors_propagate():
    X, y = _data()
    first, second = Recorder(X[:2], stop_at=2), Recorder(X[:2])
    NeuralDirectRegressor(**FAST, callbacks=[first, second]).fit(X, y)
    assert len(first.calls) == len(second.calls) == 2  # both saw the epoch that stopped

    class Abort(RuntimeError):
        pass

    def abort(epoch, train_loss, val_loss, estimator):
        if epoch == 2:
            raise Abort("stop here")

    with pytest.raises(Abort, match="stop here"):
        NeuralDirectRegressor(**FAST, callbacks=[abort]).fit(X, y)
    with pytest.raises(TypeError, match=r"callbacks\[1\] is 3"):
        NeuralDirectRegressor(**FAST, callbacks=[abort, 3]).fit(X, y)
    with pytest.raises(ValueError, match="callbacks"):
        NeuralDirectRegressor(**FAST, callbacks=abort).fit(X, y)


def test_fit_module_callbacks_see_eval_mode():
    module = torch.nn.Sequential(
        torch.nn.Linear(2, 3), torch.nn.Dropout(0.5), torch.nn.Linear(3, 1)
    )
    X, y = torch.randn(20, 2), torch.randn(20)
    modes = []

    def callback(epoch, train_loss, val_loss):
        modes.append(module.training)

    result = fit_module(
        module,
        lambda b: torch.mean((module(b[0])[:, 0] - b[1]) ** 2),
        (X, y),
        max_epochs=4,
        generator=torch.Generator().manual_seed(0),
        callbacks=[callback],
    )
    assert modes == [False] * 4 and result.stop_reason == "max_epochs"


def test_callbacks_are_cloned_and_not_saved(tmp_path):
    X, y = _data()
    recorder = Recorder(X[:2])
    model = NeuralDirectRegressor(**FAST, callbacks=[recorder])
    copy = clone(model)
    assert copy.callbacks is not model.callbacks and len(copy.callbacks) == 1
    model.fit(X, y)
    loaded = NeuralDirectRegressor.load(model.save(tmp_path / "m"))
    assert loaded.callbacks is None and loaded.stop_reason_ == "max_epochs"
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))
