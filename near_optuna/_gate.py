"""``NearGate``: NEAR inside a user's own, training-based Optuna objective."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import torch
from torch import nn

from near_optuna._evaluate import DEFAULT_TOLERANCE, Evaluation, is_oversized
from near_optuna._guard import SignalGuard
from near_optuna._objective import ATTR_SCORE, record_trial, sizing_grid, study_saturation_widths
from near_optuna._peers import param_score
from near_optuna._score import NearScore, check_inputs, near_score

DEFAULT_WARMUP = 10
DEFAULT_PERCENTILE = 10.0


def below_percentile(
    score: float, completed: list[float], *, percentile: float, warmup: int
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
    threshold = float(np.percentile(completed, percentile))
    if score < threshold:
        return (
            f"NEAR {score:.3g} is below the {percentile:g}th percentile ({threshold:.3g}) of "
            f"{len(completed)} completed trials"
        )
    return None


@dataclass
class NearGate:
    """Score a model with NEAR before training it, inside your own Optuna objective.

    ``gate(trial, model)`` measures NEAR on ``inputs`` (the model's current, untrained
    weights), records ``near:score``, ``near:layers``, ``near:widths``, ``near:n_params`` and
    ``near:signal`` on the trial plus its dashboard note, and raises ``optuna.TrialPruned`` (reason
    in ``near:pruned``) before any training when:

    * a hidden layer is wider than ``tolerance`` x its saturation width (estimated once per
      study from ``inputs`` and kept in the study, or given as ``max_widths``);
    * the signal-scale guard rejects the network (``guard``);
    * after ``warmup`` completed trials, NEAR is below the ``percentile`` of theirs.

    Args:
        inputs: Input samples (no labels), as the model takes them.
        repetitions: Row draws averaged (the weights are the model's own).
        seed: Seed of the row draws and of the saturation estimate.
        guard: ``True`` (default thresholds), a :class:`SignalGuard`, or ``False``.
        prune_oversized: Apply the saturation rule.
        tolerance: A layer may be up to this many times its saturation width (>= 1).
        max_widths: Saturation widths per hidden position, instead of estimating them.
        warmup: Completed trials needed before the low-score rule applies (>= 0).
        percentile: The low-score rule's percentile in (0, 100), or ``None`` to turn it off.
        notes: Write the per-layer table as the trial's dashboard note.
        device: Device of the forward pass.
        sizing: Options for ``estimate_layer_sizes`` (overriding the defaults).
        sizing_depth: Hidden positions whose saturation width is estimated (>= 1).

    Raises:
        ValueError: For settings out of range, or (when called) inputs the model cannot take.

    Example:
        >>> import optuna, torch
        >>> from near_optuna import build_mlp
        >>> x = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
        >>> gate = NearGate(x, max_widths=[64])
        >>> def objective(trial):
        ...     width = trial.suggest_int("width", 8, 512, log=True)
        ...     model = build_mlp(8, [width], 3, init="kaiming_uniform", seed=0)
        ...     score = gate(trial, model)  # raises optuna.TrialPruned for oversized layers
        ...     return score.total          # (train the model here instead)
        >>> study = optuna.create_study(direction="maximize")
        >>> study.optimize(objective, n_trials=5)
        >>> all("near:score" in t.user_attrs for t in study.trials)
        True
    """

    inputs: Any
    repetitions: int = 1
    seed: int = 0
    guard: bool | SignalGuard = True
    prune_oversized: bool = True
    tolerance: float = DEFAULT_TOLERANCE
    max_widths: list[int] | None = None
    warmup: int = DEFAULT_WARMUP
    percentile: float | None = DEFAULT_PERCENTILE
    notes: bool = True
    device: str | torch.device | None = None
    sizing: dict[str, Any] = field(default_factory=dict)
    sizing_depth: int = 3

    def __post_init__(self) -> None:
        if self.repetitions < 1:
            raise ValueError(
                f"`repetitions` must be >= 1, but got repetitions={self.repetitions}."
            )
        if self.tolerance < 1.0:
            raise ValueError(f"`tolerance` must be >= 1, but got tolerance={self.tolerance}.")
        if self.sizing_depth < 1:
            raise ValueError(f"`sizing_depth` must be >= 1, but got {self.sizing_depth}.")
        if self.warmup < 0:
            raise ValueError(f"`warmup` must be >= 0, but got warmup={self.warmup}.")
        if self.percentile is not None and not 0.0 < self.percentile < 100.0:
            raise ValueError(
                f"`percentile` must be in (0, 100) or None, but got percentile={self.percentile}."
            )
        if self.max_widths is not None and (not self.max_widths or min(self.max_widths) < 1):
            raise ValueError(f"`max_widths` must be widths >= 1, but got {self.max_widths}.")
        if not isinstance(self.inputs, torch.Tensor):
            self.inputs = torch.as_tensor(np.asarray(self.inputs))
        if self.inputs.dim() < 2 or self.inputs.shape[0] < 2:
            raise ValueError(
                "`inputs` must be a batch of at least 2 samples, but got shape "
                f"{tuple(self.inputs.shape)}."
            )
        if self.prune_oversized and self.max_widths is None and self.inputs.dim() != 2:
            raise ValueError(
                "`max_widths` is needed for inputs that are not 2-D (samples, features): "
                f"saturation widths are estimated for MLPs only; got shape "
                f"{tuple(self.inputs.shape)}."
            )
        self._lock = threading.Lock()

    def __call__(self, trial: optuna.Trial, model: nn.Module) -> NearScore:
        """Score ``model``, record it on ``trial``, and prune it if a rule says so."""
        x = check_inputs(model, self.inputs)
        score = near_score(
            model, x, repetitions=self.repetitions, seed=self.seed, device=self.device
        )
        widths = [layer.width for layer in score.layers if layer.post is not None]
        reason = self._verdict(trial.study, score, widths)
        result = Evaluation(
            score.total, reason, score.layers, int(param_score(model)), score.signal
        )
        record_trial(trial, widths=widths, result=result, notes=self.notes)
        if reason is not None:
            raise optuna.TrialPruned(reason)
        return score

    def _verdict(self, study: optuna.Study, score: NearScore, widths: list[int]) -> str | None:
        if self.prune_oversized and widths:
            limits = self.max_widths or self._saturation(study, score)
            reason = is_oversized(widths, limits, tolerance=self.tolerance)
            if reason is not None:
                return reason
        rule = (
            self.guard
            if isinstance(self.guard, SignalGuard)
            else (SignalGuard() if self.guard else None)
        )
        if rule is not None and score.signal is not None:
            reason = rule.verdict(score.signal)
            if reason is not None:
                return reason
        if self.percentile is None:
            return None
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        scores = [float(t.user_attrs[ATTR_SCORE]) for t in done if ATTR_SCORE in t.user_attrs]
        return below_percentile(
            score.total, scores, percentile=self.percentile, warmup=self.warmup
        )

    def _saturation(self, study: optuna.Study, score: NearScore) -> list[int]:
        # A fixed depth and grid keep the study's cache key stable across trials; layers
        # deeper than `sizing_depth` are compared with the last estimate.
        if self.inputs.dim() != 2:
            raise ValueError(
                "estimating saturation widths needs 2-D inputs (samples, "
                "features); pass `max_widths` for other models."
            )
        options = {"widths": sizing_grid(512), "seed": self.seed} | self.sizing
        with self._lock:
            return study_saturation_widths(
                study,
                self.inputs,
                out_features=score.layers[-1].width,
                depth=self.sizing_depth,
                tolerance=self.tolerance,
                options=options,
                device=self.device,
            )
