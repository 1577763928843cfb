"""The training data's preprocessing, kept so that new rows become the same features.

A :class:`Preprocessing` is what :func:`~near_optuna.load_file` and
:func:`~near_optuna.from_arrays` learned from the training split: the feature columns in
order (numbers as they are, text one-hot over the training categories), the imputation
values, the standardisation statistics, and the target's task and class labels. Applied to
new rows (:meth:`Preprocessing.features`) it repeats the training arithmetic exactly, so the
rows of the training file give bit for bit the features the network was trained on.

New rows are held to the training data's rules:

* every feature column the model needs must be there (extra columns, the target among them,
  are ignored; order does not matter);
* a column of numbers must still hold numbers (text there is an error naming the column);
* a cell that equals one of the training data's ``na_values`` is missing;
* a missing cell is filled with the training mean or median when the data was imputed, and
  refused otherwise, as the training data's would have been;
* a text value the training split did not hold gets all-zero one-hot features (a note says
  how many).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from near_optuna.data._prepare import standardise

if TYPE_CHECKING:
    import pandas as pd

NUMBER = "number"
TEXT = "text"


@dataclass(frozen=True)
class Column:
    """One feature column: its name, kind (``"number"`` or ``"text"``) and text categories."""

    name: str
    kind: str
    categories: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        """Features it makes: one for a number, one per category for text."""
        return len(self.categories) if self.kind == TEXT else 1


@dataclass(frozen=True)
class Features:
    """New rows as standardised float32 features, and one-line notes on what was done."""

    x: npt.NDArray[np.float32]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Preprocessing:
    """How the training data became features; apply it to new rows with :meth:`features`.

    Attributes:
        columns: The feature columns, in feature order.
        mean: Each feature's training mean (float64), subtracted.
        std: Each feature's training standard deviation (1 for a constant feature), divided by.
        fill: Each feature's imputation value (``impute``), or ``None`` without imputation.
        impute: ``"mean"``, ``"median"`` or ``None``.
        task: ``"classification"`` or ``"regression"``.
        classes: The class labels, in the order of the network's outputs (classification).
        target: The target column's name (``None`` for arrays).
        dropped: Columns left out (by the user, or as a row index).
        table: ``True`` for named columns (a table), ``False`` for positional array columns.
        na_values: Text that the training table read as missing (``load_file``'s
            ``na_values``).

    Example:
        >>> from near_optuna import from_arrays
        >>> data = from_arrays([[0.0], [1.0], [2.0], [3.0]], ["a", "b", "a", "b"])
        >>> pre = data.preprocessing
        >>> pre.classes, pre.features(np.array([[1.5]])).x.shape
        (('a', 'b'), (1, 1))
    """

    columns: tuple[Column, ...]
    mean: npt.NDArray[np.float64]
    std: npt.NDArray[np.float64]
    fill: npt.NDArray[np.float64] | None
    impute: str | None
    task: str
    classes: tuple[Any, ...] = ()
    target: str | None = None
    dropped: tuple[str, ...] = ()
    table: bool = False
    na_values: tuple[str, ...] = ()

    @property
    def n_features(self) -> int:
        """Features the network takes."""
        return int(self.mean.shape[0])

    def record(self) -> dict[str, Any]:
        """The JSON part (the statistics are in :meth:`arrays`)."""
        return {
            "columns": [
                {"name": c.name, "kind": c.kind, "categories": list(c.categories)}
                for c in self.columns
            ],
            "impute": self.impute,
            "task": self.task,
            "classes": list(self.classes),
            "target": self.target,
            "dropped": list(self.dropped),
            "table": self.table,
            "na_values": list(self.na_values),
        }

    def arrays(self) -> dict[str, npt.NDArray[np.float64]]:
        """The statistics, as float64 arrays."""
        arrays = {"mean": self.mean, "std": self.std}
        if self.fill is not None:
            arrays["fill"] = self.fill
        return arrays

    @classmethod
    def from_parts(
        cls, record: dict[str, Any], arrays: dict[str, npt.NDArray[np.float64]]
    ) -> Preprocessing:
        """Rebuild from :meth:`record` and :meth:`arrays` (a model file's parts).

        Raises:
            ValueError: When the parts do not fit together.
        """
        columns = tuple(
            Column(str(c["name"]), str(c["kind"]), tuple(str(v) for v in c["categories"]))
            for c in record["columns"]
        )
        pre = cls(
            columns=columns,
            mean=np.asarray(arrays["mean"], np.float64),
            std=np.asarray(arrays["std"], np.float64),
            fill=None if "fill" not in arrays else np.asarray(arrays["fill"], np.float64),
            impute=record["impute"],
            task=str(record["task"]),
            classes=tuple(record["classes"]),
            target=record["target"],
            dropped=tuple(record["dropped"]),
            table=bool(record["table"]),
            na_values=tuple(str(v) for v in record.get("na_values", [])),
        )
        width = sum(c.width for c in columns)
        sizes = {pre.mean.shape, pre.std.shape} | (
            {pre.fill.shape} if pre.fill is not None else set()
        )
        if sizes != {(width,)} or any(c.kind not in (NUMBER, TEXT) for c in columns):
            raise ValueError(
                f"its columns make {width} features, but its statistics hold {sizes}."
            )
        return pre

    def features(self, rows: pd.DataFrame | npt.ArrayLike, *, source: str = "`data`") -> Features:
        """New rows as the network's standardised float32 features.

        Args:
            rows: A pandas DataFrame with (at least) the feature columns, by name; or, for a
                model trained on arrays, a 2-D array with one column per feature column.
            source: How messages name the rows.

        Raises:
            ValueError: With one line: a missing column, text in a number column, missing
                cells without imputation, or an array of the wrong shape.
        """
        frame = self._frame(rows, source)
        absent = [c.name for c in self.columns if c.name not in frame.columns]
        if absent:
            shown = ", ".join(repr(n) for n in absent[:10]) + (
                f" and {len(absent) - 10} more" if len(absent) > 10 else ""
            )
            raise ValueError(
                f"{source} lacks {len(absent)} column{'s' if len(absent) > 1 else ''} the model "
                f"needs: {shown}."
            )
        raw = np.empty((len(frame), self.n_features), dtype=np.float32)
        notes = []
        offset = 0
        for column in self.columns:
            values = frame[column.name]
            if isinstance(values, type(frame)):  # a duplicated name selects several columns
                raise ValueError(f"{source} has more than one column named {column.name!r}.")
            if self.na_values:
                values = values.mask(values.isin(list(self.na_values)))
            if column.kind == NUMBER:
                raw[:, offset] = _numbers(values, column.name, source)
            else:
                unknown = _one_hot(
                    values, column.categories, raw[:, offset : offset + column.width]
                )
                if unknown:
                    example = unknown[0]
                    cells = "1 cell" if len(unknown) == 1 else f"{len(unknown)} cells"
                    holds = "holds a value" if len(unknown) == 1 else "hold values"
                    notes.append(
                        f"{source}: {cells} of text column {column.name!r} {holds} the training "
                        f"data did not have (such as {example!r}): one-hot features all 0."
                    )
            offset += column.width
        notes += self._missing(raw, source)
        return Features(standardise(raw, self.mean, self.std, self.fill), tuple(notes))

    def _frame(self, rows: pd.DataFrame | npt.ArrayLike, source: str) -> pd.DataFrame:
        import pandas as pd

        if isinstance(rows, pd.DataFrame):
            frame = rows.set_axis([str(c) for c in rows.columns], axis=1)  # 0 and "0" alike
            if not self.table and not all(c.name in frame.columns for c in self.columns):
                frame = self._positional(frame.to_numpy(), source)
            return frame
        return self._positional(np.asarray(rows), source)

    def _positional(self, array: np.ndarray, source: str) -> pd.DataFrame:
        import pandas as pd

        if array.ndim == 1 and len(self.columns) == 1:
            array = array.reshape(-1, 1)
        if array.ndim != 2 or array.shape[1] != len(self.columns):
            what = "table columns by name" if self.table else "columns"
            raise ValueError(
                f"{source} must be a 2-D array with {len(self.columns)} columns (the model's "
                f"feature {what}, in training order), but its shape is {array.shape}."
            )
        return pd.DataFrame(array, columns=[c.name for c in self.columns])

    def _missing(self, raw: np.ndarray, source: str) -> list[str]:
        nan = np.isnan(raw)
        if not nan.any():
            return []
        per: dict[str, int] = {}
        offset = 0
        for column in self.columns:
            part = nan[:, offset : offset + column.width].any(axis=1)
            if part.any():
                per[column.name] = int(part.sum())
            offset += column.width
        cells = sum(per.values())
        where = ", ".join(f"{n!r} ({k})" for n, k in list(per.items())[:10])
        if self.fill is None:
            raise ValueError(
                f"{source} has {cells} missing cell{'s' if cells > 1 else ''}, in {where}: the "
                "model was trained without imputation (--impute), so it cannot fill them; fill "
                "them or leave those rows out."
            )
        return [
            f"{source}: filled {cells} missing cell{'s' if cells > 1 else ''} with the training "
            f"{self.impute}s ({where})."
        ]


def preprocessing_of(
    *,
    names: list[str] | None,
    columns: dict[str, Any],
    mean: npt.NDArray[np.float64],
    std: npt.NDArray[np.float64],
    fill: npt.NDArray[np.float64] | None,
    impute: str | None,
    task: str,
    classes: tuple[Any, ...],
    table: bool,
) -> Preprocessing:
    """The :class:`Preprocessing` of a dataset being made (``make_dataset``'s arguments).

    ``names`` gives each feature's source column (``None``: plain array columns, named by
    index); ``columns`` is the table's record (``one_hot``, ``target``, ``dropped``);
    ``table`` says whether the columns have names (a table file) or positions (arrays).
    """
    one_hot: dict[str, list[str]] = columns.get("one_hot", {})
    if names is None:
        names = [str(j) for j in range(mean.shape[0])]
    ordered: list[Column] = []
    for name in names:
        if ordered and ordered[-1].name == name and name in one_hot:
            continue
        if name in one_hot:
            ordered.append(Column(name, TEXT, tuple(one_hot[name])))
        else:
            ordered.append(Column(name, NUMBER))
    target = columns.get("target")
    return Preprocessing(
        columns=tuple(ordered),
        mean=mean,
        std=std,
        fill=fill,
        impute=impute,
        task=task,
        classes=classes,
        target=None if target is None else str(target),
        dropped=tuple(str(d) for d in columns.get("dropped", [])),
        table=table,
        na_values=tuple(str(v) for v in columns.get("na_values", [])),
    )


def _numbers(values: pd.Series, name: str, source: str) -> npt.NDArray[np.float64]:
    import pandas as pd

    if values.dtype.kind in "iufb":
        return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan))
    numbers = pd.to_numeric(values, errors="coerce")
    text = numbers.isna() & values.notna()
    if text.any():
        row = int(np.flatnonzero(text.to_numpy())[0])
        raise ValueError(
            f"{source} column {name!r} holds text (such as {str(values.iloc[row])!r} in row "
            f"{row + 1}) where the model was trained on numbers."
        )
    return np.asarray(numbers.to_numpy(dtype=np.float64, na_value=np.nan))


def _one_hot(values: pd.Series, categories: tuple[str, ...], out: np.ndarray) -> list[str]:
    """Fill ``out`` (rows x categories) with 0/1, NaN where missing; the unknown values."""
    position = {c: i for i, c in enumerate(categories)}
    present = values.notna().to_numpy()
    text = [str(v) for v in values.to_numpy(dtype=object)]
    codes = np.array(
        [position.get(t, -1) if p else -2 for t, p in zip(text, present, strict=True)]
    )
    out[:] = 0.0
    known = np.flatnonzero(codes >= 0)
    out[known, codes[known]] = 1.0
    out[codes == -2] = np.nan
    return [t for t, c in zip(text, codes, strict=True) if c == -1]
