"""Brief, seeded training: the yardstick every zero-cost claim is checked against.

One fixed recipe: Adam (``lr``), mini-batches of ``batch_size`` reshuffled every epoch from a
generator seeded with ``seed``, no augmentation, no early stopping. The task follows the
labels: integer labels are classes (cross-entropy; scored by accuracy), floating-point targets
are regression (mean squared error on one output; scored by R², with the RMSE beside it).
A regression target is trained standardised with the training split's mean and standard
deviation (:func:`target_scale`), so the model predicts standardised values; scores are
computed back in the target's own units.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, TypeAlias, cast

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from near_optuna.data._datasets import Dataset

DEFAULT_EPOCHS = 30
DEFAULT_LR = 1e-3
DEFAULT_BATCH_SIZE = 64
Metric: TypeAlias = Literal["accuracy", "r2"]


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train_and_evaluate`.

    Attributes:
        score: The held-out score after the last epoch: accuracy in [0, 1] for classes, R²
            (at most 1, higher is better) for a regression target.
        train_loss: Mean training loss over the last epoch (``inf`` if it diverged).
        epochs: Epochs run.
        seconds: Wall time of the training and the evaluation.
        metric: ``"accuracy"`` or ``"r2"``.
        rmse: Root mean squared error of a regression (``None`` for classes).
    """

    score: float
    train_loss: float
    epochs: int
    seconds: float
    metric: Metric = "accuracy"
    rmse: float | None = None

    @property
    def accuracy(self) -> float:
        """The accuracy of a classifier (``nan`` for a regression: see ``score``)."""
        return self.score if self.metric == "accuracy" else math.nan


def is_regression(labels: npt.NDArray[np.generic]) -> bool:
    """Floating-point targets are regression; integer labels are classes.

    Example:
        >>> is_regression(np.array([0.5, 1.5])), is_regression(np.array([0, 1]))
        (True, False)
    """
    return bool(np.issubdtype(labels.dtype, np.floating))


def target_scale(labels: npt.NDArray[np.generic]) -> tuple[float, float]:
    """``(mean, std)`` that standardise a regression target (``(0, 1)`` for class labels).

    Example:
        >>> target_scale(np.array([1.0, 3.0]))
        (2.0, 1.0)
    """
    if not is_regression(labels):
        return 0.0, 1.0
    values = np.asarray(labels, dtype=np.float64)
    std = float(values.std())
    return float(values.mean()), std if std > 0 else 1.0


def train_epochs(
    model: nn.Module,
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.generic],
    *,
    epochs: int = DEFAULT_EPOCHS,
    lr: float = DEFAULT_LR,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> Iterator[float]:
    """Train ``model`` in place, one epoch per step; yields each epoch's mean training loss.

    Stops early (after yielding ``inf``) when the loss diverges.

    Raises:
        ValueError: If ``epochs``, ``batch_size`` or ``lr`` is not positive.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr)):
        if value <= 0:
            raise ValueError(f"`{name}` must be > 0, but got {name}={value}.")
    target = torch.device(device)
    model.to(target).train()
    regression = is_regression(y)
    mean, std = target_scale(y)
    scaled = (
        ((np.asarray(y, dtype=np.float64) - mean) / std).astype(np.float32) if regression else y
    )
    inputs, labels = torch.from_numpy(x).to(target), torch.from_numpy(scaled).to(target)
    loss_fn: nn.Module = nn.MSELoss() if regression else nn.CrossEntropyLoss()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(inputs.shape[0], generator=generator).to(target)
        total, batches = 0.0, 0
        for i in range(0, inputs.shape[0], batch_size):
            idx = order[i : i + batch_size]
            optimiser.zero_grad(set_to_none=True)
            output = model(inputs[idx])
            loss = loss_fn(output.reshape(-1) if regression else output, labels[idx])
            loss.backward()
            optimiser.step()
            total, batches = total + float(loss.detach()), batches + 1
        mean = total / batches
        if not math.isfinite(mean):
            yield math.inf
            return
        yield mean


def _predict(model: nn.Module, x: npt.NDArray[np.float32], device: str | torch.device) -> Tensor:
    """The model's outputs for ``x`` in float64 on the CPU (eval mode, no gradients)."""
    model.eval()
    with torch.no_grad():
        output: Tensor = model(torch.from_numpy(x).to(device))
    return output.cpu().double()


def held_out_terms(
    model: nn.Module,
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.generic],
    *,
    scale: tuple[float, float] = (0.0, 1.0),
    device: str | torch.device = "cpu",
) -> npt.NDArray[np.float64]:
    """Per-row terms whose sum is the held-out score (accuracy, or R²).

    Accuracy: ``correct_i / n``. R²: ``1 / n - e_i² / SST``, with the standardised predictions
    mapped back by ``scale``; a constant target (``SST = 0``) counts each squared error against
    1 instead. A non-finite prediction counts as ten times the largest finite squared error
    (at least 10), so a diverged model scores very low and the terms are never NaN.
    The terms feed :func:`near_optuna.numerics._noise.standard_error`.

    Example:
        >>> from near_optuna.data._datasets import load_dataset
        >>> from near_optuna import build_mlp
        >>> wine = load_dataset("wine")
        >>> model = build_mlp(wine.in_features, [8], wine.n_classes, seed=0)
        >>> terms = held_out_terms(model, wine.x_test, wine.y_test)
        >>> bool(abs(terms.sum() - held_out_score(model, wine.x_test, wine.y_test)[0]) < 1e-12)
        True
    """
    output = _predict(model, x, device)
    n = len(y)
    if not is_regression(y):
        correct = np.asarray(output.argmax(dim=1).numpy() == y, dtype=np.float64)
        return correct / n
    prediction = output.reshape(-1).numpy() * scale[1] + scale[0]
    target = np.asarray(y, dtype=np.float64)
    errors = (prediction - target) ** 2
    finite = np.isfinite(errors)
    if not finite.all():
        worst = float(errors[finite].max()) if finite.any() else 1.0
        errors = np.where(finite, errors, 10.0 * max(worst, 1.0))
    sst = float(np.sum((target - target.mean()) ** 2))
    terms = 1.0 / n - errors / (sst if sst > 0 else 1.0)
    return cast("npt.NDArray[np.float64]", terms.astype(np.float64))


def held_out_score(
    model: nn.Module,
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.generic],
    *,
    scale: tuple[float, float] = (0.0, 1.0),
    device: str | torch.device = "cpu",
) -> tuple[float, Metric, float | None]:
    """``(score, metric, rmse)`` of ``model`` on held-out ``x, y`` (eval mode, no gradients).

    Classes: accuracy, no RMSE. Regression: the model's standardised predictions are mapped
    back with ``scale`` (the training target's ``(mean, std)``), then R² = 1 - SSE / SST
    (``-inf`` for non-finite predictions; a constant target gives 0 for a perfect fit) and
    the RMSE in the target's units.
    """
    output = _predict(model, x, device)
    if not is_regression(y):
        predicted = output.argmax(dim=1).numpy()
        return float((predicted == y).mean()), "accuracy", None
    prediction = output.reshape(-1).numpy() * scale[1] + scale[0]
    target = np.asarray(y, dtype=np.float64)
    if not np.isfinite(prediction).all():
        return -math.inf, "r2", math.inf
    sse = float(np.sum((prediction - target) ** 2))
    sst = float(np.sum((target - target.mean()) ** 2))
    r2 = 1.0 - sse / sst if sst > 0 else (0.0 if sse == 0 else -math.inf)
    return r2, "r2", math.sqrt(sse / len(target))


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
    """Train ``model`` in place with the fixed recipe, then score it on the test split.

    Classification (integer labels): cross-entropy, scored by accuracy. Regression
    (floating-point targets, one output): mean squared error, scored by R² and RMSE. A
    diverging run (non-finite loss) stops early and keeps its score.

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
    start = time.perf_counter()
    losses = list(
        train_epochs(
            model,
            data.x_train,
            data.y_train,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            seed=seed,
            device=device,
        )
    )
    scale = target_scale(data.y_train)
    score, metric, rmse = held_out_score(
        model, data.x_test, data.y_test, scale=scale, device=device
    )
    seconds = time.perf_counter() - start
    return TrainResult(score, losses[-1], len(losses), seconds, metric, rmse)
