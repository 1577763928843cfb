"""User data from files: ``.csv`` (with a target column), ``.npy`` and ``.npz``."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from near_optuna.data._datasets import Dataset, from_arrays

SUFFIXES = (".csv", ".npy", ".npz")


def load_file(path: str | Path, *, target: str | None = None, seed: int = 0) -> Dataset:
    """Load features and class labels from a file and split them like the built-in data.

    * ``.csv``: a header row; ``target`` names the label column; every other column whose
      values are all numbers is a feature (other columns are skipped).
    * ``.npy``: a 2-D numeric array; the label is column ``target`` (an index, default the last).
    * ``.npz``: arrays ``x`` (or ``X``) and ``y``; with ``target``, the label array's name.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: For an unknown suffix, a missing target column, no numeric feature
            column, missing or non-finite values, or arrays of the wrong shape.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"`--data` file not found: {str(path)!r}.")
    suffix = file.suffix.lower()
    if suffix == ".csv":
        x, y = _csv(file, target)
    elif suffix == ".npy":
        x, y = _npy(file, target)
    elif suffix == ".npz":
        x, y = _npz(file, target)
    else:
        raise ValueError(
            f"`--data` must end in one of {', '.join(SUFFIXES)}, but got {file.name!r}."
        )
    return from_arrays(x, y, name=file.stem, seed=seed, description=f"user file {file.name}")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _csv(file: Path, target: str | None) -> tuple[np.ndarray, np.ndarray]:
    try:  # utf-8-sig: spreadsheet exports often start with a byte-order mark
        with file.open(newline="", encoding="utf-8-sig") as fh:
            rows = [row for row in csv.reader(fh) if any(cell.strip() for cell in row)]
    except UnicodeDecodeError as err:
        raise ValueError(f"`--data` {file.name!r} is not UTF-8 text: {err.reason}.") from err
    if not rows or not rows[0]:
        raise ValueError(f"`--data` {file.name!r} is empty: a header row is needed.")
    header, body = rows[0], rows[1:]
    if target is None:
        raise ValueError(
            f"`--target` must name the label column of {file.name!r}; columns: "
            f"{', '.join(header)}."
        )
    if target not in header:
        raise ValueError(
            f"`--target` {target!r} is not a column of {file.name!r}; columns: "
            f"{', '.join(header)}."
        )
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(
                f"`--data` {file.name!r} line {line} has {len(row)} fields, the "
                f"header has {len(header)}."
            )
    label = header.index(target)
    features = []
    for column, name in enumerate(header):
        if column == label:
            continue
        values = [_number(row[column]) for row in body]
        if all(v is not None for v in values):
            features.append((name, values))
        elif any(v is not None for v in values):  # numbers with gaps: "", "NA", "?"
            line, cell = next(
                (i + 2, row[column]) for i, row in enumerate(body) if _number(row[column]) is None
            )
            raise ValueError(
                f"`--data` {file.name!r} column {name!r} is numeric but line "
                f"{line} holds {cell!r}: fill or drop missing values first."
            )
    if not features:
        raise ValueError(
            f"`--data` {file.name!r} has no numeric feature columns besides the target {target!r}."
        )
    for name, values in features:
        if not all(math.isfinite(v) for v in values if v is not None):
            raise ValueError(f"`--data` {file.name!r} column {name!r} holds NaN or inf values.")
    x = np.array([values for _, values in features], dtype=np.float64).T
    labels = [row[label].strip() for row in body]
    if "" in labels:
        raise ValueError(
            f"`--data` {file.name!r} target column {target!r} is empty on line "
            f"{labels.index('') + 2}."
        )
    return x, np.array(labels)


def _npy(file: Path, target: str | None) -> tuple[np.ndarray, np.ndarray]:
    array = np.load(file, allow_pickle=False)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(
            f"`--data` {file.name!r} must hold a 2-D array with a label column, but "
            f"its shape is {array.shape}."
        )
    try:
        column = -1 if target is None else int(target)
        labels = array[:, column]
    except (ValueError, IndexError) as err:
        raise ValueError(
            f"`--target` for a .npy file must be a column index in "
            f"[0, {array.shape[1] - 1}], but got {target!r}."
        ) from err
    return np.delete(array, column % array.shape[1], axis=1).astype(np.float64), labels


def _npz(file: Path, target: str | None) -> tuple[np.ndarray, np.ndarray]:
    with np.load(file, allow_pickle=False) as archive:
        keys = list(archive.keys())
        x_key = next((k for k in ("x", "X") if k in archive), None)
        y_key = target or "y"
        if x_key is None or y_key not in archive:
            raise ValueError(
                f"`--data` {file.name!r} must hold arrays 'x' and {y_key!r}, but it holds {keys}."
            )
        return np.asarray(archive[x_key], dtype=np.float64), np.asarray(archive[y_key])
