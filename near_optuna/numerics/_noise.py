"""Validation noise: how far apart two validation scores must be to mean something.

Accuracy and R² are both sums over the validation rows of one term per row:

* accuracy: ``correct_i / n``;
* R²: ``1 / n - e_i² / SST`` (``e_i`` the residual, ``SST`` the total sum of squares), so that
  the terms add up to ``1 - SSE / SST``.

For two models scored on the *same* rows, the difference of their scores is the sum of the
per-row differences ``d_i``; treating the rows as independent draws, its standard error is
``sqrt(n) * std(d)`` (the paired standard error; for accuracy it is the binomial standard
error of the discordant rows, for R² the delta method with ``SST`` held fixed). A single
score's own standard error is the same formula with the other model's terms at zero
(``sqrt(p (1 - p) / n)`` for an accuracy ``p``, up to the ``n - 1``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Terms = npt.NDArray[np.float64]


def standard_error(terms: Terms, other: Terms | None = None) -> float:
    """Standard error of ``sum(terms)``, or of ``sum(terms) - sum(other)`` on the same rows.

    Returns ``inf`` for fewer than two rows (no spread can be measured), never NaN.

    Raises:
        ValueError: If ``other`` has another shape, or the terms are not finite.

    Example:
        >>> acc = np.array([1.0, 1.0, 0.0, 1.0]) / 4  # accuracy 0.75 on 4 rows
        >>> round(standard_error(acc), 4)
        0.25
        >>> standard_error(acc, acc)  # a model against itself: no noise at all
        0.0
    """
    values = np.asarray(terms, dtype=np.float64)
    if other is not None:
        other = np.asarray(other, dtype=np.float64)
        if other.shape != values.shape:
            raise ValueError(
                f"`other` must have the shape of `terms` {values.shape}, but got {other.shape}."
            )
        values = values - other
    if not np.isfinite(values).all():
        raise ValueError("`terms` must be finite, but they hold NaN or inf.")
    if values.size < 2:
        return math.inf
    return float(math.sqrt(values.size) * values.std(ddof=1))


def leaders(scores: Sequence[float], errors: Sequence[float]) -> list[int]:
    """The one-standard-error rule: which scores are within noise of the best?

    ``errors[i]`` is the standard error of ``scores[best] - scores[i]`` (0 for the best
    itself). Index ``i`` leads when ``scores[i] >= scores[best] - errors[i]``. Returns the
    leading indices in their order; the best one always leads.

    Raises:
        ValueError: For no scores, or lists of different lengths.

    Example:
        >>> leaders([0.90, 0.89, 0.80], [0.0, 0.02, 0.02])
        [0, 1]
    """
    if not scores:
        raise ValueError("`scores` must hold at least one score.")
    if len(errors) != len(scores):
        raise ValueError(
            f"`errors` must have one entry per score ({len(scores)}), but got {len(errors)}."
        )
    best = max(range(len(scores)), key=lambda i: scores[i])
    return [
        i
        for i, (score, error) in enumerate(zip(scores, errors, strict=True))
        if i == best or score >= scores[best] - error
    ]
