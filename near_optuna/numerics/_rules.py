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
