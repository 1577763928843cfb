"""Tables as they come (issue 18): R and pandas exports, stray text, odd targets, few rows.

Each case is a real file. The library's message names its own arguments (`path`, `target`);
the command line's names the flags, exits with 2 and one line on stderr, and stores nothing.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from near_optuna import load_file
from near_optuna.tune import main

PROG = "python -m near_optuna.tune: error: "
FAST = ["--n-trials", "2", "--max-width", "16", "--repetitions", "1", "--refine", "0"]


def refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the command on refused input: exit 2, one line on stderr, no study stored."""
    db = tmp_path / "s.db"
    code = main(["--storage", f"sqlite:///{db}", *args, *FAST])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(PROG), lines[0]
    assert not db.exists(), "refused input created the study's database"
    return lines[0][len(PROG) :]


def features(rows: int, seed: int = 0) -> pd.DataFrame:
    """Two noisy numeric columns and a 3-class label that depends on them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})
    frame["label"] = (frame["a"] + rng.normal(size=rows) > 0).astype(int) + (frame["b"] > 1)
    return frame


def test_repeated_column_names_are_refused_by_name(tmp_path, capsys):
    rows = "\n".join(f"{i},{i % 5},{i * 2},{i % 2}" for i in range(40))
    path = tmp_path / "cars.csv"
    path.write_text("speed,weight,speed,label\n" + rows + "\n")
    message = (
        "`path` 'cars.csv' has repeated column names: 'speed' (columns 1 and 3): give each "
        "column its own name."
    )
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_file(path, target="label")
    line = refused(tmp_path, capsys, "--data", str(path), "--target", "label")
    assert line == message.replace("`path`", "`--data`")


def test_repeated_names_in_a_parquet_schema_are_refused(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    columns = [pa.array(np.arange(30.0)), pa.array(np.arange(30.0)), pa.array([0, 1] * 15)]
    pq.write_table(pa.table(columns, names=["x", "x", "label"]), tmp_path / "d.parquet")
    with pytest.raises(ValueError, match=r"has repeated column names: 'x' \(columns 1 and 2\)"):
        load_file(tmp_path / "d.parquet", target="label")
