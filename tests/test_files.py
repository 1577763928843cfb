import shutil
import subprocess
import sys

import numpy as np
import pytest

from near_optuna import from_arrays, load_file
from near_optuna.data import _files
from near_optuna.data._columns import MAX_CATEGORIES
from near_optuna.data._prepare import missing_cells, prepare

ARRAYS = ("x_train", "x_test", "y_train", "y_test")


def write(path, text: str, encoding: str = "utf-8"):
    path.write_text(text, encoding=encoding)
    return path


def table(rows: int = 60, seed: int = 0):
    """Numbers, a text column and integer labels, as a pandas DataFrame."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 3)), columns=["a", "b", "c"])
    frame["color"] = np.array(["red", "green", "blue"])[rng.integers(0, 3, rows)]
    frame["flag"] = rng.integers(0, 2, rows).astype(bool)
    frame["label"] = rng.integers(0, 3, rows)
    return frame


def assert_same(one, other, case: str) -> None:
    for name in ARRAYS:
        a, b = getattr(one, name), getattr(other, name)
        assert a.dtype == b.dtype, (case, name)
        np.testing.assert_array_equal(a, b, err_msg=f"{case}: {name}")


def test_csv_tsv_parquet_and_npz_of_one_table_give_the_same_arrays(tmp_path):
    frame = table().drop(columns=["color"])
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    frame.to_parquet(tmp_path / "t.parquet")
    features = frame[["a", "b", "c", "flag"]].to_numpy(dtype=np.float64)
    np.savez(tmp_path / "t.npz", x=features, y=frame["label"].to_numpy())
    np.save(tmp_path / "t.npy", np.column_stack([features, frame["label"]]))
    reference = load_file(tmp_path / "t.csv", target="label")
    assert reference.in_features == 4
    for name, target in [("t.tsv", "label"), ("t.parquet", "label"), ("t.npz", None)]:
        assert_same(reference, load_file(tmp_path / name, target=target), name)
    assert_same(reference, load_file(tmp_path / "t.npy", target=None), "t.npy")
    shutil.copy(tmp_path / "t.csv", tmp_path / "another name.csv")
    assert_same(reference, load_file(tmp_path / "another name.csv", target="label"), "renamed")


def test_parquet_with_text_and_a_pandas_index_matches_csv(tmp_path):
    frame = table()
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.set_axis(np.arange(len(frame)) * 3).to_parquet(tmp_path / "t.parquet")  # an index
    csv, parquet = (load_file(tmp_path / n, target="label") for n in ("t.csv", "t.parquet"))
    assert_same(csv, parquet, "parquet")
    assert parquet.columns["dropped"] == ["__index_level_0__"]
    assert parquet.columns["one_hot"] == csv.columns["one_hot"]


def test_a_text_column_is_one_hot_encoded_and_recorded(tmp_path):
    frame = table()
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = load_file(tmp_path / "t.csv", target="label")
    assert data.columns == {
        "target": "label",
        "features": ["a", "b", "c", "flag"],
        "one_hot": {"color": ["blue", "green", "red"]},
        "dropped": [],
    }
    assert data.summary()["columns"] == data.columns
    one_hot = np.stack([frame["color"] == c for c in ("blue", "green", "red")], axis=1)
    x = np.column_stack([frame[["a", "b", "c"]], one_hot, frame["flag"]]).astype(np.float32)
    expected = from_arrays(x, frame["label"], name="t", description="user file t.csv")
    assert_same(data, expected, "one-hot by hand")


def test_too_many_categories_are_refused_and_drop_leaves_the_column_out(tmp_path):
    frame = table(rows=80)
    frame["id"] = [f"user{i}" for i in range(80)]
    frame.to_csv(tmp_path / "t.csv", index=False)
    message = (
        rf"`path` 't.csv' column 'id' holds more than {MAX_CATEGORIES} distinct text values "
        r"\(80 in its first 80 rows\), too many to one-hot encode \(an ID or free text\?\): "
        r"add it to `drop`."
    )
    with pytest.raises(ValueError, match=message):
        load_file(tmp_path / "t.csv", target="label")
    data = load_file(tmp_path / "t.csv", target="label", drop=["id", "b"])
    assert data.columns["dropped"] == ["b", "id"]
    assert data.columns["features"] == ["a", "c", "flag"]
    assert data.in_features == 6


def test_numbers_with_stray_text_are_named_as_such(tmp_path):
    values = [str(i * 0.5) for i in range(50)]
    values[7] = "?"
    rows = "\n".join(f"{v},{i % 2}" for i, v in enumerate(values))
    with pytest.raises(ValueError, match=r"column 'a' holds numbers and 1 text cell that looks "):
        load_file(write(tmp_path / "t.csv", "a,label\n" + rows + "\n"), target="label")
    values[7] = "abc"  # not a missing-value marker: numbers and text
    rows = "\n".join(f"{v},{i % 2}" for i, v in enumerate(values))
    with pytest.raises(ValueError, match=r"column 'a' holds numbers and text \(such as 'abc'; 1 "):
        load_file(write(tmp_path / "t.csv", "a,label\n" + rows + "\n"), target="label")


def test_a_column_that_turns_to_text_in_a_later_chunk_is_read_as_text(tmp_path, monkeypatch):
    sizes = ["1", "2", "3"] * 20 + ["XL"] * 4
    rows = "\n".join(f"{i * 0.1},{s},{i % 2}" for i, s in enumerate(sizes))
    path = write(tmp_path / "t.csv", "a,size,label\n" + rows + "\n")
    whole = load_file(path, target="label")
    monkeypatch.setattr(_files, "CHUNK_CELLS", 30)  # 10 rows per chunk
    chunked = load_file(path, target="label")
    assert whole.columns["one_hot"] == {"size": ["1", "2", "3", "XL"]}
    assert chunked.columns == whole.columns
    assert_same(whole, chunked, "chunked")


def test_missing_cells_are_refused_with_their_count_and_columns(tmp_path):
    rows = "\n".join(
        f"{'' if i in (3, 9) else i},{'' if i == 5 else 'x'},{i % 2}" for i in range(40)
    )
    path = write(tmp_path / "t.csv", "a,t,label\n" + rows + "\n")
    message = (
        r"`path` 't.csv' has 3 missing cells, in columns 'a' \(2\), 't' \(1\): fill them, drop "
        r"those columns \(`drop`\) or set `impute` to 'mean' or 'median'."
    )
    with pytest.raises(ValueError, match=message):
        load_file(path, target="label")
    data = load_file(path, target="label", impute="median")
    assert data.columns["imputed"] == {"how": "median", "cells": 3, "columns": {"a": 2, "t": 1}}
    assert np.isfinite(data.x_train).all()
    assert np.isfinite(data.x_test).all()


def test_imputation_statistics_come_from_the_training_split_only():
    x = np.array([[1.0], [np.nan], [3.0], [4.0], [np.nan], [1000.0], [2000.0]])
    train, test = np.array([0, 1, 2, 3]), np.array([4, 5, 6])
    missing = missing_cells(x, ["a"], impute="mean", source="`x`")
    for how, fill in [("mean", 8.0 / 3.0), ("median", 3.0)]:
        out = prepare(x, train, test, impute=how, missing=missing, names=["a"], source="`x`")
        filled = np.array([1.0, fill, 3.0, 4.0])
        mean, std = filled.mean(), filled.std()
        np.testing.assert_allclose(out.x_train[:, 0], (filled - mean) / std, rtol=1e-6)
        np.testing.assert_allclose(
            out.x_test[:, 0], (np.array([fill, 1000.0, 2000.0]) - mean) / std, rtol=1e-6
        )
        assert out.imputed == {"how": how, "cells": 2, "columns": {"a": 2}}, how


def test_mean_imputation_through_load_file_fills_both_splits_alike(tmp_path):
    rows = "\n".join(f"{'' if i % 5 == 0 else i * i},{i},{i % 2}" for i in range(60))
    path = write(tmp_path / "t.csv", "a,row,label\n" + rows + "\n")
    data = load_file(path, target="label", impute="mean")
    both = np.concatenate([data.x_train, data.x_test])
    row = np.argsort(np.argsort(both[:, 1]))  # standardising keeps the order of `row`
    filled = row % 5 == 0
    # A cell filled with the training mean is standardised with that mean: it becomes 0.
    np.testing.assert_allclose(both[filled, 0], 0.0, atol=1e-6)
    assert filled[: len(data.x_train)].any(), "no filled cell in the training split"
    assert filled[len(data.x_train) :].any(), "no filled cell in the test split"
    assert data.columns["imputed"] == {"how": "mean", "cells": 12, "columns": {"a": 12}}


@pytest.mark.parametrize(
    ("target", "task", "expected"),
    [
        ([0.5, 1.25, 2.0, 3.5] * 10, "auto", "regression"),
        ([0, 1, 2, 1] * 10, "auto", "classification"),
        (list(range(40)), "auto", "regression"),
        (["cat", "dog"] * 20, "auto", "classification"),
        ([True, False] * 20, "auto", "classification"),
        ([0, 1, 2, 1] * 10, "regression", "regression"),
        (list(range(40)), "classification", "classification"),
    ],
)
def test_task(target, task, expected):
    x = np.arange(80.0).reshape(40, 2)
    data = from_arrays(x, target, task=task)
    assert data.task == expected, (target[:4], task)
    if expected == "regression":
        assert data.y_train.dtype == np.float32
        assert data.out_features == 1
        assert data.summary()["classes"] is None
        with pytest.raises(ValueError, match="is a regression task: it has no classes"):
            _ = data.n_classes
    else:
        assert data.y_train.dtype == np.int64
        assert data.out_features == data.n_classes
    assert (data.task_rule is None) == (task != "auto")


def test_regression_targets_are_kept_as_they_are_and_split_without_strata():
    x = np.arange(200.0).reshape(100, 2)
    y = np.linspace(10.0, 300.0, 100)
    data = from_arrays(x, y, seed=1)
    assert sorted(np.concatenate([data.y_train, data.y_test])) == sorted(y.astype(np.float32))


@pytest.mark.parametrize(
    ("target", "task", "message"),
    [
        (
            [0.5, 1.0] * 10,
            "classification",
            r"`y` holds numbers that are not whole numbers \(such as 0.5\), so they are not "
            r"class labels: set `task` to 'regression' or 'auto'.",
        ),
        (
            ["a", "b"] * 10,
            "regression",
            r"`y` holds text \(such as 'a'\), which regression cannot fit: set `task` to "
            r"'classification' or 'auto'.",
        ),
        ([3] * 20, "auto", r"`y` has a single class \(3\): classification needs at least 2."),
        ([2.5] * 20, "regression", r"`y` has a single value \(2.5\), which regression cannot"),
        ([0, 1] * 10, "ranking", "`task` must be one of auto, classification, regression"),
    ],
)  # fmt: skip
def test_ambiguous_targets_are_refused(target, task, message):
    with pytest.raises(ValueError, match=message):
        from_arrays(np.arange(40.0).reshape(20, 2), target, task=task)


def test_csv_with_bom_blank_lines_and_quoted_fields(tmp_path):
    rows = "\n".join(f'{i},"{i % 3}.5",{"ab"[i % 2]}' for i in range(20))
    path = write(tmp_path / "d.csv", "\ufeffa,b,label\n" + rows + "\n\n\n", "utf-8")
    data = load_file(path, target="label")
    assert data.in_features == 2
    assert data.columns["features"] == ["a", "b"]
    assert data.n_classes == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"`path` 'd.csv' is empty: a header row and data rows are needed."),
        ("\n\n", r"`path` 'd.csv' is empty: a header row and data rows are needed."),
        ("a,label\n", r"`path` 'd.csv' has column names but no data rows."),
        ("a,label\n1,x\n2,y,9\n", r"is not a valid table: Expected 2 fields in line 3, saw 3"),
        ("a,b\n1,2\n3,4\n", r"`target` 'label' is not a column of 'd.csv'; columns: a, b."),
        ("a;b;label\n1;2;3\n", r"columns: a;b;label. \(one column only: are the fields separated"),
        ("a,label\n1,x\n2,x\n3,x\n", r"`target` 'label' has a single class \('x'\)"),
        ("a,label\n1,x\n2,y\n3,x\n", r"`path` 'd.csv' has 3 rows: too few to split and train"),
        ("a,label\n1,x\n", "must have at least 2 samples"),
        ("label\n1\n2\n", r"`path` 'd.csv' has no feature columns besides the target 'label'."),
        ("a,label\n1,x\ninf,y\n3,x\n", r"'d.csv' holds 1 infinite value, in column 'a' \(1\)"),
    ],
)  # fmt: skip
def test_bad_csv(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        load_file(write(tmp_path / "d.csv", text), target="label")


def test_a_binary_file_is_not_a_table(tmp_path):
    png = tmp_path / "d.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(ValueError, match=r"`path` 'd.csv' is not a text table: it holds binary"):
        load_file(png, target="label")
    latin = tmp_path / "l.csv"
    latin.write_bytes("a,label\n\xe9t\xe9,1\n".encode("latin-1"))
    with pytest.raises(
        ValueError,
        match=r"`path` 'l.csv' is not UTF-8 text \(invalid continuation byte\): save it as",
    ):
        load_file(latin, target="label")


def test_drop_must_name_columns(tmp_path):
    rows = "\n".join(f"{i},{i * i},{i % 2}" for i in range(20))  # MIN_ROWS
    path = write(tmp_path / "d.csv", "a,b,label\n" + rows + "\n")
    with pytest.raises(ValueError, match=r"`drop` names 'z', which is not a column of 'd.csv'"):
        load_file(path, target="label", drop=["z"])
    with pytest.raises(ValueError, match=r"`drop` names the target column 'label'"):
        load_file(path, target="label", drop="label")
    assert load_file(path, target="label", drop="a").columns["features"] == ["b"]


def test_npy_and_npz(tmp_path):
    array = np.column_stack([np.arange(60.0).reshape(30, 2), np.arange(30) % 3])
    np.save(tmp_path / "d.npy", array)
    assert load_file(tmp_path / "d.npy", target=None).in_features == 2
    assert load_file(tmp_path / "d.npy", target="0").in_features == 2
    assert load_file(tmp_path / "d.npy", target=None, drop=["0"]).columns["features"] == ["1"]
    np.savez(tmp_path / "d.npz", X=array[:, :2], label=array[:, 2])
    assert load_file(tmp_path / "d.npz", target="label").n_classes == 3
    with pytest.raises(ValueError, match="must hold arrays 'x' and 'y'"):
        load_file(tmp_path / "d.npz", target=None)
    with pytest.raises(ValueError, match=r"must be a column index in \[0, 2\], but got '7'"):
        load_file(tmp_path / "d.npy", target="7")
    write(tmp_path / "n.npy", "not numpy")
    with pytest.raises(ValueError, match=r"`path` 'n.npy' is not a NumPy .npy file"):
        load_file(tmp_path / "n.npy", target=None)


def test_npy_with_nan_labels(tmp_path):
    array = np.column_stack([np.arange(20.0), [0.0, np.nan] * 10])
    np.save(tmp_path / "d.npy", array)
    with pytest.raises(ValueError, match=r"`target` column 1 must not hold missing labels"):
        load_file(tmp_path / "d.npy", target=None)


def test_unknown_suffix_missing_file_and_a_non_parquet_file(tmp_path):
    with pytest.raises(ValueError, match=r"must end in one of \.csv, \.tsv, \.parquet, \.npy"):
        load_file(write(tmp_path / "d.txt", "x"), target="x")
    with pytest.raises(FileNotFoundError, match="`path` file not found"):
        load_file(tmp_path / "nope.csv", target="x")
    with pytest.raises(ValueError, match=r"`path` 'd.parquet' is not a Parquet file"):
        load_file(write(tmp_path / "d.parquet", "a,b\n1,2\n"), target="a")


def test_parquet_without_pyarrow_names_the_extra(tmp_path):
    table().to_parquet(tmp_path / "t.parquet")
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "from near_optuna import load_file\n"
        f"load_file({str(tmp_path / 't.parquet')!r}, target='label')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert (
        "ValueError: `path` 't.parquet' is a Parquet file, which needs the Python package "
        "'pyarrow': pip install 'near_optuna[parquet]'." in result.stderr
    ), result.stderr
