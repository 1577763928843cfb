"""A validation split carved out of a dataset's training split; the test split stays unseen."""

from __future__ import annotations

import dataclasses

import numpy as np

from near_optuna.data._datasets import Dataset

DEFAULT_VALIDATION_FRACTION = 0.2


def validation_split(
    data: Dataset, *, fraction: float = DEFAULT_VALIDATION_FRACTION, seed: int = 0
) -> Dataset:
    """``data`` with its training split divided into training and validation parts.

    The returned dataset's ``x_train, y_train`` are the remaining training rows and its
    ``x_test, y_test`` the validation rows, so any function that scores on the "test" split
    scores on validation instead. The real test split is not part of it: choices made on the
    result never see it. Class labels are split stratified when every class has 2 rows.

    Raises:
        ValueError: If ``fraction`` is not in (0, 1), or either part would be empty (or miss
            a class) because the training split is too small.

    Example:
        >>> from near_optuna.data._datasets import load_dataset
        >>> wine = load_dataset("wine")
        >>> part = validation_split(wine, fraction=0.2, seed=0)
        >>> len(part.y_train) + len(part.y_test) == len(wine.y_train)
        True
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < fraction < 1.0:
        raise ValueError(f"`fraction` must be in (0, 1), but got {fraction=}.")
    labels = data.y_train
    rows = len(labels)
    held = int(np.ceil(fraction * rows))
    classes = not np.issubdtype(labels.dtype, np.floating)
    counts = np.unique(labels, return_counts=True)[1] if classes else np.array([rows])
    if held < 1 or rows - held < 1 or (classes and held < len(counts)):
        raise ValueError(
            f"the training split of {data.name!r} has {rows} rows: too few to hold out a "
            f"validation fraction of {fraction:g} (at least one row per class on each side)."
        )
    stratify = labels if classes and counts.min() >= 2 else None
    x_train, x_val, y_train, y_val = train_test_split(
        data.x_train, labels, test_size=held, random_state=seed, stratify=stratify
    )
    name = f"{data.name}:validation"
    return dataclasses.replace(
        data, name=name, x_train=x_train, y_train=y_train, x_test=x_val, y_test=y_val
    )
