import math

import pytest
import torch

from near_optuna import SignalGuard, evaluate_config, is_oversized


def x_of(n: int = 200, d: int = 10) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    ("widths", "max_widths", "tolerance", "expected"),
    [
        ([64, 64], [64, 64], 1.0, None),
        ([65, 64], [64, 64], 1.0, "layer 0 is oversized: width 65 > 1 x saturation width 64"),
        ([64, 300], [128, 100], 2.0, "layer 1 is oversized: width 300 > 2 x saturation width 100"),
        (
            [8, 8, 500],
            [64, 100],
            4.0,
            "layer 2 is oversized: width 500 > 4 x saturation width 100",
        ),
    ],
)
def test_oversize_rule(widths, max_widths, tolerance, expected):
    assert is_oversized(widths, max_widths, tolerance=tolerance) == expected


def test_oversize_rule_arguments():
    with pytest.raises(ValueError, match=r"`tolerance` must be >= 1, but got tolerance=0\.5"):
        is_oversized([8], [8], tolerance=0.5)
    with pytest.raises(ValueError, match="`max_widths` must hold at least one"):
        is_oversized([8], [])


def test_oversized_configuration_is_rejected_before_scoring(monkeypatch):
    import near_optuna.measure._evaluate as evaluate

    monkeypatch.setattr(evaluate, "near_score", lambda *a, **k: pytest.fail("scored"))
    result = evaluate_config(x_of(), [256], "relu", "default", out_features=3, max_widths=[32])
    assert result.pruned == "layer 0 is oversized: width 256 > 2 x saturation width 32"
    assert math.isnan(result.value)
    assert result.layers == ()
    assert result.n_params == 10 * 256 + 256 + 256 * 3 + 3


def test_well_scaled_configuration_is_scored():
    result = evaluate_config(
        x_of(), [32, 16], "tanh", "xavier_uniform", out_features=3, repetitions=2
    )
    assert result.pruned is None
    assert result.value > 0
    assert [layer.width for layer in result.layers] == [32, 16, 3]
    assert result.signal is not None


def test_guard_rejects_an_exploding_initialisation_and_can_be_turned_off():
    args = (x_of(), [256, 256], "relu", "normal")
    guarded = evaluate_config(*args, out_features=3, repetitions=1)
    assert guarded.pruned is not None
    assert guarded.pruned.startswith("signal-scale guard: output RMS")
    assert guarded.value > 0, "the score is still reported"
    assert evaluate_config(*args, out_features=3, repetitions=1, guard=False).pruned is None
    lenient = SignalGuard(max_output_rms=1e9, max_growth=1e9)
    assert evaluate_config(*args, out_features=3, repetitions=1, guard=lenient).pruned is None


def test_non_finite_scores_are_pruned_with_a_reason():
    # Identical samples give identical activation codes: NASWOT's kernel is singular (-inf).
    result = evaluate_config(
        torch.ones(8, 10),
        [16],
        "relu",
        "kaiming_uniform",
        out_features=2,
        score="naswot",
        guard=False,
    )
    assert result.pruned == "the naswot score is not finite (-inf): the network cannot be ranked"


def test_same_seed_same_value_and_peer_scores():
    a = evaluate_config(x_of(), [16], "gelu", "orthogonal", out_features=2, seed=4)
    b = evaluate_config(x_of(), [16], "gelu", "orthogonal", out_features=2, seed=4)
    assert a.value == b.value
    params = evaluate_config(x_of(), [16], "gelu", "orthogonal", out_features=2, score="params")
    assert params.value == params.n_params


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([8], "swish", "default"), {}, "`activation` must be one of"),
        (([8], "relu", "he"), {}, "`init` must be one of"),
        (([], "relu", "default"), {}, r"`widths` must be one or more widths >= 1, but got \[\]"),
        (([8, 0], "relu", "default"), {}, "`widths` must be one or more widths >= 1"),
        (([8], "relu", "default"), {"score": "synflow"}, "`score` must be one of near, epsilon"),
        (([8], "relu", "default"), {"repetitions": 0}, "`repetitions` must be >= 1"),
    ],
)
def test_bad_arguments(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate_config(x_of(), *args, out_features=2, **kwargs)
