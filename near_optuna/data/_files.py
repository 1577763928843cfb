"""Users' files as datasets: tables (.csv, .tsv, .parquet) and arrays (.npy, .npz).

Tables are parsed by pandas' C parser (Parquet by pyarrow) a chunk of rows at a time into one
float32 matrix, so a large table is never held as float64; see docs/data.md ("The parser,
measured") for the measurements behind this choice. pandas and pyarrow are imported here,
when a file is read, so ``import near_optuna`` stays quick.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from near_optuna.data._arrays import npy_table, npz_table
from near_optuna.data._columns import MixedColumns, StrayText, Table, TableColumns
from near_optuna.data._datasets import DEFAULT_TEST_FRACTION, Dataset, make_dataset
from near_optuna.data._leaks import find_leaks
from near_optuna.data._parquet import parquet_columns, parquet_file, parquet_marker_counts
from near_optuna.data._rows import (
    ROW_INDEX_HEADERS,
    add_note,
    check_classes,
    check_rows,
    leave_out_unlabelled,
    numbered_columns,
    row_labels,
    unnamed_note,
)
from near_optuna.data._tokens import add_counts, marker_counts, numbers_with_text

SUFFIXES = (".csv", ".tsv", ".parquet", ".npy", ".npz")
CHUNK_CELLS = 2**22
_SNIFF_BYTES = 65536
_COUNT_ROWS = 2**18


def load_file(
    path: str | Path,
    *,
    target: str | int | None,
    task: str = "auto",
    drop: Sequence[str | int] = (),
    impute: str | None = None,
    na_values: Sequence[str] = (),
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = 0,
) -> Dataset:
    r"""Read a table or arrays from a file, and split and standardise them like built-in data.

    Formats, by suffix:

    * ``.csv`` (comma-separated) and ``.tsv`` (tab-separated): UTF-8 text with a header row;
      ``target`` names the target column.
    * ``.parquet``: ``target`` names the target column; needs pyarrow
      (``pip install 'near_optuna[parquet]'``).
    * ``.npy``: a 2-D numeric array; the target is column ``target`` (an index, default the
      last).
    * ``.npz``: arrays ``x`` (or ``X``) and ``y`` (or the array named ``target``).

    Columns of a table become features by these rules:

    * A column of numbers (integers, floats, True/False) is one feature.
    * Any other column is text: it is one-hot encoded (one 0/1 feature per distinct value,
      sorted) when it holds at most ``MAX_CATEGORIES`` (32) distinct values, and refused
      when it holds more (an ID, free text): name it in ``drop`` to leave it out.
    * ``Dataset.columns`` records the numeric columns, each one-hot column with its
      categories, the dropped columns (``dropped_reasons`` for those left out without being
      named in ``drop``), any imputation, and ``notes``: one line on each thing the reader
      did or noticed on its own; a study stores it in ``near:data``.

    Tables as they come (R's ``write.csv``, pandas' ``to_csv``):

    * A first column with an empty or ``Unnamed: 0`` header holding 0..n-1 or 1..n in order,
      or n distinct text labels (R's row names), holds written-out row labels: it is left
      out, with a note. Any other column of n distinct consecutive whole numbers is kept and
      named in a note.
    * A column of numbers whose only other values look like missing-value markers (``?``,
      ``-``, ``unknown``, ...: see :mod:`near_optuna.data._tokens`) is refused, naming them
      and their counts, whatever its number of distinct values: ``na_values`` reads them
      as missing.
    * Repeated column names are refused.
    * A feature column that alone predicts the target almost perfectly on the training split
      (a one-column rule with balanced accuracy or R² at least 0.99: see
      :mod:`near_optuna.data._leaks`) is kept, with a warning in ``columns["warnings"]``.
    * A file with fewer than ``MIN_ROWS`` (20) rows with a target, or a class with fewer
      than 2 rows in the training split, is refused: too small to split and train.

    An empty cell is a missing value. Missing values are refused (naming how many cells and
    which columns) unless ``impute`` is ``"mean"`` or ``"median"``: then each missing cell
    takes its column's mean or median over the *training* split, in both splits (an empty
    text cell makes its one-hot features missing). A table's rows whose target is missing are
    left out (``missing_target_rows``, and a note); in arrays a missing target is refused.

    The task: ``"auto"`` reads text, True/False and at most 20 distinct whole numbers (or
    more, when they are at most 5% of the rows) as class labels, and any other numbers (a
    non-whole value, or many distinct values) as a regression target. ``Dataset.task_rule``
    says why. Classification splits are stratified; regression targets stay as they are.

    The arrays depend only on the values: the same table as CSV, Parquet or ``.npz`` gives the
    same dataset (features are float32 before they are standardised).

    Args:
        path: The file.
        target: The target column's name (tables), index (``.npy``) or array name (``.npz``);
            ``None`` only for arrays (the last column, or ``y``).
        task: ``"auto"``, ``"classification"`` or ``"regression"``.
        drop: Columns to leave out (names; indices for arrays), recorded as dropped.
        impute: ``None``, ``"mean"`` or ``"median"`` (see above).
        na_values: More text that marks a missing cell of a table (such as ``"?"``), beyond
            pandas' own (empty, ``NA``, ``NaN``, ``null``, ...); recorded as ``na_values``.
        test_fraction: Fraction of the rows held out for testing.
        seed: Seed of the train/test split.

    Returns:
        The :class:`~near_optuna.Dataset`, named after the file's stem.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: With one line naming the file, column or row and the rule: an unknown
            suffix, a file that is not a table, an empty table, repeated column names, a
            missing target or dropped column, a text column with too many values, missing
            values without ``impute``, a target that does not fit ``task`` (a single class,
            numbers that are not whole for classification, text for regression), too few
            rows, or a Parquet file without pyarrow.

    Example:
        >>> import tempfile
        >>> rows = [f"{i % 7},{i % 3 / 2},{'ab'[i % 2]},{i % 2}" for i in range(40)]
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = Path(folder) / "pets.csv"
        ...     _ = path.write_text("age,weight,color,label\n" + "\n".join(rows) + "\n")
        ...     data = load_file(path, target="label")
        >>> data.task, data.in_features, data.columns["one_hot"]
        ('classification', 4, {'color': ['a', 'b']})
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"`path` file not found: {str(path)!r}.")
    suffix = file.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(
            f"`path` must end in one of {', '.join(SUFFIXES)}, but got {file.name!r}."
        )
    source = f"`path` {file.name!r}"
    dropped = [drop] if isinstance(drop, str | int) else list(drop)
    table, what = _file_table(file, target, [str(d) for d in dropped], na_values, source)
    left_out = int(table.columns.get("missing_target_rows", 0))
    if left_out:  # say so before the target's other checks: few rows are its cause
        check_rows(len(table.y), left_out=left_out, source=source)
    data = make_dataset(
        table.x,
        table.y,
        task=task,
        name=file.stem,
        test_fraction=test_fraction,
        seed=seed,
        description=f"user file {file.name}",
        impute=impute,
        names=table.names,
        columns=table.columns,
        source=source,
        target=what,
        table=suffix not in (".npy", ".npz"),
    )
    _check_split(data, left_out=left_out, source=source, what=what)
    return data


def _file_table(
    file: Path,
    target: str | int | None,
    drop: list[str],
    na_values: str | Sequence[str],
    source: str,
) -> tuple[Table, str]:
    """The file's table (rows without a target left out), and how messages name the target."""
    suffix = file.suffix.lower()
    if suffix in (".npy", ".npz"):
        if na_values:
            raise ValueError(
                f"`na_values` applies to text and Parquet tables, not to {suffix} arrays."
            )
        read = npy_table if suffix == ".npy" else npz_table
        table, what = read(file, target, drop, source)
    else:
        if target is None:
            raise ValueError(f"`target` must name the target column of {file.name!r}.")
        markers = [na_values] if isinstance(na_values, str) else [str(v) for v in na_values]
        table = _table(file, str(target), drop, source, markers)
        if markers:
            table.columns["na_values"] = markers
        table = leave_out_unlabelled(table)
        what = f"`target` {str(target)!r}"
    for note in numbered_columns(table):
        add_note(table, note)
    return table, what


def _check_split(data: Dataset, *, left_out: int, source: str, what: str) -> None:
    """Refuse too few rows or classes too small to train; record leaking columns."""
    check_rows(len(data.y_train) + len(data.y_test), left_out=left_out, source=source)
    if data.preprocessing is None:
        return
    if data.task == "classification":
        check_classes(data.y_train, data.y_test, data.preprocessing.classes, what)
    for leak in find_leaks(data.x_train, data.y_train, data.preprocessing, data.task):
        data.columns.setdefault("warnings", []).append(leak.warning())


def frame_table(frame: Any, *, source: str = "`X`") -> Table:
    """A pandas DataFrame's columns as features, by the rules of :func:`load_file`'s tables.

    Column names must be distinct; numbers stay numbers and text is one-hot encoded (at most
    ``MAX_CATEGORIES`` values). The returned table's ``y`` is a placeholder: the caller has
    the target.

    Raises:
        ValueError: For repeated column names or a text column with too many values.
    """
    names = [str(c) for c in frame.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{source} has repeated column names: {', '.join(map(repr, repeated))}.")
    target = "\0target"
    work = frame.set_axis(names, axis=1).assign(**{target: 0})
    text: set[str] = set()
    while True:
        columns = TableColumns([*names, target], target, source=source)
        try:
            converted = work.astype(dict.fromkeys(text, str)) if text else work
            for name in text:  # missing cells stay missing
                converted[name] = converted[name].where(work[name].notna(), None)
            columns.add(converted)
            return columns.finish()
        except MixedColumns as mixed:  # numbers and text in one column: all text
            text |= mixed.columns


def read_rows(path: str | Path, *, text: Sequence[str] = (), na_values: Sequence[str] = ()) -> Any:
    """New rows for a saved model: a table file as a pandas DataFrame, or arrays.

    ``.csv``, ``.tsv`` and ``.parquet`` are read whole (``text`` names columns read as text,
    as the training reader read them; ``na_values`` are missing in a CSV file); ``.npy`` is
    a 2-D array of features; ``.npz`` its array ``x`` (or ``X``).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: With one line, for a file that is not such a table or array.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"`path` file not found: {str(path)!r}.")
    suffix = file.suffix.lower()
    source = f"`path` {file.name!r}"
    if suffix not in SUFFIXES:
        raise ValueError(
            f"`path` must end in one of {', '.join(SUFFIXES)}, but got {file.name!r}."
        )
    if suffix == ".parquet":
        parquet = parquet_file(file, source)
        return parquet.read().to_pandas()
    if suffix in (".npy", ".npz"):
        import numpy as np

        try:
            loaded = np.load(file, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise ValueError(f"{source} is not a NumPy {suffix} file: {err}") from err
        if suffix == ".npy":
            return loaded
        with loaded as archive:
            key = next((k for k in ("x", "X") if k in archive), None)
            if key is None:
                raise ValueError(f"{source} must hold an array 'x', but it holds {list(archive)}.")
            return archive[key]
    import pandas as pd

    _text_header(file, source)  # binary files and bad encodings, in one line
    with _reading(source):
        return pd.read_csv(
            file,
            sep=_separator(file),
            dtype=dict.fromkeys(text, str) or None,
            encoding="utf-8",
            na_values=list(na_values) or None,
        )


def _table(
    file: Path, target: str, drop: list[str], source: str, na_values: Sequence[str]
) -> Table:
    parquet = parquet_file(file, source) if file.suffix.lower() == ".parquet" else None
    if parquet is None:
        header = _text_header(file, source)
        _check_repeated(_raw_header(file, source), source)
    else:
        header = list(parquet.schema_arrow.names)
        _check_repeated(header, source)
    _check_names(header, target, drop, file.name)
    reasons = _left_out(file, parquet, header, target, drop, source)
    used = [j for j, n in enumerate(header) if n not in drop and n not in reasons]
    names = [header[j] for j in used]
    try:
        if parquet is not None:
            columns = parquet_columns(parquet, names, target, source=source, na_values=na_values)
        else:
            columns = _read_text(file, used, names, target, source, na_values)
        if columns.rows == 0:
            raise ValueError(f"{source} has column names but no data rows.")
        table = columns.finish()
    except StrayText as stray:  # count the markers over the whole column for the message
        name = stray.column
        if parquet is not None:
            counts = parquet_marker_counts(parquet, name, na_values)
        else:
            counts = _marker_counts(file, header.index(name), source, na_values)
        raise ValueError(numbers_with_text(source, name, counts, target=name == target)) from stray
    first = header[0]
    unnamed = first in ROW_INDEX_HEADERS and first != target and first not in drop
    table.columns["dropped"] = [n for n in header if n in drop] + list(reasons)
    if reasons:
        table.columns["dropped_reasons"] = reasons
    if unnamed:
        kept = first not in reasons
        add_note(
            table, unnamed_note(first) if kept else f"column {first!r} left out: {reasons[first]}."
        )
    return table


def _left_out(
    file: Path, parquet: Any, header: list[str], target: str, drop: list[str], source: str
) -> dict[str, str]:
    """Columns that are not data, with the reason: pandas' saved index, row labels."""
    # pandas writes its index into Parquet files as __index_level_0__.
    reasons = {
        n: "pandas' saved index"
        for n in header
        if parquet is not None and n.startswith("__index_level_")
    }
    first = header[0]
    if first in ROW_INDEX_HEADERS and first != target and first not in drop:
        labels = row_labels(_first_column(file, parquet, source))
        if labels is not None:
            reasons[first] = labels
    return reasons


def _first_column(file: Path, parquet: Any, source: str) -> Any:
    """The table's first column, whole, as pandas reads it (it may hold row labels)."""
    if parquet is not None:
        return parquet.read(columns=[parquet.schema_arrow.names[0]]).column(0).to_pandas()
    import pandas as pd

    with _reading(source):
        frame = pd.read_csv(
            file, sep=_separator(file), usecols=[0], encoding="utf-8", low_memory=False
        )
    return frame.iloc[:, 0]


def _check_repeated(raw: Sequence[str | None], source: str) -> None:
    """Refuse a header that names two columns alike (pandas would rename one ``name.1``)."""
    places: dict[str, list[int]] = {}
    for j, name in enumerate(raw):
        if name is not None:
            places.setdefault(name, []).append(j + 1)
    repeated = {n: p for n, p in places.items() if len(p) > 1}
    if repeated:
        shown = ", ".join(
            f"{n!r} (columns {', '.join(map(str, p[:-1]))} and {p[-1]})"
            for n, p in list(repeated.items())[:10]
        )
        raise ValueError(
            f"{source} has repeated column names: {shown}: give each column its own name."
        )


def _check_names(header: list[str], target: str, drop: list[str], name: str) -> None:
    listing = ", ".join(header[:30]) + (
        f" and {len(header) - 30} more" if len(header) > 30 else ""
    )
    if target not in header:
        hint = ""
        if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
            hint = " (one column only: are the fields separated by another character?)"
        raise ValueError(
            f"`target` {target!r} is not a column of {name!r}; columns: {listing}.{hint}"
        )
    for column in drop:
        if column not in header:
            raise ValueError(
                f"`drop` names {column!r}, which is not a column of {name!r}; columns: {listing}."
            )
    if target in drop:
        raise ValueError(f"`drop` names the target column {target!r}.")
    if not set(header) - set(drop) - {target}:
        raise ValueError(f"`path` {name!r} has no feature columns besides the target {target!r}.")


def _text_header(file: Path, source: str) -> list[str]:
    with file.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    nul = head.find(bytes(1))
    if nul >= 0:
        raise ValueError(
            f"{source} is not a text table: it holds binary data (a NUL byte at offset {nul}); "
            "save it as UTF-8 CSV."
        )
    import pandas as pd

    with _reading(source):
        frame = pd.read_csv(file, sep=_separator(file), nrows=0, encoding="utf-8")
    return [str(c) for c in frame.columns]


def _raw_header(file: Path, source: str) -> list[str | None]:
    """The header row's fields as written, ``None`` where empty.

    pandas' own column names rename a repeated name (``speed``, ``speed.1``).
    """
    import pandas as pd

    with _reading(source):
        row = pd.read_csv(
            file, sep=_separator(file), header=None, nrows=1, dtype=str, encoding="utf-8"
        )
    return [None if pd.isna(v) else str(v) for v in row.iloc[0].tolist()]


def _separator(file: Path) -> str:
    return "\t" if file.suffix.lower() == ".tsv" else ","


def _read_text(
    file: Path,
    used: list[int],
    names: list[str],
    target: str,
    source: str,
    na_values: Sequence[str],
) -> TableColumns:
    """Read a CSV/TSV chunk by chunk; read again, as text, columns that turn out to mix."""
    import pandas as pd

    text: set[str] = set()
    while True:
        kinds = dict.fromkeys(text, "text")
        columns = TableColumns(names, target, source=source, kinds=kinds, markers=True)
        # A chunked read is pandas' serial C parser: its memory stays near the chunk's size
        # (the default whole-file read maps the file and parses it with two threads, at twice
        # the peak memory on this project's 2-core machine). All columns are parsed, dropped
        # ones too: with `usecols`, pandas accepts rows with extra fields without a word.
        try:
            with _reading(source), warnings.catch_warnings():
                warnings.simplefilter("ignore", pd.errors.DtypeWarning)
                with pd.read_csv(
                    file,
                    sep=_separator(file),
                    dtype=dict.fromkeys(text, str) or None,
                    chunksize=max(1, CHUNK_CELLS // len(used)),
                    encoding="utf-8",
                    na_values=list(na_values) or None,
                ) as reader:
                    for frame in reader:
                        columns.add(frame.iloc[:, used] if len(used) < frame.shape[1] else frame)
            return columns
        except MixedColumns as mixed:  # numbers in one chunk, text in another: all text
            text |= mixed.columns


def _marker_counts(
    file: Path, position: int, source: str, na_values: Sequence[str]
) -> dict[str, int]:
    """How many cells of the column at ``position`` hold each value that is not a number."""
    import pandas as pd

    counts: dict[str, int] = {}
    with (
        _reading(source),
        pd.read_csv(
            file,
            sep=_separator(file),
            usecols=[position],
            dtype=str,
            chunksize=_COUNT_ROWS,
            encoding="utf-8",
            na_values=list(na_values) or None,
        ) as reader,
    ):
        for frame in reader:
            add_counts(counts, marker_counts(frame.iloc[:, 0]))
    return counts


@contextlib.contextmanager
def _reading(source: str) -> Iterator[None]:
    """Parser errors as one line that names the file."""
    import pandas as pd

    try:
        yield
    except pd.errors.EmptyDataError as err:
        raise ValueError(f"{source} is empty: a header row and data rows are needed.") from err
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{source} is not UTF-8 text ({err.reason}): save it as UTF-8 CSV."
        ) from err
    except pd.errors.ParserError as err:
        detail = str(err).replace("Error tokenizing data. C error: ", "").strip()
        raise ValueError(f"{source} is not a valid table: {detail}") from err
