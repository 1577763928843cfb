import optuna
import pytest
import torch

from near_optuna import NearCallback, NearGate, build_mlp


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(160, 8, generator=torch.Generator().manual_seed(0))


def gated_objective(x: torch.Tensor):
    gate = NearGate(x, max_widths=[512], percentile=None)

    def objective(trial: optuna.Trial) -> float:
        width = trial.suggest_int("width", 2, 128, log=True)
        if trial.number == 3:
            raise RuntimeError("a training run that crashed")
        score = gate(trial, build_mlp(8, [width], 3, init="kaiming_uniform", seed=0))
        return score.total / 100.0  # an "accuracy" that follows NEAR exactly

    return objective


def test_evidence_survives_failed_trials_and_correlates(x, tmp_path):
    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'c.db'}",
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    study.optimize(
        gated_objective(x), n_trials=8, callbacks=[NearCallback()], catch=(RuntimeError,)
    )
    assert study.trials[3].state == optuna.trial.TrialState.FAIL
    info = study.user_attrs["near:evidence"]
    assert info["trials_with_near"] == 7
    assert info["spearman"] == pytest.approx(1.0)
    best = info["best_near"]
    assert best["near"] == max(
        t.user_attrs["near:score"] for t in study.trials if "near:score" in t.user_attrs
    )


def test_stops_once_the_best_near_stops_improving(x):
    study = optuna.create_study(direction="maximize")

    def objective(trial: optuna.Trial) -> float:
        width = 64 if trial.number == 0 else 4  # the first trial stays the NEAR-best
        gate = NearGate(x, max_widths=[512], percentile=None, notes=False)
        return gate(trial, build_mlp(8, [width], 3, seed=0)).total

    study.optimize(objective, n_trials=50, callbacks=[NearCallback(stop_after=3)])
    assert len(study.trials) == 4
    assert study.user_attrs["near:stopped"] == "best NEAR unchanged for 3 trials"


def test_thread_safe_with_n_jobs(x, tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'c.db'}", direction="maximize")
    study.optimize(
        gated_objective(x),
        n_trials=10,
        n_jobs=3,
        callbacks=[NearCallback()],
        catch=(RuntimeError,),
    )
    assert len(study.trials) == 10
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert study.user_attrs["near:evidence"]["trials_with_near"] == len(complete) > 0


def test_errors_inside_are_logged_not_raised(x, caplog, monkeypatch):
    import near_optuna.study._callback as callback_module

    def broken(_study):
        raise RuntimeError("storage went away")

    monkeypatch.setattr(callback_module, "near_evidence", broken)
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2, callbacks=[NearCallback()])
    assert len(study.trials) == 2
    assert "storage went away" in caplog.text


@pytest.mark.parametrize("kwargs", [{"stop_after": 0}, {"publish_every": 0}])
def test_bad_settings(kwargs):
    with pytest.raises(ValueError, match="must be >= 1 or None"):
        NearCallback(**kwargs)


def test_best_near_shows_the_users_own_parameters(x):
    # A user's study names its parameters as it likes; the evidence shows them as they are.
    gate = NearGate(x, prune_oversized=False, percentile=None)

    def objective(trial):
        units = trial.suggest_int("n_units", 8, 64, log=True)
        model = build_mlp(x.shape[1], [units], 3, init="kaiming_uniform", seed=0)
        return gate(trial, model).total / 100.0

    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=4, callbacks=[NearCallback()])
    best = study.user_attrs["near:evidence"]["best_near"]
    assert set(best["params"]) == {"n_units"}
    assert best["widths"] == [best["params"]["n_units"]]
    assert "activation" not in best, "no placeholder for what the user's study does not record"
