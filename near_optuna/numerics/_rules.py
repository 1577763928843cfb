"""Decision rules: small pure functions that objectives, the gate and the callback call.

Each rule returns ``None`` when it does not apply, else the reason as one line (stored on the
trial or the study), so it can be tested without a study.
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_TOLERANCE = 2.0


def is_oversized(
    widths: Sequence[int], max_widths: Sequence[int], *, tolerance: float = DEFAULT_TOLERANCE
) -> str | None:
    """The saturation-pruning rule: is any layer wider than ``tolerance`` x its saturation width?

    Position ``i`` of ``widths`` is compared with ``max_widths[i]`` (positions beyond the
    estimates use the last one). Returns ``None`` when no layer is oversized, else the reason.

    Example:
        >>> is_oversized([64, 300], [128, 100], tolerance=2.0)
        'layer 1 is oversized: width 300 > 2 x saturation width 100'
        >>> is_oversized([64, 200], [128, 100], tolerance=2.0) is None
        True
    """
    if tolerance < 1.0:
        raise ValueError(f"`tolerance` must be >= 1, but got {tolerance=}.")
    if not max_widths:
        raise ValueError("`max_widths` must hold at least one saturation width.")
    for i, width in enumerate(widths):
        limit = max_widths[min(i, len(max_widths) - 1)]
        if width > tolerance * limit:
            return (
                f"layer {i} is oversized: width {width} > {tolerance:g} x saturation width {limit}"
            )
    return None


def below_percentile(
    score: float, completed: Sequence[float], *, percentile: float, warmup: int
) -> str | None:
    """The low-score rule: is ``score`` below the ``percentile`` of the completed scores?

    Returns ``None`` during the warm-up (fewer than ``warmup`` completed scores) or when the
    score is high enough, else the reason.

    Example:
        >>> below_percentile(5.0, [10.0, 20.0, 30.0], percentile=10, warmup=3)
        'NEAR 5 is below the 10th percentile (12) of 3 completed trials'
        >>> below_percentile(5.0, [10.0, 20.0], percentile=10, warmup=3) is None
        True
    """
    if not completed or len(completed) < warmup:
        return None
    import numpy as np  # here, so that the defaults above import without numpy

    threshold = float(np.percentile(completed, percentile))
    if score < threshold:
        return (
            f"NEAR {score:.3g} is below the {percentile:g}th percentile ({threshold:.3g}) of "
            f"{len(completed)} completed trials"
        )
    return None


def width_pays(
    values: Sequence[float],
    probes: Sequence[bool],
    *,
    maximize: bool,
    warmup: int,
    numbers: Sequence[int] | None = None,
) -> str | None:
    """The size rule's retirement test: is the best completed trial a size probe?

    A size probe is a candidate the saturation rule would have pruned but that was trained
    anyway. If, once at least ``warmup`` trials have completed, the best of them (``values``,
    in the study's ``maximize`` direction; ties go to the earlier trial) is a probe, then width
    beyond the label-blind estimate pays on this data and the size rule should stop. Returns
    ``None`` while it has not, else the reason. ``numbers`` names the trials in the reason.

    Example:
        >>> width_pays([0.6, 0.7, 0.65], [False, True, False], maximize=True, warmup=3)
        'size probe trial 1 (0.7) is the best of 3 completed trials'
        >>> width_pays([0.6, 0.7], [False, True], maximize=True, warmup=3) is None
        True
    """
    if len(values) != len(probes):
        raise ValueError(f"`probes` must match `values`: {len(probes)} != {len(values)}.")
    if not values or len(values) < max(warmup, 1):
        return None
    order = range(len(values))
    best = max(order, key=lambda i: (values[i] if maximize else -values[i], -i))
    if not probes[best]:
        return None
    number = best if numbers is None else numbers[best]
    return (
        f"size probe trial {number} ({values[best]:.4g}) is the best of {len(values)} "
        "completed trials"
    )


def has_stalled(since_improvement: int, *, patience: int | None) -> str | None:
    """The stop rule: has the best NEAR been unchanged for ``patience`` finished trials?

    ``patience=None`` never stops.

    Example:
        >>> has_stalled(20, patience=20)
        'best NEAR unchanged for 20 trials'
        >>> has_stalled(19, patience=20) is None
        True
    """
    if patience is None or since_improvement < patience:
        return None
    return f"best NEAR unchanged for {since_improvement} trials"


MIN_PRUNING_FEATURES = 16
"""Saturation pruning is on by default only for inputs with at least this many features.

On fewer features the label-blind saturation estimate is small (8-64 units) and pruning
holds the NEAR study below widths that the labels reward: on the 12-feature Computers table
the plain command without it answered with 260k-560k-parameter networks that beat the
reference by 0.011-0.012 R² (SE 0.004-0.005) and tied TPE + Hyperband, against 0.011 R²
below TPE + Hyperband with it; on SLID (7 features), fair (8) and Chile (14) the answers
were the same either way."""


def prunes_by_default(in_features: int) -> bool:
    """Whether saturation pruning is on by default for inputs of ``in_features`` features.

    Example:
        >>> prunes_by_default(12), prunes_by_default(64)
        (False, True)
    """
    return in_features >= MIN_PRUNING_FEATURES


MIN_TIME_BUDGET = 30.0
"""Seconds: the default run budget never goes below this (tiny tables train in no time)."""
MAX_TIME_BUDGET = 60.0
"""Seconds: the default run budget never goes above this (``--time-budget`` gives more)."""


def default_time_budget(reference_seconds: float) -> float:
    """The default budget of a whole run: twice one reference training, within 30-60 s.

    ``reference_seconds`` is the time of one 60-epoch training of the reference MLP on the
    data; a validated answer should cost at most two of them, and never needs to cost less
    than :data:`MIN_TIME_BUDGET` nor more than :data:`MAX_TIME_BUDGET` by default.

    Example:
        >>> default_time_budget(4.0), default_time_budget(22.5), default_time_budget(300.0)
        (30.0, 45.0, 60.0)
    """
    if not reference_seconds >= 0:
        raise ValueError(f"`reference_seconds` must be >= 0, but got {reference_seconds=}.")
    return min(max(2.0 * reference_seconds, MIN_TIME_BUDGET), MAX_TIME_BUDGET)
