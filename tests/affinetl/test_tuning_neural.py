"""Per-epoch Optuna pruning of the torch estimators through their ``callbacks`` parameter."""

from __future__ import annotations

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")
torch = pytest.importorskip("torch")
pytest.importorskip("nflows")

from optuna.distributions import CategoricalDistribution, IntDistribution  # noqa: E402
from optuna.trial import TrialState  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from affinetl.models import (  # noqa: E402
    AffineCouplingTransfer,
    NeuralAffineTransferRegressor,
    NeuralDirectRegressor,
)
from affinetl.tuning import (  # noqa: E402
    CVObjective,
    EpochPruningCallback,
    IntermediateReporter,
    OptunaSearchCV,
    resolve_splits,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

FAST = {"batch_size": 64, "early_stopping": False, "random_state": 0}
GOOD, USELESS = 3e-2, 1e-7  # learning rates: one learns in a few epochs, one never moves


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 3))
    return X, 2 * X[:, 0] - X[:, 1] + 0.1 * rng.standard_normal(n)


def _study(first: list[dict], warmup: int = 2) -> optuna.Study:
    study = optuna.create_study(
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=warmup),
    )
    for params in first:
        study.enqueue_trial(params)
    return study


def test_objective_reports_fold_score_per_epoch_and_prunes():
    X, y = _data()
    est = NeuralDirectRegressor(hidden_layer_sizes=(8,), max_epochs=10, **FAST)
    space = {"lr": CategoricalDistribution((GOOD, USELESS))}
    objective = CVObjective(est, X, y, space, resolve_splits(2, X, y))
    assert objective.epoch_mode(est) == "hook" and objective.steps_per_fold == 10
    study = _study([{"lr": GOOD}, {"lr": USELESS}])
    study.optimize(objective, n_trials=2)
    good, slow = study.trials
    assert good.state == TrialState.COMPLETE
    # fold k, epoch e -> step 10 k + e; the last value of each fold is that fold's CV score
    assert sorted(good.intermediate_values) == list(range(1, 21))
    np.testing.assert_allclose(
        [good.intermediate_values[10], good.intermediate_values[20]],
        good.user_attrs["split_scores"],
    )
    assert good.user_attrs["n_epochs"] == 20 and good.user_attrs["n_fits"] == 2
    assert slow.state == TrialState.PRUNED
    # pruned at the end of the warm-up, in the first fold: 2 of 20 epochs trained
    assert sorted(slow.intermediate_values) == [1, 2]
    assert slow.user_attrs["n_epochs"] == 2 and slow.user_attrs["n_fits"] == 1


def test_steps_align_when_epochs_are_searched():
    X, y = _data()
    est = NeuralDirectRegressor(hidden_layer_sizes=(4,), lr=GOOD, **FAST)
    space = {"max_epochs": IntDistribution(3, 6)}
    objective = CVObjective(est, X, y, space, resolve_splits(2, X, y), prune="epochs")
    assert objective.steps_per_fold == 6  # the space's upper bound, for every trial
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    study.enqueue_trial({"max_epochs": 3})
    study.enqueue_trial({"max_epochs": 6})
    study.optimize(objective, n_trials=2)
    short, long = study.trials
    assert sorted(short.intermediate_values) == [1, 2, 3, 7, 8, 9]
    assert sorted(long.intermediate_values) == [*range(1, 7), *range(7, 13)]


def test_loss_reports_and_report_interval():
    X, y = _data()
    est = NeuralAffineTransferRegressor(
        hidden1=(4,), hidden2=(4,), hidden3=(4,), lr=GOOD, max_epochs=6, **FAST
    )
    objective = CVObjective(
        est,
        np.c_[X, X[:, 0]],
        y,
        {"weight_decay": CategoricalDistribution((1e-4,))},
        resolve_splits(2, X, y),
        epoch_score="loss",
        report_interval=2,
    )
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)
    values = study.trials[0].intermediate_values
    assert sorted(values) == [2, 4, 6, 8, 10, 12]
    assert all(v < 0 for v in values.values())  # negated training MSE
    assert study.trials[0].user_attrs["n_epochs"] == 12
    with pytest.raises(ValueError, match="epoch_score"):
        CVObjective(est, X, y, {}, resolve_splits(2, X, y), epoch_score="val")
    with pytest.raises(ValueError, match="report_interval"):
        CVObjective(est, X, y, {}, resolve_splits(2, X, y), report_interval=0)


def test_pipeline_final_step_is_pruned_per_epoch():
    X, y = _data()
    pipe = Pipeline(
        [("scale", StandardScaler()), ("net", NeuralDirectRegressor(max_epochs=5, **FAST))]
    )
    space = {"net__lr": CategoricalDistribution((GOOD,))}
    objective = CVObjective(pipe, X, y, space, resolve_splits(2, X, y))
    assert objective.epoch_mode(pipe) == "hook" and objective.steps_per_fold == 5
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert sorted(trial.intermediate_values) == list(range(1, 11))
    np.testing.assert_allclose(trial.intermediate_values[10], trial.user_attrs["split_scores"][1])


def test_callback_falls_back_to_loss_without_a_scorer():
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    callback = EpochPruningCallback(IntermediateReporter(trial, offset=10))
    assert callback(1, 0.5) is False and callback(2, 0.5, 0.25) is False
    assert study._storage.get_trial(trial._trial_id).intermediate_values == {11: -0.5, 12: -0.25}
    with pytest.raises(ValueError, match="interval"):
        EpochPruningCallback(IntermediateReporter(trial), interval=0)


PRUNERS = {  # factories: a pruner keeps state of the study it served
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=3),
    "hyperband": lambda: optuna.pruners.HyperbandPruner(
        min_resource=2, max_resource=20, reduction_factor=3
    ),
}


def _pruned_search(pruner_name: str) -> OptunaSearchCV:
    X, y = _data()
    est = NeuralDirectRegressor(hidden_layer_sizes=(8,), max_epochs=10, **FAST)
    space = {"lr": CategoricalDistribution((GOOD, 1e-2, USELESS, 3e-7))}
    return OptunaSearchCV(
        est,
        space=space,
        use_default_space=False,
        n_trials=8,
        cv=2,
        pruner=PRUNERS[pruner_name](),
        random_state=0,
    ).fit(X, y)


@pytest.mark.parametrize("pruner_name", sorted(PRUNERS))
def test_search_prunes_neural_trials_and_refits_the_best(pruner_name):
    X, y = _data()
    search = _pruned_search(pruner_name)
    states = search.cv_results_["state"]
    assert search.n_pruned_ >= 1 and (states == "PRUNED").sum() == search.n_pruned_
    # pruned trials trained fewer epochs and fits than the 2 x 10 of a complete trial
    pruned = states == "PRUNED"
    assert np.all(search.cv_results_["n_epochs"][pruned] < 20)
    assert search.n_epochs_ < 8 * 20 and search.n_fits_ <= 8 * 2 + 1
    assert search.best_params_["lr"] in (GOOD, 1e-2)
    assert search.best_estimator_.n_iter_ == 10 and search.best_estimator_.callbacks is None
    assert search.score(X, y) > -0.1 * np.var(y)  # R^2 above 0.9


def test_hyperband_search_repeats_with_the_same_random_state():
    # Hyperband brackets hash the study name: the in-memory study's name is fixed by the seed
    first, second = _pruned_search("hyperband"), _pruned_search("hyperband")
    assert first.study_.study_name == second.study_.study_name == "affinetl-search-seed0"
    assert list(first.cv_results_["state"]) == list(second.cv_results_["state"])
    np.testing.assert_array_equal(first.cv_results_["n_epochs"], second.cv_results_["n_epochs"])


def test_flow_is_pruned_per_epoch():
    X, y = _data()
    est = AffineCouplingTransfer(
        hidden1=(4,), hidden2=(4,), hidden3=(4,), hidden_noise=(4,), max_epochs=8, **FAST
    )
    space = {"lr": CategoricalDistribution((GOOD, USELESS))}
    objective = CVObjective(est, np.c_[X, X[:, 0]], y, space, resolve_splits(2, X, y))
    study = _study([{"lr": GOOD}, {"lr": USELESS}])
    study.optimize(objective, n_trials=2)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert study.trials[1].user_attrs["n_epochs"] < 8
