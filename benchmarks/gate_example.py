"""An accuracy-driven Optuna study with and without ``NearGate``: training time saved.

Usage:
    python benchmarks/gate_example.py [--datasets digits mnist1d] [--seeds 3] [--n-trials 40]
        [--threads 1] [--out benchmarks/results/gate_example.md]

For every dataset and seed, these studies, with the same TPE seed, search space and number of
trials. Each trial trains the sampled MLP briefly (``--epochs``) on 80% of the training split
and returns its accuracy on the other 20%:

- ``without gate``: every trial trains;
- ``fixed size rule``: the gate before size probes: ``NearGate(size_probes=0,
  percentile=10)``, whose size rule always prunes;
- ``10th percentile``: ``NearGate(percentile=10)``: a few oversized candidates are trained as
  size probes, and the size rule retires once one of them is the best trial;
- ``10th percentile, estimate``: the same, but a gated trial returns an estimate (the median of
  the completed trials' values) instead of raising ``TrialPruned``: the workaround of Optuna
  PR #5266 for TPE, which otherwise puts pruned trials in its "bad" group;
- ``NearGate``: the defaults (size probes, and the low-score rule at the 30th percentile).

Every winner is then trained with one recipe on the full training split (``--final-epochs``,
``--final-seeds`` seeds) and tested on the test split, which tuning never saw. Prints Markdown
tables: per seed, and the summary against the goal (the gated winner within 0.5 point of the
ungated one, with at least 25% of its training time saved).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import optuna
import torch

from near_optuna import (
    Dataset,
    NearGate,
    SearchSpace,
    build_mlp,
    from_arrays,
    load_dataset,
    train_and_evaluate,
)
from near_optuna.study._gate import DEFAULT_SIZE_PROBES

SPACE = SearchSpace(max_depth=3, min_width=8, max_width=512)
VARIANTS = (
    "without gate",
    "fixed size rule",
    "10th percentile",
    "10th percentile, estimate",
    "NearGate",
)
ESTIMATE = "10th percentile, estimate"


def tuning_split(data: Dataset, seed: int) -> Dataset:
    """Training split divided into tuning-train and validation (as ``x_test``)."""
    return from_arrays(data.x_train, data.y_train, test_fraction=0.2, seed=seed)


def make_gate(variant: str, tune: Dataset, seed: int) -> NearGate | None:
    if variant == "without gate":
        return None
    inputs = torch.from_numpy(tune.x_train)
    if variant == "NearGate":
        return NearGate(inputs, seed=seed)
    probes = 0 if variant == "fixed size rule" else DEFAULT_SIZE_PROBES
    return NearGate(inputs, seed=seed, size_probes=probes, percentile=10.0)


def run_study(
    tune: Dataset, *, variant: str, n_trials: int, seed: int, epochs: int
) -> dict[str, Any]:
    """One study; returns its cost and winner."""
    gate = make_gate(variant, tune, seed)
    trained: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        widths, activation, init = SPACE.suggest(trial)
        model = build_mlp(
            tune.in_features, widths, tune.n_classes, activation=activation, init=init, seed=seed
        )
        if gate is not None:
            try:
                gate(trial, model)
            except optuna.TrialPruned:
                if variant != ESTIMATE:
                    raise
                done = trial.study.get_trials(
                    deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)
                )
                trial.set_user_attr("estimated", True)
                return statistics.median(float(t.values[0]) for t in done) if done else 0.0
        trial.set_user_attr("config", [list(widths), activation, init])
        result = train_and_evaluate(model, tune, epochs=epochs, seed=seed)
        trained.append(result.seconds)
        return result.accuracy

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed)
    )
    start = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    trained_trials = [t for t in study.trials if "config" in t.user_attrs and t.values]
    best = max(trained_trials, key=lambda t: float(t.values[0]))
    retired = study.user_attrs.get("near:size_rule")
    return {
        "seconds": time.perf_counter() - start,
        "trainings": len(trained),
        "training_seconds": sum(trained),
        "best": float(best.values[0]),
        "config": best.user_attrs["config"],
        "gated": n_trials - len(trained),
        "probes": sum("near:size_probe" in t.user_attrs for t in study.trials),
        "retired": None if retired is None else retired["completed"],
    }


def final_accuracy(data: Dataset, config: list[Any], *, epochs: int, seeds: int) -> float:
    """Mean test accuracy of ``config`` trained on the full training split."""
    widths, activation, init = config
    accs = [
        train_and_evaluate(
            build_mlp(
                data.in_features,
                list(widths),
                data.n_classes,
                activation=str(activation),
                init=str(init),
                seed=s,
            ),
            data,
            epochs=epochs,
            seed=s,
        ).accuracy
        for s in range(seeds)
    ]
    return statistics.fmean(accs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist1d"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--final-epochs", type=int, default=30)
    parser.add_argument("--final-seeds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", default=None, help="also write the tables to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    text = [
        f"{args.n_trials} trials per study (TPE, seed = the run's seed), {args.epochs} epochs "
        f"per trial; winners retrained {args.final_seeds}x{args.final_epochs} epochs; "
        f"{args.threads} torch thread(s)."
    ]
    for name in args.datasets:
        rows: dict[str, list[dict[str, Any]]] = {variant: [] for variant in args.variants}
        cache: dict[str, float] = {}
        for seed in range(args.seeds):
            data = load_dataset(name, seed=seed)
            tune = tuning_split(data, seed)
            for variant in args.variants:
                row = run_study(
                    tune, variant=variant, n_trials=args.n_trials, seed=seed, epochs=args.epochs
                )
                key = f"{seed}:{row['config']}"
                if key not in cache:
                    cache[key] = final_accuracy(
                        data, row["config"], epochs=args.final_epochs, seeds=args.final_seeds
                    )
                row["test"] = cache[key]
                rows[variant].append(row)
                print(f"{name} seed {seed} {variant}: {row}", flush=True)
        text += [per_seed(name, rows), summary(name, rows)]
        print("\n".join(text[-2:]), flush=True)
    if args.out:
        Path(args.out).write_text("\n\n".join(text) + "\n")


def per_seed(name: str, rows: dict[str, list[dict[str, Any]]]) -> str:
    lines = [
        f"**{name}, per seed**",
        "",
        "| seed | study | wall time (s) | trainings | training time (s) | gated (of which "
        "probes trained) | size rule retired after | best validation acc. | winner | winner's "
        "test acc. |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for variant, runs in rows.items():
        for seed, r in enumerate(runs):
            retired = "-" if r["retired"] is None else f"{r['retired']} trials"
            lines.append(
                f"| {seed} | {variant} | {r['seconds']:.1f} | {r['trainings']} | "
                f"{r['training_seconds']:.1f} | {r['gated']} ({r['probes']}) | {retired} | "
                f"{r['best']:.4f} | {r['config']} | {r['test']:.4f} |"
            )
    return "\n".join(lines)


def summary(name: str, rows: dict[str, list[dict[str, Any]]]) -> str:
    """Means over seeds, paired against the ungated study of the same seed."""
    base = rows.get("without gate")
    lines = [
        f"**{name}, mean of {len(next(iter(rows.values())))} seeds**",
        "",
        "| study | training time (s) | saved | winner's test acc. | against ungated (points) "
        "| goal (within 0.5 point, >= 25% saved) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for variant, runs in rows.items():
        time_ = statistics.fmean(r["training_seconds"] for r in runs)
        test = statistics.fmean(r["test"] for r in runs)
        if base is None or variant == "without gate":
            lines.append(f"| {variant} | {time_:.1f} | - | {test:.4f} | - | - |")
            continue
        saved = 1 - sum(r["training_seconds"] for r in runs) / sum(
            r["training_seconds"] for r in base
        )
        delta = 100 * (test - statistics.fmean(r["test"] for r in base))
        met = "met" if delta >= -0.5 and saved >= 0.25 else "not met"
        lines.append(
            f"| {variant} | {time_:.1f} | {saved:.0%} | {test:.4f} | {delta:+.2f} | {met} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
