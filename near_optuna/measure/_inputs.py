"""Inputs that fit a model, and the device a measurement runs on."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from near_optuna.data._batch import Batch
from near_optuna.measure._layers import WEIGHT_LAYERS


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device``, if it names one that this machine has.

    Raises:
        ValueError: For a string that names no device, or CUDA where none is available.

    Example:
        >>> check_device("cpu")
        device(type='cpu')
    """
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"`device` must name a torch device, but got {device!r}.") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"`device` is {device!r}, but CUDA is not available on this machine.")
    return resolved


def resolve_device(device: str | torch.device | None, model: nn.Module) -> torch.device:
    """``device``, else the device of the model's first parameter, else the CPU."""
    if device is not None:
        return check_device(device)
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def probe_input(rows: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Rows of a batch as a float64 probe takes them (integers as they are), on ``device``.

    Only the rows a forward pass uses are converted: a float64 copy of all inputs would cost
    twice a large table's float32 size in every trial.
    """
    return rows.to(device, torch.float64) if rows.is_floating_point() else rows.to(device)


def check_inputs(model: nn.Module, inputs: Any) -> Batch:
    """``inputs`` as a checked :class:`Batch` that ``model``'s first layer can take.

    Raises:
        TypeError: If ``inputs`` is not a tensor, array or ``Batch``.
        ValueError: If there are no samples, non-finite values, no measurable layer, or a
            feature count that differs from what the model's first layer expects.
    """
    batch = Batch.of(inputs)
    first = next((m for m in model.modules() if isinstance(m, WEIGHT_LAYERS)), None)
    if first is None:
        kinds = ", ".join(t.__name__ for t in WEIGHT_LAYERS)
        raise ValueError(f"`model` has no measurable layer: NEAR needs one of {kinds}.")
    _check_features(first, batch.tensor)
    return batch


def _check_features(first: nn.Module, inputs: torch.Tensor) -> None:
    if isinstance(first, nn.Linear):
        expected, got, what = first.in_features, inputs.shape[-1], "features (last dimension)"
    elif isinstance(first, nn.modules.conv._ConvNd):
        expected, got, what = first.in_channels, inputs.shape[1], "channels (dimension 1)"
    else:
        return
    if expected != got:
        raise ValueError(
            f"`inputs` must have {expected} {what}, as the model's first layer "
            f"{type(first).__name__} expects, but got shape {tuple(inputs.shape)}."
        )
