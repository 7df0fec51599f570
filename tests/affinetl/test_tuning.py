"""In-process tests of affinetl.tuning: spaces, CV objective, pruning, search CV, bad input."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import Lasso, SGDRegressor
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from affinetl import (
    AffineTransferRegressor,
    AugmentedRegressor,
    DirectRegressor,
    LinearAffineTransferRegressor,
    LogDifferenceRegressor,
    OffsetTransferRegressor,
    ScaleTransferRegressor,
    SourceOnlyRegressor,
)
from affinetl.tuning import (
    CVObjective,
    EmptySearchSpaceError,
    OptunaSearchCV,
    StorageError,
    StudyMismatchError,
    get_space,
    load_best_estimator,
    make_estimator,
    open_storage,
    register_space,
    resolve_splits,
    tune,
)
from affinetl.tuning._cli import add_arguments, run

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _wiggly(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """y = sin(4 x1) + 0.1 noise; the default width 1/(2*2) and alpha=1 underfit badly."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 2))
    u = rng.normal(size=n)
    y = np.sin(4 * x[:, 0]) + 0.1 * rng.standard_normal(n)
    return np.c_[x, u], y


@pytest.mark.parametrize(
    "cls",
    [
        AffineTransferRegressor,
        DirectRegressor,
        SourceOnlyRegressor,
        AugmentedRegressor,
        OffsetTransferRegressor,
        ScaleTransferRegressor,
        LinearAffineTransferRegressor,
        LogDifferenceRegressor,
    ],
)
def test_every_estimator_has_a_valid_space(cls):
    X, _ = _wiggly(10, 0)
    est = cls()
    space = get_space(est, X)
    assert space and set(space) <= set(est.get_params())
    # penalties are searched on a log scale
    assert any(getattr(d, "log", False) for d in space.values())


def test_affine_space_follows_the_variant():
    assert "lambda2" in get_space(AffineTransferRegressor())
    assert "lambda2" not in get_space(AffineTransferRegressor(form="const"))
    g1_const = get_space(AffineTransferRegressor(form="g1_const"))
    assert not {"lambda1", "gamma1"} & set(g1_const)


def test_linear_space_searches_the_scale_ridge_of_the_full_form_only():
    assert "lambda_scale" in get_space(LinearAffineTransferRegressor())
    assert "lambda_scale" not in get_space(LinearAffineTransferRegressor(form="offset"))
    assert "lambda_scale" not in get_space(LogDifferenceRegressor())


def test_space_widths_follow_the_kernel_input_dimension():
    X = np.zeros((5, 11))  # 10 inputs + 1 source column
    g = get_space(DirectRegressor(), X)["gamma"]
    assert g.low == pytest.approx(1 / 20 / 10) and g.high == pytest.approx(1 / 20 * 10)
    g = get_space(AugmentedRegressor(), X)["gamma"]
    assert g.low == pytest.approx(1 / 22 / 10)


def test_space_overrides_pipeline_and_registration():
    over = get_space(
        DirectRegressor(), overrides={"kernel": None, "alpha": FloatDistribution(1, 2)}
    )
    assert set(over) == {"alpha", "gamma"} and over["alpha"].high == 2
    pipe = Pipeline([("scale", StandardScaler()), ("model", DirectRegressor())])
    assert set(get_space(pipe)) == {"model__alpha", "model__kernel", "model__gamma"}
    with pytest.raises(ValueError, match="not parameters of DirectRegressor"):
        get_space(DirectRegressor(), overrides={"nope": FloatDistribution(0, 1)})
    with pytest.raises(ValueError, match="is registered"):
        register_space("DirectRegressor", {"alpha": FloatDistribution(1, 2)})


def test_empty_search_space_errors_and_nothing_is_stored(tmp_path):
    X, y = _wiggly(30, 0)
    db = tmp_path / "s.db"
    with pytest.raises(EmptySearchSpaceError, match="no search space is registered for Lasso"):
        tune(Lasso(), X, y, n_trials=2, storage=db, study_name="a")
    everything_off = dict.fromkeys(get_space(DirectRegressor(), X))
    with pytest.raises(EmptySearchSpaceError, match="empty after the overrides"):
        tune(DirectRegressor(), X, y, n_trials=2, space=everything_off, storage=db, study_name="a")
    assert not db.exists()


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'kernel-magic'.*AffineTransferRegressor"):
        make_estimator("kernel-magic")
    assert type(make_estimator("affine")).__name__ == "AffineTransferRegressor"
    assert make_estimator("affine-const").form == "const"
    assert type(make_estimator("directregressor")) is DirectRegressor


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_storage_that_cannot_be_opened_is_left_untouched(tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        open_storage(tmp_path / "missing" / "x.db")
    garbage = tmp_path / "notes.db"
    garbage.write_text("my precious notes\n")
    before = _sha(garbage)
    with pytest.raises(StorageError, match="not a SQLite database"):
        open_storage(f"sqlite:///{garbage}")
    assert _sha(garbage) == before
    foreign = tmp_path / "app.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE customers (id INTEGER)")
    con.commit()
    con.close()
    before = _sha(foreign)
    with pytest.raises(StorageError, match="another application"):
        open_storage(str(foreign))
    assert _sha(foreign) == before
    journal = tmp_path / "run.log"
    journal.write_text("not json\n")
    with pytest.raises(StorageError, match="not an Optuna journal"):
        open_storage(journal)
    with pytest.raises(StorageError, match="cannot open storage 'nosuchdialect://"):
        open_storage("nosuchdialect://host/db")
    with pytest.raises(StorageError, match=r"\*\*\*"):  # the password is not printed
        open_storage("postgresql+nosuchdriver://user:secret@localhost/db")


def test_resume_with_other_data_is_refused_and_study_unchanged(tmp_path):
    X, y = _wiggly(40, 0)
    db = tmp_path / "s.log"  # journal file
    tune(DirectRegressor(), X, y, n_trials=3, storage=db, study_name="s", refit=False)
    storage = open_storage(db)
    before = [
        (t.number, t.state, t.value)
        for t in optuna.load_study(study_name="s", storage=storage).trials
    ]
    X2, y2 = _wiggly(40, 1)
    with pytest.raises(StudyMismatchError, match="different data_hash"):
        tune(DirectRegressor(), X2, y2, n_trials=6, storage=db, study_name="s")
    with pytest.raises(StudyMismatchError, match="different estimator"):
        tune(DirectRegressor(standardize=False), X, y, n_trials=6, storage=db, study_name="s")
    after = optuna.load_study(study_name="s", storage=open_storage(db)).trials
    assert [(t.number, t.state, t.value) for t in after] == before
    # the same settings resume: only the missing trials run
    result = tune(DirectRegressor(), X, y, n_trials=5, storage=db, study_name="s")
    assert len(result.study.trials) == 5
    attrs = result.study.user_attrs
    assert attrs["affinetl_version"] and attrs["data_hash"].startswith("sha256:")
    assert attrs["estimator"]["class"].endswith("DirectRegressor")


def test_short_tuning_beats_poor_defaults():
    X, y = _wiggly(80, 0)
    Xt, yt = _wiggly(400, 1)
    default = DirectRegressor().fit(X, y)
    mse_default = np.mean((default.predict(Xt) - yt) ** 2)
    result = tune(DirectRegressor(), X, y, n_trials=15, random_state=0)
    mse_tuned = np.mean((result.best_estimator.predict(Xt) - yt) ** 2)
    assert mse_tuned < 0.25 * mse_default, (mse_tuned, mse_default)
    assert mse_tuned < 0.05  # noise variance is 0.01
    # fewer fits than 15 trials x 5 folds: the median pruner stopped some trials early
    states = [t.state for t in result.study.trials]
    assert result.n_fits == sum(t.user_attrs["n_fits"] for t in result.study.trials) + 1
    if optuna.trial.TrialState.PRUNED in states:
        assert result.n_fits < 15 * 5 + 1


def test_seeded_runs_are_reproducible():
    X, y = _wiggly(30, 0)
    a = tune(DirectRegressor(), X, y, n_trials=4, random_state=3, refit=False)
    b = tune(DirectRegressor(), X, y, n_trials=4, random_state=3, refit=False)
    c = tune(DirectRegressor(), X, y, n_trials=4, random_state=4, refit=False)
    assert [t.params for t in a.study.trials] == [t.params for t in b.study.trials]
    assert [t.params for t in a.study.trials] != [t.params for t in c.study.trials]


def test_search_cv_is_a_sklearn_estimator_and_composes_with_pipelines():
    X, y = _wiggly(40, 0)
    pipe = Pipeline([("scale", StandardScaler()), ("model", DirectRegressor())])
    search = OptunaSearchCV(pipe, n_trials=4, random_state=0).fit(X, y)
    assert set(search.best_params_) == {"model__alpha", "model__kernel", "model__gamma"}
    assert search.predict(X).shape == (40,)
    res = search.cv_results_
    assert len(res["params"]) == 4 and res["rank_test_score"].min() == 1
    best = int(np.argmin(res["rank_test_score"]))
    assert res["mean_test_score"][best] == pytest.approx(search.best_score_)
    assert clone(search).get_params()["n_trials"] == 4
    # the search itself as a step of a pipeline
    outer = Pipeline(
        [("scale", StandardScaler()), ("tuned", OptunaSearchCV(DirectRegressor(), n_trials=3))]
    )
    assert outer.fit(X, y).predict(X[:5]).shape == (5,)


def test_group_splits_keep_groups_together():
    X, y = _wiggly(30, 0)
    groups = np.repeat(np.arange(6), 5)
    splits = resolve_splits(GroupKFold(3), X, y, groups)
    for train, val in splits:
        assert not set(groups[train]) & set(groups[val])
    with pytest.raises(ValueError, match="groups"):
        resolve_splits(GroupKFold(3), X, y, None)
    result = tune(DirectRegressor(), X, y, n_trials=3, cv=GroupKFold(3), groups=groups)
    assert len(result.study.trials[0].user_attrs["split_scores"]) == 3


def _median_study(*first_params: dict) -> optuna.Study:
    """Study whose first trials are fixed; the median pruner acts after two warm-up steps."""
    study = optuna.create_study(
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=2),
    )
    for params in first_params:
        study.enqueue_trial(params)
    return study


def test_partial_fit_estimator_is_pruned_per_epoch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    space = {"eta0": CategoricalDistribution((1e-8, 3e-2))}
    study = _median_study({"eta0": 3e-2}, {"eta0": 1e-8})
    est = SGDRegressor(max_iter=10, learning_rate="constant", random_state=0)
    objective = CVObjective(est, X, y, space, resolve_splits(3, X, y))
    study.optimize(objective, n_trials=2)
    good, slow = study.trials
    assert good.state == optuna.trial.TrialState.COMPLETE
    assert sorted(good.intermediate_values) == list(range(30))  # 3 folds x 10 epochs
    assert good.value > -0.01 and good.user_attrs["n_fits"] == 3
    assert slow.state == optuna.trial.TrialState.PRUNED
    assert list(slow.intermediate_values) == [0, 1, 2] and slow.user_attrs["n_fits"] == 1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_network_shape_is_searched_through_width_and_depth():
    from sklearn.neural_network import MLPRegressor

    X, y = _wiggly(40, 0)
    space = get_space(MLPRegressor())
    assert {"width", "depth", "learning_rate_init"} <= set(space)
    over = {"max_iter": optuna.distributions.IntDistribution(2, 4)}
    result = tune(MLPRegressor(random_state=0), X, y, n_trials=2, cv=2, space=over)
    sizes = result.best_params["hidden_layer_sizes"]
    assert isinstance(sizes, tuple) and sizes == (result.study.best_params["width"],) * len(sizes)
    assert result.best_estimator.hidden_layer_sizes == sizes
    # epochs of partial_fit were reported: max_iter steps per fold
    best = result.study.best_trial
    assert len(best.intermediate_values) == 2 * best.params["max_iter"]


def test_neural_estimators_have_spaces():
    import affinetl.models as models

    names = ["NeuralAffineTransferRegressor", "NeuralDirectRegressor", "AffineCouplingTransfer"]
    classes = [getattr(models, n, None) for n in names]
    if any(c is None for c in classes):
        pytest.skip("the neural estimators are not importable in this installation")
    for cls in classes:
        space = get_space(cls())
        assert {"lr", "weight_decay", "max_epochs", "width", "depth"} <= set(space)


class _GDRegressor(RegressorMixin, BaseEstimator):
    """Linear regression by gradient descent with a hold-out split and epoch callbacks.

    The training-loop protocol of affinetl's torch estimators:
    ``callback(epoch, train_loss, val_loss)`` after every epoch.
    """

    def __init__(self, lr=0.1, max_epochs=20, callbacks=None):
        self.lr = lr
        self.max_epochs = max_epochs
        self.callbacks = callbacks

    def fit(self, X, y):
        X, y = np.asarray(X, float), np.asarray(y, float)
        n_val = max(len(y) // 5, 1)
        Xt, yt, Xv, yv = X[n_val:], y[n_val:], X[:n_val], y[:n_val]
        self.coef_ = np.zeros(X.shape[1])
        for epoch in range(1, self.max_epochs + 1):
            self.coef_ -= self.lr * Xt.T @ (Xt @ self.coef_ - yt) / len(yt)
            train = float(np.mean((Xt @ self.coef_ - yt) ** 2))
            val = float(np.mean((Xv @ self.coef_ - yv) ** 2))
            for cb in self.callbacks or ():
                cb(epoch, train, val)
        return self

    def predict(self, X):
        return np.asarray(X, float) @ self.coef_


def test_callback_hook_prunes_neural_style_training():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 2))
    y = X @ np.array([2.0, -1.0])
    study = _median_study({"lr": 0.3}, {"lr": 1e-6})
    space = {"lr": CategoricalDistribution((1e-6, 0.3))}
    objective = CVObjective(_GDRegressor(max_epochs=20), X, y, space, resolve_splits(2, X, y))
    study.optimize(objective, n_trials=2)
    good, slow = study.trials
    assert good.state == optuna.trial.TrialState.COMPLETE
    # steps: fold k, epoch e -> k * max_epochs + e; values are -val_loss
    assert sorted(good.intermediate_values) == list(range(1, 41))
    assert good.intermediate_values[40] > -1e-2
    assert slow.state == optuna.trial.TrialState.PRUNED
    assert list(slow.intermediate_values) == [1, 2]  # pruned in the first fold's 2nd epoch


def test_failing_setting_is_recorded_not_fatal():
    X, y = _wiggly(30, 0)
    space = {"alpha": CategoricalDistribution((1.0, -1.0))}  # -1 fails parameter validation
    result = tune(
        DirectRegressor(),
        X,
        y,
        n_trials=2,
        space=space,
        use_default_space=False,
        sampler=optuna.samplers.BruteForceSampler(seed=0),
    )
    failed = [t for t in result.study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and "alpha" in failed[0].user_attrs["error"]
    assert result.best_params == {"alpha": 1.0}


def test_cli_writes_reusable_best_parameters(tmp_path, capsys):
    import argparse

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(40, 2))
    u = x[:, 0] + 0.1 * rng.normal(size=40)
    frame = np.c_[x, u, 2 * u + x[:, 1]]
    path = tmp_path / "data.csv"
    np.savetxt(path, frame, delimiter=",", header="x1,x2,sim,exp", comments="")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "best.json"
    common = ["--case", str(path), "--target", "exp", "--source-column", "sim", "--no-progress"]
    args = parser.parse_args(
        [
            *common,
            "--model",
            "offset",
            "--trials",
            "3",
            "--storage",
            str(tmp_path / "t.db"),
            "--study",
            "cli",
            "--out",
            str(out),
            "--set",
            "standardize=true",
        ]
    )
    assert run(args) == 0
    text = capsys.readouterr().out
    assert "study 'cli': 3 complete" in text and "best parameters written" in text
    spec = json.loads(out.read_text())
    assert spec["model"] == "OffsetTransferRegressor" and spec["n_trials"] == 3
    model = load_best_estimator(out)
    assert model.get_params()["alpha"] == spec["params"]["alpha"]
    # bad input: clear message, exit status 2, nothing written
    bad = parser.parse_args([*common, "--model", "nope", "--storage", str(tmp_path / "u.db")])
    assert run(bad) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "u.db").exists()
    bad = parser.parse_args(
        [*common, "--model", "direct", "--storage", str(tmp_path / "no" / "x.db")]
    )
    assert run(bad) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--model", "direct", "--set", "nosuch=1"], "DirectRegressor has no parameter(s) nosuch"),
        (["--model", "direct", "--scoring", "nosuch"], "--scoring 'nosuch'"),
        (["--model", "direct", "--cv", "50"], "--cv 50 is more than the 40 samples"),
        (["--model", "direct", "--target", "nosuch"], "--target 'nosuch' is not a column"),
        (["--model", "nope"], "unknown model 'nope'"),
    ],
)
def test_cli_user_errors_are_one_line_before_any_work(tmp_path, capsys, options, message):
    import argparse

    from affinetl.exceptions import UsageError

    path = tmp_path / "data.csv"
    rng = np.random.default_rng(0)
    np.savetxt(path, rng.normal(size=(40, 3)), delimiter=",", header="x,sim,exp", comments="")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    db = tmp_path / "t.db"
    args = ["--case", str(path), "--target", "exp", "--storage", str(db), "--no-progress"]
    argv = [*args, "--out", str(tmp_path / "out" / "x.json"), *options]  # the last --target wins
    assert run(parser.parse_args(argv)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not db.exists() and not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as info:  # numbers out of range: argparse, status 2
        parser.parse_args([*args, "--model", "direct", "--trials", "0"])
    assert info.value.code == 2
    assert issubclass(StorageError, UsageError) and issubclass(StudyMismatchError, UsageError)
