"""Users' arrays (``.npy``, ``.npz``) as tables: columns named by their index, float32."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from near_optuna.data._columns import Table


def _load(file: Path, source: str) -> Any:
    try:
        return np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        kind = "NumPy .npy" if file.suffix.lower() == ".npy" else "NumPy .npz"
        raise ValueError(f"{source} is not a {kind} file: {err}") from err


def npy_table(
    file: Path, target: str | int | None, drop: list[str], source: str
) -> tuple[Table, str]:
    """A 2-D array as a table whose target is column ``target`` (default the last).

    Returns:
        The table, and how messages name its target.
    """
    array = _load(file, source)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(
            f"{source} must hold a 2-D array with a target column, but its shape is {array.shape}."
        )
    columns = array.shape[1]
    try:
        column = -1 if target is None else int(target)
        if not -columns <= column < columns:
            raise IndexError(column)
    except (ValueError, IndexError) as err:
        raise ValueError(
            f"`target` for a .npy file must be a column index in [0, {columns - 1}], but got "
            f"{target!r}."
        ) from err
    index = column % columns
    positions = [j for j in range(columns) if j != index]
    table = _array_table(array, array[:, index], positions, drop, file.name, str(index))
    return table, f"`target` column {index}"


def npz_table(
    file: Path, target: str | int | None, drop: list[str], source: str
) -> tuple[Table, str]:
    """Arrays ``x`` (or ``X``) and ``y`` (or the array named ``target``) as a table.

    Returns:
        The table, and how messages name its target.
    """
    with _load(file, source) as archive:
        keys = list(archive.keys())
        x_key = next((k for k in ("x", "X") if k in archive), None)
        y_key = "y" if target is None else str(target)
        if x_key is None or y_key not in archive:
            raise ValueError(f"{source} must hold arrays 'x' and {y_key!r}, but it holds {keys}.")
        x, y = archive[x_key], archive[y_key]
    if x.ndim != 2:
        raise ValueError(f"{source} array {x_key!r} must be 2-D, but its shape is {x.shape}.")
    table = _array_table(x, y, list(range(x.shape[1])), drop, file.name, y_key)
    return table, f"`target` array {y_key!r}"


def _array_table(
    x: np.ndarray, y: np.ndarray, positions: list[int], drop: list[str], name: str, target: str
) -> Table:
    """Feature columns ``positions`` of ``x`` (named by index) as float32, less ``drop``."""
    known = [str(j) for j in positions]
    for column in drop:
        if column not in known:
            raise ValueError(
                f"`drop` names {column!r}, which is not a feature column of {name!r}; "
                f"columns: {positions[0]} to {positions[-1]}."
            )
    if x.dtype.kind not in "iufb":
        raise ValueError(f"`path` {name!r} must hold numbers, but it holds {x.dtype} values.")
    keep = [j for j in positions if str(j) not in drop]
    if keep == list(range(x.shape[1])):
        features = x.astype(np.float32, copy=False)
    else:
        features = np.take(x, keep, axis=1).astype(np.float32, copy=False)
    names = [str(j) for j in keep]
    columns = {"target": target, "features": names, "one_hot": {}, "dropped": drop}
    return Table(features, np.asarray(y), names, columns)
