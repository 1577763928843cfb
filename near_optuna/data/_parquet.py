"""Parquet tables, read row group by row group and column by column, as CSV tables are read.

A numeric column of the schema (integers, floats, decimals, booleans) is numbers. A string
column is read as the CSV reader reads text: ``na_values`` are missing, and a column whose
values are all numbers (or missing) is numbers; one whose row groups disagree is text. So the
same table gives the same features as CSV or Parquet. pyarrow is imported here, when a
Parquet file is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from near_optuna.data._columns import MixedColumns, TableColumns
from near_optuna.data._tokens import marker_counts


def parquet_file(file: Path, source: str) -> Any:
    """The ``pyarrow.parquet.ParquetFile``; one line naming the extra when pyarrow is missing.

    Raises:
        ValueError: Without pyarrow, or for a file that is not Parquet.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError as err:
        raise ValueError(
            f"{source} is a Parquet file, which needs the Python package 'pyarrow': "
            "pip install 'near_optuna[parquet]'."
        ) from err
    try:
        return pq.ParquetFile(file)
    except (OSError, ValueError) as err:
        raise ValueError(f"{source} is not a Parquet file: {err}") from err


def parquet_columns(
    parquet: Any, names: list[str], target: str, *, source: str, na_values: Sequence[str]
) -> TableColumns:
    """Read the columns ``names``; read again, as text, string columns that turn out to mix."""
    numbers, strings = _schema(parquet)
    text: set[str] = set()
    while True:
        kinds = {n: "number" for n in names if n in numbers} | dict.fromkeys(text, "text")
        columns = TableColumns(names, target, source=source, kinds=kinds, markers=True)
        try:
            _read(parquet, names, columns, source, na_values, strings, convert=strings - text)
            return columns
        except MixedColumns as mixed:  # numbers in one row group, text in another: all text
            text |= mixed.columns


def parquet_marker_counts(parquet: Any, name: str, na_values: Sequence[str]) -> dict[str, int]:
    """How many cells of column ``name`` hold each value that is not a number."""
    column = parquet.read(columns=[name]).column(0).to_pandas()
    return marker_counts(_missing(column, na_values))


def _schema(parquet: Any) -> tuple[set[str], set[str]]:
    """The schema's numeric columns (numbers, decimals, booleans) and its string columns."""
    import pyarrow as pa

    numbers, strings = set(), set()
    for field in parquet.schema_arrow:
        t, types = field.type, pa.types
        number = types.is_integer(t) or types.is_floating(t) or types.is_boolean(t)
        if number or types.is_decimal(t):  # a decimal as the CSV reader reads 1.50
            numbers.add(field.name)
        elif types.is_string(t) or types.is_large_string(t):
            strings.add(field.name)
    return numbers, strings


def _read(
    parquet: Any,
    names: list[str],
    columns: TableColumns,
    source: str,
    na_values: Sequence[str],
    strings: set[str],
    *,
    convert: set[str],
) -> None:
    """Read row group by row group, one column at a time: a column chunk is all it holds."""
    import pyarrow as pa

    for group in range(parquet.metadata.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        for name in names:
            try:
                part = parquet.read_row_group(group, columns=[name]).column(0)
            except pa.ArrowException as err:
                raise ValueError(f"{source} could not be read as Parquet: {err}") from err
            values = part.to_pandas()
            if name in strings:
                values = _missing(values, na_values)
            if name in convert:
                values = _as_numbers(values)
            columns.add_column(name, values)
        columns.end_chunk(rows)


def _missing(values: Any, na_values: Sequence[str]) -> Any:
    """``values`` with the cells that equal one of ``na_values`` missing."""
    return values.mask(values.isin(list(na_values))) if na_values else values


def _as_numbers(values: Any) -> Any:
    """Text ``values`` as numbers when every present value is one, as a CSV reader reads them."""
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    return numbers if int(numbers.notna().sum()) == int(values.notna().sum()) else values
