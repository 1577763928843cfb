"""Time to quality: near_optuna against Optuna's own multi-fidelity tuning, side by side.

Usage: python benchmarks/time_to_quality.py [--datasets digits mnist1d] [--seeds 3]
       [--budget 60] [--out benchmarks/results/time_to_quality]

Five ways to choose an MLP on the same data, search space and wall-clock budget:

(a) ``near``: a NEAR study (TPE, the CLI's defaults); the answer is the NEAR best.
(b) ``near+refine``: the same NEAR study for a third of the budget, then ``refine_study``
    (K = 5, successive halving on validation accuracy) for the rest.
(c) ``tpe+hyperband``: TPE with ``HyperbandPruner``; each trial trains and reports its
    validation accuracy every epoch (at most ``--max-epochs``).
(d) ``tpe``: the same without pruning.
(e) ``random+hyperband``: random search with ``HyperbandPruner``.

The search space is the CLI's: depth 1-3, widths 8-512 (log), all 10 activations and 7
initialisations. Validation is 20% of the training split; the test split is used only to
report. Every answer a method held at some moment is retrained by one fixed recipe
(``--retrain-epochs`` of Adam on the whole training split, ``--retrain-seeds`` seeds) and
tested, which gives curves of the current answer's test accuracy against wall seconds and
against training epochs spent, and a table of the time and epochs each method needed to come
within 1 point of the best answer any method found.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch

from near_optuna import NearObjective, SearchSpace, build_mlp, load_dataset, refine_study
from near_optuna.data._datasets import Dataset
from near_optuna.data._split import validation_split
from near_optuna.measure._names import ACTIVATION_NAMES, INIT_NAMES
from near_optuna.measure._train import held_out_score, train_and_evaluate, train_epochs

SPACE = SearchSpace(activations=ACTIVATION_NAMES, inits=INIT_NAMES)
METHODS = ("near", "near+refine", "tpe+hyperband", "tpe", "random+hyperband")
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


def accuracy_objective(
    part: Dataset, max_epochs: int, seed: int
) -> Callable[[optuna.Trial], float]:
    def objective(trial: optuna.Trial) -> float:
        widths, activation, init = SPACE.suggest(trial)
        model = build_mlp(
            part.in_features, widths, part.n_classes, activation=activation, init=init, seed=seed
        )
        score = 0.0
        steps = train_epochs(model, part.x_train, part.y_train, epochs=max_epochs, seed=seed)
        for epoch, _loss in enumerate(steps, start=1):
            score = held_out_score(model, part.x_test, part.y_test)[0]
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


def run_accuracy_method(
    name: str, data: Dataset, seed: int, budget: float, max_epochs: int
) -> list[Event]:
    part = validation_split(data, seed=seed)
    sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(seed=seed)
    if name.startswith("random"):
        sampler = optuna.samplers.RandomSampler(seed=seed)
    pruner: optuna.pruners.BasePruner = optuna.pruners.NopPruner()
    if name.endswith("hyperband"):
        pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    events: list[Event] = []
    record = recorder(events, time.perf_counter(), epochs_of)
    study.optimize(accuracy_objective(part, max_epochs, seed), timeout=budget, callbacks=[record])
    return events


def near_study(data: Dataset, seed: int) -> tuple[optuna.Study, NearObjective]:
    objective = NearObjective(
        torch.from_numpy(data.x_train), out_features=data.n_classes, space=SPACE, seed=seed
    )
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed)
    )
    return study, objective


def run_near(data: Dataset, seed: int, budget: float, refine: bool) -> list[Event]:
    study, objective = near_study(data, seed)
    events: list[Event] = []
    start = time.perf_counter()
    record = recorder(events, start, lambda _study: 0)

    study.optimize(objective, timeout=budget / 3 if refine else budget, callbacks=[record])
    while len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) < 5:
        study.optimize(objective, n_trials=1, callbacks=[record])  # an answer needs trials
    if refine:
        result = refine_study(study, data, 5, seed=seed)
        answer = result.answer
        config = (answer.widths, answer.activation, answer.init)
        events.append(Event(time.perf_counter() - start, result.epochs, config))
    return events


def retrain(
    config: Config, data: Dataset, *, epochs: int, seeds: int, cache: dict[Config, float]
) -> float:
    if config not in cache:
        widths, activation, init = config
        scores = []
        for seed in range(seeds):
            model = build_mlp(
                data.in_features,
                widths,
                data.n_classes,
                activation=activation,
                init=init,
                seed=seed,
            )
            scores.append(train_and_evaluate(model, data, epochs=epochs, seed=seed).score)
        cache[config] = statistics.fmean(scores)
    return cache[config]


def within(events: list[dict[str, float]], target: float) -> tuple[float | None, int | None]:
    for event in events:
        if event["test"] >= target - 0.01:
            return event["seconds"], int(event["epochs"])
    return None, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist1d"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=60.0, help="wall seconds per method")
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--retrain-epochs", type=int, default=60)
    parser.add_argument("--retrain-seeds", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--out", default=None, help="folder for the JSON results")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results: dict[str, dict[str, list[list[dict[str, float]]]]] = {}
    for name in args.datasets:
        data = load_dataset(name)
        cache: dict[Config, float] = {}
        results[name] = {method: [] for method in args.methods}
        for seed in range(args.seeds):
            for method in args.methods:
                if method.startswith("near"):
                    events = run_near(data, seed, args.budget, refine=method == "near+refine")
                else:
                    events = run_accuracy_method(method, data, seed, args.budget, args.max_epochs)
                curve = [
                    {
                        "seconds": e.seconds,
                        "epochs": e.epochs,
                        "test": retrain(
                            e.config,
                            data,
                            epochs=args.retrain_epochs,
                            seeds=args.retrain_seeds,
                            cache=cache,
                        ),
                        "config": [list(e.config[0]), e.config[1], e.config[2]],
                    }
                    for e in events
                ]
                results[name][method].append(curve)
                final = curve[-1]["test"] if curve else float("nan")
                print(f"{name} seed {seed} {method}: final test accuracy {final:.4f}", flush=True)
        print(table(name, results[name]))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "curves.json").write_text(json.dumps(results, indent=1))
    return 0


def table(name: str, by_method: dict[str, list[list[dict[str, float]]]]) -> str:
    finals = [run[-1]["test"] for runs in by_method.values() for run in runs if run]
    target = max(finals)
    lines = [
        f"\n{name}: best answer of any method {target:.4f}",
        "| method | final test acc. (median) | seconds to within 1 point "
        "| epochs to within 1 point |",
        "|---|---:|---:|---:|",
    ]
    for method, runs in by_method.items():
        final = statistics.median(run[-1]["test"] for run in runs if run)
        hits = [within(run, target) for run in runs]
        seconds = [s for s, _ in hits if s is not None]
        epochs = [e for _, e in hits if e is not None]
        reached = f"{len(seconds)}/{len(runs)} runs"
        time_cell = f"{statistics.median(seconds):.1f} ({reached})" if seconds else "never"
        epoch_cell = f"{statistics.median(epochs):.0f}" if epochs else "-"
        lines.append(f"| {method} | {final:.4f} | {time_cell} | {epoch_cell} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
