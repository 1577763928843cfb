"""Layer-size estimates against the trained width sweep (benchmarks/results/width_sweep.csv).

Usage: python benchmarks/sizing_vs_training.py [--plot benchmarks/results/sizing.png]

"Trained knee" is the narrowest width whose mean test accuracy is within 1 point of the best
width's. Estimates: near_optuna's default (knee rule on the post-activation, 1024 rows), the
paper's square matrices with the same knee rule, the corrected slope rule and the released
formula t^(1/(c-1)) (both at the authors' default t = 0.005, on square matrices).
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict

import torch

from near_optuna import FitError, estimate_layer_size, load_dataset

SWEEP = "benchmarks/results/width_sweep.csv"


def trained() -> dict[str, dict[int, float]]:
    table: dict[str, dict[int, float]] = defaultdict(dict)
    with open(SWEEP) as fh:
        for row in csv.DictReader(fh):
            table[row["dataset"]][int(row["width"])] = float(row["accuracy"])
    return table


def accuracy_at(curve: dict[int, float], width: float) -> float:
    nearest = min(curve, key=lambda w: abs(w - width))
    return curve[nearest]


def plot(path: str, table: dict[str, dict[int, float]], estimates: dict[str, object]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in ("digits", "mnist1d") if n in table]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6))
    for ax, name in zip(axes, names, strict=True):
        curve = table[name]
        widths = sorted(curve)
        ax.plot(widths, [curve[w] for w in widths], "o-", label="trained test accuracy")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("hidden width")
        ax.set_ylabel("accuracy")
        est = estimates[name]
        ax.axvline(est.width, color="green", label=f"NEAR estimate ({est.width})")
        best = max(curve.values())
        knee = min(w for w, a in curve.items() if a >= best - 0.01)
        ax.axvline(knee, color="grey", ls="--", label=f"trained knee ({knee})")
        twin = ax.twinx()
        twin.plot(est.widths, est.relative, "s:", color="orange", label="erank / width")
        twin.set_ylabel("effective rank / width", color="orange")
        ax.set_title(name)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plot", default=None, help="write a PNG of digits and mnist1d")
    args = parser.parse_args()
    estimates = {}
    table = trained()
    print(
        "| dataset | trained knee (acc.) | default estimate (acc.) | square + knee | "
        "corrected slope | released formula |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, curve in table.items():
        best = max(curve.values())
        knee = min(w for w, a in curve.items() if a >= best - 0.01)
        data = load_dataset(name)
        x = torch.from_numpy(data.x_train)
        est = estimate_layer_size(x, out_features=data.n_classes)
        estimates[name] = est
        square = estimate_layer_size(x, out_features=data.n_classes, rows=None)
        slope, released = "refused", "refused"
        try:
            paper = estimate_layer_size(x, out_features=data.n_classes, rows=None, rule="slope")
            assert paper.fit is not None
            assert paper.slope_width is not None
            slope = f"{paper.slope_width:.0f}"
            released = f"{paper.slope ** (1 / (paper.fit.c - 1)):.0f}"
        except FitError as err:
            slope = f"refused ({str(err).split(':')[0]})"
        print(
            f"| {name} | {knee} ({curve[knee]:.3f}) | {est.width} "
            f"({accuracy_at(curve, est.width):.3f}) | {square.width} | {slope} | {released} |",
            flush=True,
        )
    if args.plot:
        plot(args.plot, table, estimates)


if __name__ == "__main__":
    main()
