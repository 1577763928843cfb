"""The search space: which MLPs a study may propose, and how a trial asks for one."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import optuna

from near_optuna.measure._mlp import ACTIVATIONS, INITS
from near_optuna.measure._names import DEFAULT_ACTIVATIONS
from near_optuna.numerics._checks import check_choice


@dataclass(frozen=True)
class SearchSpace:
    """Which MLPs a study may propose.

    Attributes:
        min_depth: Fewest hidden layers (>= 1).
        max_depth: Most hidden layers.
        min_width: Narrowest hidden layer (>= 1).
        max_width: Widest hidden layer.
        activations: Activation names to choose from.
        inits: Initialisation names to choose from.
        log_width: Sample widths on a log scale (default) or uniformly.

    Raises:
        ValueError: For an empty or contradictory space (see the messages).

    Example:
        >>> SearchSpace(max_depth=2, activations=("relu", "tanh")).max_width
        512
    """

    min_depth: int = 1
    max_depth: int = 3
    min_width: int = 8
    max_width: int = 512
    activations: tuple[str, ...] = DEFAULT_ACTIVATIONS
    inits: tuple[str, ...] = INITS
    log_width: bool = True

    def __post_init__(self) -> None:
        if self.min_depth < 1:
            raise ValueError(f"`min_depth` must be >= 1, but got min_depth={self.min_depth}.")
        if self.max_depth < self.min_depth:
            raise ValueError(
                f"`max_depth` must be >= `min_depth` ({self.min_depth}), but got "
                f"max_depth={self.max_depth}."
            )
        if self.min_width < 1:
            raise ValueError(f"`min_width` must be >= 1, but got min_width={self.min_width}.")
        if self.max_width < self.min_width:
            raise ValueError(
                f"`max_width` must be >= `min_width` ({self.min_width}), but got "
                f"max_width={self.max_width}."
            )
        for name, values, choices in (
            ("activations", self.activations, tuple(ACTIVATIONS)),
            ("inits", self.inits, INITS),
        ):
            if not values:
                raise ValueError(f"`{name}` must name at least one choice, but got ().")
            if len(set(values)) != len(values):
                raise ValueError(f"`{name}` must not repeat a name, but got {values}.")
            for value in values:
                check_choice(value, choices, name=name)

    def suggest(self, trial: optuna.Trial) -> tuple[tuple[int, ...], str, str]:
        """Ask ``trial`` for ``(widths, activation, init)``."""
        depth = trial.suggest_int("depth", self.min_depth, self.max_depth)
        log = self.log_width and self.max_width > self.min_width
        widths = tuple(
            trial.suggest_int(f"width_{i}", self.min_width, self.max_width, log=log)
            for i in range(depth)
        )
        activation = trial.suggest_categorical("activation", list(self.activations))
        init = trial.suggest_categorical("init", list(self.inits))
        return widths, str(activation), str(init)

    @property
    def size(self) -> int:
        """How many distinct configurations the space holds.

        Example:
            >>> SearchSpace(min_depth=2, max_depth=2, min_width=64, max_width=64).size
            35
        """
        widths = self.max_width - self.min_width + 1
        depths = range(self.min_depth, self.max_depth + 1)
        shapes: int = sum(int(widths) ** depth for depth in depths)
        return shapes * len(self.activations) * len(self.inits)

    def grid(self) -> dict[str, list[Any]] | None:
        """Every configuration as an Optuna ``GridSampler`` search space, or ``None``.

        Only a space of one depth can be enumerated this way (with several depths, the widths
        of the deeper layers exist only in some trials).

        Example:
            >>> space = SearchSpace(min_depth=1, max_depth=1, min_width=8, max_width=9,
            ...                     activations=("relu",), inits=("default",))
            >>> space.grid()
            {'depth': [1], 'width_0': [8, 9], 'activation': ['relu'], 'init': ['default']}
        """
        if self.min_depth != self.max_depth:
            return None
        widths = list(range(self.min_width, self.max_width + 1))
        grid: dict[str, list[Any]] = {"depth": [self.min_depth]}
        grid |= {f"width_{i}": widths for i in range(self.min_depth)}
        return grid | {"activation": list(self.activations), "init": list(self.inits)}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        data = asdict(self)
        data["activations"], data["inits"] = list(self.activations), list(self.inits)
        return data
