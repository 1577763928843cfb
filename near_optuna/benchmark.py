"""Time ``near_score`` against a baseline shaped like the authors' released code.

Run ``python -m near_optuna.benchmark`` (``--help`` for options). For each width it scores a
depth-3 ReLU MLP on the digits data with 5 repetitions, alternating the two implementations in
one run, and prints the median time of each, their ratio and the largest relative difference
of the scores. Timings on a shared machine are noisy: read the ratio, not the seconds.

The baseline follows ``ReiherGroup/NEAR`` ``get_near_score``: forward hooks on every module that
has a weight or is an activation, a forward pass per repetition with autograd on, then, for
every hooked output, ``torch.linalg.svdvals`` in float64 and ``scipy.stats.entropy``. It runs
on the same float64 copy of the model, rows and seeded initialisations as ``near_score``, so
the two scores must agree to rounding.
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import time
from collections.abc import Sequence

import torch
from scipy.stats import entropy
from torch import nn

from near_optuna.data._datasets import load_dataset
from near_optuna.measure._layers import ACTIVATION_TYPES
from near_optuna.measure._mlp import apply_init, build_mlp
from near_optuna.measure._repetitions import draw_repetitions
from near_optuna.measure._score import near_score

DEFAULT_WIDTHS = (64, 256, 1024)
DEFAULT_DEPTH = 3
DEFAULT_REPEATS = 5


def baseline_near(
    model: nn.Module, inputs: torch.Tensor, *, repetitions: int, init: str, seed: int
) -> float:
    """The NEAR score computed the straightforward way (authors' shape, float64 SVD)."""
    probe = copy.deepcopy(model).double()
    x = inputs.double()
    size = min(
        x.shape[0], max(m.out_features for m in probe.modules() if isinstance(m, nn.Linear))
    )
    totals = []
    for rep in draw_repetitions(x, size, repetitions, seed):
        apply_init(probe, init, rep.init)
        batch = rep.batch
        outputs: list[torch.Tensor] = []
        keep = outputs.append
        handles = [
            module.register_forward_hook(lambda _m, _i, out, keep=keep: keep(out))
            for module in probe.modules()
            if isinstance(module, ACTIVATION_TYPES)
            or isinstance(getattr(module, "weight", None), torch.Tensor)
        ]
        try:
            probe(batch)
        finally:
            for handle in handles:
                handle.remove()
        total = 0.0
        for out in outputs:
            matrix = out[: out.shape[1]].detach()
            s = torch.linalg.svdvals(matrix.double())
            total += 0.0 if s.sum() == 0 else math.exp(entropy((s / s.sum()).numpy()))
        totals.append(total)
    return statistics.fmean(totals)


def run(
    widths: Sequence[int], *, depth: int, repetitions: int, repeats: int, seed: int
) -> list[dict[str, float]]:
    """Time both implementations on digits; one result row per width."""
    data = load_dataset("digits")
    x = torch.from_numpy(data.x_train)
    rows = []
    for width in widths:
        model = build_mlp(data.in_features, [width] * depth, data.n_classes, seed=seed)
        ours_t, base_t = [], []
        for _ in range(repeats):  # alternate, so drift in machine load hits both alike
            start = time.perf_counter()
            ours = near_score(model, x, repetitions=repetitions, init="default", seed=seed)
            ours_t.append(time.perf_counter() - start)
            start = time.perf_counter()
            base = baseline_near(model, x, repetitions=repetitions, init="default", seed=seed)
            base_t.append(time.perf_counter() - start)
        ours_m, base_m = statistics.median(ours_t), statistics.median(base_t)
        rows.append(
            {
                "width": width,
                "near_score_s": ours_m,
                "baseline_s": base_m,
                "speedup": base_m / ours_m,
                "rel_diff": abs(ours.total - base) / abs(base),
            }
        )
    return rows


def format_table(rows: list[dict[str, float]]) -> str:
    """A Markdown table of the results."""
    lines = [
        "| width | near_score (s) | baseline (s) | speed-up | score rel. diff |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['width']:.0f} | {r['near_score_s']:.4f} | {r['baseline_s']:.4f} | "
        f"{r['speedup']:.2f}x | {r['rel_diff']:.1e} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m near_optuna.benchmark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--widths", type=int, nargs="+", default=list(DEFAULT_WIDTHS))
    parser.add_argument("--depth", type=int, default=DEFAULT_DEPTH)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        help="timed runs per implementation and width (median reported)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = run(
        args.widths,
        depth=args.depth,
        repetitions=args.repetitions,
        repeats=args.repeats,
        seed=args.seed,
    )
    print(
        f"depth {args.depth}, {args.repetitions} repetitions, torch threads "
        f"{torch.get_num_threads()}, median of {args.repeats} runs each"
    )
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
