import numpy as np
import pytest
import torch

from near_optuna import build_mlp, load_dataset
from near_optuna.measure._steps import StepTrainer, one_torch_thread
from near_optuna.measure._train import train_epochs
from near_optuna.study._halving import rung_steps


@pytest.mark.parametrize("dataset", ["wine", "diabetes"])
def test_steps_in_pieces_equal_whole_epochs_of_the_recipe(dataset):
    data = load_dataset(dataset)
    out = data.out_features
    epochs = build_mlp(data.in_features, [16, 8], out, seed=3)
    steps = build_mlp(data.in_features, [16, 8], out, seed=3)
    list(train_epochs(epochs, data.x_train, data.y_train, epochs=3, seed=5))
    trainer = StepTrainer(steps, data.x_train, data.y_train, seed=5)
    total = 3 * trainer.steps_per_epoch
    for piece in (1, 7, total - 8):  # pauses inside and across epochs
        trainer.train(piece)
    assert trainer.steps == total
    for a, b in zip(epochs.parameters(), steps.parameters(), strict=True):
        assert torch.equal(a, b), dataset
    assert trainer.seconds_per_step > 0


def test_a_diverging_run_stops_and_says_so():
    data = load_dataset("diabetes")
    model = build_mlp(data.in_features, [8], 1, seed=0)
    trainer = StepTrainer(model, data.x_train, data.y_train, lr=1e12)
    trainer.train(200)
    assert trainer.diverged
    assert trainer.steps < 200


def test_bad_arguments_and_the_thread_count_is_restored():
    data = load_dataset("wine")
    model = build_mlp(data.in_features, [4], 3)
    with pytest.raises(ValueError, match="`batch_size` must be > 0"):
        StepTrainer(model, data.x_train, data.y_train, batch_size=0)
    with pytest.raises(ValueError, match="`lr` must be > 0"):
        StepTrainer(model, data.x_train, data.y_train, lr=0.0)
    before = torch.get_num_threads()
    with one_torch_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("max_steps", "candidates", "expected"),
    [(2700, 10, [100, 300, 900, 2700]), (90, 3, [30, 90]), (5, 9, [5]), (1000, 1, [1000])],
)
def test_rungs_triple_up_to_the_last(max_steps, candidates, expected):
    assert rung_steps(max_steps, candidates) == expected
    assert np.all(np.diff(expected) > 0)
