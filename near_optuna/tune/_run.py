"""What one run of the command does: check the input, open the study, run this worker's trials.

Every check of the user's input happens in :func:`prepare`, before any trial is stored.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch

from near_optuna.data._datasets import Dataset, load_dataset
from near_optuna.data._files import load_file
from near_optuna.data._names import DEFAULT_DATASET
from near_optuna.data._split import validation_split
from near_optuna.measure._inputs import check_device
from near_optuna.numerics._rules import MIN_PRUNING_FEATURES, prunes_by_default
from near_optuna.storage._keys import STUDY_SETTINGS
from near_optuna.storage._open import open_storage
from near_optuna.storage._settings import stored_seed, wait_for_settings
from near_optuna.storage._workers import (
    FINISHED,
    BudgetReached,
    budgeted,
    fail_abandoned_trials,
    optimize_worker,
)
from near_optuna.study._objective import NearObjective
from near_optuna.study._space import SearchSpace
from near_optuna.tune._errors import PROG, UsageError, translate, user_input
from near_optuna.tune._parser import DEFAULT_REFINE, DEFAULT_STORAGE, DEFAULT_TRIALS, SPACE_FLAGS
from near_optuna.tune._progress import progress_bar
from near_optuna.tune._study import check_settings, name_metrics, open_study, shared_settings

MIN_TRIALS_IN_BUDGET = 20
"""Trials a worker finishes before the run's time budget may stop its NEAR study: on a loaded
machine the budget's share can pass before the study has enough configurations to refine."""


def stop_when_due(
    deadline: float, minimum: int
) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
    """An Optuna callback that stops the study after ``deadline`` and ``minimum`` trials."""
    finished = 0

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal finished
        finished += trial.state in FINISHED
        if finished >= minimum and time.perf_counter() >= deadline:
            study.stop()

    return callback


@dataclass(frozen=True)
class Prepared:
    """A checked run: its data, objective, open study, storage URL and scoring seed.

    ``resumed`` is the number of trials the study held before this run (``None``: new study).
    """

    data: Dataset
    objective: NearObjective
    study: optuna.Study
    url: str
    seed: int
    """The study's scoring seed."""
    resumed: int | None = None


_DATA_FLAGS = {
    "path": "--data",
    "target": "--target",
    "task": "--task",
    "drop": "--drop",
    "impute": "--impute",
    "na_values": "--na-values",
}


def load_data(args: argparse.Namespace, seed: int) -> Dataset:
    """The dataset named by ``--dataset`` or read from ``--data``, split with ``seed``."""
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
                na_values=args.na_values,
                seed=seed,
            )
    for flag, value in (
        ("--target", args.target),
        ("--drop", args.drop),
        ("--impute", args.impute),
        ("--na-values", args.na_values),
    ):
        if value:
            raise UsageError(f"`{flag}` goes with `--data`.")
    data = load_dataset(args.dataset or DEFAULT_DATASET, seed=seed)
    if args.task not in ("auto", data.task):
        raise UsageError(
            f"`--dataset` {data.name} is a {data.task} dataset, but `--task` is {args.task}."
        )
    return data


def decide_pruning(args: argparse.Namespace, data: Dataset) -> str | None:
    """Settle saturation pruning for ``data`` (``args.no_prune_oversized``); a note, if any.

    Without ``--prune-oversized`` or ``--no-prune-oversized`` it is on when the data has at
    least ``MIN_PRUNING_FEATURES`` features (``prunes_by_default``).
    """
    if args.prune_oversized and args.no_prune_oversized:
        raise UsageError("give either `--prune-oversized` or `--no-prune-oversized`, not both.")
    args.pruning_given = args.prune_oversized or args.no_prune_oversized
    if args.pruning_given:
        return None
    if prunes_by_default(data.in_features):
        return None
    args.no_prune_oversized = True
    return (
        f"Note: saturation pruning is off: the data has {data.in_features} features (fewer "
        f"than {MIN_PRUNING_FEATURES}), where the label-blind width estimate is too small to "
        "cap the search (`--prune-oversized` turns it on)."
    )


def data_notes(data: Dataset) -> tuple[list[str], list[str]]:
    """What reading ``--data`` did or saw on its own: notes and warnings, one line each.

    Notes (a row index left out, ...) go to stdout, warnings (a column that leaks the
    target) to stderr; neither under ``-q``.
    """
    notes = [f"Note: {translate(note, _DATA_FLAGS)}" for note in data.columns.get("notes", [])]
    warnings = [
        f"{PROG}: warning: {translate(warning, _DATA_FLAGS)}"
        for warning in data.columns.get("warnings", [])
    ]
    return notes, warnings


def check_numbers(args: argparse.Namespace) -> None:
    """Range checks of the numeric flags, each with its own message."""
    for flag, value, low in (
        ("--n-trials", args.n_trials, 1),
        ("--n-jobs", args.n_jobs, -1),
        ("--max-total-trials", args.max_total_trials, 1),
        ("--heartbeat", args.heartbeat, 1),
        ("--validate", args.validate, 0),
        ("--repetitions", args.repetitions, 1),
        ("--refine", args.refine, 0),
        ("--refine-epochs", args.refine_epochs, 1),
    ):
        if value is not None and (value < low or (flag == "--n-jobs" and value == 0)):
            raise UsageError(f"`{flag}` must be >= {low}, but got {value}.")
    for flag, seconds in (("--timeout", args.timeout), ("--time-budget", args.time_budget)):
        if seconds is not None and not seconds > 0:
            raise UsageError(f"`{flag}` must be > 0 seconds, but got {seconds}.")
    if args.max_width < args.min_width:
        raise UsageError(
            f"`--max-width` must be >= `--min-width` ({args.min_width}), but got {args.max_width}."
        )
    if args.refine and args.multi_objective:
        raise UsageError("`--refine` picks one answer: it does not go with `--multi-objective`.")
    if args.refine is None:
        args.refine = 0 if args.multi_objective else DEFAULT_REFINE
    for flag, path in (("--json", args.json), ("--save-model", args.save_model)):
        if path is not None and not Path(path).parent.is_dir():
            raise UsageError(f"`{flag}` folder does not exist: {str(Path(path).parent)!r}.")
    if args.save_model is not None and args.multi_objective:
        raise UsageError(
            "`--save-model` saves one answer: it does not go with `--multi-objective`."
        )


def build_objective(args: argparse.Namespace, data: Dataset, seed: int) -> NearObjective:
    """The search space and objective that the flags describe, scoring with ``seed``."""
    with user_input(SPACE_FLAGS | {"device": "--device"}):
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
            seed=seed,
            guard=not args.no_guard,
            prune_oversized=not args.no_prune_oversized,
            tolerance=args.tolerance,
            multi_objective=args.multi_objective,
            device=args.device,
        )


def prepare(args: argparse.Namespace) -> Prepared:
    """Everything that can fail on bad input, before any trial is stored.

    The data and flags are checked with ``--seed`` first, so bad input never touches the
    storage. A study created earlier has its own scoring seed: the data (whose split depends
    on it) and the objective are then made again with that seed.
    """
    check_numbers(args)
    data = load_data(args, args.seed)
    args.pruning_note = decide_pruning(args, data)
    if args.refine or args.save_model:  # too small for a validation split: say so now
        with user_input({}):
            validation_split(data, seed=args.seed)
    objective = build_objective(args, data, args.seed)
    url = args.storage or os.environ.get("OPTUNA_STORAGE") or DEFAULT_STORAGE
    with user_input({"url": "--storage"}):
        storage = open_storage(url, heartbeat=args.heartbeat)
        study, created = open_study(args, storage, objective.directions, objective.space)
        resumed = None if created else len(study.get_trials(deepcopy=False))
    if created:
        name_metrics(study, args.score)
    attrs = {} if created else wait_for_settings(study)
    seed = args.seed if created else stored_seed(attrs)
    if seed is None:  # a study made elsewhere, without near_optuna's settings: this run's seed
        seed = args.seed
    stored = attrs.get(STUDY_SETTINGS, {}).get("prune_oversized")
    if not args.pruning_given and stored is not None and stored == args.no_prune_oversized:
        # Neither flag given: a study keeps the pruning it was created with (one made before
        # the low-dimensional default, for example).
        args.no_prune_oversized = not stored
        args.pruning_note = None
        objective = build_objective(args, data, seed)
    if seed != args.seed:
        data = load_data(args, seed)
        objective = build_objective(args, data, seed)
    check_settings(study, shared_settings(args, data, objective, seed))
    return Prepared(data, objective, study, url, seed, resumed)


def redraw(args: argparse.Namespace) -> int:
    """``--redraw``: publish an existing study's dashboard notes and figures, add no trial."""
    from near_optuna.dashboard._publish import publish_study
    from near_optuna.storage._open import display_url

    url = args.storage or os.environ.get("OPTUNA_STORAGE") or DEFAULT_STORAGE
    with user_input({"url": "--storage"}):
        storage = open_storage(url)
    try:
        study = optuna.load_study(study_name=args.study_name, storage=storage)
    except KeyError as err:
        raise UsageError(
            f"`--redraw` needs an existing study, but {display_url(url)!r} has no study "
            f"{args.study_name!r}."
        ) from err
    figures = publish_study(study)
    print(
        f"Redrew study {args.study_name!r}: the study note and {len(figures)} figures "
        f"({', '.join(figures) or 'none'}). Open the dashboard: optuna-dashboard "
        f"{display_url(url)}"
    )
    return 0


def optimise(
    args: argparse.Namespace, prepared: Prepared, *, deadline: float | None = None
) -> None:
    """Run this worker's trials, with a progress bar unless ``--quiet``.

    With a ``deadline`` (a ``time.perf_counter()`` value: the NEAR study's share of the run's
    time budget), no new trial starts after it once this worker has finished
    :data:`MIN_TRIALS_IN_BUDGET` trials (or its trial count, if smaller).
    A trial that another worker failed meanwhile (for example after a late heartbeat) costs
    this worker that trial, not its run: it warns and goes on (:func:`optimize_worker`).
    """
    study, budget = prepared.study, args.max_total_trials
    n_trials = args.n_trials
    if n_trials is None and args.timeout is None and budget is None:
        n_trials = DEFAULT_TRIALS

    def cleanup() -> list[int]:
        return fail_abandoned_trials(study, grace=2 * args.heartbeat)

    if prepared.resumed is not None and not args.quiet:
        print(f"Resuming study {study.study_name!r} ({prepared.resumed} trials so far).")
    failed = cleanup()
    if failed and not args.quiet:
        print(f"Marked FAIL: trial(s) {sorted(failed)}, whose worker died.")
    callbacks: list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = []
    if budget is not None:
        callbacks.append(optuna.study.MaxTrialsCallback(budget, states=FINISHED))
        if len(study.get_trials(deepcopy=False, states=FINISHED)) >= budget:
            return
    objective = prepared.objective
    if isinstance(objective, NearObjective):  # (tests may hand in a plain objective)
        if isinstance(study.sampler, optuna.samplers.GridSampler) and not args.quiet:
            size = objective.space.size
            print(f"Enumerating all {size} configurations: the search space fits the budget.")
        if objective.prune_oversized:  # the one-off layer sizing, with its own bar
            with progress_bar("sizing layers", quiet=args.quiet) as progress:
                objective.saturation_widths(study, progress=progress)
    if deadline is not None:
        callbacks.append(
            stop_when_due(deadline, min(n_trials or MIN_TRIALS_IN_BUDGET, MIN_TRIALS_IN_BUDGET))
        )
    # Surplus claims beyond the budget end as FAIL (caught); Optuna would log each at WARNING.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    optimize_worker(
        study,
        budgeted(prepared.objective, budget, cleanup),
        n_trials=n_trials,
        timeout=args.timeout,
        on_taken_over=lambda: print(
            f"{PROG}: warning: another worker marked a trial of this worker FAIL while it ran "
            "(a late heartbeat?); going on.",
            file=sys.stderr,
        ),
        n_jobs=args.n_jobs,
        callbacks=callbacks,
        catch=(BudgetReached,),
        show_progress_bar=not args.quiet,
    )
