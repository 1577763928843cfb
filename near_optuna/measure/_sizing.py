"""Layer-size estimation from effective ranks (NEAR paper, section 4.2), corrected and checked.

For the hidden layer after the ``preceding`` widths, build the MLP with that layer at each width
of a grid, measure the effective rank ``E(n)`` of the layer's matrix, and pick the width where
extra neurons stop adding dimensions:

* ``rule="knee"`` (default, fit-free): the first width from which a neuron adds less than
  ``gain`` effective dimensions (:func:`near_optuna.numerics._fit.knee_width`);
* ``rule="slope"`` (the paper's): fit ``E(n) / n = a + b n^c`` anchored at ``(1, 1)`` and take
  the width where the fitted slope magnitude ``|b c n^(c-1)|`` falls to ``slope``.

Both are always reported when they can be computed, with the fit's residuals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeAlias

import torch

from near_optuna.data._batch import Batch
from near_optuna.measure._mlp import build_mlp
from near_optuna.measure._score import near_score
from near_optuna.numerics._checks import check_choice
from near_optuna.numerics._fit import FitError, PowerFit, fit_power_law, geometric_grid, knee_width

Rule: TypeAlias = Literal["knee", "slope"]
Progress: TypeAlias = Callable[[int, int], None]
Matrix: TypeAlias = Literal["post", "pre", "both"]
RULES: tuple[Rule, ...] = ("knee", "slope")
MATRICES: tuple[Matrix, ...] = ("post", "pre", "both")
DEFAULT_WIDTHS: tuple[int, ...] = tuple(geometric_grid(8, 1024))
DEFAULT_GAIN = 0.5
DEFAULT_SLOPE = 0.005
DEFAULT_ROWS: int | None = 1024
DEFAULT_SIZING_REPETITIONS = 3


@dataclass(frozen=True)
class LayerSizeEstimate:
    """The estimated width of one hidden layer and the evidence behind it.

    Attributes:
        width: The estimate (an integer inside the grid's range).
        position: Index of the hidden layer (0 = first).
        preceding: Widths of the hidden layers before it.
        widths: The measured grid.
        ranks: Mean effective rank of the measured matrix at each grid width.
        relative: ``ranks / widths``, the paper's relative score.
        rule: The rule that chose ``width``.
        knee: The knee rule's answer.
        slope_width: The corrected slope rule's answer (``None`` if the fit was refused).
        fit: The power-law fit (``None`` if refused; ``fit_error`` says why).
        fit_error: Why the fit was refused, else ``None``.
        gain: Threshold of the knee rule (dimensions per added neuron).
        slope: Threshold of the slope rule.
        rows: Rows per measured matrix (``None``: the paper's ``min(width, samples)``).
        matrix: Which matrix was measured: ``post``, ``pre`` or ``both`` (their mean).
    """

    width: int
    position: int
    preceding: tuple[int, ...]
    widths: tuple[int, ...]
    ranks: tuple[float, ...]
    relative: tuple[float, ...]
    rule: Rule
    knee: int
    slope_width: float | None
    fit: PowerFit | None
    fit_error: str | None
    gain: float
    slope: float
    rows: int | None
    matrix: Matrix

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, for study user attributes."""
        return asdict(self)


def _layer_rank(score_layers: Sequence[Any], position: int, matrix: Matrix) -> float:
    layer = score_layers[position]
    if matrix == "pre" or layer.post is None:
        return float(layer.pre)
    if matrix == "post":
        return float(layer.post)
    return (float(layer.pre) + float(layer.post)) / 2.0


def _check_options(widths: Sequence[int], gain: float, slope: float, rows: int | None) -> None:
    if not 0.0 < gain < 1.0:
        raise ValueError(f"`gain` must be in (0, 1), but got {gain=}.")
    if not 0.0 < slope < 1.0:
        raise ValueError(f"`slope` must be in (0, 1), but got {slope=}.")
    if rows is not None and rows < 2:
        raise ValueError(f"`rows` must be None or >= 2, but got {rows=}.")
    if len(widths) < 4:
        raise ValueError(f"`widths` must hold at least 4 widths, but got {list(widths)}.")
    if any(w < 1 for w in widths) or list(widths) != sorted(set(widths)):
        raise ValueError(f"`widths` must be increasing and >= 1, but got {list(widths)}.")


def estimate_layer_size(
    inputs: Any,
    *,
    out_features: int,
    preceding: Sequence[int] = (),
    activation: str = "relu",
    init: str = "default",
    widths: Sequence[int] = DEFAULT_WIDTHS,
    repetitions: int = DEFAULT_SIZING_REPETITIONS,
    seed: int = 0,
    rule: Rule = "knee",
    gain: float = DEFAULT_GAIN,
    slope: float = DEFAULT_SLOPE,
    rows: int | None = DEFAULT_ROWS,
    matrix: Matrix = "post",
    device: str | torch.device | None = None,
    progress: Progress | None = None,
) -> LayerSizeEstimate:
    """Estimate the width of the hidden layer that follows ``preceding``.

    Args:
        inputs: Input samples (no labels), ``(samples, features)``; at least 2 samples.
        out_features: Output width of the MLP (e.g. the number of classes).
        preceding: Widths of the hidden layers before the one estimated.
        activation: Activation of every hidden layer (see :func:`build_mlp`).
        init: Initialisation re-applied in every repetition.
        widths: The grid of candidate widths (at least 4, increasing).
        repetitions: Initialisations (and row draws) averaged per grid width.
        seed: Seed of the repetitions.
        rule: ``"knee"`` (fit-free) or ``"slope"`` (corrected paper rule).
        gain: Knee threshold: effective dimensions a neuron must add, in (0, 1).
        slope: Slope threshold of the fitted relative score, in (0, 1).
        rows: Rows per matrix: a fixed number (default 1024, capped at the samples), so every
            width is measured on the same samples, or ``None`` for the paper's square matrices.
        matrix: ``"post"`` (default), ``"pre"`` or ``"both"``.
        device: Device of the forward passes.
        progress: Called as ``progress(done, total)`` after each grid width is measured.

    Returns:
        A :class:`LayerSizeEstimate`.

    Raises:
        ValueError: For fewer than 2 samples, a grid of fewer than 4 widths, thresholds out of
            range, or unknown names.
        FitError: With ``rule="slope"``, when the power law cannot be fitted or degenerates.

    Example:
        >>> import torch
        >>> x = torch.randn(256, 6, generator=torch.Generator().manual_seed(0))
        >>> est = estimate_layer_size(x, out_features=2, widths=[4, 8, 16, 32, 64])
        >>> est.width in est.widths, len(est.ranks)
        (True, 5)
    """
    check_choice(rule, RULES, name="rule")
    check_choice(matrix, MATRICES, name="matrix")
    _check_options(widths, gain, slope, rows)
    batch = mlp_batch(inputs)
    x = batch.tensor
    position = len(preceding)
    ranks = []
    for width in widths:
        model = build_mlp(
            x.shape[-1],
            [*preceding, width],
            out_features,
            activation=activation,
            init=init,
            seed=seed,
        )
        score = near_score(
            model, batch, repetitions=repetitions, init=init, seed=seed, device=device, rows=rows
        )
        ranks.append(_layer_rank(score.layers, position, matrix))
        if progress is not None:
            progress(len(ranks), len(widths))
    relative = [e / w for e, w in zip(ranks, widths, strict=True)]
    knee = knee_width(widths, ranks, gain=gain)
    fit, fit_error, slope_width = None, None, None
    try:
        fit = fit_power_law(widths, relative)
        slope_width = fit.width_at_slope(slope)
    except FitError as err:
        if rule == "slope":
            raise
        fit_error = str(err)
    chosen = knee if rule == "knee" else round(slope_width or widths[-1])
    return LayerSizeEstimate(
        width=int(min(max(chosen, widths[0]), widths[-1])),
        position=position,
        preceding=tuple(preceding),
        widths=tuple(widths),
        ranks=tuple(ranks),
        relative=tuple(relative),
        rule=rule,
        knee=knee,
        slope_width=slope_width,
        fit=fit,
        fit_error=fit_error,
        gain=gain,
        slope=slope,
        rows=rows,
        matrix=matrix,
    )


def mlp_batch(inputs: Any) -> Batch:
    """``inputs`` checked as an MLP's: 2-D ``(samples, features)`` with at least 2 samples."""
    shape = getattr(getattr(inputs, "tensor", inputs), "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(f"`inputs` must be 2-D (samples, features), but got shape {shape}.")
    return Batch.of(inputs, min_samples=2)


def _offset(progress: Progress, position: int, depth: int) -> Progress:
    """``progress`` for one position of ``depth``: counts continue across positions."""

    def step(done: int, total: int) -> None:
        progress(position * total + done, depth * total)

    return step


def estimate_layer_sizes(
    inputs: Any,
    *,
    out_features: int,
    depth: int,
    progress: Progress | None = None,
    **options: Any,
) -> tuple[LayerSizeEstimate, ...]:
    """Size ``depth`` hidden layers one at a time, each after the earlier estimates.

    ``options`` go to :func:`estimate_layer_size`; ``progress(done, total)`` counts measured
    widths over all positions.

    Example:
        >>> import torch
        >>> x = torch.randn(128, 5, generator=torch.Generator().manual_seed(0))
        >>> sizes = estimate_layer_sizes(x, out_features=2, depth=2, widths=[4, 8, 16, 32])
        >>> [s.position for s in sizes], sizes[1].preceding == (sizes[0].width,)
        ([0, 1], True)
    """
    if depth < 1:
        raise ValueError(f"`depth` must be >= 1, but got {depth=}.")
    batch = mlp_batch(inputs)
    estimates: list[LayerSizeEstimate] = []
    for position in range(depth):
        preceding = tuple(e.width for e in estimates)
        step = None if progress is None else _offset(progress, position, depth)
        estimates.append(
            estimate_layer_size(
                batch, out_features=out_features, preceding=preceding, progress=step, **options
            )
        )
    return tuple(estimates)
