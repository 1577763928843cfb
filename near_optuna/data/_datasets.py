"""Built-in datasets, from installed packages only (nothing is downloaded)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from near_optuna.data._names import DATASETS, DEFAULT_DATASET
from near_optuna.numerics._checks import check_choice

DEFAULT_TEST_FRACTION = 0.25


@dataclass(frozen=True)
class Dataset:
    """A classification dataset split into train and test, standardised with train statistics.

    Attributes:
        name: Short name (``"digits"``, ... or ``"user"``).
        x_train: Float32 features, ``(samples, features)``, zero mean and unit variance per
            column over the training rows (constant columns are only centred).
        y_train: Int64 class labels ``0 .. n_classes - 1``.
        x_test: Test features, standardised with the training statistics.
        y_test: Test labels.
        description: One line on where the data comes from.
    """

    name: str
    x_train: npt.NDArray[np.float32]
    y_train: npt.NDArray[np.int64]
    x_test: npt.NDArray[np.float32]
    y_test: npt.NDArray[np.int64]
    description: str = field(default="")

    @property
    def in_features(self) -> int:
        """Number of input features."""
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of classes (the output width of a classifier)."""
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def summary(self) -> dict[str, object]:
        """A JSON-ready description (stored on studies)."""
        return {
            "name": self.name,
            "train_samples": int(self.x_train.shape[0]),
            "test_samples": int(self.x_test.shape[0]),
            "features": self.in_features,
            "classes": self.n_classes,
            "description": self.description,
        }


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
}


def load_dataset(
    name: str = DEFAULT_DATASET, *, test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = 0
) -> Dataset:
    """Load a built-in dataset: ``digits``, ``mnist1d``, ``breast_cancer`` or ``wine``.

    ``digits``, ``breast_cancer`` and ``wine`` are scikit-learn's bundled copies, split
    stratified with ``test_fraction`` and ``seed``; ``mnist1d`` is generated locally by the
    ``mnist1d`` package with its default arguments (4000 train, 1000 test samples).

    Raises:
        ValueError: If ``name`` is unknown or ``test_fraction`` is not in (0, 1).

    Example:
        >>> data = load_dataset("wine")
        >>> data.in_features, data.n_classes
        (13, 3)
    """
    check_choice(name, DATASETS, name="dataset")
    if name == "mnist1d":
        x, y, x_test, y_test = _mnist1d_arrays()
        description = "MNIST-1D generated locally by the mnist1d package (default arguments)"
        return _standardised(name, x, y, x_test, y_test, description)
    x, y, description = _SKLEARN[name]()
    return from_arrays(
        x, y, name=name, test_fraction=test_fraction, seed=seed, description=description
    )


def from_arrays(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    name: str = "user",
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = 0,
    description: str = "user arrays",
) -> Dataset:
    """Split user arrays (features ``x``, class labels ``y``) and standardise them.

    Labels may be any hashable values; they are mapped to ``0 .. k - 1`` in sorted order.

    Raises:
        ValueError: For fewer than 2 samples, mismatched lengths, non-2-D or non-finite
            features, or ``test_fraction`` outside (0, 1).
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"`test_fraction` must be in (0, 1), but got {test_fraction=}.")
    features = np.asarray(x, dtype=np.float64)
    raw = np.asarray(y)
    if raw.dtype.kind == "f" and not np.isfinite(raw).all():
        raise ValueError("`y` must not hold missing labels, but it holds NaN or inf.")
    if raw.dtype.kind in "US" and (np.char.strip(raw.astype(str)) == "").any():
        raise ValueError("`y` must not hold missing labels, but it holds empty ones.")
    _, labels = np.unique(raw, return_inverse=True)
    if features.ndim != 2:
        raise ValueError(f"`x` must be 2-D (samples, features), but got {features.shape}.")
    if features.shape[0] != labels.shape[0]:
        raise ValueError(
            f"`x` and `y` must have the same number of samples, but got {features.shape[0]} "
            f"and {labels.shape[0]}."
        )
    if features.shape[0] < 2:
        raise ValueError(f"`x` must have at least 2 samples, but got {features.shape[0]}.")
    if not np.isfinite(features).all():
        bad = int(features.size - np.isfinite(features).sum())
        raise ValueError(f"`x` must be finite, but it holds {bad} NaN or inf values.")
    counts = np.bincount(labels)
    stratify = labels if counts.min() >= 2 else None
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=test_fraction, random_state=seed, stratify=stratify
    )
    return _standardised(name, x_train, y_train, x_test, y_test, description)


def _standardised(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    description: str,
) -> Dataset:
    x_train = np.asarray(x_train, dtype=np.float64)
    if not np.isfinite(x_train).all() or not np.isfinite(np.asarray(x_test, float)).all():
        raise ValueError("`x` must be finite, but it holds NaN or inf values.")
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    # A constant column's mean and std carry rounding noise (1e-17): test the range instead and
    # centre it on its own value, so it becomes exactly 0.
    constant = np.ptp(x_train, axis=0) == 0.0
    mean[constant] = x_train[0, constant]
    std[constant | (std == 0.0)] = 1.0
    return Dataset(
        name=name,
        x_train=((x_train - mean) / std).astype(np.float32),
        y_train=np.asarray(y_train, dtype=np.int64),
        x_test=((np.asarray(x_test, dtype=np.float64) - mean) / std).astype(np.float32),
        y_test=np.asarray(y_test, dtype=np.int64),
        description=description,
    )
