"""Time to quality: near_optuna against Optuna's own multi-fidelity tuning, side by side.

Usage: python benchmarks/time_to_quality.py [--datasets digits mnist1d] [--seeds 3]
       [--budget 90] [--near-seconds 20] [--methods ...] [--out DIR] [--from-json FILE ...]

The defaults are the settings of the table in docs/results.md
(benchmarks/results/time_to_quality.md).

Ways to choose an MLP on the same data, search space and wall-clock budget:

(a) ``near``: a NEAR study (TPE) for ``--near-seconds``; the answer is the NEAR best.
(b) ``near+refine``: what the plain command does by default: a run budget of twice one
    60-epoch training of the reference MLP (30-60 s), a NEAR study of at most 50 trials in
    40% of it, then ``refine_study`` (K = 4, synchronous successive halving in optimizer
    steps on validation accuracy, with the reference MLP and wide probes) in the rest.
(c) ``tpe+hyperband``: TPE with ``HyperbandPruner``; each trial trains and reports its
    validation accuracy every epoch (at most ``--max-epochs``).
(d) ``tpe``: the same without pruning.
(e) ``random+hyperband``: random search with ``HyperbandPruner``.
(f) ``tpe+hyperband-2048``: (c) with widths up to 2048, as far as near+refine's width
    escalation reaches (not run by default).

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
from pathlib import Path
from typing import TypedDict

import optuna
import torch
from _tuning import Config, Event, n_params, recorder, retrain, run_training_method

from near_optuna import NearObjective, SearchSpace, load_dataset, refine_study
from near_optuna.data._datasets import Dataset
from near_optuna.measure._names import ACTIVATION_NAMES, INIT_NAMES
from near_optuna.numerics._rules import default_time_budget
from near_optuna.study._refine import reference_seconds
from near_optuna.tune._budget import MIN_REFINE_SECONDS, NEAR_SHARE
from near_optuna.tune._parser import DEFAULT_REFINE, DEFAULT_TRIALS
from near_optuna.tune._run import MIN_TRIALS_IN_BUDGET, stop_when_due

SPACE = SearchSpace(activations=ACTIVATION_NAMES, inits=INIT_NAMES)
WIDE_SPACE = SearchSpace(activations=ACTIVATION_NAMES, inits=INIT_NAMES, max_width=2048)
METHODS = (
    "near",
    "near+refine",
    "tpe+hyperband",
    "tpe",
    "random+hyperband",
    "tpe+hyperband-2048",
)


def near_study(data: Dataset, seed: int) -> tuple[optuna.Study, NearObjective]:
    objective = NearObjective(
        torch.from_numpy(data.x_train), out_features=data.n_classes, space=SPACE, seed=seed
    )
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed)
    )
    return study, objective


def run_near(data: Dataset, seed: int, seconds: float, refine: bool, k: int) -> list[Event]:
    """``near``: a NEAR study for ``seconds``. ``near+refine``: what the plain command does.

    The plain command's default: a run budget of twice one 60-epoch reference training
    (30-60 s), at most 40% of it and 50 trials for the NEAR study, the rest for the
    refinement.
    """
    study, objective = near_study(data, seed)
    events: list[Event] = []
    start = time.perf_counter()
    record = recorder(events, start, lambda _study: 0)
    budget = default_time_budget(reference_seconds(data)) if refine else seconds
    callbacks = [record]
    if refine:  # the CLI's rule: stop at the share of the budget, after at least 20 trials
        callbacks.append(stop_when_due(start + NEAR_SHARE * budget, MIN_TRIALS_IN_BUDGET))
    study.optimize(
        objective,
        n_trials=DEFAULT_TRIALS if refine else None,
        timeout=None if refine else seconds,
        callbacks=callbacks,
    )
    while not study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        study.optimize(objective, n_trials=1, callbacks=[record])  # an answer needs a trial
    if refine:
        left = max(budget - (time.perf_counter() - start), MIN_REFINE_SECONDS)
        result = refine_study(study, data, k, time_budget=left, seed=seed)
        answer = result.answer
        config = (answer.widths, answer.activation, answer.init)
        events.append(Event(time.perf_counter() - start, round(result.epochs), config))
    return events


class Point(TypedDict):
    """One answer a run held: from ``seconds`` and ``epochs`` on, retrained to ``test``."""

    seconds: float
    epochs: int
    test: float
    config: list[object]
    n_params: int


class PoolEntry(TypedDict):
    config: list[object]
    test: float
    n_params: int


Run = list[Point]


def position(point: Point, axis: str) -> float:
    return float(point["seconds"] if axis == "seconds" else point["epochs"])


def held_at(run: Run, x: float, axis: str = "seconds") -> float | None:
    """Test accuracy of the answer a run held at ``x`` seconds or epochs (None: none yet)."""
    held = None
    for point in run:
        if position(point, axis) <= x:
            held = point["test"]
    return held


def within(run: Run, target: float) -> tuple[float | None, int | None]:
    """Seconds and epochs a run needed to hold an answer within 1 point of ``target``."""
    for event in run:
        if float(event["test"]) >= target - 0.01:
            return float(event["seconds"]), int(event["epochs"])
    return None, None


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def cell(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist1d"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--budget", type=float, default=90.0, help="wall seconds per training-based method"
    )
    parser.add_argument(
        "--near-seconds", type=float, default=20.0, help="wall seconds of the NEAR study"
    )
    parser.add_argument(
        "--refine", type=int, default=DEFAULT_REFINE, help="K of near+refine (the CLI's)"
    )
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--retrain-epochs", type=int, default=60)
    parser.add_argument("--retrain-seeds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (every method)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS[:5]), choices=METHODS)
    parser.add_argument("--out", default=None, help="folder for curves.json, table.md, figure")
    parser.add_argument(
        "--from-json",
        nargs="+",
        default=None,
        help="only write the table and figure from earlier curves.json files (merged)",
    )
    args = parser.parse_args()
    if args.from_json:
        runs = [json.loads(Path(path).read_text()) for path in args.from_json]
        merged: dict[str, dict[str, list[Run]]] = {}
        merged_pools: dict[str, list[PoolEntry]] = {}
        for saved in runs:  # methods and retrained answers of one dataset may come from several
            for name, by_method in saved["results"].items():
                merged.setdefault(name, {}).update(by_method)
                known = {str(p["config"]) for p in merged_pools.get(name, [])}
                fresh = [p for p in saved["pools"][name] if str(p["config"]) not in known]
                merged_pools.setdefault(name, []).extend(fresh)
        methods = list(dict.fromkeys(m for by_method in merged.values() for m in by_method))
        settings = {**runs[0]["settings"], "datasets": list(merged), "methods": methods}
        report(merged, merged_pools, settings, Path(args.out or Path(args.from_json[0]).parent))
        return 0
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results: dict[str, dict[str, list[Run]]] = {}
    pools: dict[str, list[PoolEntry]] = {}
    for name in args.datasets:
        data = load_dataset(name)
        cache: dict[Config, float] = {}
        results[name] = {method: [] for method in args.methods}
        for seed in range(args.seeds):
            for method in args.methods:
                if method.startswith("near"):
                    events = run_near(
                        data, seed, args.near_seconds, method == "near+refine", args.refine
                    )
                else:
                    space = WIDE_SPACE if method.endswith("2048") else SPACE
                    events = run_training_method(
                        method, data, seed, args.budget, args.max_epochs, space=space
                    )
                curve: Run = [
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
                        "n_params": n_params(e.config, data),
                    }
                    for e in events
                ]
                results[name][method].append(curve)
                last = f"{curve[-1]['config']} test {curve[-1]['test']:.4f}" if curve else "none"
                print(
                    f"{name} seed {seed} {method}: {len(curve)} answers, final {last}", flush=True
                )
        pools[name] = [
            {"config": [list(c[0]), c[1], c[2]], "test": acc, "n_params": n_params(c, data)}
            for c, acc in cache.items()
        ]
    settings = {k: v for k, v in vars(args).items() if k not in ("from_json", "out")}
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "curves.json").write_text(
            json.dumps({"settings": settings, "results": results, "pools": pools}, indent=1)
        )
        report(results, pools, settings, out)
    else:
        for name in results:
            print(table(name, results[name], pools[name]))
    return 0


def table(name: str, by_method: dict[str, list[Run]], pool: list[PoolEntry]) -> str:
    """Markdown: each method's answers against the best any method found, seed by seed."""
    finals = [float(run[-1]["test"]) for runs in by_method.values() for run in runs if run]
    target = max(finals)
    # Equal wall time: each seed's near+refine finishing time, or the shortest budget.
    refine_runs = by_method.get("near+refine", [])
    ends = [float(run[-1]["seconds"]) for run in refine_runs if run]
    lines = [
        f"\n**{name}**: best answer of any method {target:.4f} (test accuracy, retrained); "
        f"near+refine finished after {cell(median_or_none(ends), 1)} s (median)",
        "",
        "| method | final test acc. (median) | test acc. at near+refine's finish (median) "
        "| seconds to within 1 point (median) | epochs to within 1 point (median) |",
        "|---|---:|---:|---:|---:|",
    ]
    tpe_hb_seconds: list[float] = []
    for method, runs in by_method.items():
        final = median_or_none([float(run[-1]["test"]) for run in runs if run])
        at_end = [held_at(run, ends[i]) if i < len(ends) else None for i, run in enumerate(runs)]
        held = median_or_none([0.0 if acc is None else acc for acc in at_end]) if ends else None
        hits = [within(run, target) for run in runs]
        seconds = [s for s, _ in hits if s is not None]
        epochs = [float(e) for _, e in hits if e is not None]
        if method == "tpe+hyperband":
            tpe_hb_seconds = seconds
        reached = f"{len(seconds)}/{len(runs)} runs"
        time_cell = f"{statistics.median(seconds):.1f} ({reached})" if seconds else "never"
        epoch_cell = f"{statistics.median(epochs):.0f}" if epochs else "-"
        lines.append(f"| {method} | {cell(final)} | {cell(held)} | {time_cell} | {epoch_cell} |")
    lines += ["", *goals(name, by_method, pool, target, ends, tpe_hb_seconds)]
    return "\n".join(lines)


def goals(
    name: str,
    by_method: dict[str, list[Run]],
    pool: list[PoolEntry],
    target: float,
    ends: list[float],
    tpe_hb_seconds: list[float],
) -> list[str]:
    """The issue's goals for near+refine, per seed, stated as met or not met."""
    refine_runs = by_method.get("near+refine", [])
    hyperband_runs = by_method.get("tpe+hyperband", [])
    if not refine_runs or not hyperband_runs:
        return []
    lines = []
    for seed, (ours, theirs) in enumerate(zip(refine_runs, hyperband_runs, strict=False)):
        answer = ours[-1]
        at = float(answer["seconds"])
        rival = held_at(theirs, at)
        size = int(answer["n_params"])
        peers = [float(p["test"]) for p in pool if int(p["n_params"]) <= 2 * size]
        best_peer = max(peers)
        mine_s, _ = within(ours, target)
        theirs_s, _ = within(theirs, target)
        fast = (
            "not met (near+refine never within 1 point)"
            if mine_s is None
            else "met (TPE+Hyperband never within 1 point)"
            if theirs_s is None
            else ("met" if mine_s <= theirs_s / 3 else "not met")
            + f" ({mine_s:.1f} s against {theirs_s:.1f} s)"
        )
        test = float(answer["test"])
        lines.append(
            f"- seed {seed}: near+refine's answer {answer['config']} ({size} parameters) tests "
            f"{test:.4f} after {at:.1f} s; TPE+Hyperband held "
            f"{cell(rival)} then: **{'met' if rival is None or test >= rival else 'not met'}**. "
            f"Best of the {len(peers)} retrained answers of at most twice its size: "
            f"{best_peer:.4f} (within 1.5 points: "
            f"**{'met' if test >= best_peer - 0.015 else 'not met'}**). "
            f"Within 1 point of the best in a third of TPE+Hyperband's time: **{fast}**."
        )
    if name == "mnist1d":
        finals = [float(run[-1]["test"]) for run in refine_runs]
        lines.append(
            "- Within 3 points of 0.717 (512-512-512 relu, 60 epochs): "
            + ", ".join(f"{acc:.4f} {'met' if acc >= 0.687 else 'not met'}" for acc in finals)
        )
    return lines


def report(
    results: dict[str, dict[str, list[Run]]],
    pools: dict[str, list[PoolEntry]],
    settings: dict[str, object],
    out: Path,
) -> None:
    text = [
        "Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()),
        *(table(name, results[name], pools[name]) for name in results),
    ]
    (out / "table.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))
    figure(results, out / "time_to_quality.png", seconds=float(str(settings["budget"])))


def figure(results: dict[str, dict[str, list[Run]]], path: Path, *, seconds: float) -> None:
    """Median test accuracy of the held answer against wall seconds and training epochs.

    The seconds axis runs to at least ``seconds`` (the training-based methods' budget).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(5.5 * len(results), 7), squeeze=False)
    for column, (name, by_method) in enumerate(results.items()):
        for row, axis in enumerate(("seconds", "epochs")):
            ax = axes[row][column]
            end = max(position(p, axis) for runs in by_method.values() for r in runs for p in r)
            end = max(end, seconds) if axis == "seconds" else end
            for method, runs in by_method.items():
                points = sorted({position(p, axis) for run in runs for p in run})
                xs: list[float] = []
                ys: list[float] = []
                for x in points:
                    held = [held_at(run, x, axis) for run in runs]
                    known = [h for h in held if h is not None]
                    if len(known) == len(runs):
                        xs.append(x)
                        ys.append(statistics.median(known))
                if xs:
                    ax.step([*xs, end], [*ys, ys[-1]], where="post", label=method, marker=".")
            ax.set_xscale("symlog" if axis == "epochs" else "linear")
            ax.set_xlabel("wall seconds" if axis == "seconds" else "training epochs spent")
            ax.set_ylabel("test accuracy of the answer (median of seeds)")
            ax.set_title(name)
            ax.grid(alpha=0.3)
        axes[0][column].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
