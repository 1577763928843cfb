"""How well NEAR (with and without the signal-scale guard) ranks trained regression MLPs.

Usage: python benchmarks/regression_ranking.py [--configs 40] [--seeds 2] [--epochs 60]
       [--out benchmarks/results/regression_ranking.md]

For each regression dataset (scikit-learn's bundled diabetes data, and make_friedman1
generated offline), draws random configurations from the CLI's default search space (depth
1-3, widths 8-512 on a log scale, its activations and all initialisations), scores each with
NEAR (5 initialisations, the guard's verdict recorded), trains it with the fixed recipe
(Adam, MSE) for several seeds and reports the test R² (the test split only reports here; no
choice is made on it). Prints, per dataset, the Spearman correlation of the trained R² with
NEAR, with NEAR where guard-rejected networks rank last, and with the parameter count, and
how NEAR's pick compares with the best trained configuration.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from scipy.stats import spearmanr

from near_optuna import build_mlp, evaluate_config, from_arrays, load_dataset, train_and_evaluate
from near_optuna.measure._names import DEFAULT_ACTIVATIONS, INIT_NAMES


def datasets(seed: int) -> dict[str, object]:
    from sklearn.datasets import make_friedman1

    x, y = make_friedman1(n_samples=2000, noise=1.0, random_state=seed)
    friedman = from_arrays(x, y, task="regression", name="friedman1", seed=seed)
    return {"diabetes": load_dataset("diabetes", seed=seed), "friedman1": friedman}


def configs(count: int, seed: int) -> list[tuple[list[int], str, str]]:
    rng = np.random.default_rng(seed)
    drawn = []
    for _ in range(count):
        depth = int(rng.integers(1, 4))
        widths = [round(float(np.exp(rng.uniform(np.log(8), np.log(512))))) for _ in range(depth)]
        drawn.append((widths, str(rng.choice(DEFAULT_ACTIVATIONS)), str(rng.choice(INIT_NAMES))))
    return drawn


def rank_with_guard(values: list[float], rejected: list[bool]) -> list[float]:
    low = min(values) - 1.0
    return [low - 1.0 if bad else v for v, bad in zip(values, rejected, strict=True)]


def run(data, drawn, *, seeds: int, epochs: int) -> list[dict[str, object]]:
    x = torch.from_numpy(data.x_train)
    rows = []
    for widths, activation, init in drawn:
        result = evaluate_config(x, widths, activation, init, out_features=1)
        scores = []
        for seed in range(seeds):
            model = build_mlp(
                data.in_features, widths, 1, activation=activation, init=init, seed=seed
            )
            scores.append(train_and_evaluate(model, data, epochs=epochs, seed=seed).score)
        rows.append(
            {
                "widths": widths,
                "activation": activation,
                "init": init,
                "near": result.value,
                "rejected": result.pruned is not None,
                "params": result.n_params,
                "r2": statistics.fmean(max(s, -1.0) for s in scores),  # floor diverged runs
            }
        )
    return rows


def summarise(name: str, rows: list[dict[str, object]]) -> str:
    near = [float(r["near"]) for r in rows]
    r2 = [float(r["r2"]) for r in rows]
    rejected = [bool(r["rejected"]) for r in rows]
    params = [float(r["params"]) for r in rows]
    rho = spearmanr(near, r2).statistic
    rho_guard = spearmanr(rank_with_guard(near, rejected), r2).statistic
    rho_params = spearmanr(params, r2).statistic
    kept = [r for r in rows if not r["rejected"]]
    pick = max(kept, key=lambda r: float(r["near"]))
    best = max(rows, key=lambda r: float(r["r2"]))
    mean_rejected = statistics.fmean([float(r["r2"]) for r in rows if r["rejected"]] or [np.nan])
    mean_kept = statistics.fmean([float(r["r2"]) for r in kept])
    return (
        f"| {name} | {len(rows)} | {rho_params:.3f} | {rho:.3f} | {rho_guard:.3f} | "
        f"{sum(rejected)} | {mean_rejected:.3f} | {mean_kept:.3f} | "
        f"{pick['widths']} {pick['activation']} {pick['init']} ({float(pick['r2']):.3f}) | "
        f"{best['widths']} {best['activation']} {best['init']} ({float(best['r2']):.3f}) |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    drawn = configs(args.configs, args.seed)
    lines = [
        "| data | configs | rho(params) | rho(NEAR) | rho(NEAR + guard) | rejected | "
        "mean R² rejected | mean R² kept | NEAR's pick (R²) | best trained (R²) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    start = time.perf_counter()
    for name, data in datasets(args.seed).items():
        lines.append(summarise(name, run(data, drawn, seeds=args.seeds, epochs=args.epochs)))
        print(lines[-1], flush=True)
    text = "\n".join(lines) + f"\n\n{args.configs} configurations, {args.seeds} seeds, "
    text += f"{args.epochs} epochs; {time.perf_counter() - start:.0f} s.\n"
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
