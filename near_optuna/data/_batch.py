"""A batch of model inputs, checked once at the boundary and then passed down as it is.

Public functions accept a tensor, an array or a :class:`Batch`; they call :meth:`Batch.of`,
which checks raw inputs and returns a ``Batch`` unchanged, so a study that checked its inputs
once does not check them again in every trial.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class Batch:
    """Model inputs that passed the checks: a tensor, samples first, finite, non-empty.

    Attributes:
        tensor: The inputs, ``(samples, ...)``.

    Example:
        >>> batch = Batch.of(np.zeros((4, 3), dtype=np.float32))
        >>> batch.samples, Batch.of(batch) is batch
        (4, True)
    """

    tensor: torch.Tensor

    @classmethod
    def of(cls, inputs: Any, *, min_samples: int = 1) -> Batch:
        """Check ``inputs`` (a tensor or array) and wrap them; a ``Batch`` is returned as is.

        Raises:
            TypeError: If ``inputs`` is not a tensor or array.
            ValueError: For fewer than ``min_samples`` samples, fewer than 2 dimensions, or
                non-finite values.
        """
        batch = inputs if isinstance(inputs, Batch) else cls(_checked_tensor(inputs))
        if batch.samples < min_samples:
            raise ValueError(
                f"`inputs` must hold at least {min_samples} samples, but got shape "
                f"{tuple(batch.tensor.shape)}."
            )
        return batch

    @property
    def samples(self) -> int:
        """Number of samples (the first dimension)."""
        return int(self.tensor.shape[0])

    @cached_property
    def fingerprint(self) -> str:
        """A short hash of the values and shape, computed once: which data a cache belongs to."""
        array = np.ascontiguousarray(self.tensor.detach().cpu().numpy())
        digest = hashlib.sha256(array.reshape(-1).view(np.uint8).data)  # no copy of the bytes
        digest.update(str(array.shape).encode())
        return digest.hexdigest()[:16]


def _checked_tensor(inputs: Any) -> torch.Tensor:
    if isinstance(inputs, torch.Tensor):
        tensor = inputs
    else:
        try:
            tensor = torch.as_tensor(np.asarray(inputs))
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"`inputs` must be a torch tensor or numpy array, but got {type(inputs).__name__}."
            ) from err
    if tensor.dim() < 2 or tensor.shape[0] == 0:
        raise ValueError(
            "`inputs` must be a batch with at least one sample (shape (samples, ...)), "
            f"but got shape {tuple(tensor.shape)}."
        )
    if tensor.is_floating_point() and not torch.isfinite(tensor).all():
        raise ValueError("`inputs` must be finite, but they hold NaN or inf values.")
    return tensor
