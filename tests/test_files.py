import numpy as np
import pytest

from near_optuna.data._files import load_file


def write(path, text: str, encoding: str = "utf-8"):
    path.write_text(text, encoding=encoding)
    return path


def test_csv_with_bom_blank_lines_and_a_text_column(tmp_path):
    rows = "\n".join(f"{i},{i % 3}.5,n{i},{'ab'[i % 2]}" for i in range(20))
    path = write(tmp_path / "d.csv", "\ufeffa,b,name,label\n" + rows + "\n\n", "utf-8")
    data = load_file(path, target="label")
    assert data.in_features == 2, "the text column is skipped, a and b are features"
    assert data.n_classes == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,label\n1,x\nNA,y\n2,x\n3,y\n", "column 'a' is numeric but line 3 holds 'NA'"),
        ("a,label\n1,x\n2,\n3,y\n4,x\n", "target column 'label' is empty on line 3"),
        ("a,label\n1,x,9\n2,y\n", "line 2 has 3 fields, the header has 2"),
        ("", "is empty: a header row is needed"),
        ("a,label\n1,x\n", "must have at least 2 samples"),
    ],
)
def test_bad_csv(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        load_file(write(tmp_path / "d.csv", text), target="label")


def test_npy_and_npz(tmp_path):
    array = np.column_stack([np.arange(30.0).reshape(15, 2), np.arange(15) % 3])
    np.save(tmp_path / "d.npy", array)
    assert load_file(tmp_path / "d.npy").in_features == 2
    assert load_file(tmp_path / "d.npy", target="0").in_features == 2
    np.savez(tmp_path / "d.npz", X=array[:, :2], label=array[:, 2])
    assert load_file(tmp_path / "d.npz", target="label").n_classes == 3
    with pytest.raises(ValueError, match="must hold arrays 'x' and 'y'"):
        load_file(tmp_path / "d.npz")
    with pytest.raises(ValueError, match="must be a column index in"):
        load_file(tmp_path / "d.npy", target="7")


def test_npy_with_nan_labels(tmp_path):
    array = np.column_stack([np.arange(20.0), [0.0, np.nan] * 10])
    np.save(tmp_path / "d.npy", array)
    with pytest.raises(ValueError, match="missing labels"):
        load_file(tmp_path / "d.npy")


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"must end in one of \.csv, \.npy, \.npz"):
        load_file(write(tmp_path / "d.txt", "x"))
    with pytest.raises(FileNotFoundError, match="file not found"):
        load_file(tmp_path / "nope.csv")
