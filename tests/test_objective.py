import json

import optuna
import pytest
import torch

import near_optuna.storage._saturation as saturation_module
from near_optuna import NearObjective, SearchSpace
from near_optuna.storage._keys import STUDY_SATURATION

SIZING = {"widths": [4, 8, 16, 32], "repetitions": 1, "rows": 64}


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(96, 8, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def storage(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"


def study_of(storage: str, name: str = "s", seed: int = 0, directions=("maximize",)):
    return optuna.create_study(
        study_name=name,
        storage=storage,
        load_if_exists=True,
        directions=list(directions),
        sampler=optuna.samplers.TPESampler(seed=seed),
    )


def test_trials_record_plain_json_attributes_in_sqlite(x, storage):
    objective = NearObjective(
        x, out_features=3, space=SearchSpace(max_width=32), prune_oversized=False, repetitions=1
    )
    study_of(storage).optimize(objective, n_trials=6)
    reloaded = optuna.load_study(study_name="s", storage=storage)
    trials = reloaded.trials
    assert len(trials) == 6
    for trial in trials:
        assert trial.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        attrs = trial.user_attrs
        assert json.loads(json.dumps(attrs)) == attrs  # plain JSON types only
        assert attrs["near:widths"] == [
            trial.params[f"width_{i}"] for i in range(trial.params["depth"])
        ]
        assert attrs["near:activation"] == trial.params["activation"]
        assert isinstance(attrs["near:n_params"], int)
        layers = attrs["near:layers"]
        assert [layer["width"] for layer in layers[:-1]] == attrs["near:widths"]
        assert layers[-1]["post"] is None
        if trial.state == optuna.trial.TrialState.COMPLETE:
            total = sum(layer["pre"] + (layer["post"] or 0.0) for layer in layers)
            assert trial.value == pytest.approx(total, rel=1e-9)
        else:
            assert attrs["near:pruned"].startswith("signal-scale guard")


def test_saturation_widths_are_estimated_once_and_prune_oversized_layers(x, storage, monkeypatch):
    space = SearchSpace(max_depth=2, min_width=4, max_width=256, inits=("kaiming_uniform",))
    objective = NearObjective(x, out_features=3, space=space, repetitions=1, sizing=SIZING)
    study = study_of(storage)
    study.optimize(objective, n_trials=12)
    saved = study.user_attrs[STUDY_SATURATION]
    limits = saved["widths"]
    assert len(limits) == 2
    assert saved["tolerance"] == 2.0
    assert len(saved["estimates"]) == 2
    pruned = [t for t in study.trials if "oversized" in t.user_attrs.get("near:pruned", "")]
    assert pruned, "with limits of at most 32, some widths up to 256 must be pruned"
    for trial in study.trials:
        widths = trial.user_attrs["near:widths"]
        oversized = any(w > 2.0 * limits[i] for i, w in enumerate(widths))
        assert oversized == (trial in pruned), (widths, limits)
        if oversized:
            assert trial.user_attrs["near:layers"] == []
    # A rerun (another worker, or the same command again) reuses the stored estimate.
    monkeypatch.setattr(
        saturation_module, "estimate_layer_sizes", lambda *a, **k: pytest.fail("estimated again")
    )
    again = NearObjective(x, out_features=3, space=space, repetitions=1, sizing=SIZING)
    study_of(storage).optimize(again, n_trials=2)
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 14


def test_guard_prunes_exploding_initialisations_with_a_reason(x, storage):
    space = SearchSpace(min_width=128, max_width=256, activations=("relu",), inits=("normal",))
    objective = NearObjective(x, out_features=3, space=space, prune_oversized=False, repetitions=1)
    study = study_of(storage)
    study.optimize(objective, n_trials=3)
    assert all(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    assert all(t.user_attrs["near:pruned"].startswith("signal-scale guard") for t in study.trials)


def test_same_sampler_seed_same_study(x, storage):
    def run(name: str) -> list:
        objective = NearObjective(
            x,
            out_features=3,
            space=SearchSpace(max_width=32),
            prune_oversized=False,
            repetitions=1,
        )
        study = study_of(storage, name=name, seed=5)
        study.optimize(objective, n_trials=5)
        return [(t.params, t.value, t.state) for t in study.trials]

    assert run("a") == run("b")


def test_multi_objective_and_parameter_limit(x, storage):
    objective = NearObjective(
        x,
        out_features=3,
        space=SearchSpace(max_width=64),
        prune_oversized=False,
        repetitions=1,
        multi_objective=True,
        max_params=1000,
    )
    assert objective.directions == ["maximize", "minimize"]
    study = study_of(storage, directions=objective.directions)
    study.optimize(objective, n_trials=6)
    for trial in study.trials:
        violation = trial.user_attrs["near:max_params_violation"]
        assert violation == trial.user_attrs["near:n_params"] - 1000
        assert trial.constraints == {"max_params": float(violation)}
        if trial.state == optuna.trial.TrialState.COMPLETE:
            assert trial.values[1] == trial.user_attrs["near:n_params"]
    assert all(t.constraints["max_params"] <= 0 for t in study.best_trials)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_depth": 0}, "`min_depth` must be >= 1, but got min_depth=0"),
        ({"min_depth": 3, "max_depth": 2}, r"`max_depth` must be >= `min_depth` \(3\)"),
        ({"min_width": 0}, "`min_width` must be >= 1"),
        ({"min_width": 64, "max_width": 32}, r"`max_width` must be >= `min_width` \(64\)"),
        ({"activations": ()}, r"`activations` must name at least one choice, but got \(\)"),
        ({"inits": ("normal", "normal")}, "`inits` must not repeat a name"),
        ({"activations": ("relu", "swish")}, "`activations` must be one of relu"),
    ],
)
def test_bad_search_spaces(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SearchSpace(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"score": "zico"}, "`score` must be one of near, epsilon, naswot, params"),
        ({"repetitions": 0}, "`repetitions` must be >= 1"),
        ({"tolerance": 0.9}, "`tolerance` must be >= 1"),
        ({"max_params": 0}, "`max_params` must be >= 1"),
        ({"out_features": 0}, "`out_features` must be >= 1"),
    ],
)
def test_bad_objective_settings(x, kwargs, message):
    args = {"out_features": 3} | kwargs
    with pytest.raises(ValueError, match=message):
        NearObjective(x, **args)


def test_too_few_samples():
    with pytest.raises(ValueError, match="at least 2 samples"):
        NearObjective(torch.randn(1, 4), out_features=2)


def test_changed_sizing_settings_are_estimated_again(x, storage):
    space = SearchSpace(max_depth=1, max_width=32)
    first = NearObjective(x, out_features=3, space=space, repetitions=1, sizing=SIZING)
    study = study_of(storage)
    first.saturation_widths(study)
    key = study.user_attrs[STUDY_SATURATION]["key"]
    other = NearObjective(
        x, out_features=3, space=space, repetitions=1, sizing=SIZING | {"gain": 0.3}
    )
    other.saturation_widths(study)
    assert study.user_attrs[STUDY_SATURATION]["key"] != key
    first.saturation_widths(study)  # and back: recomputed for the first settings, not mixed
    assert study.user_attrs[STUDY_SATURATION]["key"] == key
