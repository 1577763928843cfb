import dataclasses
import math

import pytest
import torch
from torch import nn

from near_optuna import SignalGuard, SignalStats, build_mlp, near_score
from near_optuna.measure._guard import layer_drive, saturated_fraction, steep_half_width

# The guard as it was before the drive rule: what let saturated low-dimensional nets through.
WITHOUT_DRIVE = dataclasses.replace(SignalGuard(), max_drive=math.inf)


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


@pytest.mark.parametrize(
    ("activation", "expected"),
    [
        (nn.Tanh(), math.acosh(math.sqrt(2))),  # tanh' = sech^2 = 1/2 at cosh z = sqrt(2)
        (nn.Sigmoid(), 2 * math.acosh(math.sqrt(2))),  # sigmoid(z) = (1 + tanh(z / 2)) / 2
        (nn.Hardtanh(), 1.0),  # slope 1 on [-1, 1], 0 outside
        (nn.Softsign(), math.sqrt(2) - 1),  # 1 / (1 + |z|)^2 = 1/2
        (nn.ReLU(), math.inf),
        (nn.GELU(), math.inf),
        (nn.ELU(), math.inf),
        (nn.Softplus(), math.inf),
    ],
)
def test_steep_half_width(activation, expected):
    # The grid step is 0.005, so the half-width is exact to about that.
    assert steep_half_width(activation) == pytest.approx(expected, abs=0.006), activation


def test_drive_is_pre_activation_rms_over_the_steep_half_width():
    pre = torch.tensor([3.0, -3.0, 4.0, -4.0])  # RMS 3.5355
    assert layer_drive(nn.Tanh(), pre) == pytest.approx(
        math.sqrt(12.5) / steep_half_width(nn.Tanh())
    )
    assert layer_drive(nn.ReLU(), pre) == 0.0, "an unbounded steep part is never driven"


def test_growth_and_saturation_summaries():
    stats = SignalStats(input_rms=1.0, layer_rms=(2.0, 1.0), output_rms=5.0, saturation=(0.2, 0.7))
    assert stats.max_growth == pytest.approx(5.0)
    assert stats.max_saturation == 0.7
    assert stats.to_dict()["max_growth"] == pytest.approx(5.0)
    assert SignalStats(0.0, (), 1.0, ()).max_growth == math.inf
    assert stats.max_drive == 0.0, "no drive recorded: nothing to reject"
    driven = dataclasses.replace(stats, drive=(3.0, 0.5))
    assert driven.max_drive == 3.0
    assert driven.to_dict()["drive"] == [3.0, 0.5]


@pytest.mark.parametrize(
    ("stats", "message"),
    [
        (SignalStats(1.0, (1.0,), 50.0, (0.5,)), "output RMS 50 > 10 \\(the signal explodes\\)"),
        (SignalStats(1.0, (1.0,), float("inf"), (0.5,)), "output RMS inf"),
        (SignalStats(1.0, (5.0, 1.0), 1.0, (0.5, 0.5)), "RMS grows 5x in one layer > 4x"),
        (SignalStats(1.0, (1.0,), 1.0, (0.95,)), "95% of a layer's units are saturated > 90%"),
        (
            SignalStats(1.0, (0.9, 0.9), 1.0, (0.3, 0.4), drive=(1.0, 3.5)),
            "layer 1's pre-activation RMS is 3.5x its activation's steep half-width > 2x",
        ),
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
        ({"max_drive": 0.0}, "`max_drive` must be > 0, but got max_drive=0.0"),
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


def _one_hot_tanh(scale: float) -> nn.Sequential:
    """12 inputs -> 24 tanh units, each reading one input times ``scale`` -> 1 output."""
    model = nn.Sequential(nn.Linear(12, 24, bias=False), nn.Tanh(), nn.Linear(24, 1, bias=False))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].weight[torch.arange(24), torch.arange(24) % 12] = scale
        model[2].weight.zero_()
        model[2].weight[0, 0] = 1.0
    return model


@pytest.mark.parametrize(("scale", "rejected"), [(2.5, True), (1.0, False)])
def test_a_hand_built_low_dimensional_tanh_layer(scale, rejected):
    # Inputs of +-1: every pre-activation is exactly +-scale, so RMS(Z) = scale. At 2.5,
    # tanh'(2.5) = 0.027 is above the 1% flat limit (saturation 0), the output is +-tanh(2.5)
    # (RMS 0.99, growth 1): only the drive, 2.5 / 0.881 = 2.84 > 2, shows the saturation.
    x = torch.where(torch.randn(64, 12, generator=torch.Generator().manual_seed(0)) > 0, 1.0, -1.0)
    stats = near_score(_one_hot_tanh(scale), x).signal
    assert stats is not None
    assert stats.max_saturation == 0.0
    assert stats.output_rms == pytest.approx(math.tanh(scale))
    assert stats.max_growth < 1.0 + 1e-9
    assert stats.max_drive == pytest.approx(scale / math.acosh(math.sqrt(2)), rel=0.01)
    assert WITHOUT_DRIVE.verdict(stats) is None, "the old rules see nothing wrong"
    assert (SignalGuard().verdict(stats) is not None) == rejected, f"{scale=}"


def test_issue_17_network_on_twelve_features():
    # Issue 17: on a 12-feature table the top NEAR trial was [27, 30, 11] tanh normal (std 1).
    x = torch.randn(512, 12, generator=torch.Generator().manual_seed(0))
    model = build_mlp(12, [27, 30, 11], 1, activation="tanh")
    saturated = near_score(model, x, repetitions=3, init="normal").signal
    scaled = near_score(model, x, repetitions=3, init="xavier_normal").signal
    assert saturated is not None
    assert scaled is not None
    assert WITHOUT_DRIVE.verdict(saturated) is None, "the old guard let it through"
    verdict = SignalGuard().verdict(saturated)
    assert verdict is not None
    assert "steep half-width" in verdict
    assert SignalGuard().verdict(scaled) is None
