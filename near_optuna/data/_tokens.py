"""Stray text in a column of numbers: missing-value markers that pandas does not know.

pandas reads an empty cell, ``NA``, ``NaN``, ``null``, ``n/a`` and a few more as missing. Other
markers (``?``, ``-``, ``.``, ``unknown``, ``NULL `` with a space, ...) turn a column of numbers
into text, and a column of RAM sizes with one ``?`` would become one-hot categories. The rule
(documented for users in docs/data.md, "Tables as they come"): a column whose values are numbers
except for such markers is refused, naming the markers and their counts, whatever its number
of distinct values; ``na_values`` declares them missing (then ``impute`` can fill them).

A marker is a value with no letter or digit (``?``, ``-``, ``.``, ``--``, a blank) or one of
:data:`MISSING_WORDS` (any case, surrounding blanks ignored). A column of numbers and other
words (sizes ``1``, ``2``, ``XL``) stays text: it may be meant as categories.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

MISSING_WORDS = frozenset(
    {
        "na",
        "n/a",
        "n.a.",
        "nan",
        "null",
        "none",
        "nil",
        "missing",
        "unknown",
        "not available",
        "#n/a",
        "#na",
        "#value!",
        "#div/0!",
        "#ref!",
        "#num!",
        "#null!",
    }
)
"""Words read as missing-value markers (compared lower-cased, without surrounding blanks)."""


def is_marker(value: str) -> bool:
    """Whether a text value reads as a missing-value marker.

    Example:
        >>> [is_marker(v) for v in ("?", " - ", "Unknown", "NULL", "XL", "4GB")]
        [True, True, True, True, False, False]
    """
    word = value.strip().lower()
    return not any(c.isalnum() for c in word) or word in MISSING_WORDS


def stray_markers(values: Iterable[str]) -> list[str]:
    """The markers among a text column's distinct values, when all the others are numbers.

    Returns an empty list when the column holds no number, no marker, or any other text.

    Example:
        >>> stray_markers(["2", "4", "?", "16"]), stray_markers(["1", "2", "XL", "?"])
        (['?'], [])
    """
    import pandas as pd

    distinct = list(values)
    numbers = pd.to_numeric(pd.Series(distinct, dtype=object), errors="coerce").notna()
    markers = [v for v, n in zip(distinct, numbers, strict=True) if not n and is_marker(v)]
    others = len(distinct) - int(numbers.sum()) - len(markers)
    return markers if markers and others == 0 and numbers.any() else []


def mostly_numbers(values: Iterable[str]) -> bool:
    """Whether more than half of a text column's distinct values are numbers.

    Example:
        >>> mostly_numbers(["1", "2", "?"]), mostly_numbers(["a", "b", "3"])
        (True, False)
    """
    import pandas as pd

    distinct = pd.Series(list(values), dtype=object)
    return bool(pd.to_numeric(distinct, errors="coerce").notna().mean() > 0.5)


def marker_counts(column: pd.Series) -> dict[str, int]:
    """How many cells of ``column`` hold each value that is not a number (and not missing)."""
    import pandas as pd

    present = column[column.notna()].astype(str)
    text = present[pd.to_numeric(present, errors="coerce").isna()]
    return {str(k): int(v) for k, v in text.value_counts(sort=False).items()}


def add_counts(total: dict[str, int], part: dict[str, int]) -> None:
    """Add ``part``'s counts to ``total``."""
    for value, count in part.items():
        total[value] = total.get(value, 0) + count


def numbers_with_text(source: str, name: str, counts: dict[str, int], *, target: bool) -> str:
    """The one-line refusal of a column of numbers with text cells (``counts`` per value).

    Text that looks like missing values is named with its counts and ``na_values`` as the
    way out; other text is named with an example.
    """
    cells = sum(counts.values())
    ordered = sorted(counts.items(), key=lambda item: -item[1])
    words = [v for v, _ in ordered if not is_marker(v)]
    if words:
        way = "" if target else ", or add the column to `drop`"
        return (
            f"{source} column {name!r} holds numbers and text (such as {words[0]!r}; {cells} "
            f"text cell{'' if cells == 1 else 's'} in all): mark missing cells as empty or NA, "
            f"or name their text in `na_values`{way}."
        )
    shown = ", ".join(f"{v!r} ({n})" for v, n in ordered[:10]) + (
        f" and {len(ordered) - 10} more" if len(ordered) > 10 else ""
    )
    if cells == 1:
        holds, it = "1 text cell that looks like a missing value", "it"
    else:
        holds, it = f"{cells} text cells that look like missing values", "them"
    name_them = "it" if len(counts) == 1 else "them"
    then = "rows with a missing target are left out" if target else f"then `impute` can fill {it}"
    way = "" if target else ", or add the column to `drop`"
    return (
        f"{source} column {name!r} holds numbers and {holds}: {shown}: name {name_them} in "
        f"`na_values` to read {it} as missing ({then}){way}."
    )
