"""The command line's flags, and ``--config`` TOML files beneath them."""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from near_optuna.data._names import DATASETS, DEFAULT_DATASET, IMPUTE, MAX_CATEGORIES, TASKS
from near_optuna.measure._names import (
    ACTIVATION_NAMES,
    DEFAULT_ACTIVATIONS,
    DEFAULT_EVAL_REPETITIONS,
    INIT_NAMES,
    SCORE_NAMES,
)
from near_optuna.numerics._rules import DEFAULT_TOLERANCE
from near_optuna.tune._errors import PROG, UsageError

DEFAULT_STUDY = "near_optuna"
DEFAULT_STORAGE = "sqlite:///studies/near_optuna.db"
DEFAULT_TRIALS = 50
DEFAULT_HEARTBEAT = 10
DEFAULT_REFINE_EPOCHS = 30
DEFAULT_REFINE = 4
SPACE_FLAGS = {
    "min_depth": "--min-depth",
    "max_depth": "--max-depth",
    "min_width": "--min-width",
    "max_width": "--max-width",
    "activations": "--activations",
    "inits": "--inits",
}
"""The search space's arguments and the flags that set them."""
SAMPLERS = ("tpe", "random", "gp", "nsga2")
DESCRIPTION = """An Optuna study that scores MLPs with NEAR instead of training them.

With no arguments it tunes depth, widths, activation and initialisation of an MLP for the
built-in digits data, stores the trials in sqlite:///studies/near_optuna.db and prints the
best configurations and the command that opens optuna-dashboard. Run it again with the same
--study-name and --storage to resume. Exit codes: 0 success, 2 bad usage or input (one line
on stderr, nothing stored), 1 an unexpected failure."""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help with each option's default, unless the help text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if default is None or default is False or default == argparse.SUPPRESS:
            return text
        if "(default" in text:
            return text
        shown = "%(default)s"
        if isinstance(default, list) and not default:
            shown = "none"
        elif isinstance(default, list):
            everything = action.choices is not None and default == list(action.choices)
            shown = "all" if everything else " ".join(map(str, default))
        return f"{text} (default: {shown})"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (flags follow Optuna's habits)."""
    p = _Parser(prog=PROG, description=DESCRIPTION, formatter_class=_HelpFormatter)
    g = p.add_argument_group("study")
    g.add_argument(
        "--study-name", default=DEFAULT_STUDY, help="the study; the same name resumes it"
    )
    g.add_argument(
        "--storage",
        default=None,
        help="SQLAlchemy URL or journal:///path (default: env OPTUNA_STORAGE, else "
        f"{DEFAULT_STORAGE})",
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
        help="a budget for the whole study: exactly this many trials finish, all workers together",
    )
    g.add_argument(
        "--timeout", type=float, default=None, help="seconds for this worker (no limit)"
    )
    g.add_argument(
        "--seed",
        type=int,
        default=0,
        help="a new study's scoring seed (data split, initialisations); later workers and "
        "resumes score with the study's, and this seeds only their sampler",
    )
    g.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="Optuna sampler")
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
        help=f"built-in data (default: {DEFAULT_DATASET}, unless --data is given)",
    )
    d.add_argument(
        "--data",
        default=None,
        metavar="PATH",
        help="your data: .csv, .tsv or .parquet (with --target), .npy or .npz",
    )
    d.add_argument(
        "--target",
        default=None,
        metavar="COLUMN",
        help="target column of --data (a .npy file: its index, default the last)",
    )
    d.add_argument(
        "--task",
        choices=TASKS,
        default="auto",
        help="auto (the default) takes text, True/False and few distinct whole numbers as "
        "class labels, other numbers as a regression target",
    )
    d.add_argument(
        "--drop",
        nargs="+",
        default=[],
        metavar="COLUMN",
        help=f"columns of --data to leave out (a text column with more than {MAX_CATEGORIES} "
        "distinct values must be)",
    )
    d.add_argument(
        "--na-values",
        nargs="+",
        default=[],
        metavar="TOKEN",
        help="more text that marks a missing cell of --data (such as ? or -), beyond pandas' "
        "own (empty, NA, NaN, null, ...)",
    )
    d.add_argument(
        "--impute",
        choices=IMPUTE,
        default=None,
        help="fill missing cells of --data with the column's training-split mean or median "
        "(default: refuse them)",
    )
    s = p.add_argument_group("search space and score")
    s.add_argument("--min-depth", type=int, default=1, help="fewest hidden layers")
    s.add_argument("--max-depth", type=int, default=3, help="most hidden layers")
    s.add_argument("--min-width", type=int, default=8, help="narrowest hidden layer")
    s.add_argument("--max-width", type=int, default=512, help="widest hidden layer (log scale)")
    s.add_argument(
        "--activations",
        nargs="+",
        choices=list(ACTIVATION_NAMES),
        default=list(DEFAULT_ACTIVATIONS),
        metavar="NAME",
        help=f"activations to choose from: {', '.join(ACTIVATION_NAMES)}",
    )
    s.add_argument(
        "--inits",
        nargs="+",
        choices=list(INIT_NAMES),
        default=list(INIT_NAMES),
        metavar="NAME",
        help=f"initialisations to choose from: {', '.join(INIT_NAMES)}",
    )
    s.add_argument(
        "--score", choices=list(SCORE_NAMES), default="near", help="what each trial returns"
    )
    s.add_argument(
        "--repetitions",
        type=int,
        default=DEFAULT_EVAL_REPETITIONS,
        help="initialisations averaged per score",
    )
    s.add_argument(
        "--no-prune-oversized",
        action="store_true",
        help="do not prune layers wider than --tolerance x their saturation width (default: "
        "pruned when the data has at least 16 features)",
    )
    s.add_argument(
        "--prune-oversized",
        action="store_true",
        help="prune oversized layers even when the data has fewer than 16 features",
    )
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
        help="afterwards, train the K best and K random configurations and report (0: off)",
    )
    o.add_argument(
        "--refine",
        type=int,
        default=None,
        metavar="K",
        help=f"afterwards, train the K best distinct configurations, wider variants, wide "
        f"probes and a reference MLP with successive halving on validation data; the answer "
        f"is the smallest within one standard error of the best, and the reference unless "
        f"beaten by more than 1.645 standard errors (default {DEFAULT_REFINE}; "
        "0: the untrained NEAR best is the answer; off with --multi-objective)",
    )
    o.add_argument(
        "--refine-epochs",
        type=int,
        default=DEFAULT_REFINE_EPOCHS,
        metavar="E",
        help="the last successive-halving rung's length, in passes over the training rows",
    )
    o.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds for the whole run, NEAR study and refinement (default with --refine: "
        "twice one 60-epoch training of the reference MLP on this data, at least 30 and at "
        "most 60)",
    )
    o.add_argument(
        "--save-model",
        default=None,
        metavar="PATH",
        help="write the answer's trained network with its preprocessing to PATH, for "
        "`python -m near_optuna.predict` and `near_optuna.load_model` (with --refine 0 the "
        "answer is trained once for it)",
    )
    o.add_argument(
        "--redraw",
        action="store_true",
        help="only redraw the dashboard notes and figures of the existing study, then exit",
    )
    o.add_argument(
        "--config",
        default=None,
        help="a TOML study definition (see studies/); the command line wins",
    )
    o.add_argument("--json", default=None, metavar="PATH", help="write a JSON summary to PATH")
    o.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar, one line of output"
    )
    o.add_argument("--debug", action="store_true", help="show tracebacks on errors")
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
