"""Split, impute and standardise a feature matrix, a block of rows at a time.

Large tables stay within about twice their float32 size: statistics and the standardised
splits are computed ``BLOCK_ROWS`` rows at a time, so no float64 copy of the whole matrix is
ever made. A matrix of at most ``BLOCK_ROWS`` training rows gives bit for bit what one
whole-matrix float64 computation gives.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from near_optuna.data._names import IMPUTE
from near_optuna.numerics._checks import check_choice

BLOCK_ROWS = 65536


@dataclass(frozen=True)
class Prepared:
    """The standardised float32 splits, what imputation did, and the statistics used.

    ``mean`` and ``std`` are the training statistics each feature was standardised with;
    ``fill`` (with ``impute``) is every feature's training mean or median, the value a missing
    cell takes (new rows too, where a feature had no missing training cell), else ``None``.
    """

    x_train: npt.NDArray[np.float32]
    x_test: npt.NDArray[np.float32]
    imputed: dict[str, object] | None
    mean: npt.NDArray[np.float64]
    std: npt.NDArray[np.float64]
    fill: npt.NDArray[np.float64] | None = None


def split_indices(
    n: int, labels: np.ndarray | None, *, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices, stratified by ``labels`` where each split can hold every class.

    Stratifying needs 2 rows of every class and at least one test row per class.
    """
    from sklearn.model_selection import train_test_split

    stratify = None
    if labels is not None:
        counts = np.bincount(labels)
        tests = math.ceil(test_fraction * n)
        if counts.min() >= 2 and min(tests, n - tests) >= len(counts):
            stratify = labels
    train, test = train_test_split(
        np.arange(n), test_size=test_fraction, random_state=seed, stratify=stratify
    )
    return train, test


def missing_cells(
    x: np.ndarray, names: Sequence[str] | None, *, impute: str | None, source: str
) -> npt.NDArray[np.int64]:
    """Missing (NaN) cells per feature; infinite values are refused, and NaN unless ``impute``.

    ``names`` gives each feature's source column (the one-hot features of a text column share
    its name, and count its missing cells once); ``None`` names plain array columns by index.

    Raises:
        ValueError: For an unknown ``impute``, or bad cells, naming how many and which columns.
    """
    if impute is not None:
        check_choice(impute, IMPUTE, name="impute")
    nan, inf = _count_non_finite(x)
    if inf.any():
        cells, where = _by_column(inf, names)
        raise ValueError(
            f"{source} holds {_plural(cells, 'infinite value')}, in {where}: replace or drop them."
        )
    if nan.any() and impute is None:
        cells, where = _by_column(nan, names)
        drop = "them" if names is None else "those columns (`drop`)"
        raise ValueError(
            f"{source} has {_plural(cells, 'missing cell')}, in {where}: fill them, drop "
            f"{drop} or set `impute` to 'mean' or 'median'."
        )
    return nan


def prepare(
    x: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    *,
    impute: str | None,
    missing: np.ndarray,
    names: Sequence[str] | None,
    source: str,
) -> Prepared:
    """Impute with training statistics, then standardise both splits with training statistics.

    A column is centred on its training mean and divided by its training standard deviation;
    a constant column is only centred, on its own value, so it becomes exactly 0. Missing cells
    take the column's training mean or median (``impute``), in both splits; ``missing``
    counts them per column (from :func:`missing_cells`).
    """
    fill, imputed = _fill_values(x, train, impute, missing, names, source)
    mean, std = _statistics(x, train, fill)
    train_part = _standardised(x, train, mean, std, fill)
    test_part = _standardised(x, test, mean, std, fill)
    every = None if impute is None else _every_fill(x, train, impute, fill)
    return Prepared(train_part, test_part, imputed, mean, std, every)


def standardise(
    x: np.ndarray, mean: np.ndarray, std: np.ndarray, fill: np.ndarray | None
) -> npt.NDArray[np.float32]:
    """New rows ``x`` (float32, NaN where missing) as :func:`prepare` standardised the splits.

    The arithmetic is the splits' own (float64, fill, centre, scale, float32), so rows of the
    training file give bit for bit the features the model was trained on.
    """
    return _standardised(x, np.arange(x.shape[0]), mean, std, fill)


def _every_fill(
    x: np.ndarray, train: np.ndarray, impute: str, fill: np.ndarray | None
) -> npt.NDArray[np.float64]:
    """Every feature's training mean or median (features with missing cells keep theirs)."""
    every = np.empty(x.shape[1])
    for j in range(x.shape[1]):
        if fill is not None and not np.isnan(fill[j]):
            every[j] = fill[j]
            continue
        column = np.asarray(x[train, j], dtype=np.float64)
        every[j] = column.mean() if impute == "mean" else np.median(column)
    return every


def _blocks(rows: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(rows), BLOCK_ROWS):
        yield rows[start : start + BLOCK_ROWS]


def _rows(x: np.ndarray, rows: np.ndarray, fill: np.ndarray | None) -> npt.NDArray[np.float64]:
    block = np.asarray(x[rows], dtype=np.float64)
    if fill is not None:
        where = np.isnan(block)
        block[where] = fill[np.nonzero(where)[1]]
    return block


def _each(x: np.ndarray, rows: np.ndarray, fill: np.ndarray | None) -> Iterator[np.ndarray]:
    for block_rows in _blocks(rows):
        yield _rows(x, block_rows, fill)


def _count_non_finite(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nan = np.zeros(x.shape[1], dtype=np.int64)
    inf = np.zeros(x.shape[1], dtype=np.int64)
    if x.dtype.kind != "f":
        return nan, inf
    for rows in _blocks(np.arange(x.shape[0])):
        block = x[rows[0] : rows[-1] + 1]
        nan += np.isnan(block).sum(axis=0)
        inf += np.isinf(block).sum(axis=0)
    return nan, inf


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _per_column(counts: np.ndarray, names: Sequence[str] | None) -> dict[str, int]:
    """Cells per source column: features that share a name share their cells (one-hot)."""
    per: dict[str, int] = {}
    for j in map(int, np.flatnonzero(counts)):
        name = names[j] if names is not None else str(j)
        per[name] = max(per.get(name, 0), int(counts[j]))
    return per


def _by_column(counts: np.ndarray, names: Sequence[str] | None) -> tuple[int, str]:
    per = _per_column(counts, names)
    shown = [f"{name if names is None else repr(name)} ({n})" for name, n in per.items()]
    more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
    return sum(
        per.values()
    ), f"column{'s' if len(shown) > 1 else ''} {', '.join(shown[:10])}{more}"


def _fill_values(
    x: np.ndarray,
    train: np.ndarray,
    impute: str | None,
    nan: np.ndarray,
    names: Sequence[str] | None,
    source: str,
) -> tuple[np.ndarray | None, dict[str, object] | None]:
    if impute is None or not nan.any():
        return None, None
    fill = np.full(x.shape[1], np.nan)
    for j in map(int, np.flatnonzero(nan)):
        column = np.asarray(x[train, j], dtype=np.float64)
        present = column[~np.isnan(column)]
        if present.size == 0:
            label = repr(names[j]) if names is not None else str(j)
            raise ValueError(
                f"{source} column {label} has no value in the training split to impute from: "
                "drop it."
            )
        fill[j] = present.mean() if impute == "mean" else np.median(present)
    per = _per_column(nan, names)
    imputed = {"how": impute, "cells": sum(per.values()), "columns": per}
    return fill, imputed


def _statistics(
    x: np.ndarray, train: np.ndarray, fill: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    # Per-block sums added in order: one block gives exactly what one whole-matrix call gives.
    parts = [(b.sum(axis=0), b.max(axis=0), b.min(axis=0)) for b in _each(x, train, fill)]
    total = functools.reduce(np.add, [p[0] for p in parts])
    high = functools.reduce(np.maximum, [p[1] for p in parts])
    low = functools.reduce(np.minimum, [p[2] for p in parts])
    mean = total / len(train)
    squares = functools.reduce(
        np.add, [((b - mean) * (b - mean)).sum(axis=0) for b in _each(x, train, fill)]
    )
    std = np.sqrt(squares / len(train))
    # A constant column's mean and std carry rounding noise (1e-17): test the range instead and
    # centre it on its own value, so it becomes exactly 0.
    constant = (high - low) == 0.0
    mean[constant] = _rows(x, train[:1], fill)[0, constant]
    std[constant | (std == 0.0)] = 1.0
    return mean, std


def _standardised(
    x: np.ndarray, rows: np.ndarray, mean: np.ndarray, std: np.ndarray, fill: np.ndarray | None
) -> npt.NDArray[np.float32]:
    out = np.empty((len(rows), x.shape[1]), dtype=np.float32)
    start = 0
    for block_rows in _blocks(rows):
        out[start : start + len(block_rows)] = (_rows(x, block_rows, fill) - mean) / std
        start += len(block_rows)
    return out
