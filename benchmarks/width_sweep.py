"""Trained accuracy against hidden width: the ground truth for layer-size estimates.

Usage: python benchmarks/width_sweep.py [--datasets digits mnist1d] [--seeds 3] [--out FILE]

For each dataset and width, trains a one-hidden-layer ReLU MLP (default init) with the fixed
recipe of near_optuna.measure._train (Adam 1e-3, batch 64, 30 epochs) for several seeds and
prints the mean and spread of the test accuracy as a Markdown table (and CSV with --out).
"""

from __future__ import annotations

import argparse
import statistics

from near_optuna import build_mlp
from near_optuna.data._datasets import load_dataset
from near_optuna.measure._train import train_and_evaluate

WIDTHS = (4, 8, 16, 32, 64, 128, 256, 512, 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist1d"])
    parser.add_argument("--widths", nargs="+", type=int, default=list(WIDTHS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default=None, help="also write the rows as CSV")
    args = parser.parse_args()
    rows = []
    print("| dataset | width | accuracy (mean) | std | seconds per run |")
    print("|---|---:|---:|---:|---:|")
    for name in args.datasets:
        data = load_dataset(name)
        for width in args.widths:
            runs = [
                train_and_evaluate(
                    build_mlp(data.in_features, [width], data.n_classes, seed=seed),
                    data,
                    epochs=args.epochs,
                    seed=seed,
                )
                for seed in range(args.seeds)
            ]
            accs = [r.accuracy for r in runs]
            mean, std = statistics.fmean(accs), statistics.pstdev(accs)
            secs = statistics.fmean(r.seconds for r in runs)
            rows.append((name, width, mean, std))
            print(f"| {name} | {width} | {mean:.4f} | {std:.4f} | {secs:.1f} |", flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("dataset,width,accuracy,std\n")
            fh.writelines(f"{n},{w},{m:.5f},{s:.5f}\n" for n, w, m, s in rows)


if __name__ == "__main__":
    main()
