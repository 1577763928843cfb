"""``NearGate``: NEAR inside a user's own, training-based Optuna objective."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna
import torch
from torch import nn

from near_optuna.data._batch import Batch
from near_optuna.measure._evaluate import Evaluation, verdict
from near_optuna.measure._guard import SignalGuard
from near_optuna.measure._inputs import check_inputs
from near_optuna.measure._peers import param_score
from near_optuna.measure._score import NearScore, near_score
from near_optuna.numerics._checks import check_at_least
from near_optuna.numerics._rules import (
    DEFAULT_TOLERANCE,
    below_percentile,
    is_oversized,
    width_pays,
)
from near_optuna.storage._keys import STUDY_SIZE_RULE, TRIAL_SCORE, TRIAL_SIZE_PROBE
from near_optuna.study._trial import TrialRules, finish_trial

DEFAULT_WARMUP = 10
DEFAULT_PERCENTILE = 30.0  # measured: benchmarks/gate_example.py, docs/gate.md
DEFAULT_SIZING_DEPTH = 3
DEFAULT_SIZE_PROBES = 3


@dataclass
class NearGate:
    """Score a model with NEAR before training it, inside your own Optuna objective.

    ``gate(trial, model)`` measures NEAR on ``inputs`` (the model's current, untrained
    weights), records ``near:score``, ``near:layers``, ``near:widths``, ``near:n_params`` and
    ``near:signal`` on the trial plus its dashboard note, and raises ``optuna.TrialPruned`` (reason
    in ``near:pruned``) before any training when:

    * a hidden layer is wider than ``tolerance`` x its saturation width (estimated once per
      study from ``inputs`` and kept in the study, or given as ``max_widths``), unless the
      size rule is probing or retired (below);
    * the signal-scale guard rejects the network (``guard``);
    * after ``warmup`` completed trials, NEAR is below the ``percentile`` of theirs.

    The saturation width is estimated without labels, and some data need wider layers. So,
    when the widths are estimated, the first ``size_probes`` candidates that the size rule
    would prune are trained instead (``near:size_probe`` on the trial says why they were
    probes). Once at least ``warmup`` trials have completed and the best of them is a probe,
    width pays on this data: the size rule is retired for the rest of the study (study
    attribute ``near:size_rule``, written when the next oversized candidate comes). Probes
    and retirement need a single-objective study; several workers may each let a probe
    through at the same moment, so a parallel study can train a few more.

    The defaults (3 probes, the 30th percentile) were chosen by measurement with
    ``benchmarks/gate_example.py``; docs/gate.md ("What the gate saves") has the figures.

    Args:
        inputs: Input samples (no labels), as the model takes them.
        repetitions: Row draws averaged (the weights are the model's own).
        seed: Seed of the row draws and of the saturation estimate.
        guard: ``True`` (default thresholds), a :class:`SignalGuard`, or ``False``.
        prune_oversized: Apply the saturation rule.
        tolerance: A layer may be up to this many times its saturation width (>= 1).
        max_widths: Saturation widths per hidden position, instead of estimating them.
        size_probes: Oversized candidates trained anyway, to find out whether width pays
            (>= 0; 0 keeps the size rule fixed). ``None``: 3 when the saturation widths are
            estimated, 0 when you give ``max_widths`` (your limits are kept as given).
        warmup: Completed trials needed before the low-score rule applies and before a size
            probe can retire the size rule (>= 0).
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
    size_probes: int | None = None
    warmup: int = DEFAULT_WARMUP
    percentile: float | None = DEFAULT_PERCENTILE
    notes: bool = True
    device: str | torch.device | None = None
    sizing: dict[str, Any] = field(default_factory=dict)
    sizing_depth: int = DEFAULT_SIZING_DEPTH

    def __post_init__(self) -> None:
        self._rules = TrialRules.of(self)
        check_at_least(self.sizing_depth, 1, name="sizing_depth")
        check_at_least(self.warmup, 0, name="warmup")
        if self.size_probes is not None:
            check_at_least(self.size_probes, 0, name="size_probes")
        self._probes: int = (
            self.size_probes
            if self.size_probes is not None
            else (0 if self.max_widths is not None else DEFAULT_SIZE_PROBES)
        )
        if self.percentile is not None and not 0.0 < self.percentile < 100.0:
            raise ValueError(
                f"`percentile` must be in (0, 100) or None, but got percentile={self.percentile}."
            )
        if self.max_widths is not None and (not self.max_widths or min(self.max_widths) < 1):
            raise ValueError(f"`max_widths` must be widths >= 1, but got {self.max_widths}.")
        self._batch = Batch.of(self.inputs, min_samples=2)
        if self.prune_oversized and self.max_widths is None and self._batch.tensor.dim() != 2:
            raise ValueError(
                "`max_widths` is needed for inputs that are not 2-D (samples, features): "
                f"saturation widths are estimated for MLPs only; got shape "
                f"{tuple(self._batch.tensor.shape)}."
            )

    def __call__(self, trial: optuna.Trial, model: nn.Module) -> NearScore:
        """Score ``model``, record it on ``trial``, and prune it if a rule says so."""
        batch = check_inputs(model, self._batch)
        score = near_score(
            model, batch, repetitions=self.repetitions, seed=self.seed, device=self.device
        )
        widths = [layer.width for layer in score.layers if layer.post is not None]
        trials = trial.study.get_trials(deepcopy=False)  # one storage read for every rule
        oversized, probe = self._size_rule(trial, score, widths, trials)
        reason = oversized or self._verdict(score, trials)
        result = Evaluation.scored(
            score, value=score.total, pruned=reason, n_params=int(param_score(model))
        )
        probe = probe if reason is None else None
        finish_trial(trial, widths=widths, result=result, notes=self.notes, probe=probe)
        return score

    def _verdict(self, score: NearScore, trials: list[optuna.trial.FrozenTrial]) -> str | None:
        """Why the guard or the low-score rule prunes the trial, or ``None``."""
        reason = verdict(score, score.total, guard=self._rules.signal_guard)
        if reason is not None or self.percentile is None:
            return reason
        done = completed(trials)
        scores = [float(t.user_attrs[TRIAL_SCORE]) for t in done if TRIAL_SCORE in t.user_attrs]
        return below_percentile(
            score.total, scores, percentile=self.percentile, warmup=self.warmup
        )

    def _size_rule(
        self,
        trial: optuna.Trial,
        score: NearScore,
        widths: list[int],
        trials: list[optuna.trial.FrozenTrial],
    ) -> tuple[str | None, str | None]:
        """The size rule's verdict: ``(reason to prune, reason for a probe)``, at most one set.

        Both are ``None`` when every layer is in range or the rule is retired.
        """
        study = trial.study
        if not self.prune_oversized or not widths:
            return None, None
        limits = self.max_widths or self._rules.saturation(
            study, self._batch, out_features=score.layers[-1].width, depth=self.sizing_depth
        )
        reason = is_oversized(widths, limits, tolerance=self.tolerance)
        if reason is None or self._probes == 0 or len(study.directions) != 1:
            return reason, None
        if self._width_pays(study, trials):
            return None, None
        others = (t for t in trials if t.number != trial.number)
        if sum(TRIAL_SIZE_PROBE in t.user_attrs for t in others) >= self._probes:
            return reason, None
        return None, reason

    def _width_pays(self, study: optuna.Study, trials: list[optuna.trial.FrozenTrial]) -> bool:
        """Has a size probe won (then the size rule is retired, and stays so)?"""
        if STUDY_SIZE_RULE in study.user_attrs:
            return True
        done = completed(trials)
        reason = width_pays(
            [float(t.values[0]) for t in done],
            [TRIAL_SIZE_PROBE in t.user_attrs for t in done],
            maximize=study.direction == optuna.study.StudyDirection.MAXIMIZE,
            warmup=self.warmup,
            numbers=[t.number for t in done],
        )
        if reason is None:
            return False
        study.set_user_attr(STUDY_SIZE_RULE, {"reason": reason, "completed": len(done)})
        return True


def completed(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    return [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
