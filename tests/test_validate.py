import optuna
import pytest

from near_optuna import load_dataset
from near_optuna._validate import validate_study


def study_with(configs: list[tuple[list[int], str, str, float]]) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    for widths, activation, init, value in configs:
        trial = study.ask()
        trial.set_user_attr("near:widths", widths)
        trial.set_user_attr("near:activation", activation)
        trial.set_user_attr("near:init", init)
        study.tell(trial, value)
    return study


def test_trains_the_best_and_random_others_once_each():
    study = study_with(
        [
            ([8], "relu", "default", 5.0),
            ([8], "relu", "default", 4.9),  # a repeat
            ([16], "tanh", "orthogonal", 4.0),
            ([4], "relu", "default", 3.0),
            ([12], "gelu", "xavier_uniform", 2.0),
            ([6], "elu", "default", 1.0),
        ]
    )
    report = validate_study(study, load_dataset("wine"), 2, epochs=3)
    groups = [(t.trial, t.group) for t in report.trials]
    assert groups[:2] == [(0, "top"), (2, "top")], "the repeat of trial 0 is not trained again"
    assert [g for _, g in groups[2:]] == ["random", "random"]
    assert {t for t, _ in groups[2:]} <= {3, 4, 5}
    assert report.pick_accuracy == report.trials[0].accuracy
    assert report.best_accuracy == max(t.accuracy for t in report.trials)
    assert report.spearman is None or -1.0 <= report.spearman <= 1.0
    assert study.user_attrs["near:validation"]["k"] == 2


def test_needs_completed_trials_and_a_positive_k():
    empty = optuna.create_study(direction="maximize")
    with pytest.raises(ValueError, match="needs completed trials"):
        validate_study(empty, load_dataset("wine"), 1)
    with pytest.raises(ValueError, match="`--validate` must be >= 1, but got 0"):
        validate_study(empty, load_dataset("wine"), 0)
