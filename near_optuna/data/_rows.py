"""A table's rows and row labels as they come: a written-out row index, numbered columns.

R's ``write.csv`` and pandas' ``to_csv`` write each row's label as a first column with an
empty header (pandas reads it as ``Unnamed: 0``): the row number, or R's row names (``Mazda
RX4``). Used as a feature it would teach the network the rows' order or their names. The
rules (documented for users in docs/data.md, "Tables as they come"):

* a first column with an empty or ``Unnamed: 0`` header that holds 0..n-1 or 1..n, in order,
  or n distinct text labels (R's row names), is left out as row labels (recorded among the
  dropped columns, with the reason); such a column holding anything else is kept, with a note;
* any other numeric column that holds n distinct consecutive whole numbers (an ID, a row
  number after a shuffle) is kept, and a note names it;
* rows whose target is missing (an empty cell, ``NA``, ...) are left out, with a note saying
  how many: there is nothing to learn from them;
* a file with fewer than ``MIN_ROWS`` rows (with a target), or with a class that has fewer than
  2 rows in the training split, is refused: it is too small to split, train and validate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from near_optuna.data._columns import Table

if TYPE_CHECKING:
    import pandas as pd

MIN_ROWS = 20
"""Fewest rows a file may have: 5 test rows (25%), 12 training and 3 validation rows."""
ROW_INDEX_HEADERS = ("", "Unnamed: 0")
"""Headers of a written-out row index: R writes an empty one, pandas reads it as ``Unnamed: 0``."""


def row_labels(column: pd.Series) -> str | None:
    """Why an unnamed first column holds row labels, or ``None`` when it does not.

    Row labels are 0..n-1 or 1..n in order (a row index), or n distinct text values that are
    not numbers (R's row names).

    Example:
        >>> import pandas as pd
        >>> row_labels(pd.Series([1, 2, 3])), row_labels(pd.Series(["Mazda RX4", "Fiat 128"]))
        ('a row index (1 to 3, in order)', 'row names (2 distinct labels)')
        >>> row_labels(pd.Series([3, 1, 2])) is None
        True
    """
    import pandas as pd

    rows = len(column)
    if rows == 0 or column.isna().any():
        return None
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column):
        values = column.to_numpy(dtype=np.float64)
        start = values[0]
        if start in (0.0, 1.0) and np.array_equal(values, np.arange(start, start + rows)):
            return f"a row index ({int(start)} to {int(start) + rows - 1}, in order)"
        return None
    text = column.astype(str)
    if text.nunique() == rows and pd.to_numeric(text, errors="coerce").isna().all():
        return f"row names ({rows} distinct labels)"
    return None


def consecutive(column: np.ndarray) -> tuple[int, int] | None:
    """``(lowest, highest)`` when ``column`` holds distinct consecutive whole numbers.

    Example:
        >>> consecutive(np.array([3.0, 1.0, 2.0])), consecutive(np.array([1.0, 1.0, 2.0]))
        ((1, 3), None)
    """
    rows = len(column)
    if rows < 2 or not np.isfinite(column).all():
        return None
    low, high = float(column.min()), float(column.max())
    if high - low != rows - 1 or low != np.floor(low) or not (column == np.floor(column)).all():
        return None
    if np.bincount((column - low).astype(np.int64), minlength=rows).max() != 1:
        return None
    return int(low), int(high)


def numbered_columns(table: Table) -> list[str]:
    """Notes naming the numeric feature columns that hold distinct consecutive whole numbers."""
    notes = []
    for name in table.columns["features"]:
        if name in ROW_INDEX_HEADERS:  # noted as a column without a name
            continue
        found = consecutive(table.x[:, table.names.index(name)])
        if found is not None:
            notes.append(
                f"column {name!r} holds {len(table.x)} distinct consecutive whole numbers "
                f"({found[0]} to {found[1]}), like a row number or an ID; it is used as a "
                "feature: add it to `drop` if it is one."
            )
    return notes


def unnamed_note(first: str) -> str:
    """The note on an unnamed first column that is kept: it holds no row labels."""
    return (
        f"column {first!r} has no name in the header and is used as a feature (it holds "
        "neither a row index 0..n-1 or 1..n in order nor distinct row names): add it to "
        "`drop` if it labels rows."
    )


def missing_targets(y: np.ndarray) -> npt.NDArray[np.bool_]:
    """Where a target read from a table is missing: NaN, ``None`` or blank text.

    Example:
        >>> missing_targets(np.array(["a", None, " ", "b"], dtype=object)).tolist()
        [False, True, True, False]
    """
    if y.dtype.kind == "f":
        return np.asarray(np.isnan(y), dtype=bool)
    if y.dtype.kind != "O":
        return np.zeros(len(y), dtype=bool)
    return np.array(
        [v is None or v != v or (isinstance(v, str) and not v.strip()) for v in y.tolist()],
        dtype=bool,
    )


def leave_out_unlabelled(table: Table) -> Table:
    """``table`` without the rows whose target is missing, with a note and a record."""
    missing = missing_targets(table.y)
    count = int(missing.sum())
    if count == 0:
        return table
    kept = table.rows(~missing)
    kept.columns["missing_target_rows"] = count
    rows = len(missing)
    add_note(
        kept,
        f"{count} of {rows} rows ({count / rows:.0%}) left out: their target "
        f"{kept.columns['target']!r} is missing.",
    )
    return kept


def check_rows(rows: int, *, left_out: int, source: str) -> None:
    """Refuse fewer than :data:`MIN_ROWS` rows; ``left_out`` rows had no target.

    Example:
        >>> check_rows(8, left_out=0, source="`path` 't.csv'")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `path` 't.csv' has 8 rows: too few to split and train; at least 20 are ...
    """
    if rows < MIN_ROWS:
        more = f" with a target ({left_out} more have none)" if left_out else ""
        raise ValueError(
            f"{source} has {rows} row{'' if rows == 1 else 's'}{more}: too few to split and "
            f"train; at least {MIN_ROWS} are needed."
        )


def check_classes(
    train: npt.NDArray[np.int64], test: npt.NDArray[np.int64], classes: tuple[Any, ...], what: str
) -> None:
    """Refuse classes (codes into ``classes``) with fewer than 2 rows in the training split.

    Example:
        >>> train, test = np.array([0, 0, 1]), np.array([1])
        >>> check_classes(train, test, ("a", "b"), "y")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: y has 1 class with fewer than 2 rows in the training split: 'b' (1 of 2 ...
    """
    trained = np.bincount(train, minlength=len(classes))
    total = trained + np.bincount(test, minlength=len(classes))
    few = np.flatnonzero(trained < 2)
    if few.size:
        shown = ", ".join(
            f"{classes[k]!r} ({trained[k]} of {total[k]} row{'' if total[k] == 1 else 's'})"
            for k in few[:10]
        ) + (f" and {few.size - 10} more" if few.size > 10 else "")
        many = "class" if few.size == 1 else "classes"
        its = "its" if few.size == 1 else "their"
        raise ValueError(
            f"{what} has {few.size} {many} with fewer than 2 rows in the training split: "
            f"{shown}; each class needs at least 2 training rows: merge or remove {its} rows, "
            "or add more."
        )


def add_note(table: Table, note: str) -> None:
    """Record a one-line note on how the table was read (``columns["notes"]``)."""
    table.columns.setdefault("notes", []).append(note)
