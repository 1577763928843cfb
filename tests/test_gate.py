import optuna
import pytest
import torch

from near_optuna import NearGate, build_mlp
from near_optuna.numerics._rules import below_percentile, width_pays

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
    gate = NearGate(x, max_widths=[64], percentile=None, size_probes=0)

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


def width_study(gate: NearGate, study: optuna.Study, cases: list[tuple[int, float]]) -> list:
    """Run one trial per (width, value) case; return the widths that were trained."""
    trained = []

    def objective(trial: optuna.Trial) -> float:
        width, value = cases[trial.number]
        gate(trial, build_mlp(8, [width], 3, init="kaiming_uniform", seed=0))
        trained.append(width)
        return value  # stands in for a trained accuracy

    study.optimize(objective, n_trials=len(cases))
    return trained


def test_size_probes_are_trained_then_the_rule_holds(x, study):
    gate = NearGate(x, max_widths=[64], percentile=None, size_probes=2, warmup=2)
    cases = [(32, 0.9), (256, 0.5), (256, 0.4), (256, 0.6), (32, 0.8)]
    assert width_study(gate, study, cases) == [32, 256, 256, 32]
    probes = [t.user_attrs.get("near:size_probe") for t in study.trials]
    reason = "layer 0 is oversized: width 256 > 2 x saturation width 64"
    assert probes == [None, reason, reason, None, None]
    assert study.trials[3].state == PRUNED
    assert study.trials[3].user_attrs["near:pruned"] == reason
    assert "near:size_rule" not in study.user_attrs  # the probes lost: the rule stays
    attrs = study._storage.get_study_system_attrs(study._study_id)  # where the notes live
    notes = "".join(str(value) for value in attrs.values())
    assert notes.count("**Size probe:** trained to find out whether width pays") == 2


def test_a_winning_probe_retires_the_size_rule(x, study):
    gate = NearGate(x, max_widths=[64], percentile=None, size_probes=1, warmup=3)
    # The probe wins at once, but retirement waits for `warmup` completed trials.
    cases = [(256, 0.9), (512, 0.95), (32, 0.5), (32, 0.6), (512, 0.7), (1024, 0.7)]
    assert width_study(gate, study, cases) == [256, 32, 32, 512, 1024]
    states = [t.state for t in study.trials]
    assert states[1] == PRUNED  # only one probe, and no retirement before warm-up
    retired = study.user_attrs["near:size_rule"]
    assert retired == {
        "reason": "size probe trial 0 (0.9) is the best of 3 completed trials",
        "completed": 3,
    }
    assert all("near:size_probe" not in t.user_attrs for t in study.trials[1:])


def test_probes_need_a_single_objective(x, tmp_path):
    study = optuna.create_study(directions=["maximize", "minimize"])
    gate = NearGate(x, max_widths=[64], percentile=None, size_probes=3)

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        gate(trial, build_mlp(8, [256], 3, init="kaiming_uniform", seed=0))
        return 1.0, 1.0

    study.optimize(objective, n_trials=2)
    assert [t.state for t in study.trials] == [PRUNED, PRUNED]


def test_probes_question_estimated_widths_only(x, study):
    oversized = build_mlp(8, [256], 3, init="kaiming_uniform", seed=0)

    def objective(gate: NearGate):
        def run(trial: optuna.Trial) -> float:
            gate(trial, oversized)
            return 1.0

        return run

    # Your own max_widths are kept as given: the first oversized model is pruned.
    study.optimize(objective(NearGate(x, max_widths=[64], percentile=None)), n_trials=1)
    assert study.trials[0].state == PRUNED
    # Estimated widths (at most 32 here) are questioned: 3 probes, then pruning.
    estimated = optuna.create_study(direction="maximize")
    sizing = {"widths": [4, 8, 16, 32], "repetitions": 1}
    gate = NearGate(x, percentile=None, sizing=sizing, sizing_depth=1)
    estimated.optimize(objective(gate), n_trials=4)
    assert ["near:size_probe" in t.user_attrs for t in estimated.trials] == [True] * 3 + [False]
    assert estimated.trials[3].state == PRUNED


@pytest.mark.parametrize(
    ("values", "probes", "maximize", "warmup", "expected"),
    [
        ([0.5, 0.9, 0.7], [False, True, False], True, 3, 1),
        ([0.5, 0.9, 0.7], [False, True, False], True, 4, None),  # warm-up not reached
        ([0.5, 0.9, 0.7], [False, True, False], False, 3, None),  # minimising: 0.5 is best
        ([0.5, 0.9, 0.2], [False, False, True], False, 0, 2),
        ([0.9, 0.9], [False, True], True, 1, None),  # a tie goes to the earlier trial
        ([], [], True, 0, None),
    ],
)
def test_width_pays(values, probes, maximize, warmup, expected):
    reason = width_pays(values, probes, maximize=maximize, warmup=warmup)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None
        assert reason.startswith(f"size probe trial {expected} ")


def test_width_pays_needs_one_flag_per_value():
    with pytest.raises(ValueError, match="`probes` must match `values`: 1 != 2"):
        width_pays([0.1, 0.2], [True], maximize=True, warmup=0)


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
        ({"size_probes": -1}, "`size_probes` must be >= 0, but got size_probes=-1"),
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
