"""The cost of the answer: a NEAR-driven Optuna study against an accuracy-driven one.

Usage:
    python benchmarks/cost_of_answer.py [--datasets digits mnist1d] [--n-trials 40] \
        [--seed 0] [--epochs 15] [--final-epochs 30] [--final-seeds 3] [--val-fraction 0.2]

For each dataset, two in-memory studies with the same sampler (TPE, same seed), the same
search space and the same number of trials:

1. NEAR: ``NearObjective`` on the training inputs (no labels, no training; oversized and
   badly scaled networks are pruned). Its wall time includes the one-off saturation-width
   estimate; it is run just before the trials (it would otherwise run inside the first one)
   so that its share can be shown.
2. Accuracy: each trial samples the same parameters (``SearchSpace.suggest``), trains the MLP
   briefly (``--epochs``) on 1 - ``--val-fraction`` of the training split and returns its
   accuracy on the held-out rest (stratified, seeded). The test split is never used to tune.

Both winners are then trained with the same recipe (``--final-epochs``, ``--final-seeds``
seeds) on the full training split and their mean test accuracy is compared. Prints one
Markdown table; goals: NEAR at least 20x cheaper on digits and 50x on mnist1d, and its winner
within 1 accuracy point of the accuracy study's winner.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import torch

from near_optuna import (
    Dataset,
    NearObjective,
    SearchSpace,
    build_mlp,
    from_arrays,
    load_dataset,
    train_and_evaluate,
)

SPACE = SearchSpace(max_depth=3, min_width=8, max_width=512)
SPEED_GOALS = {"digits": 20.0, "mnist1d": 50.0}
ACCURACY_GOAL_POINTS = 1.0

Config = tuple[tuple[int, ...], str, str]


@dataclass(frozen=True)
class StudyOutcome:
    """What one study cost and what it chose.

    Attributes:
        seconds: Wall time of the study: ``setup`` plus ``study.optimize``.
        setup_seconds: Of which the one-off setup (NEAR: the saturation-width estimate).
        config: The best trial's ``(widths, activation, init)``.
        value: The best trial's objective value (NEAR or validation accuracy).
        complete: Trials that returned a value.
        pruned: Trials that were pruned.
    """

    seconds: float
    setup_seconds: float
    config: Config
    value: float
    complete: int
    pruned: int


def parse_args() -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist1d"])
    parser.add_argument("--n-trials", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=15, help="per accuracy-study trial")
    parser.add_argument("--final-epochs", type=int, default=30)
    parser.add_argument("--final-seeds", type=int, default=3)
    parser.add_argument("--val-fraction", type=float, default=0.2)
    return parser.parse_args()


def tuning_split(data: Dataset, fraction: float, seed: int) -> Dataset:
    """Split a stratified, seeded validation set off the training split.

    The returned dataset's ``x_test``/``y_test`` are the validation rows, and both parts are
    re-standardised with the statistics of the remaining training rows only.
    """
    return from_arrays(
        data.x_train,
        data.y_train,
        name=f"{data.name}-tuning",
        test_fraction=fraction,
        seed=seed,
        description=f"{data.name} training split minus a {fraction:g} validation split",
    )


def config_of(params: dict[str, Any]) -> Config:
    """The ``(widths, activation, init)`` that ``SearchSpace.suggest`` sampled as ``params``."""
    widths = tuple(int(params[f"width_{i}"]) for i in range(int(params["depth"])))
    return widths, str(params["activation"]), str(params["init"])


def run_study(
    objective: Callable[[optuna.Trial], float | Sequence[float]],
    args: argparse.Namespace,
    setup: Callable[[optuna.Study], object] | None = None,
) -> StudyOutcome:
    """Run an in-memory TPE study (maximise) and time it.

    Args:
        objective: The Optuna objective.
        args: Options; uses ``n_trials`` and ``seed``.
        setup: Optional one-off work on the study (timed separately, counted in the total).

    Returns:
        The timing and the best completed trial.
    """
    sampler = optuna.samplers.TPESampler(seed=args.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    start = time.perf_counter()
    if setup is not None:
        setup(study)
    setup_seconds = time.perf_counter() - start
    study.optimize(objective, n_trials=args.n_trials)
    seconds = time.perf_counter() - start
    return summarise(study, seconds, setup_seconds)


def summarise(study: optuna.Study, seconds: float, setup_seconds: float) -> StudyOutcome:
    """The outcome of a finished study (its best trial among the completed ones)."""
    states = [trial.state for trial in study.trials]
    complete = states.count(optuna.trial.TrialState.COMPLETE)
    if complete == 0:
        raise RuntimeError(f"no trial of {len(states)} completed; cannot pick a winner")
    best = study.best_trial
    assert best.value is not None  # a completed single-objective trial
    return StudyOutcome(
        seconds,
        setup_seconds,
        config_of(best.params),
        float(best.value),
        complete,
        states.count(optuna.trial.TrialState.PRUNED),
    )


def near_study(data: Dataset, args: argparse.Namespace) -> StudyOutcome:
    """The NEAR study on the training inputs (labels unused)."""
    x_train = torch.from_numpy(data.x_train)
    objective = NearObjective(x_train, out_features=data.n_classes, space=SPACE, seed=args.seed)
    # The saturation-width estimate would otherwise run inside the first trial. Running it just
    # before, on the same study (which caches it), changes no result and shows its share.
    return run_study(objective, args, setup=objective.saturation_widths)


def train_config(data: Dataset, config: Config, epochs: int, seed: int) -> float:
    """Build ``config`` with ``seed``, train it on ``data`` and return its held-out accuracy."""
    widths, activation, init = config
    model = build_mlp(
        data.in_features, widths, data.n_classes, activation=activation, init=init, seed=seed
    )
    return train_and_evaluate(model, data, epochs=epochs, seed=seed).accuracy


def accuracy_study(data: Dataset, args: argparse.Namespace) -> StudyOutcome:
    """The accuracy study: brief training on a tuning split, validation accuracy as value."""
    tuning = tuning_split(data, args.val_fraction, args.seed)

    def objective(trial: optuna.Trial) -> float:
        return train_config(tuning, SPACE.suggest(trial), args.epochs, args.seed)

    return run_study(objective, args)


def final_accuracy(data: Dataset, config: Config, args: argparse.Namespace) -> float:
    """Mean test accuracy of ``config`` over ``--final-seeds`` seeds on the full training split."""
    seeds = range(args.seed, args.seed + args.final_seeds)
    return statistics.fmean(train_config(data, config, args.final_epochs, s) for s in seeds)


def describe(config: Config) -> str:
    """A compact label such as ``256-64 gelu/kaiming_normal``."""
    widths, activation, init = config
    return f"{'-'.join(map(str, widths))} {activation}/{init}"


def verdict(name: str, ratio: float, points: float) -> str:
    """Whether the speed and accuracy goals are met, as a short phrase."""
    goal = SPEED_GOALS.get(name)
    speed = "n/a" if goal is None else ("met" if ratio >= goal else "not met")
    accuracy = "met" if points <= ACCURACY_GOAL_POINTS else "not met"
    target = "" if goal is None else f" (>= {goal:g}x)"
    return f"speed{target}: {speed}; within {ACCURACY_GOAL_POINTS:g} pt: {accuracy}"


def compare(name: str, args: argparse.Namespace) -> str:
    """Run both studies on one dataset, train both winners, and return the table row."""
    data = load_dataset(name, seed=args.seed)
    near = near_study(data, args)
    acc = accuracy_study(data, args)
    near_test = final_accuracy(data, near.config, args)
    acc_test = final_accuracy(data, acc.config, args)
    ratio = acc.seconds / near.seconds
    points = 100.0 * (acc_test - near_test)
    return (
        f"| {name} | {near.complete}/{near.pruned} | {near.seconds:.1f} "
        f"({near.setup_seconds:.1f}) | {acc.seconds:.1f} "
        f"| {ratio:.1f}x | {describe(near.config)} (NEAR {near.value:.1f}) "
        f"| {describe(acc.config)} (val. {acc.value:.3f}) | {near_test:.4f} | {acc_test:.4f} "
        f"| {points:+.2f} | {verdict(name, ratio, points)} |"
    )


def header(args: argparse.Namespace) -> list[str]:
    """The settings line and the table head."""
    return [
        f"Settings: {args.n_trials} trials per study, TPESampler(seed={args.seed}), "
        f"SearchSpace(max_depth={SPACE.max_depth}, min_width={SPACE.min_width}, "
        f"max_width={SPACE.max_width}), NearObjective defaults; accuracy-study trials train "
        f"{args.epochs} epochs on {1 - args.val_fraction:g} of the training split and select on "
        f"the held-out {args.val_fraction:g}; winners trained {args.final_epochs} epochs x "
        f"{args.final_seeds} seeds on the full training split, mean test accuracy.",
        "",
        "| dataset | NEAR trials complete/pruned | NEAR study (s) (of which sizing) "
        "| accuracy study (s) "
        "| cost ratio | NEAR winner | accuracy winner | NEAR winner test acc. "
        "| accuracy winner test acc. | acc. minus NEAR (points) | goals |",
        "|---|---:|---:|---:|---:|---|---|---:|---:|---:|---|",
    ]


def main() -> None:
    args = parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start, load = time.perf_counter(), os.getloadavg()[0]
    print("\n".join(header(args)), flush=True)
    for name in args.datasets:
        print(compare(name, args), flush=True)
    print(
        f"\nTotal run time {time.perf_counter() - start:.0f} s on {os.cpu_count()} cores "
        f"(1-minute load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at end)."
    )


if __name__ == "__main__":
    main()
