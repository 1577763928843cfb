"""A table's columns, chunk by chunk, turned into float32 features: numbers, and text one-hot.

Rules (documented for users in :func:`~near_optuna.load_file`):

* A column that pandas reads as numbers (integers, floats, booleans) is one feature, as it is;
  an empty cell is a missing value (NaN).
* Any other column is text. It is one-hot encoded (one 0/1 feature per distinct value, in
  sorted order) when it holds at most ``MAX_CATEGORIES`` distinct values; a column with more
  (an ID, free text, numbers with stray text) is refused, naming the column. An empty cell in
  a text column makes all of that column's features missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from near_optuna.data._names import MAX_CATEGORIES
from near_optuna.data._tokens import mostly_numbers, stray_markers

if TYPE_CHECKING:
    import pandas as pd

_COPY_ROWS = 65536
_NUMBERS = ("boolean", "integer", "floating", "mixed-integer-float", "decimal", "empty")


class MixedColumns(Exception):
    """Columns read as numbers in one chunk and as text in another: read them again as text."""

    def __init__(self, columns: set[str]) -> None:
        super().__init__(sorted(columns))
        self.columns = columns


class StrayText(ValueError):
    """A column of numbers with text in it (``?``, ``-``, ``n.a.``, or other words): refused.

    The reader that raises it may have seen only part of the column; the caller counts the
    text cells over the whole file, and its message says whether they look like missing values
    (:func:`~near_optuna.data._tokens.numbers_with_text`).
    """

    def __init__(self, column: str) -> None:
        super().__init__(f"column {column!r} holds numbers and missing-value markers.")
        self.column = column


@dataclass
class _Text:
    """A text column's categories so far (value -> first-seen code) and codes per chunk."""

    book: dict[str, int] = field(default_factory=dict)
    codes: list[npt.NDArray[np.int32]] = field(default_factory=list)


@dataclass(frozen=True)
class Table:
    """What a table gives: float32 features (NaN where missing), the raw target, and records.

    Attributes:
        x: Float32 features, ``(rows, features)``.
        y: The target column as read (numbers, or Python strings with ``None`` for empty).
        names: Each feature's source column (one-hot features share their column's name).
        columns: ``target``, ``features`` (numeric columns) and ``one_hot`` (text column to
            its categories, in feature order).
    """

    x: npt.NDArray[np.float32]
    y: np.ndarray
    names: list[str]
    columns: dict[str, Any]

    def rows(self, keep: npt.NDArray[np.bool_]) -> Table:
        """The table's rows where ``keep`` is true (one copy of the features)."""
        return Table(self.x[keep], self.y[keep], self.names, dict(self.columns))


class TableColumns:
    """Collects a table chunk by chunk, column by column, then builds the features (``finish``).

    Args:
        names: The columns to use, in table order, the target among them.
        target: The target column's name.
        source: How messages name the file (``"`path` 'data.csv'"``).
        kinds: The kind (``"number"`` or ``"text"``) of the columns whose kind is known
            (Parquet's numeric columns, columns read again as text); any other column's kind
            is inferred from each chunk, and a column whose kind changes between chunks, or
            that mixes Python types, raises :class:`MixedColumns` so that the caller reads
            it again as text.
        markers: Refuse text columns that hold numbers and missing-value markers
            (:class:`StrayText`; see :mod:`near_optuna.data._tokens`).
    """

    def __init__(
        self,
        names: list[str],
        target: str,
        *,
        source: str,
        kinds: dict[str, str] | None = None,
        markers: bool = False,
    ) -> None:
        self.names, self.target, self.source = names, target, source
        self.fixed = set(kinds or {})
        self.kinds: dict[str, str] = dict(kinds or {})
        self.markers = markers
        self.features = [n for n in names if n != target]
        self.position = {n: i for i, n in enumerate(self.features)}
        # Numeric columns go straight into one float32 matrix, one column per feature column
        # (a text column's slot stays unused); it grows by `ndarray.resize`, which for a large
        # block is the C library's realloc moving pages, not copying them.
        self.matrix: npt.NDArray[np.float32] = np.empty((0, len(self.features)), np.float32)
        self.texts: dict[str, _Text] = {}
        self.targets: list[np.ndarray] = []
        self.rows = 0

    def add(self, frame: pd.DataFrame) -> None:
        """Take the next chunk of rows, all columns (``names``, in that order).

        Raises:
            MixedColumns: Naming every column of the chunk whose kind changed.
            ValueError: When a text column has more than ``MAX_CATEGORIES`` distinct values.
        """
        mixed = set()
        for j, name in enumerate(self.names):
            try:
                self.add_column(name, frame.iloc[:, j])
            except MixedColumns as err:
                mixed |= err.columns
        if mixed:
            raise MixedColumns(mixed)
        self.end_chunk(len(frame))

    def add_column(self, name: str, column: pd.Series) -> None:
        """Take one column of the current chunk (call :meth:`end_chunk` after its last).

        Raises:
            MixedColumns: When the column's kind differs from its earlier chunks'.
            ValueError: When a text column has more than ``MAX_CATEGORIES`` distinct values.
        """
        kind = self.kinds[name] if name in self.fixed else self._kind(column)
        if kind == "mixed" or self.kinds.setdefault(name, kind) != kind:
            raise MixedColumns({name})
        if name == self.target:
            self.targets.append(_target_values(column, kind))
        elif kind == "number":
            self._reserve(self.rows + len(column))
            self.matrix[self.rows : self.rows + len(column), self.features.index(name)] = _floats(
                column
            )
        else:
            self._add_text(name, column)

    def end_chunk(self, rows: int) -> None:
        """Close the current chunk of ``rows`` rows."""
        self.rows += rows

    def _reserve(self, rows: int) -> None:
        if rows > self.matrix.shape[0]:
            grown = max(rows, 2 * self.matrix.shape[0])
            self.matrix.resize((grown, len(self.features)), refcheck=False)

    def finish(self) -> Table:
        """The features in table order: numeric columns as they are, text columns one-hot.

        Without text columns the matrix is the result, uncopied; with them, it is copied once
        into the wider matrix and freed.
        """
        self._check_markers()
        features = self.features
        categories = {n: sorted(self.texts[n].book) for n in features if self.kinds[n] == "text"}
        widths = [len(categories.get(n, [n])) for n in features]
        offsets = np.concatenate([[0], np.cumsum(widths)]).astype(int)
        self.matrix.resize((self.rows, len(features)), refcheck=False)
        if categories:
            x = np.empty((self.rows, int(offsets[-1])), dtype=np.float32)
            numeric = [i for i, n in enumerate(features) if n not in categories]
            for start in range(0, self.rows, _COPY_ROWS):  # bounded temporaries
                rows = slice(start, start + _COPY_ROWS)
                x[rows, offsets[numeric]] = self.matrix[rows][:, numeric]
            for i, name in enumerate(features):
                if name in categories:
                    self._fill_one_hot(x, name, categories[name], int(offsets[i]))
        else:
            x = self.matrix
        self.matrix = np.empty((0, len(features)), np.float32)
        names = [n for n, w in zip(features, widths, strict=True) for _ in range(w)]
        columns: dict[str, Any] = {
            "target": self.target,
            "features": [n for n in features if n not in categories],
            "one_hot": categories,
        }
        return Table(x, np.concatenate(self.targets), names, columns)

    def _check_markers(self) -> None:
        """Raise :class:`StrayText` for the first text column of numbers and markers."""
        if not self.markers:
            return
        for name in self.names:
            if self.kinds.get(name) != "text":
                continue
            if name == self.target:
                values = {v for part in self.targets for v in part.tolist() if v is not None}
            else:
                values = set(self.texts[name].book)
            if stray_markers(values):
                raise StrayText(name)

    def _kind(self, column: pd.Series) -> str:
        import pandas as pd

        if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iufb":
            return "number"
        if not isinstance(column.dtype, np.dtype) and column.dtype.kind in "iufb":
            return "number"  # pandas' nullable extension types
        if column.dtype.kind == "O":
            inferred = pd.api.types.infer_dtype(column, skipna=True)
            if inferred in _NUMBERS:
                return "number"
            if inferred not in ("string", "categorical"):
                return "mixed"
        return "text"

    def _add_text(self, name: str, column: pd.Series) -> None:
        import pandas as pd

        text = self.texts.setdefault(name, _Text())
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        keys = [str(u) for u in uniques]
        lookup = np.array([text.book.setdefault(k, len(text.book)) for k in keys], np.int32)
        if len(text.book) > MAX_CATEGORIES:
            if self.markers and mostly_numbers(text.book):  # the caller counts the text cells
                raise StrayText(name)
            raise ValueError(self._too_many(name, text.book, keys, codes))
        text.codes.append(np.where(codes >= 0, lookup[codes], -1).astype(np.int32))

    def _too_many(self, name: str, book: dict[str, int], keys: list[str], codes: Any) -> str:
        import pandas as pd

        words = [k for k in keys if pd.isna(pd.to_numeric(k, errors="coerce"))]
        if mostly_numbers(book) and words:  # a numeric column with stray text
            word = words[0]
            row = self.rows + int(np.flatnonzero(codes == keys.index(word))[0]) + 1
            return (
                f"{self.source} column {name!r} holds numbers and text (such as {word!r} in "
                f"data row {row}): mark missing cells as empty or NA, or add the column to "
                "`drop`."
            )
        rows = self.rows + len(codes)
        return (
            f"{self.source} column {name!r} holds more than {MAX_CATEGORIES} distinct text "
            f"values ({len(book)} in its first {rows} rows), too many to one-hot encode (an "
            "ID or free text?): add it to `drop`."
        )

    def _fill_one_hot(self, x: np.ndarray, name: str, categories: list[str], offset: int) -> None:
        text = self.texts.pop(name)
        order = np.empty(len(text.book), dtype=np.int64)
        order[[text.book[c] for c in categories]] = np.arange(len(categories))
        x[:, offset : offset + len(categories)] = 0.0
        codes = np.concatenate(text.codes)
        present = codes >= 0
        rows = np.flatnonzero(present)
        x[rows, offset + order[codes[present]]] = 1.0
        x[np.flatnonzero(~present), offset : offset + len(categories)] = np.nan


def _floats(column: pd.Series) -> np.ndarray:
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iufb":
        return np.asarray(column.to_numpy())
    return np.asarray(column.to_numpy(dtype=np.float64, na_value=np.nan))


def _target_values(column: pd.Series, kind: str) -> np.ndarray:
    if kind == "number":
        return _floats(column) if not isinstance(column.dtype, np.dtype) else column.to_numpy()
    values = column.to_numpy(dtype=object, na_value=None)
    return np.array([v if v is None else str(v) for v in values], dtype=object)
