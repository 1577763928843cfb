"""The command's study: created or loaded under any number of workers, and its shared settings.

Seeds. The scoring seed (initialisations, row draws, data split, saturation estimate) belongs
to the study: the worker that creates it stores its ``--seed`` in ``near:settings``, and every
later worker and resume scores with that one. A later ``--seed`` seeds only that worker's
sampler, mixed with the trial count and the process id (:func:`resumed_seed`), so workers that
share a seed, or give none, still propose different configurations.
"""

from __future__ import annotations

import argparse
import os
import warnings
from typing import Any, Literal, TypeAlias

import numpy as np
import optuna

from near_optuna.data._datasets import Dataset
from near_optuna.storage._keys import (
    STUDY_DATA,
    STUDY_DATA_HASH,
    STUDY_SCORE_NAME,
    STUDY_SETTINGS,
    STUDY_SPACE,
)
from near_optuna.storage._open import retry_collisions
from near_optuna.storage._settings import (
    Difference,
    SettingsMismatch,
    check_study_settings,
    data_hash,
    short,
)
from near_optuna.study._objective import NearObjective
from near_optuna.study._space import SearchSpace
from near_optuna.tune._errors import UsageError
from near_optuna.tune._parser import DEFAULT_TRIALS, SPACE_FLAGS

Direction: TypeAlias = Literal["maximize", "minimize"]
_FLAGS = SPACE_FLAGS | {
    "score_name": "--score",
    "repetitions": "--repetitions",
    "tolerance": "--tolerance",
    "guard": "--no-guard",
    "prune_oversized": "--no-prune-oversized",
}
_NEGATED = ("guard", "prune_oversized")  # stored True when the flag is not given


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


def choose_sampler(
    args: argparse.Namespace, space: SearchSpace, seed: int
) -> optuna.samplers.BaseSampler:
    """``--sampler``, or a grid over the whole space when all of it fits in the trial budget.

    A small finite space (one depth, few widths, activations and inits) sampled at random
    scores the same configurations again and again; enumerated, each is scored once and the
    study stops when all are done. The budget is ``--n-trials`` (50 when neither it nor
    ``--timeout`` is given); with ``--max-total-trials`` the study runs exactly that many
    trials, so it is sampled as usual.
    """
    if args.max_total_trials is not None:  # a budget shared by workers: exactly that many trials
        return make_sampler(args.sampler, seed)
    budget = args.n_trials
    if budget is None and args.timeout is None:
        budget = DEFAULT_TRIALS
    grid = space.grid()
    if grid is None or budget is None or space.size > budget:
        return make_sampler(args.sampler, seed)
    return optuna.samplers.GridSampler(grid, seed=seed)


def resumed_seed(seed: int, existing: int) -> int:
    """A sampler seed for a study that already holds ``existing`` trials.

    A new study uses ``--seed`` as it is (a single fresh run is reproducible). Later runs and
    extra workers mix in the trial count and the process id, so they propose new
    configurations instead of replaying the first run's draws.
    """
    mixed = np.random.SeedSequence([seed, existing, os.getpid()]).generate_state(1)
    return int(mixed[0])


def open_study(
    args: argparse.Namespace,
    storage: optuna.storages.BaseStorage,
    directions: list[Direction],
    space: SearchSpace,
) -> tuple[optuna.Study, bool]:
    """The study, and whether this worker created it.

    Creating is atomic in every storage: of several workers that find no study at the same
    instant, one creates it and the others get ``DuplicatedStudyError`` and load it. Only the
    creator's sampler is seeded with ``--seed`` as it is.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def create_or_load() -> tuple[optuna.Study, bool]:
        try:  # loading first: a refused create would still append to a journal file
            existing = optuna.load_study(study_name=args.study_name, storage=storage)
        except KeyError:
            try:
                return _create(args, storage, directions, space), True
            except optuna.exceptions.DuplicatedStudyError:
                existing = optuna.load_study(study_name=args.study_name, storage=storage)
        if [d.name.lower() for d in existing.directions] != directions:
            raise UsageError(
                f"study {args.study_name!r} optimises {len(existing.directions)} "
                f"objective(s), this run {len(directions)}; use another --study-name."
            )
        seed = resumed_seed(args.seed, len(existing.get_trials(deepcopy=False)))
        sampler = choose_sampler(args, space, seed)
        study = optuna.load_study(study_name=args.study_name, storage=storage, sampler=sampler)
        return study, False

    return retry_collisions(create_or_load)


def _create(
    args: argparse.Namespace,
    storage: optuna.storages.BaseStorage,
    directions: list[Direction],
    space: SearchSpace,
) -> optuna.Study:
    return optuna.create_study(
        study_name=args.study_name,
        storage=storage,
        directions=directions,
        sampler=choose_sampler(args, space, args.seed),
    )


def name_metrics(study: optuna.Study, score: str) -> None:
    """Name the study's objectives for the dashboard (by its creator)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([score, "n_params"][: len(study.directions)])


def shared_settings(
    args: argparse.Namespace, data: Dataset, objective: NearObjective, seed: int
) -> dict[str, Any]:
    """What every worker of the study must share; ``near:settings`` last (the creator's mark)."""
    return {
        STUDY_SPACE: objective.space.to_dict(),
        STUDY_SCORE_NAME: args.score,
        STUDY_DATA: data.summary(),
        STUDY_DATA_HASH: data_hash(data),
        STUDY_SETTINGS: {
            "seed": seed,
            "repetitions": args.repetitions,
            "guard": not args.no_guard,
            "prune_oversized": not args.no_prune_oversized,
            "tolerance": args.tolerance,
        },
    }


def check_settings(study: optuna.Study, expected: dict[str, Any]) -> None:
    """Compare with the study's settings (writing those it lacks), in the words of the flags.

    The scoring seed is the study's and is never compared; nor are the data's name and
    description (the values decide, through ``near:data_hash``).

    Raises:
        UsageError: Naming each differing setting, its two values and why they must match.
    """
    ignore = {STUDY_SETTINGS: ("seed",), STUDY_DATA: ("name", "description")}
    try:
        check_study_settings(study, expected, ignore=ignore)
    except SettingsMismatch as err:
        shown = "; ".join(_describe(d) for d in err.differences)
        data = {STUDY_DATA, STUDY_DATA_HASH}
        what = "data" if all(d.key in data for d in err.differences) else "settings"
        raise UsageError(
            f"study {study.study_name!r} was created with other {what}: {shown} "
            f"({err.why()}); use another --study-name or the study's {what}."
        ) from err


def _describe(difference: Difference) -> str:
    name, stored, given = difference.name, difference.stored, difference.given
    if difference.key == STUDY_DATA_HASH:
        return f"the data's values hash to {short(stored)} in the study, {short(given)} now"
    if difference.key == STUDY_DATA:
        return f"the data's {name.replace('_', ' ')} are {stored} in the study, {given} now"
    flag = _FLAGS.get(name, name)
    if name in _NEGATED:
        return (
            f"`{flag}` was {'not given' if stored else 'given'} for the study and is "
            f"{'not given' if given else 'given'} now"
        )
    return f"`{flag}` is {short(stored)} in the study, {short(given)} now"
