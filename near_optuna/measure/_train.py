"""Brief, seeded training: the yardstick every zero-cost claim is checked against."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from near_optuna.data._datasets import Dataset

DEFAULT_EPOCHS = 30
DEFAULT_LR = 1e-3
DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train_and_evaluate`.

    Attributes:
        accuracy: Test accuracy in [0, 1] after the last epoch.
        train_loss: Mean cross-entropy over the last epoch (``inf`` if it diverged).
        epochs: Epochs run.
        seconds: Wall time of the training and the evaluation.
    """

    accuracy: float
    train_loss: float
    epochs: int
    seconds: float


def train_and_evaluate(
    model: nn.Module,
    data: Dataset,
    *,
    epochs: int = DEFAULT_EPOCHS,
    lr: float = DEFAULT_LR,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> TrainResult:
    """Train ``model`` in place with Adam and cross-entropy, then measure test accuracy.

    The recipe is fixed and documented so that scores are compared against one yardstick:
    Adam (``lr``), mini-batches of ``batch_size`` reshuffled every epoch from a generator
    seeded with ``seed``, ``epochs`` passes over the training split, no augmentation, no early
    stopping. A diverging run (non-finite loss) stops early and keeps its accuracy.

    Raises:
        ValueError: If ``epochs``, ``batch_size`` or ``lr`` is not positive.

    Example:
        >>> from near_optuna import build_mlp
        >>> from near_optuna.data._datasets import load_dataset
        >>> data = load_dataset("wine")
        >>> model = build_mlp(data.in_features, [16], data.n_classes, seed=0)
        >>> train_and_evaluate(model, data, epochs=20).accuracy > 0.8
        True
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr)):
        if value <= 0:
            raise ValueError(f"`{name}` must be > 0, but got {name}={value}.")
    start = time.perf_counter()
    target = torch.device(device)
    model.to(target).train()
    x = torch.from_numpy(data.x_train).to(target)
    y = torch.from_numpy(data.y_train).to(target)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    last_loss, done = float("inf"), 0
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=generator).to(target)
        total, batches = 0.0, 0
        for i in range(0, x.shape[0], batch_size):
            idx = order[i : i + batch_size]
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimiser.step()
            total, batches = total + float(loss.detach()), batches + 1
        done += 1
        last_loss = total / batches
        if not torch.isfinite(torch.tensor(last_loss)):
            last_loss = float("inf")
            break
    return TrainResult(
        accuracy_on_test_split(model, data, device=target),
        last_loss,
        done,
        time.perf_counter() - start,
    )


def accuracy_on_test_split(
    model: nn.Module, data: Dataset, *, device: str | torch.device = "cpu"
) -> float:
    """Test accuracy of ``model`` on ``data`` (eval mode, no gradients)."""
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(data.x_test).to(device))
    predicted = logits.argmax(dim=1).cpu()
    return float((predicted == torch.from_numpy(data.y_test)).double().mean())
