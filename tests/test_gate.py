import optuna
import pytest
import torch

from near_optuna import NearGate, build_mlp
from near_optuna.numerics._rules import below_percentile

PRUNED = optuna.trial.TrialState.PRUNED


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(160, 8, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def study(tmp_path) -> optuna.Study:
    return optuna.create_study(storage=f"sqlite:///{tmp_path / 'g.db'}", direction="maximize")


def test_gate_records_and_lets_a_good_model_through(x, study):
    gate = NearGate(x, max_widths=[64], percentile=None)

    def objective(trial: optuna.Trial) -> float:
        model = build_mlp(8, [32], 3, init="kaiming_uniform", seed=0)
        score = gate(trial, model)
        return 0.5 + score.total / 1000  # stands in for a trained accuracy

    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    attrs = trial.user_attrs
    assert attrs["near:widths"] == [32]
    assert attrs["near:n_params"] == 8 * 32 + 32 + 32 * 3 + 3
    assert attrs["near:score"] == pytest.approx(
        sum(layer["pre"] + (layer["post"] or 0.0) for layer in attrs["near:layers"])
    )
    assert "near:pruned" not in attrs


def test_gate_prunes_before_training(x, study):
    trained = []
    gate = NearGate(x, max_widths=[64], percentile=None)

    def objective(trial: optuna.Trial) -> float:
        width, init = trial.suggest_categorical("case", ["256/kaiming", "32/normal"]).split("/")
        model = build_mlp(
            8,
            [int(width), int(width)],
            3,
            init="normal" if init == "normal" else "kaiming_uniform",
            seed=0,
        )
        gate(trial, model)
        trained.append(trial.number)
        return 1.0

    study.enqueue_trial({"case": "256/kaiming"})
    study.enqueue_trial({"case": "32/normal"})
    study.optimize(objective, n_trials=2)
    reasons = [t.user_attrs["near:pruned"] for t in study.trials]
    assert reasons[0] == "layer 0 is oversized: width 256 > 2 x saturation width 64"
    assert reasons[1].startswith("signal-scale guard")
    assert all(t.state == PRUNED for t in study.trials)
    assert trained == []


def test_low_score_rule_has_a_warm_up(x, study):
    gate = NearGate(x, max_widths=[1024], warmup=3, percentile=50)

    def objective(trial: optuna.Trial) -> float:
        width = trial.suggest_categorical("width", [64, 4])
        gate(trial, build_mlp(8, [width], 3, init="kaiming_uniform", seed=0))
        return float(width)

    for width in [64, 4, 64, 4]:
        study.enqueue_trial({"width": width})
    study.optimize(objective, n_trials=4)
    states = [t.state for t in study.trials]
    # The first three run (warm-up); then a narrow net scores below the median and is pruned.
    assert states[:3] == [optuna.trial.TrialState.COMPLETE] * 3
    assert states[3] == PRUNED
    assert "percentile" in study.trials[3].user_attrs["near:pruned"]


def test_saturation_widths_are_estimated_once_per_study(x, study, monkeypatch):
    import near_optuna.storage._saturation as saturation_module

    calls = []
    original = saturation_module.estimate_layer_sizes

    def counting(*args, **kwargs):
        calls.append(kwargs["depth"])
        return original(*args, **kwargs)

    monkeypatch.setattr(saturation_module, "estimate_layer_sizes", counting)
    gate = NearGate(
        x, percentile=None, sizing={"widths": [4, 8, 16, 32], "repetitions": 1}, sizing_depth=2
    )

    def objective(trial: optuna.Trial) -> float:
        depth = trial.suggest_int("depth", 1, 3)
        gate(trial, build_mlp(8, [8] * depth, 3, init="kaiming_uniform", seed=0))
        return 1.0

    study.optimize(objective, n_trials=4)
    assert calls == [2]
    assert len(study.user_attrs["near:saturation"]["widths"]) == 2


def test_model_and_inputs_that_do_not_fit(x, study):
    gate = NearGate(x)
    trial = study.ask()
    with pytest.raises(ValueError, match=r"`inputs` must have 5 features \(last dimension\)"):
        gate(trial, build_mlp(5, [8], 2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repetitions": 0}, "`repetitions` must be >= 1"),
        ({"tolerance": 0.5}, "`tolerance` must be >= 1"),
        ({"warmup": -1}, "`warmup` must be >= 0, but got warmup=-1"),
        ({"percentile": 100.0}, r"`percentile` must be in \(0, 100\) or None"),
        ({"max_widths": [0]}, "`max_widths` must be widths >= 1"),
        ({"sizing_depth": 0}, "`sizing_depth` must be >= 1"),
    ],
)
def test_bad_settings_fail_at_construction(x, kwargs, message):
    with pytest.raises(ValueError, match=message):
        NearGate(x, **kwargs)


def test_conv_inputs_need_max_widths_at_construction():
    with pytest.raises(ValueError, match="`max_widths` is needed for inputs that are not 2-D"):
        NearGate(torch.randn(4, 3, 8, 8))
    NearGate(torch.randn(4, 3, 8, 8), max_widths=[16])
    NearGate(torch.randn(4, 3, 8, 8), prune_oversized=False)


def test_too_few_inputs():
    with pytest.raises(ValueError, match="at least 2 samples"):
        NearGate(torch.randn(1, 3))


def test_percentile_rule():
    assert below_percentile(1.0, [], percentile=10, warmup=0) is None
    assert below_percentile(15.0, [10.0, 20.0], percentile=50, warmup=2) is None
