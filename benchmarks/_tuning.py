"""Training-based tuning and retraining, shared by the benchmark scripts.

Optuna trials that train an MLP with the project's recipe (``train_epochs``) and report their
validation score every epoch (accuracy, or R² for a regression target), so a pruner such as
``HyperbandPruner`` can stop them; and the retraining of an answer on the whole training split,
scored on the test split (``train_and_evaluate``). The task follows the dataset: class labels
are scored by accuracy, a regression target by R² in its own units.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna

from near_optuna import SearchSpace, build_mlp
from near_optuna.data._datasets import Dataset
from near_optuna.data._split import validation_split
from near_optuna.measure._train import (
    TrainResult,
    held_out_score,
    target_scale,
    train_and_evaluate,
    train_epochs,
)

Config = tuple[tuple[int, ...], str, str]


@dataclass
class Event:
    """The answer a method holds from ``seconds`` on, after ``epochs`` training epochs."""

    seconds: float
    epochs: int
    config: Config


def config_of(trial: optuna.trial.FrozenTrial) -> Config:
    depth = trial.params["depth"]
    widths = tuple(int(trial.params[f"width_{i}"]) for i in range(depth))
    return widths, str(trial.params["activation"]), str(trial.params["init"])


def validation_objective(
    part: Dataset, max_epochs: int, seed: int, space: SearchSpace
) -> Callable[[optuna.Trial], float]:
    """Train on ``part``'s training rows; report the score on its "test" (validation) rows."""
    scale = target_scale(part.y_train)

    def objective(trial: optuna.Trial) -> float:
        widths, activation, init = space.suggest(trial)
        model = build_mlp(
            part.in_features,
            widths,
            part.out_features,
            activation=activation,
            init=init,
            seed=seed,
        )
        score = 0.0
        steps = train_epochs(model, part.x_train, part.y_train, epochs=max_epochs, seed=seed)
        for epoch, _loss in enumerate(steps, start=1):
            score = held_out_score(model, part.x_test, part.y_test, scale=scale)[0]
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return score

    return objective


def recorder(
    events: list[Event], start: float, epochs: Callable[[optuna.Study], int]
) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
    """A callback appending an event whenever the study's best completed configuration changes."""

    def record(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if done:
            best = config_of(max(done, key=lambda t: t.values[0]))
            if not events or events[-1].config != best:
                events.append(Event(time.perf_counter() - start, epochs(study), best))

    return record


def epochs_of(study: optuna.Study) -> int:
    return sum(max(t.intermediate_values, default=0) for t in study.trials)


def run_training_method(
    name: str, data: Dataset, seed: int, budget: float, max_epochs: int, *, space: SearchSpace
) -> list[Event]:
    """Tune by training for ``budget`` wall seconds on a validation split of the training data.

    ``name`` says the sampler (``random...``, else TPE) and whether ``HyperbandPruner`` stops
    trials (``...hyperband...``); each trial trains at most ``max_epochs``.
    """
    part = validation_split(data, seed=seed)
    sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(seed=seed)
    if name.startswith("random"):
        sampler = optuna.samplers.RandomSampler(seed=seed)
    pruner: optuna.pruners.BasePruner = optuna.pruners.NopPruner()
    if "hyperband" in name:
        pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    events: list[Event] = []
    record = recorder(events, time.perf_counter(), epochs_of)
    objective = validation_objective(part, max_epochs, seed, space)
    study.optimize(objective, timeout=budget, callbacks=[record])
    return events


def retrain_runs(config: Config, data: Dataset, *, epochs: int, seeds: int) -> list[TrainResult]:
    """Train ``config`` on the whole training split with seeds 0 .. ``seeds - 1``; test each."""
    widths, activation, init = config
    results = []
    for seed in range(seeds):
        model = build_mlp(
            data.in_features,
            widths,
            data.out_features,
            activation=activation,
            init=init,
            seed=seed,
        )
        results.append(train_and_evaluate(model, data, epochs=epochs, seed=seed))
    return results


def retrain(
    config: Config, data: Dataset, *, epochs: int, seeds: int, cache: dict[Config, float]
) -> float:
    """The mean test score of :func:`retrain_runs`, computed once per configuration."""
    if config not in cache:
        runs = retrain_runs(config, data, epochs=epochs, seeds=seeds)
        cache[config] = statistics.fmean(run.score for run in runs)
    return cache[config]


def n_params(config: Config, data: Dataset) -> int:
    widths, activation, init = config
    model = build_mlp(
        data.in_features, widths, data.out_features, activation=activation, init=init
    )
    return sum(p.numel() for p in model.parameters())
