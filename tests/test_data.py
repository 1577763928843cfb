import numpy as np
import pytest

from near_optuna.data._datasets import DATASETS, from_arrays, load_dataset


@pytest.mark.parametrize(
    ("name", "features", "classes"),
    [("digits", 64, 10), ("breast_cancer", 30, 2), ("wine", 13, 3), ("mnist1d", 40, 10)],
)
def test_builtin_datasets(name, features, classes):
    data = load_dataset(name)
    assert (data.in_features, data.n_classes) == (features, classes)
    assert data.x_train.dtype == np.float32
    assert data.y_train.dtype == np.int64
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0.0, atol=1e-5)
    stds = data.x_train.std(axis=0)
    assert np.all((np.abs(stds - 1.0) < 1e-4) | (stds < 1e-6)), name
    assert data.summary()["train_samples"] == data.x_train.shape[0]


def test_mnist1d_is_generated_locally_and_keeps_numpy_global_state():
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    data = load_dataset("mnist1d")
    assert np.random.random() == expected
    assert data.x_train.shape == (4000, 40)
    assert data.x_test.shape == (1000, 40)


def test_split_is_seeded_and_test_uses_train_statistics():
    x = np.arange(40, dtype=float).reshape(20, 2)
    y = np.repeat([0, 1], 10)
    a, b = from_arrays(x, y, seed=1), from_arrays(x, y, seed=1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert abs(float(a.x_test.mean())) > 0.0  # centred with train statistics, not its own
    assert len(DATASETS) == 5


def test_labels_are_mapped_to_integers():
    data = from_arrays(np.random.default_rng(0).normal(size=(12, 3)), ["b", "a", "c"] * 4)
    assert set(data.y_train) | set(data.y_test) == {0, 1, 2}


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "message"),
    [
        (np.zeros((1, 2)), [0], {}, "`x` must have at least 2 samples, but got 1"),
        (np.zeros((3, 2)), [0, 1], {}, "same number of samples, but got 3 and 2"),
        (np.zeros(3), [0, 1, 0], {}, "`x` must be 2-D"),
        (np.array([[np.nan, 1.0]] * 4), [0, 1, 0, 1], {}, "`x` has 4 missing cells, in column 0"),
        (np.array([[np.inf, 1.0]] * 4), [0, 1, 0, 1], {}, "`x` holds 4 infinite values, in col"),
        (np.zeros((4, 2)), [0, 1, 0, 1], {"test_fraction": 1.5}, "`test_fraction` must be in"),
    ],
)
def test_bad_arrays(x, y, kwargs, message):
    with pytest.raises(ValueError, match=message):
        from_arrays(x, y, **kwargs)


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(
        ValueError, match="`dataset` must be one of digits, mnist1d, breast_cancer"
    ):
        load_dataset("cifar10")


def test_constant_columns_become_zero_not_one():
    x = np.column_stack([np.full(20, 0.1), np.arange(20.0)])
    data = from_arrays(x, np.repeat([0, 1], 10))
    assert np.abs(data.x_train[:, 0]).max() == 0.0


@pytest.mark.parametrize("labels", [[0.0, 1.0, np.nan, 1.0] * 5, ["a", "b", "", "a"] * 5])
def test_missing_labels_are_refused(labels):
    with pytest.raises(ValueError, match="`y` must not hold missing labels"):
        from_arrays(np.arange(40.0).reshape(20, 2), labels)


def test_diabetes_is_a_regression_dataset():
    from sklearn.datasets import load_diabetes

    data = load_dataset("diabetes")
    assert (data.task, data.in_features, data.out_features) == ("regression", 10, 1)
    assert data.y_train.dtype == np.float32
    target = np.sort(load_diabetes().target.astype(np.float32))
    np.testing.assert_array_equal(np.sort(np.concatenate([data.y_train, data.y_test])), target)
    assert data.summary()["task"] == "regression"
    assert data.task_rule is None


@pytest.mark.parametrize("block", [7, 64, 10_000])
def test_standardising_in_blocks_matches_one_float64_computation(monkeypatch, block):
    from near_optuna.data import _prepare

    monkeypatch.setattr(_prepare, "BLOCK_ROWS", block)
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 5.0, size=(200, 4)).astype(np.float32)
    x[:, 2] = 0.25  # constant
    data = from_arrays(x, np.repeat([0, 1], 100), seed=2)
    reference = from_arrays(x.astype(np.float64), np.repeat([0, 1], 100), seed=2)
    np.testing.assert_allclose(data.x_train, reference.x_train, rtol=0, atol=1e-6)
    np.testing.assert_allclose(data.x_test, reference.x_test, rtol=0, atol=1e-6)
    assert np.abs(data.x_train[:, 2]).max() == 0.0
    if block >= 200:  # one block: exactly what one whole-matrix float64 computation gives
        from near_optuna.data._prepare import split_indices

        train, _ = split_indices(200, np.repeat([0, 1], 100), test_fraction=0.25, seed=2)
        rows = x.astype(np.float64)[train]
        mean, std = rows.mean(axis=0), rows.std(axis=0)
        mean[2], std[2] = 0.25, 1.0
        np.testing.assert_array_equal(data.x_train, ((rows - mean) / std).astype(np.float32))
