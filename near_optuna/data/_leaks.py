"""A zero-cost leak check: a feature column that alone predicts the target almost perfectly.

A column that is a consequence of the target (the price in another currency, a status set
after the outcome) lets any model score near 100% and learn nothing usable. No training is
needed to see it: on the training split, each column's *one-column rule* predicts every row's
target from the other rows' values in that column alone:

* rows that share the row's value (a category, a code, a repeated number) vote: the majority
  class, or the mean, of the *other* rows with that value (leave-one-out);
* a value no other row has takes the target of the rows at the nearest value in the column.

Two simpler rules see monotone leaks on few rows, where the nearest row is often across the
boundary: for two classes with at least ``THRESHOLD_ROWS`` (10) rows each, the best single
threshold on the column; for a regression, a straight line (R² = the squared correlation).
Both have too few parameters to fit noise on such rows.

A column's score is its best rule's balanced accuracy (the mean recall over the classes, so
that a majority class alone scores 1/k) or R². A column that scores at least ``LEAK_SCORE``
(0.99) is named in a warning; it is kept, as the user may mean it. One-hot columns are judged
as their text column. At most ``LEAK_ROWS`` training rows are used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from near_optuna.data._transform import TEXT, Preprocessing

LEAK_SCORE = 0.99
"""A one-column rule at least this good (balanced accuracy, or R²) flags its column."""
THRESHOLD_ROWS = 10
"""Rows of each class the threshold rule needs (a random column splits 2 x 10 rows perfectly
with odds of 1 in 90,000)."""
LEAK_ROWS = 100_000
"""Training rows the check looks at (the first ones of the shuffled training split)."""


@dataclass(frozen=True)
class Leak:
    """A column whose one-column rule scores ``score`` (``metric``: balanced accuracy or R²)."""

    column: str
    score: float
    metric: str

    def warning(self) -> str:
        """The one-line warning."""
        return (
            f"column {self.column!r} alone predicts the target almost perfectly on the "
            f"training split ({self.metric} {self.score:.3f} of a one-column rule, at least "
            f"{LEAK_SCORE} flags a leak): if it is known only with or after the target, add "
            "it to `drop`."
        )


def find_leaks(
    x: npt.NDArray[np.float32], y: np.ndarray, pre: Preprocessing, task: str
) -> list[Leak]:
    """The feature columns of ``x`` (training rows) whose one-column rule is too good.

    Example:
        >>> from near_optuna import from_arrays
        >>> x = np.column_stack([np.arange(40.0) % 7, np.repeat([1.0, 5.0], 20)])
        >>> data = from_arrays(x, np.repeat(["no", "yes"], 20))
        >>> [leak.column for leak in find_leaks(data.x_train, data.y_train, data.preprocessing,
        ...                                     data.task)]
        ['1']
    """
    rows = slice(0, LEAK_ROWS)
    x, y = x[rows], y[rows]
    found = []
    for name, values in _columns(x, pre):
        if task == "classification":
            score = max(_balanced_accuracy(values, y), _threshold(values, y))
            metric = "balanced accuracy"
        else:
            target = y.astype(np.float64)
            score, metric = max(_r2(values, target), _line(values, target)), "R²"
        if score >= LEAK_SCORE:
            found.append(Leak(name, score, metric))
    return found


def _columns(x: np.ndarray, pre: Preprocessing) -> Iterator[tuple[str, np.ndarray]]:
    """Each source column's values: the feature, or a text column's category (its one-hot)."""
    offset = 0
    for column in pre.columns:
        part = x[:, offset : offset + column.width]
        offset += column.width
        if column.kind == TEXT:
            yield column.name, np.argmax(part, axis=1).astype(np.float64)
        else:
            yield column.name, part[:, 0].astype(np.float64)


def _groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct values (sorted), each row's group, group sizes, each group's nearest other."""
    distinct, group, size = np.unique(values, return_inverse=True, return_counts=True)
    left = np.r_[np.inf, np.diff(distinct)]
    right = np.r_[np.diff(distinct), np.inf]
    nearest = np.arange(len(distinct)) + np.where(left <= right, -1, 1)
    return distinct, group.reshape(-1), size, np.clip(nearest, 0, len(distinct) - 1)


def _balanced_accuracy(values: np.ndarray, labels: np.ndarray) -> float:
    distinct, group, size, nearest = _groups(values)
    if len(distinct) < 2:
        return 0.0
    classes = int(labels.max()) + 1
    votes = np.zeros((len(distinct), classes))
    np.add.at(votes, (group, labels), 1.0)
    own = votes[group].copy()
    own[np.arange(len(labels)), labels] -= 1.0  # leave the row out
    alone = size[group] == 1
    own[alone] = votes[nearest[group[alone]]]
    predicted = own.argmax(axis=1)
    recalls = [np.mean(predicted[labels == k] == k) for k in np.unique(labels)]
    return float(np.mean(recalls))


def _r2(values: np.ndarray, target: np.ndarray) -> float:
    distinct, group, size, nearest = _groups(values)
    spread = float(np.sum((target - target.mean()) ** 2))
    if len(distinct) < 2 or spread == 0.0:
        return 0.0
    sums = np.bincount(group, weights=target, minlength=len(distinct))
    counts = size.astype(np.float64)
    others = counts[group] - 1.0
    predicted = np.divide(
        sums[group] - target, others, out=np.zeros_like(target), where=others > 0
    )
    alone = others == 0
    chosen = nearest[group[alone]]
    predicted[alone] = sums[chosen] / counts[chosen]
    return float(1.0 - np.sum((target - predicted) ** 2) / spread)


def _threshold(values: np.ndarray, labels: np.ndarray) -> float:
    """Two classes: the balanced accuracy of the best single threshold (0 for more classes)."""
    counts = np.unique(labels, return_counts=True)[1]
    if len(counts) != 2 or counts.min() < THRESHOLD_ROWS:
        return 0.0
    order = np.argsort(values, kind="stable")
    ordered, positive = values[order], labels[order] == labels.max()
    cuts = np.flatnonzero(np.diff(ordered) > 0) + 1  # between distinct values only
    if cuts.size == 0:
        return 0.0
    below = np.cumsum(positive)[cuts - 1]  # positives at or below each cut
    positives, rows = int(positive.sum()), len(positive)
    true_negative = (cuts - below) / (rows - positives)
    true_positive = (positives - below) / positives
    balanced = (true_negative + true_positive) / 2.0
    return float(np.max(np.maximum(balanced, 1.0 - balanced)))


def _line(values: np.ndarray, target: np.ndarray) -> float:
    """R² of a straight line: the squared correlation (0 for a constant column)."""
    if np.ptp(values) == 0.0 or np.ptp(target) == 0.0:
        return 0.0
    return float(np.corrcoef(values, target)[0, 1] ** 2)
