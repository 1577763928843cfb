"""Tables as they come (issue 18): R and pandas exports, stray text, odd targets, few rows.

Each case is a real file. The library's message names its own arguments (`path`, `target`);
the command line's names the flags, exits with 2 and one line on stderr, and stores nothing.
"""

import re
from pathlib import Path

import numpy as np
import optuna
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


def assert_same(one, other, case: str) -> None:
    for name in ("x_train", "x_test", "y_train", "y_test"):
        np.testing.assert_array_equal(getattr(one, name), getattr(other, name), err_msg=case)


@pytest.mark.parametrize("start", [0, 1])
def test_a_written_out_row_index_is_left_out_with_a_note(tmp_path, start):
    frame = features(60).set_axis(np.arange(start, start + 60))
    frame.to_csv(tmp_path / "plain.csv", index=False)
    frame.to_csv(tmp_path / "pandas.csv")  # the index, under an empty header
    r_style = ['"","a","b","label"'] + [
        f'"{i}",{float(a)!r},{float(b)!r},{int(y)}' for i, (a, b, y) in frame.iterrows()
    ]
    (tmp_path / "r.csv").write_text("\n".join(r_style) + "\n")  # R's write.csv
    pd.read_csv(tmp_path / "pandas.csv").to_parquet(tmp_path / "p.parquet")
    plain = load_file(tmp_path / "plain.csv", target="label")
    reason = f"a row index ({start} to {start + 59}, in order)"
    for name in ("pandas.csv", "r.csv", "p.parquet"):
        data = load_file(tmp_path / name, target="label")
        assert_same(plain, data, name)
        assert data.columns["dropped"] == ["Unnamed: 0"], name
        assert data.columns["dropped_reasons"] == {"Unnamed: 0": reason}, name
        assert data.columns["notes"] == [f"column 'Unnamed: 0' left out: {reason}."], name
        assert data.preprocessing.dropped == ("Unnamed: 0",)
    assert "notes" not in plain.columns


def test_r_row_names_are_left_out_with_a_note(tmp_path):
    frame = features(40).set_axis([f"car {i:02d}" for i in range(40)])  # as R's mtcars
    frame.to_csv(tmp_path / "cars.csv")
    frame.to_parquet(tmp_path / "cars.parquet")  # pandas keeps a text index in the file
    pd.read_csv(tmp_path / "cars.csv").to_parquet(tmp_path / "read.parquet")
    frame.to_csv(tmp_path / "plain.csv", index=False)
    plain = load_file(tmp_path / "plain.csv", target="label")
    for name in ("cars.csv", "read.parquet"):
        data = load_file(tmp_path / name, target="label")
        assert_same(plain, data, name)
        assert data.columns["dropped_reasons"] == {"Unnamed: 0": "row names (40 distinct labels)"}
        assert data.columns["notes"] == [
            "column 'Unnamed: 0' left out: row names (40 distinct labels)."
        ]
    saved = load_file(tmp_path / "cars.parquet", target="label")
    assert saved.columns["dropped_reasons"] == {"__index_level_0__": "pandas' saved index"}
    assert_same(plain, saved, "cars.parquet")


def test_a_row_index_is_ignored_by_the_model_rows_with_or_without_it(tmp_path):
    frame = features(60)
    frame.to_csv(tmp_path / "pandas.csv")
    pre = load_file(tmp_path / "pandas.csv", target="label").preprocessing
    assert [c.name for c in pre.columns] == ["a", "b"]
    with_index = pd.read_csv(tmp_path / "pandas.csv")
    np.testing.assert_array_equal(
        pre.features(with_index).x, pre.features(frame.drop(columns="label")).x
    )


def test_columns_of_consecutive_numbers_are_kept_and_named(tmp_path):
    frame = features(60)
    rng = np.random.default_rng(1)
    frame.insert(0, "Unnamed: 0", rng.permutation(60))  # a shuffled index: not in order
    frame["id"] = rng.permutation(60) + 1000
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = load_file(tmp_path / "t.csv", target="label")
    assert data.columns["features"] == ["Unnamed: 0", "a", "b", "id"]
    assert data.columns["dropped"] == []
    assert data.columns["notes"] == [
        "column 'Unnamed: 0' has no name in the header and is used as a feature (it holds "
        "neither a row index 0..n-1 or 1..n in order nor distinct row names): add it to `drop` "
        "if it labels rows.",
        "column 'id' holds 60 distinct consecutive whole numbers (1000 to 1059), like a row "
        "number or an ID; it is used as a feature: add it to `drop` if it is one.",
    ]


def test_the_command_prints_its_notes_unless_quiet(tmp_path, capsys):
    frame = features(60)
    frame["label"] = frame["label"].where(frame.index != 7)  # one missing target
    frame.to_csv(tmp_path / "t.csv")
    args = ["--data", str(tmp_path / "t.csv"), "--target", "label", *FAST]
    assert main(["--storage", f"sqlite:///{tmp_path / 'a.db'}", *args]) == 0
    out = capsys.readouterr().out
    assert "Note: column 'Unnamed: 0' left out: a row index (0 to 59, in order).\n" in out
    assert "Note: 1 of 60 rows (2%) left out: their target 'label' is missing.\n" in out
    assert main(["--storage", f"sqlite:///{tmp_path / 'b.db'}", *args, "-q"]) == 0
    out = capsys.readouterr().out
    assert "Note:" not in out
    assert len(out.strip().splitlines()) == 1


@pytest.mark.parametrize("kind", ["numbers", "text"])
def test_rows_with_a_missing_target_are_left_out_with_a_note(tmp_path, kind):
    frame = features(80)
    if kind == "text":
        frame["label"] = np.array(["low", "mid", "high"])[frame["label"]]
    complete = frame.copy()
    frame["label"] = frame["label"].astype(object)
    frame.loc[[3, 10, 11, 40], "label"] = None
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    complete.drop(index=[3, 10, 11, 40]).to_csv(tmp_path / "complete.csv", index=False)
    expected = load_file(tmp_path / "complete.csv", target="label")
    for name in ("t.csv", "t.parquet"):
        data = load_file(tmp_path / name, target="label", impute="mean")
        assert_same(expected, data, name)
        assert data.columns["missing_target_rows"] == 4
        assert data.columns["notes"] == [
            "4 of 80 rows (5%) left out: their target 'label' is missing."
        ]
        assert "imputed" not in data.columns, "no feature cell was missing"


def test_too_few_rows_are_refused_with_the_numbers(tmp_path, capsys):
    features(8).to_csv(tmp_path / "tiny.csv", index=False)
    features(8).to_parquet(tmp_path / "tiny.parquet")
    for name in ("tiny.csv", "tiny.parquet"):
        message = (
            f"`path` {name!r} has 8 rows: too few to split and train; at least 20 are needed."
        )
        with pytest.raises(ValueError, match=message):
            load_file(tmp_path / name, target="label")
    line = refused(tmp_path, capsys, "--data", str(tmp_path / "tiny.csv"), "--target", "label")
    assert line == (
        "`--data` 'tiny.csv' has 8 rows: too few to split and train; at least 20 are needed."
    )
    frame = features(30)
    frame["label"] = frame["label"].where(frame.index % 2 == 0)  # 15 without a target
    frame.to_csv(tmp_path / "half.csv", index=False)
    line = refused(
        tmp_path,
        capsys,
        "--data",
        str(tmp_path / "half.csv"),
        "--target",
        "label",
        "--impute",
        "mean",
    )
    assert line == (
        "`--data` 'half.csv' has 15 rows with a target (15 more have none): too few to split and "
        "train; at least 20 are needed."
    )


def test_a_class_with_fewer_than_two_training_rows_is_refused(tmp_path, capsys):
    frame = features(40)
    frame["label"] = np.where(frame.index < 20, "cat", "dog")
    frame.loc[39, "label"] = "emu"
    frame.to_csv(tmp_path / "pets.csv", index=False)
    line = refused(tmp_path, capsys, "--data", str(tmp_path / "pets.csv"), "--target", "label")
    assert line.startswith(
        "`--target` 'label' has 1 class with fewer than 2 rows in the training split: 'emu' ("
    ), line
    assert line.endswith(
        " of 1 row); each class needs at least 2 training rows: merge or remove its rows, or "
        "add more."
    ), line


def laptops(rows: int = 60, markers: dict[int, str] | None = None) -> pd.DataFrame:
    """RAM sizes (5 values, read as text when a cell holds a marker), a price and a label."""
    rng = np.random.default_rng(2)
    ram = rng.choice([2, 4, 8, 16, 32], rows).astype(object)
    for row, marker in (markers or {}).items():
        ram[row] = marker
    frame = pd.DataFrame({"ram": ram, "weight": rng.normal(2.0, 0.3, rows)})
    frame["label"] = (frame["weight"] + rng.normal(0, 0.3, rows) > 2.0).astype(int)
    return frame


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_numbers_with_missing_value_markers_are_refused_with_the_way_out(tmp_path, capsys, suffix):
    frame = laptops(markers={5: "?", 9: "?", 30: "-"})
    path = tmp_path / f"laptops{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.astype({"ram": str}).to_parquet(path)  # a string column, as exported from text
    message = (
        f"`path` 'laptops{suffix}' column 'ram' holds numbers and 3 text cells that look like "
        "missing values: '?' (2), '-' (1): name them in `na_values` to read them as missing "
        "(then `impute` can fill them), or add the column to `drop`."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_file(path, target="label")
    line = refused(tmp_path, capsys, "--data", str(path), "--target", "label")
    assert line == (
        message.replace("`path`", "`--data`")
        .replace("`na_values`", "`--na-values`")
        .replace("`impute`", "`--impute`")
        .replace("`drop`", "`--drop`")
    )
    with pytest.raises(ValueError, match=r"has 3 missing cells, in column 'ram' \(3\)"):
        load_file(path, target="label", na_values=["?", "-"])
    data = load_file(path, target="label", na_values=["?", "-"], impute="median")
    assert data.columns["features"] == ["ram", "weight"]
    assert data.columns["na_values"] == ["?", "-"]
    assert data.columns["imputed"] == {"how": "median", "cells": 3, "columns": {"ram": 3}}
    clean = frame.assign(ram=pd.to_numeric(frame["ram"], errors="coerce"))
    clean.to_csv(tmp_path / "clean.csv", index=False)
    assert_same(load_file(tmp_path / "clean.csv", target="label", impute="median"), data, suffix)


def test_markers_are_counted_over_the_whole_column_whatever_its_values(tmp_path, monkeypatch):
    from near_optuna.data import _files

    rng = np.random.default_rng(3)
    values = [f"{v:.3f}" for v in rng.normal(size=100)]  # 100 distinct: more than 32
    for row in (70, 80, 95):
        values[row] = "?"
    values[85] = "n.a."
    rows = "\n".join(f"{v},{i % 2}" for i, v in enumerate(values))
    path = tmp_path / "t.csv"
    path.write_text("a,label\n" + rows + "\n")
    monkeypatch.setattr(_files, "CHUNK_CELLS", 40)  # 20 rows per chunk: '?' comes late
    with pytest.raises(ValueError, match=r"4 text cells .*: '\?' \(3\), 'n.a.' \(1\): name them"):
        load_file(path, target="label")
    data = load_file(path, target="label", na_values=["?", "n.a."], impute="mean")
    assert data.columns["imputed"]["columns"] == {"a": 4}


def test_a_numeric_target_with_markers_is_refused_then_its_rows_left_out(tmp_path):
    frame = laptops()
    frame["price"] = (1000 * frame["weight"]).round().astype(int).astype(object)
    frame.loc[[4, 8], "price"] = "?"
    frame.drop(columns="label").to_csv(tmp_path / "t.csv", index=False)
    message = (
        "`path` 't.csv' column 'price' holds numbers and 2 text cells that look like missing "
        "values: '?' (2): name it in `na_values` to read them as missing (rows with a missing "
        "target are left out)."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_file(tmp_path / "t.csv", target="price")
    data = load_file(tmp_path / "t.csv", target="price", na_values="?")
    assert data.task == "regression"
    assert data.columns["missing_target_rows"] == 2


def test_a_model_reads_new_rows_with_the_training_markers(tmp_path):
    from near_optuna.data._files import read_rows

    frame = laptops(markers={5: "?"})
    frame.to_csv(tmp_path / "laptops.csv", index=False)
    pre = load_file(
        tmp_path / "laptops.csv", target="label", na_values=["?"], impute="median"
    ).preprocessing
    assert pre.na_values == ("?",)
    assert pre.from_parts(pre.record(), pre.arrays()).na_values == ("?",)
    new = frame.drop(columns="label").head(10)
    new.loc[2, "ram"] = "?"  # and row 5's, as in training
    new.to_csv(tmp_path / "new.csv", index=False)
    for rows in (new, read_rows(tmp_path / "new.csv", na_values=pre.na_values)):
        done = pre.features(rows)
        assert np.isfinite(done.x).all()
        assert done.notes == (
            "`data`: filled 2 missing cells with the training medians ('ram' (2)).",
        )


def test_na_values_go_with_data_files_only(tmp_path, capsys):
    assert refused(tmp_path, capsys, "--na-values", "?") == "`--na-values` goes with `--data`."
    np.save(tmp_path / "d.npy", np.arange(60.0).reshape(30, 2))
    line = refused(tmp_path, capsys, "--data", str(tmp_path / "d.npy"), "--na-values", "?")
    assert line == "`--na-values` applies to text and Parquet tables, not to .npy arrays."


def test_a_text_target_of_numbers_with_a_unit_is_refused_under_auto(tmp_path, capsys):
    frame = features(600)
    frame["price"] = [f"{1000 + 10 * (i % 30)} USD" for i in range(600)]  # 30 prices
    frame.drop(columns="label").to_csv(tmp_path / "cars.csv", index=False)
    frame.drop(columns="label").to_parquet(tmp_path / "cars.parquet")
    message = (
        "`target` 'price' holds numbers written with text (such as '1000 USD'): 30 distinct "
        "values in 600 rows, which `task` 'auto' would read as 30 classes: write them as plain "
        "numbers for a regression, or set `task` to 'classification' if the classes are really "
        "meant."
    )
    for name in ("cars.csv", "cars.parquet"):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            load_file(tmp_path / name, target="price")
    line = refused(tmp_path, capsys, "--data", str(tmp_path / "cars.csv"), "--target", "price")
    assert line == message.replace("`target`", "`--target`").replace("`task`", "`--task`")
    data = load_file(tmp_path / "cars.csv", target="price", task="classification")
    assert data.n_classes == 30


def test_a_mostly_distinct_text_target_is_refused_under_auto(tmp_path, capsys):
    frame = features(60)
    frame["name"] = [f"user{i % 50}" for i in range(60)]
    frame.to_csv(tmp_path / "users.csv", index=False)
    line = refused(tmp_path, capsys, "--data", str(tmp_path / "users.csv"), "--target", "name")
    assert line == (
        "`--target` 'name' holds 50 distinct text values in 60 rows, more than 20 and more than "
        "5% of the rows (an ID or free text?): choose another target, or set `--task` to "
        "'classification' if the classes are really meant."
    )
    many = features(1000)
    many["species"] = [f"species {chr(65 + i % 25)}" for i in range(1000)]  # 25 classes, 2.5%
    many.to_csv(tmp_path / "zoo.csv", index=False)
    assert load_file(tmp_path / "zoo.csv", target="species").n_classes == 25


def test_a_column_that_alone_predicts_the_target_is_named_in_a_warning(tmp_path, capsys):
    frame = features(200)
    frame["label"] = (frame["a"] > 0.2).astype(int)
    frame["a"] = frame["a"] + np.random.default_rng(5).normal(0, 0.5, 200)  # a clue, no leak
    frame["refund"] = np.where(frame["label"] == 1, "refunded", "none")  # set after the outcome
    frame["score"] = frame["label"] * 10 + np.random.default_rng(6).uniform(0, 1, 200)
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = load_file(tmp_path / "t.csv", target="label")
    assert len(data.columns["warnings"]) == 2, data.columns["warnings"]
    assert data.columns["warnings"][0] == (
        "column 'refund' alone predicts the target almost perfectly on the training split "
        "(balanced accuracy 1.000 of a one-column rule, at least 0.99 flags a leak): if it is "
        "known only with or after the target, add it to `drop`."
    )
    assert data.columns["warnings"][1].startswith("column 'score' alone predicts the target")
    args = ["--data", str(tmp_path / "t.csv"), "--target", "label", *FAST]
    assert main(["--storage", f"sqlite:///{tmp_path / 'a.db'}", *args]) == 0
    err = capsys.readouterr().err
    assert (
        "python -m near_optuna.tune: warning: column 'refund' alone predicts the target almost "
        "perfectly on the training split (balanced accuracy 1.000 of a one-column rule, at "
        "least 0.99 flags a leak): if it is known only with or after the target, add it to "
        "`--drop`.\n" in err
    )
    assert main(["--storage", f"sqlite:///{tmp_path / 'b.db'}", *args, "-q"]) == 0
    assert "warning" not in capsys.readouterr().err
    kept = load_file(tmp_path / "t.csv", target="label", drop=["refund", "score"])
    assert "warnings" not in kept.columns


def test_a_regression_leak_is_named_and_a_noisy_clue_is_not(tmp_path):
    frame = features(300).drop(columns="label")
    rng = np.random.default_rng(7)
    frame["price"] = 1000 + 300 * frame["a"] + rng.normal(0, 150, 300)
    frame["price_eur"] = (frame["price"] * 0.92).round(2)
    frame.to_parquet(tmp_path / "t.parquet")
    data = load_file(tmp_path / "t.parquet", target="price")
    assert data.task == "regression"
    assert [w.split(" alone")[0] for w in data.columns["warnings"]] == ["column 'price_eur'"]
    assert "(R² 1.000 of a one-column rule" in data.columns["warnings"][0]


def test_saturation_pruning_is_off_by_default_on_low_dimensional_data(tmp_path, capsys):
    from near_optuna.numerics._rules import MIN_PRUNING_FEATURES
    from near_optuna.tune import main

    def run(*extra: str) -> tuple[int, str, str, optuna.Study | None]:
        storage = f"sqlite:///{tmp_path / f'{len(extra)}.db'}"
        args = ["--storage", storage, "--dataset", "diabetes", "--n-trials", "3", "--refine", "0"]
        code = main([*args, "--max-width", "32", "--repetitions", "1", *extra])
        out, err = capsys.readouterr()
        study = optuna.load_study(study_name="near_optuna", storage=storage) if code == 0 else None
        return code, out, err, study

    assert MIN_PRUNING_FEATURES > 10  # diabetes has 10 features
    code, out, _, study = run()
    assert code == 0
    assert "Note: saturation pruning is off: the data has 10 features (fewer than 16)" in out
    assert study.user_attrs["near:settings"]["prune_oversized"] is False
    assert "near:saturation" not in study.user_attrs
    code, out, _, study = run("--prune-oversized")
    assert code == 0
    assert "saturation pruning is off" not in out
    assert study.user_attrs["near:settings"]["prune_oversized"] is True
    assert "near:saturation" in study.user_attrs
    resumed = f"sqlite:///{tmp_path / '1.db'}"  # the study made with --prune-oversized
    again = ["--storage", resumed, "--dataset", "diabetes", "--n-trials", "1", "--refine", "0"]
    assert main([*again, "--max-width", "32", "--repetitions", "1"]) == 0, "keeps its pruning"
    assert "saturation pruning is off" not in capsys.readouterr().out
    code, _, err, _ = run("--prune-oversized", "--no-prune-oversized")
    assert code == 2
    assert "give either `--prune-oversized` or `--no-prune-oversized`" in err
