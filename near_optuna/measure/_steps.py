"""Training counted in optimizer steps, paused and resumed at will.

:class:`StepTrainer` runs the recipe of :func:`~near_optuna.measure._train.train_epochs`
(Adam, mini-batches reshuffled every epoch from a seeded generator, a standardised regression
target) but stops after any number of optimizer steps and goes on later from the same place,
so that a scheduler can give many models equal step budgets in rounds (successive halving) and
time each one. Its steps are those of ``train_epochs`` with the same seed: ``k`` epochs of
steps leave the same weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from near_optuna.measure._train import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LR,
    is_regression,
    target_scale,
)


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block with one torch CPU thread, then restore the previous count.

    A step on 64 rows is too small to share between cores: on the 2-core machine, with other
    processes running, two threads made such steps 10 to 20 times slower than one (the
    threads wait for each other); on a quiet machine one thread is as fast.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class StepTrainer:
    """Train ``model`` in place on ``x, y``, a given number of optimizer steps at a time.

    Args:
        model: The network (moved to ``device``).
        x: Training features.
        y: Class labels or regression targets (standardised internally, as in ``train_epochs``).
        lr: Adam's learning rate.
        batch_size: Rows per step.
        seed: Seed of the mini-batch order.
        device: Where to train.

    Example:
        >>> from near_optuna import build_mlp
        >>> from near_optuna.data._datasets import load_dataset
        >>> wine = load_dataset("wine")
        >>> trainer = StepTrainer(build_mlp(wine.in_features, [8], 3, seed=0),
        ...                       wine.x_train, wine.y_train)
        >>> trainer.train(5); trainer.train(3); trainer.steps
        8
    """

    def __init__(
        self,
        model: nn.Module,
        x: npt.NDArray[np.float32],
        y: npt.NDArray[np.generic],
        *,
        lr: float = DEFAULT_LR,
        batch_size: int = DEFAULT_BATCH_SIZE,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"`batch_size` must be > 0, but got {batch_size=}.")
        if lr <= 0:
            raise ValueError(f"`lr` must be > 0, but got {lr=}.")
        self.model = model
        self._device = torch.device(device)
        model.to(self._device)
        self._regression = is_regression(y)
        mean, std = target_scale(y)
        labels = ((np.asarray(y, np.float64) - mean) / std).astype(np.float32)
        self._x = torch.from_numpy(x).to(self._device)
        self._y = torch.from_numpy(labels if self._regression else y).to(self._device)
        self._loss: nn.Module = nn.MSELoss() if self._regression else nn.CrossEntropyLoss()
        self._optimiser = torch.optim.Adam(model.parameters(), lr=lr)
        self._generator = torch.Generator().manual_seed(seed)
        self._batch = batch_size
        self._order = torch.empty(0, dtype=torch.long)
        self._cursor = 0
        self.steps = 0
        self.seconds = 0.0
        self.diverged = False

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps in one pass over the rows."""
        return math.ceil(self._x.shape[0] / self._batch)

    @property
    def seconds_per_step(self) -> float:
        """Mean wall time of the steps so far (``nan`` before the first)."""
        return self.seconds / self.steps if self.steps else math.nan

    def _next_rows(self) -> torch.Tensor:
        if self._cursor >= self._order.shape[0]:  # a new epoch: reshuffle, as train_epochs does
            self._order = torch.randperm(self._x.shape[0], generator=self._generator)
            self._order = self._order.to(self._device)
            self._cursor = 0
        rows = self._order[self._cursor : self._cursor + self._batch]
        self._cursor += self._batch
        return rows

    def train(self, steps: int) -> None:
        """Run ``steps`` more optimizer steps (none once the loss has diverged)."""
        start = time.perf_counter()
        self.model.train()
        for _ in range(max(0, steps)):
            if self.diverged:
                break
            rows = self._next_rows()
            self._optimiser.zero_grad(set_to_none=True)
            output = self.model(self._x[rows])
            target = self._y[rows]
            loss = self._loss(output.reshape(-1) if self._regression else output, target)
            loss.backward()
            self._optimiser.step()
            self.steps += 1
            if not math.isfinite(float(loss.detach())):
                self.diverged = True
        self.seconds += time.perf_counter() - start
