import math

import pytest
import torch
from torch import nn

from near_optuna import SignalGuard, SignalStats, build_mlp, near_score
from near_optuna.measure._guard import saturated_fraction


@pytest.mark.parametrize(
    ("activation", "pre", "expected"),
    [
        (nn.ReLU(), [-1.0, -2.0, 0.5, 3.0], 0.5),
        (nn.Tanh(), [0.0, 0.1, 4.0, -5.0], 0.5),
        (nn.Sigmoid(), [0.0, 1.0, 2.0, 9.0], 0.25),  # sigmoid'(9) = 1.2e-4 < 1% of 0.25
        (nn.GELU(), [0.0, 1.0, 2.0, 3.0], 0.0),
    ],
)
def test_saturated_fraction(activation, pre, expected):
    assert saturated_fraction(activation, torch.tensor(pre)) == pytest.approx(expected)


def test_growth_and_saturation_summaries():
    stats = SignalStats(input_rms=1.0, layer_rms=(2.0, 1.0), output_rms=5.0, saturation=(0.2, 0.7))
    assert stats.max_growth == pytest.approx(5.0)
    assert stats.max_saturation == 0.7
    assert stats.to_dict()["max_growth"] == pytest.approx(5.0)
    assert SignalStats(0.0, (), 1.0, ()).max_growth == math.inf


@pytest.mark.parametrize(
    ("stats", "message"),
    [
        (SignalStats(1.0, (1.0,), 50.0, (0.5,)), "output RMS 50 > 10 \\(the signal explodes\\)"),
        (SignalStats(1.0, (1.0,), float("inf"), (0.5,)), "output RMS inf"),
        (SignalStats(1.0, (5.0, 1.0), 1.0, (0.5, 0.5)), "RMS grows 5x in one layer > 4x"),
        (SignalStats(1.0, (1.0,), 1.0, (0.95,)), "95% of a layer's units are saturated > 90%"),
    ],
)
def test_verdicts(stats, message):
    verdict = SignalGuard().verdict(stats)
    assert verdict is not None
    assert verdict.startswith("signal-scale guard: ")
    assert message.replace("\\", "") in verdict


def test_a_dead_layer_is_named():
    stats = SignalStats(1.0, (0.7, 0.0), 0.1, (0.5, 1.0))
    assert SignalGuard().verdict(stats) == (
        "signal-scale guard: layer 1 outputs only zeros (all units are dead)"
    )


def test_well_scaled_network_passes():
    assert SignalGuard().verdict(SignalStats(1.0, (1.2, 1.1), 0.8, (0.5, 0.5))) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_output_rms": 0.0}, "`max_output_rms` must be > 0, but got max_output_rms=0.0"),
        ({"max_growth": -1.0}, "`max_growth` must be > 0"),
        ({"max_saturation": 1.5}, r"`max_saturation` must be in \(0, 1\], but got"),
    ],
)
def test_bad_thresholds(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SignalGuard(**kwargs)


def test_near_score_carries_the_stats_of_its_forward_pass():
    x = torch.randn(256, 16, generator=torch.Generator().manual_seed(0))
    wide = build_mlp(16, [256, 256], 4, activation="relu")
    exploding = near_score(wide, x, init="normal").signal
    scaled = near_score(wide, x, init="kaiming_normal").signal
    assert exploding is not None
    assert scaled is not None
    # Same effective ranks (bias-free ReLU: scale invariance), very different scales.
    assert near_score(wide, x, init="normal").total == pytest.approx(
        near_score(wide, x, init="kaiming_normal").total, rel=1e-9
    )
    assert exploding.output_rms > 100 * scaled.output_rms
    assert SignalGuard().verdict(exploding) is not None
    assert SignalGuard().verdict(scaled) is None
    assert 0.4 < scaled.max_saturation < 0.6, "ReLU: about half the entries are flat"
