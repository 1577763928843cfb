"""What one run of the command does: check the input, open the study, run this worker's trials.

Every check of the user's input happens in :func:`prepare`, before any trial is stored.
"""

from __future__ import annotations

import argparse
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import torch

from near_optuna.data._datasets import DEFAULT_DATASET, Dataset, load_dataset
from near_optuna.data._files import load_file
from near_optuna.measure._inputs import check_device
from near_optuna.storage._keys import STUDY_DATA, STUDY_SCORE_NAME, STUDY_SETTINGS, STUDY_SPACE
from near_optuna.storage._open import DEFAULT_STORAGE, StorageError, open_storage
from near_optuna.storage._settings import check_study_settings
from near_optuna.storage._workers import FINISHED, BudgetReached, budgeted, fail_abandoned_trials
from near_optuna.study._objective import NearObjective
from near_optuna.study._space import SearchSpace
from near_optuna.tune._errors import UsageError, user_input
from near_optuna.tune._parser import DEFAULT_TRIALS


@dataclass(frozen=True)
class Prepared:
    """A checked run: its data, objective, open study and storage URL."""

    data: Dataset
    objective: NearObjective
    study: optuna.Study
    url: str


_DATA_FLAGS = {
    "path": "--data",
    "target": "--target",
    "task": "--task",
    "drop": "--drop",
    "impute": "--impute",
}


def load_data(args: argparse.Namespace) -> Dataset:
    """The dataset named by ``--dataset`` or read from ``--data``."""
    if args.data is not None and args.dataset is not None:
        raise UsageError("give either `--dataset` or `--data`, not both.")
    if args.data is not None:
        with user_input(_DATA_FLAGS):
            return load_file(
                args.data,
                target=args.target,
                task=args.task,
                drop=args.drop,
                impute=args.impute,
                seed=args.seed,
            )
    for flag, value in (
        ("--target", args.target),
        ("--drop", args.drop),
        ("--impute", args.impute),
    ):
        if value:
            raise UsageError(f"`{flag}` goes with `--data`.")
    data = load_dataset(args.dataset or DEFAULT_DATASET, seed=args.seed)
    if args.task not in ("auto", data.task):
        raise UsageError(
            f"`--dataset` {data.name} is a {data.task} dataset, but `--task` is {args.task}."
        )
    return data


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """The sampler called ``name``, seeded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "gp":
            return optuna.samplers.GPSampler(seed=seed)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed)


def check_numbers(args: argparse.Namespace) -> None:
    """Range checks of the numeric flags, each with its own message."""
    for flag, value, low in (
        ("--n-trials", args.n_trials, 1),
        ("--n-jobs", args.n_jobs, -1),
        ("--max-total-trials", args.max_total_trials, 1),
        ("--heartbeat", args.heartbeat, 1),
        ("--validate", args.validate, 0),
        ("--repetitions", args.repetitions, 1),
    ):
        if value is not None and (value < low or (flag == "--n-jobs" and value == 0)):
            raise UsageError(f"`{flag}` must be >= {low}, but got {value}.")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"`--timeout` must be > 0 seconds, but got {args.timeout}.")
    if args.max_width < args.min_width:
        raise UsageError(
            f"`--max-width` must be >= `--min-width` ({args.min_width}), but got {args.max_width}."
        )
    if args.json is not None and not Path(args.json).parent.is_dir():
        raise UsageError(f"`--json` folder does not exist: {str(Path(args.json).parent)!r}.")


_SPACE_FLAGS = {
    "min_depth": "--min-depth",
    "max_depth": "--max-depth",
    "min_width": "--min-width",
    "max_width": "--max-width",
    "activations": "--activations",
    "inits": "--inits",
}


def build_objective(args: argparse.Namespace, data: Dataset) -> NearObjective:
    """The search space and objective that the flags describe."""
    with user_input(_SPACE_FLAGS | {"device": "--device"}):
        check_device(args.device)
        space = SearchSpace(
            min_depth=args.min_depth,
            max_depth=args.max_depth,
            min_width=args.min_width,
            max_width=args.max_width,
            activations=tuple(args.activations),
            inits=tuple(args.inits),
        )
    with user_input({"repetitions": "--repetitions", "tolerance": "--tolerance"}):
        return NearObjective(
            torch.from_numpy(data.x_train),
            out_features=data.out_features,
            space=space,
            score=args.score,
            repetitions=args.repetitions,
            seed=args.seed,
            guard=not args.no_guard,
            prune_oversized=not args.no_prune_oversized,
            tolerance=args.tolerance,
            multi_objective=args.multi_objective,
            device=args.device,
        )


def prepare(args: argparse.Namespace) -> Prepared:
    """Everything that can fail on bad input, before any trial is stored."""
    check_numbers(args)
    data = load_data(args)
    if args.validate and data.task == "regression":
        raise UsageError(
            "`--validate` with regression data is not supported yet: it trains with a "
            "classification recipe. Run without `--validate`."
        )
    objective = build_objective(args, data)
    url = args.storage or os.environ.get("OPTUNA_STORAGE") or DEFAULT_STORAGE
    with user_input({"url": "--storage"}):
        storage = open_storage(url, heartbeat=args.heartbeat)
        study = open_study(args, storage, objective)
        settings = {
            "seed": args.seed,
            "repetitions": args.repetitions,
            "guard": not args.no_guard,
            "prune_oversized": not args.no_prune_oversized,
            "tolerance": args.tolerance,
        }
        expected = {
            STUDY_SPACE: objective.space.to_dict(),
            STUDY_SCORE_NAME: args.score,
            STUDY_DATA: data.summary(),
            STUDY_SETTINGS: settings,
        }
        try:
            check_study_settings(study, expected)
        except StorageError as err:
            message = str(err).replace("another study name", "another --study-name")
            raise UsageError(message) from err
    return Prepared(data, objective, study, url)


def open_study(
    args: argparse.Namespace, storage: optuna.storages.BaseStorage, objective: NearObjective
) -> optuna.Study:
    """Create the study, or load it with a sampler that does not replay the first run."""
    directions = objective.directions
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        existing = optuna.load_study(study_name=args.study_name, storage=storage)
    except KeyError:
        study = optuna.create_study(
            study_name=args.study_name,
            storage=storage,
            directions=directions,
            load_if_exists=True,
            sampler=make_sampler(args.sampler, args.seed),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(
                ["near" if args.score == "near" else args.score, "n_params"][: len(directions)]
            )
        return study
    if [d.name.lower() for d in existing.directions] != directions:
        raise UsageError(
            f"study {args.study_name!r} optimises {len(existing.directions)} "
            f"objective(s), this run {len(directions)}; use another --study-name."
        )
    # Resumed runs and extra workers must not replay the first run's sampler draws.
    seed = resumed_seed(args.seed, len(existing.trials))
    return optuna.load_study(
        study_name=args.study_name, storage=storage, sampler=make_sampler(args.sampler, seed)
    )


def resumed_seed(seed: int, existing: int) -> int:
    """A sampler seed for a study that already holds ``existing`` trials.

    A new study uses ``--seed`` as it is (a single fresh run is reproducible). Later runs and
    extra workers mix in the trial count and the process id, so they propose new
    configurations instead of replaying the first run's draws.
    """
    mixed = np.random.SeedSequence([seed, existing, os.getpid()]).generate_state(1)
    return int(mixed[0])


def optimise(args: argparse.Namespace, prepared: Prepared) -> None:
    """Run this worker's trials, with a progress bar unless ``--quiet``."""
    study, budget = prepared.study, args.max_total_trials
    n_trials = args.n_trials
    if n_trials is None and args.timeout is None and budget is None:
        n_trials = DEFAULT_TRIALS

    def cleanup() -> list[int]:
        return fail_abandoned_trials(study, grace=2 * args.heartbeat)

    failed = cleanup()
    if failed and not args.quiet:
        print(f"Marked FAIL: trial(s) {sorted(failed)}, whose worker died.")
    callbacks = []
    if budget is not None:
        callbacks.append(optuna.study.MaxTrialsCallback(budget, states=FINISHED))
        if len(study.get_trials(deepcopy=False, states=FINISHED)) >= budget:
            return
    # Surplus claims beyond the budget end as FAIL (caught); Optuna would log each at WARNING.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study.optimize(
        budgeted(prepared.objective, budget, cleanup),
        n_trials=n_trials,
        timeout=args.timeout,
        n_jobs=args.n_jobs,
        callbacks=callbacks,
        catch=(BudgetReached,),
        show_progress_bar=not args.quiet,
    )
