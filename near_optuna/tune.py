"""``python -m near_optuna.tune``: an Optuna study that scores MLPs with NEAR, not training.

With no arguments it tunes depth, widths, activation and initialisation of an MLP for the
built-in ``digits`` data, stores the trials in ``sqlite:///studies/near_optuna.db``, prints the
best configurations and the command that opens optuna-dashboard on them. Run it again with the
same ``--study-name`` and ``--storage`` to resume. Exit codes: 0 success, 2 bad usage or input
(one line on stderr, nothing stored), 1 an unexpected failure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tomllib
import traceback
import warnings
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import optuna
import torch

from near_optuna._dashboard import publish_study
from near_optuna._data import DATASETS, DEFAULT_DATASET, Dataset, load_dataset
from near_optuna._evaluate import DEFAULT_EVAL_REPETITIONS, DEFAULT_TOLERANCE
from near_optuna._files import load_file
from near_optuna._mlp import ACTIVATIONS, INITS
from near_optuna._objective import (
    ATTR_ACTIVATION,
    ATTR_DATA,
    ATTR_INIT,
    ATTR_N_PARAMS,
    ATTR_SATURATION,
    ATTR_SPACE,
    ATTR_WIDTHS,
    NearObjective,
    SearchSpace,
)
from near_optuna._peers import SCORES
from near_optuna._score import resolve_device
from near_optuna._storage import (
    DEFAULT_STORAGE,
    StorageError,
    check_study_settings,
    display_url,
    open_storage,
)
from near_optuna._validate import ValidationReport, validate_study
from near_optuna._workers import FINISHED, BudgetReached, budgeted, fail_dead_workers

PROG = "python -m near_optuna.tune"
DEFAULT_STUDY = "near_optuna"
DEFAULT_TRIALS = 50
DEFAULT_HEARTBEAT = 10
ATTR_SCORE = "near:score_name"
ATTR_SETTINGS = "near:settings"
SAMPLERS = ("tpe", "random", "gp", "nsga2")


class UsageError(ValueError):
    """Bad usage or input: reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (flags follow Optuna's habits)."""
    p = _Parser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    g = p.add_argument_group("study")
    g.add_argument("--study-name", default=DEFAULT_STUDY)
    g.add_argument(
        "--storage",
        default=None,
        help=f"SQLAlchemy URL (env OPTUNA_STORAGE; default {DEFAULT_STORAGE})",
    )
    g.add_argument(
        "--n-trials",
        type=int,
        default=None,
        help=f"trials for this worker (default {DEFAULT_TRIALS} without --timeout)",
    )
    g.add_argument(
        "--max-total-trials",
        type=int,
        default=None,
        help="stop once the study holds this many finished trials (all workers)",
    )
    g.add_argument("--timeout", type=float, default=None, help="seconds for this worker")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--sampler", choices=SAMPLERS, default="tpe")
    g.add_argument("--n-jobs", type=int, default=1, help="threads of this worker")
    g.add_argument("--device", default="cpu", help="torch device of the forward passes")
    g.add_argument(
        "--heartbeat",
        type=int,
        default=DEFAULT_HEARTBEAT,
        help="seconds between heartbeats; a dead worker's trial fails after twice that",
    )
    d = p.add_argument_group("data")
    d.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help=f"built-in data (default {DEFAULT_DATASET})",
    )
    d.add_argument("--data", default=None, help=".csv (with --target), .npy or .npz file")
    d.add_argument("--target", default=None, help="label column of --data")
    s = p.add_argument_group("search space and score")
    s.add_argument("--min-depth", type=int, default=1)
    s.add_argument("--max-depth", type=int, default=3)
    s.add_argument("--min-width", type=int, default=8)
    s.add_argument("--max-width", type=int, default=512)
    s.add_argument(
        "--activations",
        nargs="+",
        choices=list(ACTIVATIONS),
        default=list(SearchSpace().activations),
    )
    s.add_argument("--inits", nargs="+", choices=list(INITS), default=list(INITS))
    s.add_argument("--score", choices=list(SCORES), default="near")
    s.add_argument("--repetitions", type=int, default=DEFAULT_EVAL_REPETITIONS)
    s.add_argument("--no-prune-oversized", action="store_true")
    s.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help="a layer may be this many times its saturation width",
    )
    s.add_argument("--no-guard", action="store_true", help="turn the signal-scale guard off")
    s.add_argument(
        "--multi-objective",
        action="store_true",
        help="also minimise the parameter count (Pareto front)",
    )
    o = p.add_argument_group("output")
    o.add_argument(
        "--validate",
        type=int,
        default=0,
        metavar="K",
        help="train the K best and K random configurations briefly and report",
    )
    o.add_argument("--config", default=None, help="TOML study definition (see studies/)")
    o.add_argument("--json", default=None, metavar="PATH", help="write a JSON summary")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress bar, short output")
    o.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def config_arguments(path: str, parser: argparse.ArgumentParser) -> list[str]:
    """Turn a TOML study definition into command-line tokens (the command line wins)."""
    try:
        table = tomllib.loads(Path(path).read_text())
    except FileNotFoundError as err:
        raise UsageError(f"`--config` file not found: {path!r}.") from err
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"`--config` {path!r} cannot be read: {err}.") from err
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"`--config` {path!r} is not valid TOML: {err}.") from err
    known = {opt for action in parser._actions for opt in action.option_strings}
    tokens: list[str] = []
    for key, value in table.items():
        flag = "--" + key.replace("_", "-")
        if flag not in known or flag in ("--config", "--help"):
            raise UsageError(f"`--config` {path!r} has an unknown key {key!r}.")
        if value is True:
            tokens.append(flag)
        elif value is not False:
            values = value if isinstance(value, list) else [value]
            tokens += [flag, *map(str, values)]
    return tokens


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``, with the ``--config`` file's settings underneath the command line."""
    parser = build_parser()
    tokens = list(sys.argv[1:] if argv is None else argv)
    first = parser.parse_args(tokens)
    if first.config is None:
        return first
    try:
        return parser.parse_args(config_arguments(first.config, parser) + tokens)
    except UsageError as err:
        parser.exit(2, f"{PROG}: error: {err}\n")


def load_data(args: argparse.Namespace) -> Dataset:
    """The dataset named by ``--dataset`` or read from ``--data``."""
    if args.data is not None and args.dataset is not None:
        raise UsageError("give either `--dataset` or `--data`, not both.")
    if args.data is not None:
        return load_file(args.data, target=args.target, seed=args.seed)
    if args.target is not None:
        raise UsageError("`--target` goes with `--data`.")
    return load_dataset(args.dataset or DEFAULT_DATASET, seed=args.seed)


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


def prepare(args: argparse.Namespace) -> tuple[Dataset, NearObjective, optuna.Study, str]:
    """Everything that can fail on bad input, before any trial is stored."""
    check_numbers(args)
    if args.json is not None and not Path(args.json).parent.is_dir():
        raise UsageError(f"`--json` folder does not exist: {str(Path(args.json).parent)!r}.")
    data = load_data(args)
    resolve_device(args.device, torch.nn.Linear(1, 1))
    space = SearchSpace(
        min_depth=args.min_depth,
        max_depth=args.max_depth,
        min_width=args.min_width,
        max_width=args.max_width,
        activations=tuple(args.activations),
        inits=tuple(args.inits),
    )
    objective = NearObjective(
        torch.from_numpy(data.x_train),
        out_features=data.n_classes,
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
    url = args.storage or os.environ.get("OPTUNA_STORAGE") or DEFAULT_STORAGE
    storage = open_storage(url, heartbeat=args.heartbeat)
    study = _open_study(args, storage, objective)
    settings = {
        "seed": args.seed,
        "repetitions": args.repetitions,
        "guard": not args.no_guard,
        "prune_oversized": not args.no_prune_oversized,
        "tolerance": args.tolerance,
    }
    check_study_settings(
        study,
        {
            ATTR_SPACE: space.to_dict(),
            ATTR_SCORE: args.score,
            ATTR_DATA: data.summary(),
            ATTR_SETTINGS: settings,
        },
    )
    return data, objective, study, url


def _open_study(
    args: argparse.Namespace, storage: optuna.storages.BaseStorage, objective: NearObjective
) -> optuna.Study:
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
        raise StorageError(
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


def optimise(args: argparse.Namespace, objective: NearObjective, study: optuna.Study) -> None:
    """Run this worker's trials, with a progress bar unless ``--quiet``."""
    budget = args.max_total_trials
    n_trials = args.n_trials
    if n_trials is None and args.timeout is None and budget is None:
        n_trials = DEFAULT_TRIALS

    def cleanup() -> list[int]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # RDB heartbeats
        return fail_dead_workers(study) + fail_orphaned_trials(
            study, older_than=2 * args.heartbeat
        )

    failed = cleanup()
    if failed and not args.quiet:
        print(f"Marked FAIL: trial(s) {sorted(failed)}, whose worker died.")
    callbacks = []
    if budget is not None:
        callbacks.append(optuna.study.MaxTrialsCallback(budget, states=FINISHED))
        if _finished(study) >= budget:
            return
    # Surplus claims beyond the budget end as FAIL (caught); Optuna would log each at WARNING.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study.optimize(
        budgeted(objective, budget, cleanup),
        n_trials=n_trials,
        timeout=args.timeout,
        n_jobs=args.n_jobs,
        callbacks=callbacks,
        catch=(BudgetReached,),
        show_progress_bar=not args.quiet,
    )


def fail_orphaned_trials(study: optuna.Study, *, older_than: float) -> list[int]:
    """Fail RUNNING trials whose worker died between creating them and its first heartbeat.

    Optuna's heartbeat cleanup skips trials that never sent a heartbeat, so a worker killed in
    that instant would leave its trial RUNNING forever. Such a trial has no parameters (the
    objective suggests them first thing) and is older than the heartbeat grace period.
    """
    failed = []
    now = datetime.now()  # trial times are naive local time, as Optuna reads them
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        start = trial.datetime_start
        if trial.params or start is None or (now - start).total_seconds() <= older_than:
            continue
        try:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        except (RuntimeError, ValueError):  # finished by someone else meanwhile
            continue
        failed.append(trial.number)
    return failed


def _finished(study: optuna.Study) -> int:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def _config(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    attrs = trial.user_attrs
    return {
        "trial": trial.number,
        "value": trial.values[0],
        "widths": attrs.get(ATTR_WIDTHS),
        "activation": attrs.get(ATTR_ACTIVATION),
        "init": attrs.get(ATTR_INIT),
        "n_params": attrs.get(ATTR_N_PARAMS),
    }


def best_configs(study: optuna.Study, count: int = 5) -> list[dict[str, Any]]:
    """The best completed configurations (the Pareto front for two objectives), best first."""
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(study.directions) > 1:
        done = study.best_trials
    return [_config(t) for t in sorted(done, key=lambda t: t.values[0], reverse=True)[:count]]


def summary(study: optuna.Study, url: str, report: ValidationReport | None) -> dict[str, Any]:
    """The ``--json`` summary (DESIGN.md section 3)."""
    trials = study.get_trials(deepcopy=False)
    best = best_configs(study, count=10)
    data: dict[str, Any] = {
        "study_name": study.study_name,
        "storage": url,
        "n_trials": len(trials),
        "states": dict(Counter(t.state.name for t in trials)),
        "best": best[0] if best else None,
        "top": best,
        "saturation_widths": study.user_attrs.get(ATTR_SATURATION, {}).get("widths"),
    }
    if report is not None:
        data["validation"] = report.to_dict()
    return data


def print_report(info: dict[str, Any], score: str, quiet: bool) -> None:
    """The final table, saturation widths and the dashboard command."""
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(info["states"].items()))
    print(
        f"\nStudy {info['study_name']!r} in {info['storage']}: {info['n_trials']} trials "
        f"({states})"
    )
    if not info["top"]:
        print("No completed trial yet.")
    elif quiet:
        b = info["best"]
        print(
            f"Best: trial {b['trial']} {score}={b['value']:.2f} widths={b['widths']} "
            f"{b['activation']} {b['init']}"
        )
    else:
        print(f"\n{'trial':>6} {score:>9} {'params':>9}  {'widths':<22}{'activation':<12}init")
        for row in info["top"][:5]:
            print(
                f"{row['trial']:>6} {row['value']:>9.2f} {row['n_params']:>9}  "
                f"{row['widths']!s:<22}{row['activation']:<12}{row['init']}"
            )
    if info["saturation_widths"]:
        print(f"\nSaturation widths per layer: {info['saturation_widths']}")
    print(f"\nOpen the dashboard: optuna-dashboard {info['storage']}")


def print_validation(report: ValidationReport) -> None:
    """The ``--validate`` table and its verdict."""
    print(f"\nValidation: {len(report.trials)} configurations trained for {report.epochs} epochs")
    print(f"{'trial':>6} {'group':<7}{'score':>9} {'accuracy':>9}  widths / activation / init")
    for r in report.trials:
        print(
            f"{r.trial:>6} {r.group:<7}{r.value:>9.2f} {r.accuracy:>9.4f}  "
            f"{r.widths} {r.activation} {r.init}"
        )
    rho = "n/a" if report.spearman is None else f"{report.spearman:.3f}"
    print(
        f"Spearman(score, accuracy) = {rho}; the score's pick reached {report.pick_accuracy:.4f}"
        f", the best trained {report.best_accuracy:.4f} "
        f"({100 * (report.best_accuracy - report.pick_accuracy):.2f} points apart)"
    )


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by ``None``, so the JSON stays standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def run(
    args: argparse.Namespace, prepared: tuple[Dataset, NearObjective, optuna.Study, str]
) -> int:
    """Optimise, validate and report."""
    data, objective, study, url = prepared
    optimise(args, objective, study)
    report = None
    if args.validate:
        try:
            report = validate_study(study, data, args.validate, seed=args.seed, device=args.device)
        except ValueError as err:  # no completed trial to validate: say so, report the rest
            print(f"{PROG}: warning: {err}", file=sys.stderr)
    figures = publish_study(study)
    info = summary(study, display_url(url), report)
    info["dashboard_figures"] = figures
    print_report(info, args.score, args.quiet)
    if report is not None:
        print_validation(report)
    if args.json:
        Path(args.json).write_text(json.dumps(finite(info), indent=2, allow_nan=False) + "\n")
    return 0


USER_ERRORS = (UsageError, StorageError, ValueError, TypeError, FileNotFoundError)


def _user_error(args: argparse.Namespace, err: Exception) -> int:
    if args.debug:
        traceback.print_exc()
    print(f"{PROG}: error: {err}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    args = parse_arguments(argv)
    try:  # every check of the user's input happens here, before a trial is stored
        prepared = prepare(args)
    except USER_ERRORS as err:
        return _user_error(args, err)
    try:
        return run(args, prepared)
    except UsageError as err:
        return _user_error(args, err)
    except KeyboardInterrupt:
        print(
            f"{PROG}: interrupted; finished trials are stored, run again to resume.",
            file=sys.stderr,
        )
        return 130
    except Exception as err:
        if args.debug:
            traceback.print_exc()
        print(
            f"{PROG}: unexpected failure: {type(err).__name__}: {err} (--debug shows the "
            "traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
