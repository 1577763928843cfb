import optuna
import pytest

import near_optuna.study._training_check as training_check
from near_optuna import load_dataset
from near_optuna.measure._train import TrainResult
from near_optuna.study._training_check import check_with_training

CONFIGS = [
    ([8], "relu", "default", 5.0),
    ([8], "relu", "default", 4.9),  # a repeat of trial 0
    ([16], "tanh", "orthogonal", 4.0),
    ([4], "relu", "default", 3.0),
    ([12], "gelu", "xavier_uniform", 2.0),
    ([6], "elu", "default", 1.0),
]


@pytest.fixture
def study(tmp_path) -> optuna.Study:
    study = optuna.create_study(direction="maximize", storage=f"sqlite:///{tmp_path / 'check.db'}")
    for widths, activation, init, value in CONFIGS:
        trial = study.ask()
        trial.set_user_attr("near:widths", widths)
        trial.set_user_attr("near:activation", activation)
        trial.set_user_attr("near:init", init)
        study.tell(trial, value)
    return study


def fake_training(accuracy_of_width: dict[int, float]):
    def train(model, data, **_kwargs):
        return TrainResult(accuracy_of_width[model[0].out_features], 0.1, 1, 0.0)

    return train


def test_trains_the_best_and_random_others_once_each(study):
    report = check_with_training(study, load_dataset("wine"), 2, epochs=3)
    groups = [(t.trial, t.group) for t in report.trials]
    assert groups[:2] == [(0, "top"), (2, "top")], "the repeat of trial 0 is not trained again"
    assert [g for _, g in groups[2:]] == ["random", "random"]
    assert {t for t, _ in groups[2:]} <= {3, 4, 5}
    assert report.pick_trained == report.trials[0].trained
    assert report.best_trained == max(t.trained for t in report.trials)
    assert all(0.0 <= t.trained <= 1.0 for t in report.trials)
    assert report.metric == "accuracy"
    stored = optuna.load_study(study_name=study.study_name, storage=study._storage)
    assert stored.user_attrs["near:validation"]["k"] == 2
    assert len(stored.user_attrs["near:validation"]["trials"]) == 4


@pytest.mark.parametrize(
    ("sign", "expected_rho"),
    [(1.0, 1.0), (-1.0, -1.0)],
    ids=["score-agrees", "score-reversed"],
)
def test_spearman_and_pick_follow_the_trained_order(study, monkeypatch, sign, expected_rho):
    # Accuracy as a known function of each configuration's score: rank agreement is exact.
    value_of_width = {8: 5.0, 16: 4.0, 4: 3.0, 12: 2.0, 6: 1.0}
    accuracy = {w: 0.5 + sign * v / 20 for w, v in value_of_width.items()}
    monkeypatch.setattr(training_check, "train_and_evaluate", fake_training(accuracy))
    report = check_with_training(study, load_dataset("wine"), 2)
    assert report.spearman == pytest.approx(expected_rho)
    assert report.pick_trained == accuracy[8]
    assert report.best_trained == max(accuracy[t.widths[0]] for t in report.trials)


def test_equal_accuracies_give_no_spearman(study, monkeypatch):
    flat = dict.fromkeys((8, 16, 4, 12, 6), 0.9)
    monkeypatch.setattr(training_check, "train_and_evaluate", fake_training(flat))
    assert check_with_training(study, load_dataset("wine"), 2).spearman is None


def test_needs_completed_trials_and_a_positive_k(tmp_path):
    empty = optuna.create_study(direction="maximize", storage=f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(ValueError, match="needs completed trials"):
        check_with_training(empty, load_dataset("wine"), 1)
    with pytest.raises(ValueError, match="`k` must be >= 1, but got k=0"):
        check_with_training(empty, load_dataset("wine"), 0)
