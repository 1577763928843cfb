"""Argument checks and plain-JSON conversion shared by every floor (no torch, no Optuna)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def check_choice(value: str, choices: Sequence[str], *, name: str) -> str:
    """Return ``value`` if it is one of ``choices``, else raise a ``ValueError`` listing them.

    Example:
        >>> check_choice("relu", ("relu", "tanh"), name="activation")
        'relu'
    """
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(choices)}, but got {value!r}.")
    return value


def check_at_least(value: float, low: float, *, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value >= low``.

    Example:
        >>> check_at_least(0, 1, name="repetitions")
        Traceback (most recent call last):
        ...
        ValueError: `repetitions` must be >= 1, but got repetitions=0.
    """
    if not value >= low:
        raise ValueError(f"`{name}` must be >= {low:g}, but got {name}={value}.")


def plain_json(value: Any) -> Any:
    """``value`` as plain JSON types, for study attributes and the ``--json`` summary.

    Numpy scalars and arrays become Python numbers and lists, tuples become lists, and NaN or
    infinite floats become ``None``. Optuna's SQLite storage cannot hold a ``numpy.float32``,
    and standard JSON has no NaN.

    Example:
        >>> plain_json({"a": np.float32(0.5), "b": (1, float("nan")), "c": np.arange(2)})
        {'a': 0.5, 'b': [1, None], 'c': [0, 1]}
    """
    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain_json(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
