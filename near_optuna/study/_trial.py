"""The rule chain that ``NearObjective`` and ``NearGate`` share, checked once when built.

Both prune a trial before training when a layer is oversized or the signal-scale guard rejects
the network, record the evidence on the trial, and raise ``optuna.TrialPruned`` with the
reason. :class:`TrialRules` holds their common settings; :func:`finish_trial` records and
prunes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import optuna
import torch

from near_optuna.data._batch import Batch
from near_optuna.measure._evaluate import Evaluation
from near_optuna.measure._guard import SignalGuard, resolve_guard
from near_optuna.measure._inputs import check_device
from near_optuna.measure._sizing import Progress
from near_optuna.numerics._checks import check_at_least
from near_optuna.storage._saturation import DEFAULT_SIZING_MAX_WIDTH, saturation_widths
from near_optuna.study._record import record_trial


@dataclass(frozen=True)
class TrialRules:
    """Settings of the per-trial rules, validated at construction.

    Attributes:
        repetitions: Initialisations (or row draws) averaged per score (>= 1).
        seed: Seed of the scores and of the saturation estimate.
        guard: ``True`` (default thresholds), a :class:`SignalGuard`, or ``False``.
        prune_oversized: Apply saturation pruning.
        tolerance: A layer may be up to this many times its saturation width (>= 1).
        sizing: Options for ``estimate_layer_sizes``, overriding the defaults.
        device: Device of the forward passes (``None``: the model's).
    """

    repetitions: int
    seed: int
    guard: bool | SignalGuard
    prune_oversized: bool
    tolerance: float
    sizing: dict[str, Any] = field(default_factory=dict)
    device: str | torch.device | None = None

    def __post_init__(self) -> None:
        check_at_least(self.repetitions, 1, name="repetitions")
        check_at_least(self.tolerance, 1.0, name="tolerance")
        if self.device is not None:
            check_device(self.device)

    @classmethod
    def of(cls, owner: Any) -> TrialRules:
        """The rules of an objective or a gate, read from its attributes of the same names."""
        return cls(**{f.name: getattr(owner, f.name) for f in fields(cls)})

    @property
    def signal_guard(self) -> SignalGuard | None:
        """The guard to apply, or ``None``."""
        return resolve_guard(self.guard)

    def saturation(
        self,
        study: optuna.Study,
        batch: Batch,
        *,
        out_features: int,
        depth: int,
        max_width: int = DEFAULT_SIZING_MAX_WIDTH,
        progress: Progress | None = None,
    ) -> list[int]:
        """Per-position saturation widths for ``batch``, estimated once per study."""
        return saturation_widths(
            study,
            batch,
            out_features=out_features,
            depth=depth,
            max_width=max_width,
            tolerance=self.tolerance,
            seed=self.seed,
            sizing=self.sizing,
            device=self.device,
            progress=progress,
        )


def finish_trial(
    trial: optuna.Trial,
    *,
    widths: list[int],
    result: Evaluation,
    notes: bool,
    probe: str | None = None,
) -> None:
    """Record ``result`` on ``trial``; raise ``optuna.TrialPruned`` if a rule rejected it.

    ``probe`` is the size rule's reason on a gate's size probe (trained although oversized).
    """
    record_trial(trial, widths=widths, result=result, notes=notes, probe=probe)
    if result.pruned is not None:
        raise optuna.TrialPruned(result.pruned)
