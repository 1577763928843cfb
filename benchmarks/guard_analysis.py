"""Rank agreement of NEAR with trained accuracy, with and without the signal-scale guard.

Usage: python benchmarks/guard_analysis.py benchmarks/results/guard_digits.csv [...]

A guarded score keeps NEAR for accepted configurations and ranks every rejected one below all
accepted ones (tied). Prints Markdown tables: Spearman rho for NEAR, NEAR + guard and the
parameter count, what the guard rejected, and how rho moves with each threshold.
"""

from __future__ import annotations

import argparse
import csv
import math

import numpy as np
from scipy.stats import spearmanr

from near_optuna import SignalGuard


def load(path: str) -> list[dict[str, float | str]]:
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    numeric = ("near", "params", "output_rms", "max_growth", "max_saturation", "accuracy")
    return [{k: (float(v) if k in numeric else v) for k, v in row.items()} for row in rows]


def _verdict(guard: SignalGuard, output_rms: float, growth: float, sat: float) -> str | None:
    if not math.isfinite(output_rms) or output_rms > guard.max_output_rms:
        return "output"
    if growth > guard.max_growth:
        return "growth"
    if sat > guard.max_saturation:
        return "saturation"
    return None


def rho(rows, guard: SignalGuard | None) -> tuple[float, int]:
    acc = np.array([r["accuracy"] for r in rows])
    score = np.array([r["near"] for r in rows])
    pruned = 0
    if guard is not None:
        flags = np.array(
            [
                _verdict(guard, r["output_rms"], r["max_growth"], r["max_saturation"]) is not None
                for r in rows
            ]
        )
        pruned = int(flags.sum())
        score = np.where(flags, score.min() - 1.0, score)
    return float(spearmanr(score, acc).statistic), pruned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    default = SignalGuard()
    print(
        "| data | configs | rho(params) | rho(NEAR) | rho(NEAR + guard) | rejected | "
        "mean acc. rejected | mean acc. kept |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for path in args.files:
        rows = load(path)
        acc = np.array([r["accuracy"] for r in rows])
        flags = np.array(
            [
                _verdict(default, r["output_rms"], r["max_growth"], r["max_saturation"])
                is not None
                for r in rows
            ]
        )
        params = [r["params"] for r in rows]
        r_params = float(spearmanr(params, acc).statistic) if len(set(params)) > 1 else None
        r_near, _ = rho(rows, None)
        r_guard, n_pruned = rho(rows, default)
        shown = "n/a (one size)" if r_params is None else f"{r_params:.3f}"
        print(
            f"| {path.split('/')[-1]} | {len(rows)} | {shown} | {r_near:.3f} | "
            f"{r_guard:.3f} | {n_pruned} | {acc[flags].mean() if flags.any() else math.nan:.3f}"
            f" | {acc[~flags].mean():.3f} |"
        )
    print()
    print("| threshold | value | " + " | ".join(p.split("/")[-1] for p in args.files) + " |")
    print("|---|---:|" + "---:|" * len(args.files))
    sweeps = {
        "max_output_rms": [3, 10, 30, 100, 1000, math.inf],
        "max_growth": [2, 4, 8, 16, 64, math.inf],
        "max_saturation": [0.6, 0.7, 0.8, 0.9, 0.95, 1.0],
    }
    for name, values in sweeps.items():
        for value in values:
            guard = SignalGuard(**{name: value})
            cells = []
            for path in args.files:
                with np.errstate(all="ignore"):
                    r, n = rho(load(path), guard)
                cells.append(f"{r:.3f} ({n} rej.)")
            print(f"| {name} | {value:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
