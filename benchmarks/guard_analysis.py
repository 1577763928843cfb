"""Rank agreement of NEAR with the trained score, with and without the signal-scale guard.

Usage: python benchmarks/guard_analysis.py benchmarks/results/guard_digits.csv [...]

Reads the CSVs of ``guard_calibration.py``. A guarded score keeps NEAR for accepted
configurations and ranks every rejected one below all accepted ones (tied); the verdicts are
``SignalGuard.verdict`` on the statistics stored in each row. Prints Markdown tables: Spearman
rho for NEAR, NEAR + guard and the parameter count and what the guard rejected; how rho moves
with each threshold (``max_drive`` inf is the guard without its drive rule); and candidate
rules for saturated layers, each added to that guard without the drive rule.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import math
from collections.abc import Callable

import numpy as np
from scipy.stats import spearmanr

from near_optuna import SignalGuard, SignalStats

Row = dict[str, object]


def _floats(cell: str) -> tuple[float, ...]:
    return tuple(float(v) for v in cell.split(";")) if cell else ()


def load(path: str) -> list[Row]:
    """The CSV's rows with numbers parsed, per-layer cells as tuples and ``stats`` rebuilt."""
    rows: list[Row] = []
    with open(path) as fh:
        for cell in csv.DictReader(fh):
            row: Row = dict(cell)
            for key in ("near", "params", "output_rms", "max_growth", "score", "input_rms"):
                row[key] = float(cell[key])
            for key in ("layer_rms", "pre_rms", "saturation", "drive", "half_slope"):
                row[key] = _floats(cell[key])
            row["stats"] = SignalStats(
                input_rms=float(cell["input_rms"]),
                layer_rms=row["layer_rms"],
                output_rms=float(cell["output_rms"]),
                saturation=row["saturation"],
                drive=row["drive"],
            )
            rows.append(row)
    return rows


Rule = Callable[[Row], bool]


def guard_rule(guard: SignalGuard) -> Rule:
    """Whether ``guard`` rejects a row."""
    return lambda row: guard.verdict(row["stats"]) is not None


def rho(rows: list[Row], rejects: Rule | None) -> tuple[float, np.ndarray]:
    """Spearman rho of (guarded) NEAR with the trained score, and the rejection flags."""
    score = np.array([r["score"] for r in rows])
    near = np.array([r["near"] for r in rows])
    flags = np.array([rejects is not None and rejects(r) for r in rows], dtype=bool)
    guarded = np.where(flags, near.min() - 1.0, near)
    return float(spearmanr(guarded, score).statistic), flags


def _pre_growth(row: Row) -> float:
    chain = [row["input_rms"], *row["pre_rms"], row["output_rms"]]
    return max(b / a if a > 0 else math.inf for a, b in itertools.pairwise(chain))


def candidates(base: Rule) -> dict[str, Rule]:
    """Rules for saturated layers that were measured against the drive rule.

    Pre-activation growth is the largest RMS ratio along input, each hidden layer's
    pre-activation, output.
    """
    rules: dict[str, Rule] = {"none (guard without drive)": base}
    for t in (0.5, 0.6, 0.7):
        rules[f"max saturation > {t}"] = lambda r, t=t: (
            base(r) or max(r["saturation"], default=0) > t
        )
    for t in (0.4, 0.5):
        rules[f"mean saturation > {t}"] = lambda r, t=t: (
            base(r) or (bool(r["saturation"]) and float(np.mean(r["saturation"])) > t)
        )
    for t in (0.7, 0.8):
        rules[f"slope < half peak in > {t:.0%}"] = lambda r, t=t: (
            base(r) or (max(r["half_slope"], default=0) > t)
        )
    for t in (2.5, 3.0):
        rules[f"pre-activation growth > {t}"] = lambda r, t=t: base(r) or _pre_growth(r) > t
    for t in (1.5, 2.0, 3.0):
        rules[f"drive > {t}"] = lambda r, t=t: base(r) or max(r["drive"], default=0) > t
    rules["drive > 2.0 and pre-activation growth > 3.0"] = lambda r: (
        base(r) or max(r["drive"], default=0) > 2.0 or _pre_growth(r) > 3.0
    )
    return rules


def _name(path: str) -> str:
    return path.split("/")[-1]


def summary(paths: list[str]) -> None:
    """Per file: rho of each score, with the guard before and after its drive rule."""
    guard = SignalGuard()
    before = dataclasses.replace(guard, max_drive=math.inf)
    print(
        "| data | metric | configs | rho(params) | rho(NEAR) | rho(NEAR + guard without drive) "
        "| rho(NEAR + guard) | rejected (without drive) | mean (median) score rejected | "
        "mean (median) score kept |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in paths:
        rows = load(path)
        score = np.array([r["score"] for r in rows])
        params = [r["params"] for r in rows]
        r_params = float(spearmanr(params, score).statistic) if len(set(params)) > 1 else None
        r_near, _ = rho(rows, None)
        r_before, flags_before = rho(rows, guard_rule(before))
        r_guard, flags = rho(rows, guard_rule(guard))
        shown = "n/a (one size)" if r_params is None else f"{r_params:.3f}"
        rejected = (
            f"{score[flags].mean():.3g} ({np.median(score[flags]):.3f})" if flags.any() else "-"
        )
        kept = f"{score[~flags].mean():.3g} ({np.median(score[~flags]):.3f})"
        print(
            f"| {_name(path)} | {rows[0]['metric']} | {len(rows)} | {shown} | {r_near:.3f} | "
            f"{r_before:.3f} | {r_guard:.3f} | {int(flags.sum())} ({int(flags_before.sum())}) "
            f"| {rejected} | {kept} |"
        )


def drive_effect(paths: list[str]) -> None:
    """Per file: the networks only the drive rule rejects, and tanh/sigmoid + normal ones."""
    guard = SignalGuard()
    before = dataclasses.replace(guard, max_drive=math.inf)
    print(
        "| data | added by drive: count, mean (median) score | tanh + normal, sigmoid + normal "
        "rejected without drive | with drive |"
    )
    print("|---|---:|---:|---:|")
    for path in paths:
        rows = load(path)
        added = [
            r["score"]
            for r in rows
            if guard.verdict(r["stats"]) is not None and before.verdict(r["stats"]) is None
        ]
        shown = f"{len(added)}, {np.mean(added):.3g} ({np.median(added):.3f})" if added else "0"
        cells = []
        for g in (before, guard):
            counts = []
            for act in ("tanh", "sigmoid"):
                net = [r for r in rows if r["activation"] == act and r["init"] == "normal"]
                counts.append(f"{sum(g.verdict(r['stats']) is not None for r in net)}/{len(net)}")
            cells.append(", ".join(counts))
        print(f"| {_name(path)} | {shown} | {cells[0]} | {cells[1]} |")


def _table(paths: list[str], rules: dict[str, Rule], header: str) -> None:
    data = {path: load(path) for path in paths}
    print(f"| {header} | " + " | ".join(_name(p) for p in paths) + " |")
    print("|---|" + "---:|" * len(paths))
    for label, rule in rules.items():
        cells = []
        for path in paths:
            with np.errstate(all="ignore"):
                r, flags = rho(data[path], rule)
            cells.append(f"{r:.3f} ({int(flags.sum())} rej.)")
        print(f"| {label} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    summary(args.files)
    print()
    drive_effect(args.files)
    print()
    sweeps = {
        "max_output_rms": [3, 10, 30, 100, 1000, math.inf],
        "max_growth": [2, 3, 4, 8, 16, math.inf],
        "max_saturation": [0.6, 0.7, 0.8, 0.9, 0.95, 1.0],
        "max_drive": [1.5, 2, 2.5, 3, 4, math.inf],
    }
    rules = {
        f"{name} = {value:g}": guard_rule(SignalGuard(**{name: value}))
        for name, values in sweeps.items()
        for value in values
    }
    _table(args.files, rules, "threshold (others at their defaults)")
    print()
    base = guard_rule(dataclasses.replace(SignalGuard(), max_drive=math.inf))
    _table(args.files, candidates(base), "added to the guard without drive")


if __name__ == "__main__":
    main()
