"""The signal-scale guard: what effective rank cannot see.

Effective rank ignores scale. Multiplying every weight of a bias-free ReLU network by a constant
multiplies every activation matrix by a constant and leaves NEAR unchanged. NEAR therefore cannot
tell a well-scaled initialisation from one whose signal explodes, and saturated tanh or sigmoid
units still look high-rank. Both train badly. The guard reads four numbers off the forward pass
NEAR already runs, so it costs nothing:

* ``output_rms``: the RMS of the network's output (logits) for standardised inputs;
* ``max_growth``: the largest factor by which the RMS grows from one layer to the next
  (input -> first hidden post-activation -> ... -> output);
* ``saturation``: per hidden layer, the fraction of (sample, unit) entries where the
  activation's local slope is below 1% of its peak slope. For a healthy ReLU layer this is
  about 0.5 (the negative half); near 1.0 means the layer passes almost no gradient;
* ``drive``: per hidden layer, the RMS of the pre-activation ``Z`` over the half-width of the
  activation's *steep part*, the inputs where its slope is at least half its peak
  (:func:`steep_half_width`: 0.88 for tanh, 1.76 for sigmoid). Activations whose steep part
  is unbounded (ReLU, GELU, ELU, softplus, ...) cannot saturate by scale; their drive is 0.
  For a Gaussian ``Z`` with drive 2, 62% of the entries lie beyond the steep part.

:class:`SignalGuard` turns them into a verdict with thresholds that are documented defaults,
chosen from measurements (``benchmarks/guard_calibration.py`` and ``guard_analysis.py``,
docs/choosing.md, "Signal-scale guard"): on 280 digits MLPs, networks with output RMS in
(1, 3] averaged 96% trained accuracy and those in (3, 30] 66%; a layer-to-layer growth in
(2, 4] was harmless (97%) and one in (4, 8] was not (61%).

The drive rule exists for tables with few features. With ``d`` standardised inputs, std-1
weights give a first-layer ``Z`` of RMS about ``sqrt(d)``: 64 digits pixels drive tanh far
into its flat tails, but 6-12 features leave most entries with a slope above 1% of the peak,
and a narrow output layer keeps the growth below 4. Such tanh networks (issue 17:
``[27, 30, 11] tanh normal`` on 12 features) passed the three rules above, ranked high on
NEAR and trained far worse than the rest; their drive is 2.7 to 8.6.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

FLAT_SLOPE = 0.01
STEEP_SLOPE = 0.5
DEFAULT_MAX_OUTPUT_RMS = 10.0
DEFAULT_MAX_GROWTH = 4.0
DEFAULT_MAX_SATURATION = 0.9
DEFAULT_MAX_DRIVE = 2.0
"""Largest accepted drive of a hidden layer (RMS of ``Z`` over the steep part's half-width).

Measured (docs/choosing.md, "the drive rule"): every tanh + normal (std 1) network on the 6- to
11-feature tables had a drive of at least 2.7, every tanh network with any other
initialisation at most 1.86. Limits from 2 to 2.5 give the same verdicts on every table;
3 lets 6-feature tanh networks through and 1.5 rejects good tanh + kaiming ones. The limit
changes no verdict on digits or mnist1d.
"""


@dataclass(frozen=True)
class SignalStats:
    """Scale statistics of one forward pass (see the module docs).

    Attributes:
        input_rms: RMS of the inputs.
        layer_rms: RMS of each hidden layer's post-activation.
        output_rms: RMS of the output layer.
        saturation: Per hidden layer, the fraction of entries on a flat part of the activation.
        drive: Per hidden layer, the RMS of the pre-activation divided by the half-width of
            the activation's steep part (0.0 where the steep part is unbounded, as for ReLU).
    """

    input_rms: float
    layer_rms: tuple[float, ...]
    output_rms: float
    saturation: tuple[float, ...]
    drive: tuple[float, ...] = ()

    @property
    def max_growth(self) -> float:
        """Largest RMS ratio between consecutive stages (input, hidden layers, output)."""
        chain = [self.input_rms, *self.layer_rms, self.output_rms]
        ratios = [b / a if a > 0 else math.inf for a, b in itertools.pairwise(chain)]
        return max(ratios, default=1.0)

    @property
    def max_saturation(self) -> float:
        """The most saturated hidden layer's fraction (0.0 without hidden layers)."""
        return max(self.saturation, default=0.0)

    @property
    def max_drive(self) -> float:
        """The most strongly driven hidden layer's drive (0.0 without hidden layers)."""
        return max(self.drive, default=0.0)

    def to_dict(self) -> dict[str, float | list[float]]:
        """Plain JSON types, for trial attributes."""
        return {
            "input_rms": self.input_rms,
            "output_rms": self.output_rms,
            "max_growth": self.max_growth,
            "max_saturation": self.max_saturation,
            "max_drive": self.max_drive,
            "layer_rms": list(self.layer_rms),
            "saturation": list(self.saturation),
            "drive": list(self.drive),
        }


def _rms(tensor: torch.Tensor) -> float:
    return float(tensor.double().pow(2).mean().sqrt())


def _slope(activation: nn.Module, z: torch.Tensor, step: float = 1e-4) -> torch.Tensor:
    with torch.no_grad():
        difference: torch.Tensor = activation(z + step) - activation(z - step)
    return difference / (2 * step)


_GRID = torch.linspace(-10.0, 10.0, 4001, dtype=torch.float64)
_SHAPES: dict[tuple[type[nn.Module], str], tuple[float, float]] = {}


def _shape(activation: nn.Module) -> tuple[float, float]:
    """``(peak slope, steep half-width)`` of ``activation`` on the grid [-10, 10]."""
    # Keyed by class and settings (LeakyReLU(0.01) differs from LeakyReLU(0.2)), not instance.
    key = (type(activation), repr(activation))
    if key not in _SHAPES:
        slope = _slope(activation, _GRID).abs()
        peak = float(slope.max())
        steep = slope >= STEEP_SLOPE * peak
        step = float(_GRID[1] - _GRID[0])
        # A steep part that reaches an end of the grid is taken as unbounded.
        half_width = math.inf if steep[0] or steep[-1] else float(steep.sum()) * step / 2
        _SHAPES[key] = (peak, half_width)
    return _SHAPES[key]


def _peak_slope(activation: nn.Module) -> float:
    return _shape(activation)[0]


def steep_half_width(activation: nn.Module) -> float:
    """Half the length of the inputs where ``activation``'s slope is >= half its peak.

    ``inf`` when that part is unbounded (ReLU and its smooth relatives): such an activation
    does not saturate however large its input.

    Example:
        >>> import torch
        >>> round(steep_half_width(torch.nn.Tanh()), 2), steep_half_width(torch.nn.ReLU())
        (0.88, inf)
    """
    return _shape(activation)[1]


def layer_drive(activation: nn.Module, pre: torch.Tensor) -> float:
    """RMS of ``pre`` over ``activation``'s steep half-width (0.0 for an unbounded one).

    Example:
        >>> import torch
        >>> round(layer_drive(torch.nn.Sigmoid(), torch.full((4,), 3.5)), 2)
        1.99
    """
    return _rms(pre) / steep_half_width(activation)


def saturated_fraction(activation: nn.Module, pre: torch.Tensor) -> float:
    """Fraction of ``pre`` entries where ``activation``'s slope is below 1% of its peak.

    Example:
        >>> import torch
        >>> saturated_fraction(torch.nn.Tanh(), torch.tensor([0.0, 0.5, 5.0, -6.0]))
        0.5
    """
    peak = _peak_slope(activation)
    if peak <= 0.0:
        return 1.0
    flat = _slope(activation, pre.double()).abs() < FLAT_SLOPE * peak
    return float(flat.double().mean())


class _Layer(Protocol):
    @property
    def pre(self) -> torch.Tensor: ...
    @property
    def post(self) -> torch.Tensor | None: ...
    @property
    def activation(self) -> nn.Module | None: ...


def signal_stats(inputs: torch.Tensor, captures: Sequence[_Layer]) -> SignalStats:
    """Scale statistics of one forward pass (the last layer is the output).

    Pass the full-batch tensors (the recorder's events), not the row-subsampled matrices: an
    output layer of 2 classes would otherwise be judged on 2 samples.
    """
    hidden = [c for c in captures if c.post is not None]
    saturation = tuple(
        saturated_fraction(c.activation, c.pre) if c.activation is not None else 0.0
        for c in hidden
    )
    return SignalStats(
        input_rms=_rms(inputs) if inputs.is_floating_point() else 1.0,
        layer_rms=tuple(_rms(c.post) for c in hidden if c.post is not None),
        output_rms=_rms(captures[-1].pre),
        saturation=saturation,
        drive=tuple(
            layer_drive(c.activation, c.pre) if c.activation is not None else 0.0 for c in hidden
        ),
    )


@dataclass(frozen=True)
class SignalGuard:
    """Thresholds of the signal-scale guard; :meth:`verdict` is the pure decision rule.

    Args:
        max_output_rms: Largest accepted output RMS (for standardised inputs).
        max_growth: Largest accepted RMS growth factor between consecutive stages.
        max_saturation: Largest accepted fraction of flat entries in any hidden layer.
        max_drive: Largest accepted drive of any hidden layer (pre-activation RMS over the
            activation's steep half-width; only bounded activations such as tanh and sigmoid
            have a drive above 0).

    Raises:
        ValueError: For a threshold that is not positive, or a saturation outside (0, 1].

    Example:
        >>> stats = SignalStats(1.0, (1.4, 40.0), 900.0, (0.5, 0.5))
        >>> SignalGuard().verdict(stats)
        'signal-scale guard: output RMS 900 > 10 (the signal explodes)'
    """

    max_output_rms: float = DEFAULT_MAX_OUTPUT_RMS
    max_growth: float = DEFAULT_MAX_GROWTH
    max_saturation: float = DEFAULT_MAX_SATURATION
    max_drive: float = DEFAULT_MAX_DRIVE

    def __post_init__(self) -> None:
        for name in ("max_output_rms", "max_growth", "max_drive"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"`{name}` must be > 0, but got {name}={value}.")
        if not 0.0 < self.max_saturation <= 1.0:
            value = self.max_saturation
            raise ValueError(
                f"`max_saturation` must be in (0, 1], but got max_saturation={value}."
            )

    def verdict(self, stats: SignalStats) -> str | None:
        """``None`` when the signal is well scaled, else the reason (for the trial record)."""
        dead = [i for i, rms in enumerate(stats.layer_rms) if rms == 0.0]
        if dead:  # every unit of a layer is off on every sample: no gradient passes through it
            return f"signal-scale guard: layer {dead[0]} outputs only zeros (all units are dead)"
        if not math.isfinite(stats.output_rms) or stats.output_rms > self.max_output_rms:
            return (
                f"signal-scale guard: output RMS {stats.output_rms:.3g} > "
                f"{self.max_output_rms:.3g} (the signal explodes)"
            )
        if stats.max_growth > self.max_growth:
            return (
                f"signal-scale guard: RMS grows {stats.max_growth:.3g}x in one layer > "
                f"{self.max_growth:.3g}x"
            )
        if stats.max_saturation > self.max_saturation:
            return (
                f"signal-scale guard: {stats.max_saturation:.0%} of a layer's units are "
                f"saturated > {self.max_saturation:.0%}"
            )
        if stats.max_drive > self.max_drive:
            layer = stats.drive.index(stats.max_drive)
            return (
                f"signal-scale guard: layer {layer}'s pre-activation RMS is "
                f"{stats.max_drive:.3g}x its activation's steep half-width > "
                f"{self.max_drive:.3g}x (the units saturate)"
            )
        return None


def resolve_guard(guard: bool | SignalGuard) -> SignalGuard | None:
    """The guard a ``guard=`` option means: ``True`` the defaults, ``False`` none, or itself.

    Example:
        >>> resolve_guard(True) == SignalGuard(), resolve_guard(False)
        (True, None)
    """
    if isinstance(guard, SignalGuard):
        return guard
    return SignalGuard() if guard else None
