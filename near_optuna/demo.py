"""Score a few MLPs on the built-in digits data, without training them.

Run ``python -m near_optuna.demo``: it prints NEAR (mean and spread over 5 initialisations),
its per-layer breakdown and the parameter count for a handful of architectures.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import torch

from near_optuna._data import load_dataset
from near_optuna._mlp import build_mlp
from near_optuna._peers import param_score
from near_optuna._score import near_score

CANDIDATES: tuple[tuple[tuple[int, ...], str, str], ...] = (
    ((16,), "relu", "kaiming_uniform"),
    ((64,), "relu", "kaiming_uniform"),
    ((256,), "relu", "kaiming_uniform"),
    ((64, 64), "relu", "kaiming_uniform"),
    ((64, 64), "tanh", "xavier_uniform"),
    ((64, 64), "sigmoid", "normal"),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m near_optuna.demo", description=__doc__)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args(argv)
    data = load_dataset(args.dataset)
    x = torch.from_numpy(data.x_train)
    print(f"{data.name}: {data.x_train.shape[0]} samples, {data.in_features} features")
    print(f"{'widths':<12}{'activation':<11}{'init':<17}{'NEAR':>14}{'params':>9}  per layer")
    for widths, activation, init in CANDIDATES:
        model = build_mlp(data.in_features, widths, data.n_classes, activation=activation)
        start = time.perf_counter()
        score = near_score(model, x, repetitions=args.repetitions, init=init, seed=0)
        elapsed = time.perf_counter() - start
        layers = " + ".join(f"{layer.total:.1f}" for layer in score.layers)
        print(
            f"{widths!s:<12}{activation:<11}{init:<17}{score.total:>8.1f} ± {score.std:<4.1f}"
            f"{param_score(model):>9.0f}  {layers}  ({elapsed * 1000:.0f} ms)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
