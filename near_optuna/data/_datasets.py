"""Built-in datasets, from installed packages only (nothing is downloaded)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from near_optuna.data._names import DATASETS, DEFAULT_DATASET
from near_optuna.data._prepare import missing_cells, prepare, split_indices
from near_optuna.data._task import Task, encode_target
from near_optuna.data._transform import Preprocessing, preprocessing_of
from near_optuna.numerics._checks import check_choice

DEFAULT_TEST_FRACTION = 0.25


@dataclass(frozen=True)
class Dataset:
    """A dataset split into train and test, its features standardised with train statistics.

    Attributes:
        name: Short name (``"digits"``, ... or the file's stem).
        x_train: Float32 features, ``(samples, features)``, zero mean and unit variance per
            column over the training rows (constant columns are only centred).
        y_train: Classification: int64 class labels ``0 .. n_classes - 1``. Regression: the
            float32 target values as they are (not standardised).
        x_test: Test features, standardised with the training statistics.
        y_test: Test labels or values.
        description: One line on where the data comes from.
        task: ``"classification"`` or ``"regression"``.
        task_rule: Why ``task="auto"`` chose the task (``None`` when it was given).
        columns: How a file's columns became features: ``target``, ``features`` (the columns
            used as numbers), ``one_hot`` (text column to its categories, in feature order),
            ``dropped`` (columns left out on request) and, after imputation, ``imputed``
            (``how``, ``cells``, and missing cells per column). Empty for built-in data.
        preprocessing: How new rows become features exactly as these were (columns, one-hot
            categories, imputation values, standardisation statistics, class labels): what a
            saved model keeps. ``None`` only for a dataset built by hand.
    """

    name: str
    x_train: npt.NDArray[np.float32]
    y_train: npt.NDArray[Any]
    x_test: npt.NDArray[np.float32]
    y_test: npt.NDArray[Any]
    description: str = field(default="")
    task: Task = field(default="classification")
    task_rule: str | None = field(default=None)
    columns: dict[str, Any] = field(default_factory=dict)
    preprocessing: Preprocessing | None = field(default=None, repr=False, compare=False)

    @property
    def in_features(self) -> int:
        """Number of input features."""
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of classes (the output width of a classifier).

        Raises:
            ValueError: For regression data, which has no classes (see ``out_features``).
        """
        if self.task == "regression":
            raise ValueError(
                f"dataset {self.name!r} is a regression task: it has no classes; its models "
                "have `out_features` = 1."
            )
        if self.preprocessing is not None and self.preprocessing.classes:
            return len(self.preprocessing.classes)
        return int(np.concatenate([self.y_train, self.y_test]).max()) + 1

    @property
    def out_features(self) -> int:
        """The output width of a model: the number of classes, or 1 for regression."""
        return 1 if self.task == "regression" else self.n_classes

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (stored on studies as ``near:data``)."""
        info: dict[str, Any] = {
            "name": self.name,
            "task": self.task,
            "train_samples": int(self.x_train.shape[0]),
            "test_samples": int(self.x_test.shape[0]),
            "features": self.in_features,
            "classes": None if self.task == "regression" else self.n_classes,
            "description": self.description,
        }
        if self.task_rule is not None:
            info["task_rule"] = self.task_rule
        if self.columns:
            info["columns"] = self.columns
        return info


def _sklearn(loader: str) -> Callable[[], tuple[np.ndarray, np.ndarray, str]]:
    def load() -> tuple[np.ndarray, np.ndarray, str]:
        from sklearn import datasets

        bunch = getattr(datasets, loader)()
        return bunch.data, bunch.target, f"scikit-learn's bundled {loader}()"

    return load


def _mnist1d_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset generates the data from templates (no download) but seeds numpy's global
    # generator; keep the caller's global state as it was.
    state = np.random.get_state()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(state)
    return data["x"], data["y"], data["x_test"], data["y_test"]


_SKLEARN = {
    "digits": _sklearn("load_digits"),
    "breast_cancer": _sklearn("load_breast_cancer"),
    "wine": _sklearn("load_wine"),
    "diabetes": _sklearn("load_diabetes"),
}
_TASKS: dict[str, Task] = {"diabetes": "regression"}


def load_dataset(
    name: str = DEFAULT_DATASET, *, test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = 0
) -> Dataset:
    """Load a built-in dataset: digits, mnist1d, breast_cancer, wine or diabetes.

    ``digits``, ``breast_cancer`` and ``wine`` (classification) and ``diabetes`` (regression,
    442 patients, 10 features, a disease progression score) are scikit-learn's bundled copies,
    split with ``test_fraction`` and ``seed`` (stratified for classification); ``mnist1d`` is
    generated locally by the ``mnist1d`` package with its default arguments (4000 train, 1000
    test samples).

    Raises:
        ValueError: If ``name`` is unknown or ``test_fraction`` is not in (0, 1).

    Example:
        >>> data = load_dataset("wine")
        >>> data.in_features, data.n_classes
        (13, 3)
        >>> load_dataset("diabetes").task
        'regression'
    """
    check_choice(name, DATASETS, name="dataset")
    if name == "mnist1d":
        x, y, x_test, y_test = _mnist1d_arrays()
        description = "MNIST-1D generated locally by the mnist1d package (default arguments)"
        features = np.concatenate([x, x_test])
        train, test = np.arange(len(x)), np.arange(len(x), len(features))
        labels = np.concatenate([y, y_test]).astype(np.int64)
        prepared = prepare(
            features, train, test, impute=None, missing=np.zeros(0), names=None, source="`x`"
        )
        pre = preprocessing_of(
            names=None,
            columns={},
            mean=prepared.mean,
            std=prepared.std,
            fill=None,
            impute=None,
            task="classification",
            classes=tuple(range(int(labels.max()) + 1)),
            table=False,
        )
        return Dataset(
            name,
            prepared.x_train,
            labels[train],
            prepared.x_test,
            labels[test],
            description,
            preprocessing=pre,
        )
    x, y, description = _SKLEARN[name]()
    return from_arrays(
        x,
        y,
        task=_TASKS.get(name, "classification"),
        name=name,
        test_fraction=test_fraction,
        seed=seed,
        description=description,
    )


def from_arrays(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    task: str = "auto",
    name: str = "user",
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = 0,
    description: str = "user arrays",
    impute: str | None = None,
) -> Dataset:
    """Split user arrays (features ``x``, target ``y``), impute if asked, and standardise.

    Args:
        x: Features, ``(samples, features)``, numbers; NaN marks a missing cell.
        y: The target: class labels (any sortable values, mapped to ``0 .. k - 1`` in sorted
            order) or regression values.
        task: ``"auto"``, ``"classification"`` or ``"regression"``. ``"auto"`` reads text,
            booleans and at most 20 distinct whole numbers (or more, if they are at most 5%
            of the rows) as class labels, and any other numbers as a regression target.
        name: Short name of the data.
        test_fraction: Fraction of the rows held out as the test split (stratified for
            classification when every class has 2 rows).
        seed: Seed of the split.
        description: One line on where the data comes from.
        impute: ``None`` refuses missing cells; ``"mean"`` or ``"median"`` fills each with its
            column's mean or median over the *training* split, in both splits.

    Returns:
        The :class:`Dataset`; regression targets are kept as they are (not standardised).

    Raises:
        ValueError: For fewer than 2 samples, mismatched lengths, non-2-D features, infinite
            values, missing cells without ``impute``, ``test_fraction`` outside (0, 1), or a
            target that does not fit ``task`` (see :func:`~near_optuna.load_file`).

    Example:
        >>> x = [[0.0, 1.0], [1.0, 0.5], [2.0, 0.0], [3.0, 1.5]]
        >>> data = from_arrays(x, [0.1, 0.7, 1.3, 2.2])
        >>> data.task, data.out_features, data.y_train.dtype
        ('regression', 1, dtype('float32'))
    """
    return make_dataset(
        x,
        y,
        task=task,
        name=name,
        test_fraction=test_fraction,
        seed=seed,
        description=description,
        impute=impute,
    )


def make_dataset(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    task: str,
    name: str,
    test_fraction: float,
    seed: int,
    description: str,
    impute: str | None,
    names: Sequence[str] | None = None,
    columns: dict[str, Any] | None = None,
    source: str = "`x`",
    target: str = "`y`",
    table: bool = False,
    hold_out: bool = True,
) -> Dataset:
    """:func:`from_arrays`, with what :func:`~near_optuna.load_file` adds.

    ``names`` gives each feature's source column, ``columns`` how the features were made;
    ``source`` and ``target`` are how messages name the features and the target; ``table``
    says that the columns have names (a table file), not positions. ``hold_out=False`` keeps
    every row for training (the test split is empty; ``test_fraction`` is not used): what a
    scikit-learn estimator's ``fit`` trains on.
    """
    if hold_out and not 0.0 < test_fraction < 1.0:
        raise ValueError(f"`test_fraction` must be in (0, 1), but got {test_fraction=}.")
    features = _numeric(x, source)
    raw = np.asarray(y)
    if features.ndim != 2:
        raise ValueError(f"{source} must be 2-D (samples, features), but got {features.shape}.")
    if features.shape[0] != raw.shape[0]:
        raise ValueError(
            f"{source} and {target} must have the same number of samples, but got "
            f"{features.shape[0]} and {raw.shape[0]}."
        )
    if features.shape[0] < 2:
        raise ValueError(f"{source} must have at least 2 samples, but got {features.shape[0]}.")
    encoded = encode_target(raw, task, what=target)
    missing = missing_cells(features, names, impute=impute, source=source)
    labels = encoded.values if encoded.task == "classification" else None
    if hold_out:
        train, test = split_indices(len(raw), labels, test_fraction=test_fraction, seed=seed)
    else:
        train, test = np.arange(len(raw)), np.arange(0)
    prepared = prepare(
        features, train, test, impute=impute, missing=missing, names=names, source=source
    )
    record = dict(columns or {})
    if prepared.imputed is not None:
        record["imputed"] = prepared.imputed
    pre = preprocessing_of(
        names=None if names is None else list(names),
        columns=record,
        mean=prepared.mean,
        std=prepared.std,
        fill=prepared.fill,
        impute=impute,
        task=encoded.task,
        classes=encoded.classes,
        table=table,
    )
    return Dataset(
        name=name,
        x_train=prepared.x_train,
        y_train=encoded.values[train],
        x_test=prepared.x_test,
        y_test=encoded.values[test],
        description=description,
        task=encoded.task,
        task_rule=encoded.rule,
        columns=record,
        preprocessing=pre,
    )


def _numeric(x: npt.ArrayLike, source: str) -> np.ndarray:
    """``x`` as a numeric array, without copying one that already is (large tables)."""
    features = np.asarray(x)
    if features.dtype.kind in "fiub":
        return features
    try:
        return features.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{source} must hold numbers, but it holds {features.dtype} values: {err}."
        ) from err
