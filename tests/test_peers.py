import math

import numpy as np
import pytest
import torch
from torch import nn

from near_optuna import SCORES, build_mlp, epsilon_score, get_score, naswot_score, param_score


def x_of(n: int, d: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def test_epsilon_is_zero_for_a_bias_free_relu_mlp():
    # With one constant weight, every output of a ReLU MLP is c * relu(sum x): both normalised
    # outputs coincide, so epsilon is 0 (the known weakness of epsilon on MLPs).
    assert epsilon_score(build_mlp(5, [16, 16], 3), x_of(64, 5)) == pytest.approx(0.0, abs=1e-12)


def test_epsilon_by_hand_for_a_tanh_unit():
    # One tanh unit, one output: y(w) = w * tanh(w * sum x). Compute the normalised outputs here.
    model = nn.Sequential(nn.Linear(2, 1), nn.Tanh(), nn.Linear(1, 1))
    x = torch.tensor([[0.1, 0.2], [0.5, -0.1], [1.0, 1.0], [-0.3, 0.0]], dtype=torch.float64)
    s = x.sum(1).numpy()

    def normalised(w: float) -> np.ndarray:
        y = w * np.tanh(w * s)
        z = (y - y.min()) / (y.max() - y.min())
        z[z == 0] = np.nan
        return z

    a, b = normalised(1e-3), normalised(2.0)
    expected = np.nanmean(np.abs(a - b)) / np.nanmean(np.concatenate([a, b]))
    assert epsilon_score(model, x, weights=(1e-3, 2.0)) == pytest.approx(expected, rel=1e-9)


def test_epsilon_of_constant_outputs_is_zero_and_weights_are_kept():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert epsilon_score(model, -torch.ones(8, 3).abs()) == 0.0
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_naswot_by_hand():
    # W = I, b = 0, x1 = (1, -1), x2 = (-1, 1): codes (1, 0) and (0, 1) never agree, so
    # K = [[2, 0], [0, 2]] and log det K = ln 4. The output layer carries no codes.
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
        model[0].bias.zero_()
    x = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    assert naswot_score(model, x) == pytest.approx(math.log(4.0), rel=1e-12)


def test_naswot_of_identical_samples_is_minus_infinity():
    x = torch.ones(4, 3)
    assert naswot_score(build_mlp(3, [8], 2, seed=0), x) == -math.inf


def test_naswot_grows_with_width_and_repeats_with_init():
    x = x_of(64, 8)
    narrow = naswot_score(build_mlp(8, [4], 2, seed=0), x, repetitions=2, init="default")
    wide = naswot_score(build_mlp(8, [256], 2, seed=0), x, repetitions=2, init="default")
    assert wide > narrow
    again = naswot_score(build_mlp(8, [256], 2, seed=0), x, repetitions=2, init="default")
    assert wide == again


def test_param_score_counts_trainable_parameters():
    model = build_mlp(4, [8], 3)
    assert param_score(model) == 4 * 8 + 8 + 8 * 3 + 3
    model[0].weight.requires_grad_(False)
    assert param_score(model) == 8 + 8 * 3 + 3


@pytest.mark.parametrize("name", list(SCORES))
def test_every_score_has_the_common_shape(name):
    fn = get_score(name)
    value = fn(
        build_mlp(6, [12], 3, seed=0),
        x_of(32, 6),
        repetitions=2,
        init="default",
        seed=1,
        device="cpu",
    )
    assert isinstance(value, float), name
    assert not math.isnan(value), name


def test_unknown_score_lists_the_choices():
    with pytest.raises(ValueError, match="`score` must be one of near, epsilon, naswot, params"):
        get_score("synflow")


def test_naswot_refuses_bad_repetitions():
    with pytest.raises(ValueError, match="`repetitions` must be >= 1"):
        naswot_score(build_mlp(3, [4], 2), x_of(4, 3), repetitions=0)
