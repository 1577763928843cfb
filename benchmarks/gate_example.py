"""An accuracy-driven Optuna study with and without ``NearGate``: training time saved.

Usage:
    python benchmarks/gate_example.py [--dataset digits] [--n-trials 40] [--seed 0]

Both studies use the same TPE seed, search space and number of trials. Each trial trains the
sampled MLP briefly (``--epochs``) on 80% of the training split and returns its accuracy on the
other 20%; the gated study first calls ``NearGate``, which may prune the trial before training.
Both winners are then trained with the same recipe on the full training split (``--final-epochs``,
``--final-seeds`` seeds) and evaluated on the test split, which tuning never saw. Prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

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

SPACE = SearchSpace(max_depth=3, min_width=8, max_width=512)


def tuning_split(data: Dataset, seed: int) -> Dataset:
    """Training split divided into tuning-train and validation (as ``x_test``)."""
    return from_arrays(data.x_train, data.y_train, test_fraction=0.2, seed=seed)


def run_study(
    tune: Dataset, *, gate: NearGate | None, n_trials: int, seed: int, epochs: int
) -> dict[str, object]:
    """One study; returns its cost and winner."""
    trained: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        widths, activation, init = SPACE.suggest(trial)
        model = build_mlp(
            tune.in_features, widths, tune.n_classes, activation=activation, init=init, seed=seed
        )
        if gate is not None:
            gate(trial, model)
        trial.set_user_attr("config", [list(widths), activation, init])
        result = train_and_evaluate(model, tune, epochs=epochs, seed=seed)
        trained.append(result.seconds)
        return result.accuracy

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed)
    )
    start = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    return {
        "seconds": time.perf_counter() - start,
        "trainings": len(trained),
        "training_seconds": sum(trained),
        "best": study.best_value,
        "config": study.best_trial.user_attrs["config"],
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
    }


def final_accuracy(data: Dataset, config: list[object], *, epochs: int, seeds: int) -> float:
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
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--n-trials", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--final-epochs", type=int, default=30)
    parser.add_argument("--final-seeds", type=int, default=3)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = load_dataset(args.dataset, seed=args.seed)
    tune = tuning_split(data, args.seed)
    rows = {}
    for name, gate in (
        ("without gate", None),
        ("with NearGate", NearGate(torch.from_numpy(tune.x_train), seed=args.seed)),
    ):
        rows[name] = run_study(
            tune, gate=gate, n_trials=args.n_trials, seed=args.seed, epochs=args.epochs
        )
        rows[name]["test"] = final_accuracy(
            data, rows[name]["config"], epochs=args.final_epochs, seeds=args.final_seeds
        )
    print(
        f"{args.dataset}, {args.n_trials} trials, TPE seed {args.seed}, {args.epochs} epochs per "
        f"trial; winners retrained {args.final_seeds}x{args.final_epochs} epochs"
    )
    print(
        "| study | wall time (s) | trainings | training time (s) | pruned | best validation "
        "acc. | winner | winner's test acc. |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['seconds']:.1f} | {r['trainings']} | {r['training_seconds']:.1f} | "
            f"{r['pruned']} | {r['best']:.4f} | {r['config']} | {r['test']:.4f} |"
        )


if __name__ == "__main__":
    main()
