"""The task a target asks for (classification or regression), and the rule that picks it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from near_optuna.data._names import TASKS
from near_optuna.numerics._checks import check_choice

Task = Literal["classification", "regression"]
AUTO_MAX_CLASSES = 20
AUTO_MAX_CLASS_FRACTION = 0.05
_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_PLAIN_NUMBER = re.compile(rf"^\s*{_NUMBER}\s*$")
_UNIT_NUMBER = re.compile(
    rf"^\s*(?:[^\d\s.+-]{{1,3}}\s*)?{_NUMBER}(?:\s*[^\d\s.,][^\d]{{0,11}})?\s*$"
)
"""A number with at most a short unit around it: ``1499 USD``, ``$1,499.00``, ``3.5GB``."""


@dataclass(frozen=True)
class Target:
    """A target ready for a :class:`~near_optuna.Dataset`.

    Attributes:
        task: ``"classification"`` or ``"regression"``.
        values: Int64 class labels ``0 .. k - 1`` (in the sorted order of the raw values), or
            float32 regression values as they were (not standardised).
        rule: Why ``task="auto"`` chose the task; ``None`` when the task was given.
        classes: The raw class labels in code order (``values`` indexes them); empty for a
            regression.
    """

    task: Task
    values: npt.NDArray[np.int64] | npt.NDArray[np.float32]
    rule: str | None
    classes: tuple[Any, ...] = ()


def infer_task(y: npt.ArrayLike) -> tuple[Task, str]:
    """The rule of ``task="auto"``: the task a target asks for, and why.

    Text, booleans and other non-numbers are class labels. Numbers are regression values when
    any of them is not a whole number, or when they take more than ``AUTO_MAX_CLASSES`` (20)
    distinct values *and* more than ``AUTO_MAX_CLASS_FRACTION`` (5%) of the rows; fewer
    distinct whole numbers are class labels. (:func:`encode_target` refuses, under
    ``task="auto"``, text with as many distinct values, or with more than 20 distinct values
    that are mostly numbers written with a unit: see :func:`check_text_target`.)

    Example:
        >>> infer_task([0, 1, 1, 2])[0], infer_task([0.5, 1.0, 2.0])[0]
        ('classification', 'regression')
        >>> infer_task(["cat", "dog"])[1]
        'the target holds text'
    """
    raw = np.asarray(y)
    if raw.dtype.kind == "b":
        return "classification", "the target holds True/False values"
    if raw.dtype.kind not in "iuf":
        return "classification", "the target holds text"
    if not _whole(raw):
        return "regression", "the target holds numbers that are not whole numbers"
    distinct, rows = len(np.unique(raw)), len(raw)
    if distinct > AUTO_MAX_CLASSES and distinct > AUTO_MAX_CLASS_FRACTION * rows:
        return "regression", (
            f"the target holds {distinct} distinct whole numbers, more than "
            f"{AUTO_MAX_CLASSES} and more than {AUTO_MAX_CLASS_FRACTION:.0%} of the {rows} rows"
        )
    return "classification", f"the target holds {distinct} distinct whole numbers"


def encode_target(y: npt.ArrayLike, task: str = "auto", *, what: str = "`y`") -> Target:
    """Check a target against ``task`` and encode it.

    Args:
        y: One value per sample: class labels (any sortable values) or numbers.
        task: ``"auto"`` (see :func:`infer_task`), ``"classification"`` or ``"regression"``.
        what: How messages name the target (``"`y`"``, ``"`target` 'label'"``).

    Raises:
        ValueError: For an unknown ``task``, missing values, a single class or a constant
            regression target, non-whole numbers given ``task="classification"``, text
            or booleans given ``task="regression"``, or, given ``task="auto"``, a text
            target that looks like numbers with a unit or an ID (:func:`check_text_target`).

    Example:
        >>> target = encode_target(["b", "a", "b"])
        >>> target.task, target.values.tolist()
        ('classification', [1, 0, 1])
    """
    check_choice(task, TASKS, name="task")
    raw = np.asarray(y)
    _check_present(raw, what)
    chosen, rule = infer_task(raw)
    if task == "auto" and chosen == "classification" and raw.dtype.kind in "OUS":
        check_text_target(raw, what)
    if task == "classification" and raw.dtype.kind in "iuf" and not _whole(raw):
        example = raw[np.mod(raw, 1) != 0][0]
        raise ValueError(
            f"{what} holds numbers that are not whole numbers (such as {example:g}), so they "
            "are not class labels: set `task` to 'regression' or 'auto'."
        )
    if task == "regression" and raw.dtype.kind not in "iuf":
        kind = "True/False values" if raw.dtype.kind == "b" else "text"
        raise ValueError(
            f"{what} holds {kind} (such as {_show(raw[0])}), which regression cannot fit: set "
            "`task` to 'classification' or 'auto'."
        )
    final: Task = chosen if task == "auto" else cast(Task, task)
    values = _encoded(raw, final, what)
    classes = () if final == "regression" else tuple(_plain(c) for c in np.unique(raw))
    return Target(final, values, rule if task == "auto" else None, classes)


def check_text_target(raw: np.ndarray, what: str) -> None:
    """Refuse, for ``task="auto"``, a text target that reads as numbers or as an ID.

    With more than ``AUTO_MAX_CLASSES`` (20) distinct values, text is refused when most of its
    distinct values (more than half) are numbers once a short unit is stripped (``1499 USD``,
    ``$1,499``, ``3.5GB``, ``45%``: a regression target written as text), or when the values
    are more than ``AUTO_MAX_CLASS_FRACTION`` (5%) of the rows (an ID or free text). Both are
    the numeric target's thresholds; ``task="classification"`` takes such classes as given.

    Example:
        >>> prices = [f"{100 + 7 * i} USD" for i in range(30)]
        >>> check_text_target(np.array(prices, dtype=object), "`y`")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `y` holds numbers written with text (such as '100 USD'): 30 distinct ...
    """
    values = [str(v) for v in np.unique(raw.astype(str))]
    distinct, rows = len(values), len(raw)
    if distinct <= AUTO_MAX_CLASSES:
        return
    numbers = [v for v in values if _UNIT_NUMBER.match(v)]
    if len(numbers) > distinct / 2:
        with_unit = [v for v in numbers if not _PLAIN_NUMBER.match(v)] or numbers
        example = next(v for v in raw.tolist() if str(v) in set(with_unit))
        raise ValueError(
            f"{what} holds numbers written with text (such as {example!r}): {distinct} "
            f"distinct values in {rows} rows, which `task` 'auto' would read as {distinct} "
            "classes: write them as plain numbers for a regression, or set `task` to "
            "'classification' if the classes are really meant."
        )
    if distinct > AUTO_MAX_CLASS_FRACTION * rows:
        raise ValueError(
            f"{what} holds {distinct} distinct text values in {rows} rows, more than "
            f"{AUTO_MAX_CLASSES} and more than {AUTO_MAX_CLASS_FRACTION:.0%} of the rows (an ID "
            "or free text?): choose another target, or set `task` to 'classification' if the "
            "classes are really meant."
        )


def _encoded(
    raw: np.ndarray, task: Task, what: str
) -> npt.NDArray[np.int64] | npt.NDArray[np.float32]:
    if task == "regression":
        if np.ptp(raw) == 0:
            raise ValueError(
                f"{what} has a single value ({_show(raw[0])}), which regression cannot learn "
                "from: a target must vary."
            )
        return raw.astype(np.float32)
    classes, labels = np.unique(raw, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"{what} has a single class ({_show(classes[0])}): classification needs at least 2."
        )
    return labels.astype(np.int64).reshape(-1)


def _plain(value: Any) -> Any:
    """A label as a plain Python value (``str``, ``int``, ``float`` or ``bool``)."""
    return value.item() if isinstance(value, np.generic) else value


def _show(value: Any) -> str:
    """``repr`` of a value as Python has it (numpy 2 would write ``np.str_('a')``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _whole(raw: np.ndarray) -> bool:
    return raw.dtype.kind in "iu" or bool(np.all(np.mod(raw, 1) == 0))


def _check_present(raw: np.ndarray, what: str) -> None:
    if raw.dtype.kind == "f" and not np.isfinite(raw).all():
        missing = int(raw.size - np.isfinite(raw).sum())
        raise ValueError(
            f"{what} must not hold missing labels, but it holds {missing} NaN or inf."
        )
    if raw.dtype.kind in "US" and (np.char.strip(raw.astype(str)) == "").any():
        raise ValueError(f"{what} must not hold missing labels, but it holds empty ones.")
    if raw.dtype.kind == "O" and any(v is None or v != v for v in raw.tolist()):
        raise ValueError(f"{what} must not hold missing labels, but it holds empty ones.")
