"""Seeded repetitions of a measurement: which rows and which initialisation each one uses.

Every score that averages over repetitions draws them here, so equal seeds give equal scores
whichever score is computed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

INIT_STREAM, ROWS_STREAM = 0, 1


def repetition_generator(seed: int, repetition: int, stream: int = INIT_STREAM) -> torch.Generator:
    """A ``torch.Generator`` for one repetition, well mixed from ``(seed, repetition, stream)``.

    Stream 0 initialises the weights, so repetition ``r`` of a score with ``init`` measures
    exactly ``apply_init(model, init, repetition_generator(seed, r))``; stream 1 draws rows.

    Example:
        >>> a, b = repetition_generator(0, 1), repetition_generator(0, 1)
        >>> bool(torch.rand(1, generator=a) == torch.rand(1, generator=b))
        True
    """
    state = np.random.SeedSequence([seed, repetition, stream]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)


@dataclass(frozen=True)
class Repetition:
    """One repetition: its batch of rows and the generators of its initialisation and rows."""

    batch: torch.Tensor
    init: torch.Generator
    rows: torch.Generator


def draw_repetitions(
    inputs: torch.Tensor, size: int, repetitions: int, seed: int
) -> Iterator[Repetition]:
    """``repetitions`` batches of ``size`` rows of ``inputs``, with their generators.

    Repetition 0 measures the first rows, so one repetition is exactly reproducible from the
    caller's order; later repetitions draw their rows at random (seeded).
    """
    for r in range(repetitions):
        rows = repetition_generator(seed, r, ROWS_STREAM)
        batch = inputs[:size]
        if r > 0:
            batch = inputs[torch.randperm(inputs.shape[0], generator=rows)[:size]]
        yield Repetition(batch, repetition_generator(seed, r, INIT_STREAM), rows)
