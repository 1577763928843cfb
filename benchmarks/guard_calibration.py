"""Measure NEAR, the signal-scale statistics and the trained score over a spread of MLPs.

Usage (the grids of benchmarks/results/guard_*.csv):
    python benchmarks/guard_calibration.py --dataset digits --out guard_digits.csv
    python benchmarks/guard_calibration.py --dataset mnist1d --widths 64 --depths 2 ...
    python benchmarks/guard_calibration.py --dataset diabetes --widths 8 16 64 ...
    python benchmarks/guard_calibration.py --dataset participation --widths 8 16 64 ...
    python benchmarks/guard_calibration.py --dataset wages --widths 16 64 ...
    python benchmarks/guard_calibration.py --dataset workinghours --widths 16 64 ...
    python benchmarks/guard_calibration.py --dataset digits --rescore guard_digits.csv \
        --out guard_digits.csv    # new statistics for a grid already trained

``--dataset`` is a built-in dataset (``digits``, ``mnist1d``, ``diabetes``, ...) or one of the
low-dimensional tables of ``benchmarks/lowdim_tables.py`` (``wages``, ``workinghours``,
``participation``). Every activation x initialisation x width x depth of the grid is scored
(NEAR, 3 repetitions of its own initialisation) and trained once from that initialisation with
the fixed recipe of near_optuna.measure._train; ``score`` is the test accuracy (classes) or R²
(regression). Beside the guard's statistics, each row holds per-layer candidates the guard does
not use (see :func:`signal_columns`). The CSV feeds the threshold choice in
docs/choosing.md ("Signal-scale guard"); ``guard_analysis.py`` reads it.
"""

from __future__ import annotations

import argparse
import copy
import csv
import itertools
import sys

import torch
from lowdim_tables import TABLES, load_table
from torch import nn

from near_optuna import (
    ACTIVATIONS,
    INITS,
    Dataset,
    SignalStats,
    build_mlp,
    near_score,
    param_score,
)
from near_optuna.data._datasets import load_dataset
from near_optuna.measure._capture import recording
from near_optuna.measure._guard import _peak_slope, _rms, _slope, signal_stats
from near_optuna.measure._mlp import apply_init
from near_optuna.measure._repetitions import repetition_generator
from near_optuna.measure._score import _batch_size
from near_optuna.measure._train import train_and_evaluate

FIELDS = (
    "activation",
    "init",
    "width",
    "depth",
    "near",
    "params",
    "input_rms",
    "output_rms",
    "max_growth",
    "max_saturation",
    "max_drive",
    "layer_rms",
    "pre_rms",
    "saturation",
    "drive",
    "half_slope",
    "mean_slope",
    "metric",
    "score",
    "train_loss",
)


def _joined(values: tuple[float, ...]) -> str:
    return ";".join(f"{v:.4g}" for v in values)


def first_pass(model: nn.Module, x: torch.Tensor, init: str) -> tuple[torch.Tensor, list]:
    """The input and layers of near_score's first forward pass (same rows and weights)."""
    probe = copy.deepcopy(model).double().eval()
    apply_init(probe, init, repetition_generator(0, 0))
    batch = x[: _batch_size(probe, x.shape[0], None)].double()
    with torch.no_grad(), recording(probe) as recorder:
        probe(batch)
    return batch, recorder.layers


def _relative_slopes(layer) -> torch.Tensor:
    return _slope(layer.activation, layer.pre.double()).abs() / _peak_slope(layer.activation)


def signal_columns(signal: SignalStats, x: torch.Tensor, model: nn.Module, init: str) -> dict:
    """The guard's statistics, and per hidden layer candidates that it does not use.

    Candidates: ``pre_rms``, the RMS of the pre-activation; ``half_slope``, the fraction of
    entries where the slope is below half its peak; ``mean_slope``, the mean slope over the
    peak. Per-layer values are joined with ``;``.
    """
    batch, layers = first_pass(model, x, init)
    assert signal_stats(batch, layers) == signal, "first_pass must see what near_score saw"
    slopes = [_relative_slopes(layer) for layer in layers if layer.post is not None]
    return {
        "input_rms": f"{signal.input_rms:.6g}",
        "output_rms": f"{signal.output_rms:.6g}",
        "max_growth": f"{signal.max_growth:.6g}",
        "max_saturation": f"{signal.max_saturation:.4f}",
        "max_drive": f"{signal.max_drive:.4g}",
        "layer_rms": _joined(signal.layer_rms),
        "pre_rms": _joined(tuple(_rms(layer.pre) for layer in layers if layer.post is not None)),
        "saturation": _joined(signal.saturation),
        "drive": _joined(signal.drive),
        "half_slope": _joined(tuple(float((s < 0.5).double().mean()) for s in slopes)),
        "mean_slope": _joined(tuple(float(s.mean()) for s in slopes)),
    }


def at_init(data: Dataset, act: str, init: str, widths: list[int]) -> tuple[nn.Module, dict]:
    """The seeded model and its columns before training: NEAR and the signal statistics."""
    model = build_mlp(
        data.in_features, widths, data.out_features, activation=act, init=init, seed=0
    )
    x = torch.from_numpy(data.x_train)
    score = near_score(model, x, repetitions=3, init=init, seed=0)
    assert score.signal is not None
    return model, {
        "activation": act,
        "init": init,
        "width": widths[0],
        "depth": len(widths),
        "near": round(score.total, 4),
        "params": int(param_score(model)),
        **signal_columns(score.signal, x, model, init),
    }


def measure(data: Dataset, act: str, init: str, widths: list[int], epochs: int) -> dict:
    """One row of the CSV: NEAR and the guard's statistics at init, then the trained score."""
    model, row = at_init(data, act, init, widths)
    result = train_and_evaluate(model, data, epochs=epochs, seed=0)
    return {
        **row,
        "metric": result.metric,
        "score": round(result.score, 4),
        "train_loss": f"{result.train_loss:.5g}",
    }


def rescore(data: Dataset, old: dict[str, str]) -> dict:
    """``old``'s row with its at-init columns measured again and its trained score kept.

    For new statistics on an existing grid without training it again. Files written before
    the ``score`` column existed hold classification accuracy in ``accuracy``.
    """
    widths = [int(old["width"])] * int(old["depth"])
    _, row = at_init(data, old["activation"], old["init"], widths)
    assert abs(row["near"] - float(old["near"])) < 1e-3, f"NEAR moved: {old} -> {row}"
    score = old.get("score", old.get("accuracy"))
    return {
        **row,
        "metric": old.get("metric", "accuracy"),
        "score": score,
        "train_loss": old["train_loss"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--widths", nargs="+", type=int, default=[32, 128])
    parser.add_argument("--depths", nargs="+", type=int, default=[1, 3])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--rescore",
        metavar="CSV",
        help="measure the at-init columns of this file's rows again and keep their trained "
        "scores (no training; the grid options are ignored)",
    )
    args = parser.parse_args()
    data = load_table(args.dataset) if args.dataset in TABLES else load_dataset(args.dataset)
    if args.rescore:
        with open(args.rescore) as fh:
            old_rows = list(csv.DictReader(fh))
        rows = (rescore(data, old) for old in old_rows)
    else:
        grid = itertools.product(ACTIVATIONS, INITS, args.widths, args.depths)
        rows = (measure(data, a, i, [w] * d, args.epochs) for a, i, w, d in grid)
    with open(args.out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        for i, row in enumerate(rows):
            writer.writerow(row)
            fh.flush()
            print(i, *(row[k] for k in FIELDS[:5]), row["score"], file=sys.stderr)


if __name__ == "__main__":
    main()
