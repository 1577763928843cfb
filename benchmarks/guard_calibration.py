"""Measure NEAR, the signal-scale statistics and trained accuracy over a spread of MLPs.

Usage:
    python benchmarks/guard_calibration.py --dataset digits \
        --out benchmarks/results/guard_digits.csv

Every activation x initialisation x width x depth of the grid is scored (NEAR, 3 repetitions
of its own initialisation) and trained once from that initialisation with the fixed recipe of
near_optuna.measure._train. The CSV feeds the threshold choice in the README
("Signal-scale guard").
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys

import torch

from near_optuna import ACTIVATIONS, INITS, build_mlp, near_score, param_score
from near_optuna.data._datasets import load_dataset
from near_optuna.measure._train import train_and_evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--widths", nargs="+", type=int, default=[32, 128])
    parser.add_argument("--depths", nargs="+", type=int, default=[1, 3])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    x = torch.from_numpy(data.x_train)
    fields = [
        "activation",
        "init",
        "width",
        "depth",
        "near",
        "params",
        "output_rms",
        "max_growth",
        "max_saturation",
        "accuracy",
        "train_loss",
    ]
    with open(args.out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        grid = itertools.product(ACTIVATIONS, INITS, args.widths, args.depths)
        for i, (act, init, width, depth) in enumerate(grid):
            widths = [width] * depth
            model = build_mlp(
                data.in_features, widths, data.n_classes, activation=act, init=init, seed=0
            )
            score = near_score(model, x, repetitions=3, init=init, seed=0)
            assert score.signal is not None
            result = train_and_evaluate(model, data, epochs=args.epochs, seed=0)
            writer.writerow(
                {
                    "activation": act,
                    "init": init,
                    "width": width,
                    "depth": depth,
                    "near": round(score.total, 4),
                    "params": int(param_score(model)),
                    "output_rms": f"{score.signal.output_rms:.6g}",
                    "max_growth": f"{score.signal.max_growth:.6g}",
                    "max_saturation": f"{score.signal.max_saturation:.4f}",
                    "accuracy": round(result.accuracy, 4),
                    "train_loss": f"{result.train_loss:.5g}",
                }
            )
            fh.flush()
            print(
                i,
                act,
                init,
                width,
                depth,
                round(score.total, 1),
                result.accuracy,
                file=sys.stderr,
                flush=True,
            )


if __name__ == "__main__":
    main()
