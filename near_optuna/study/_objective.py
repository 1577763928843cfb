"""``NearObjective``: an Optuna objective that scores MLPs with NEAR instead of training them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import optuna
import torch

from near_optuna.data._batch import Batch
from near_optuna.measure._evaluate import evaluate_config
from near_optuna.measure._guard import SignalGuard
from near_optuna.measure._names import DEFAULT_EVAL_REPETITIONS
from near_optuna.measure._peers import SCORES
from near_optuna.measure._sizing import Progress, mlp_batch
from near_optuna.numerics._checks import check_at_least, check_choice
from near_optuna.numerics._rules import DEFAULT_TOLERANCE
from near_optuna.storage._keys import TRIAL_ACTIVATION, TRIAL_INIT, TRIAL_MAX_PARAMS
from near_optuna.study._space import SearchSpace
from near_optuna.study._trial import TrialRules, finish_trial


@dataclass
class NearObjective:
    """An Optuna objective that scores MLPs with NEAR instead of training them.

    Each trial samples depth, widths, activation and initialisation from ``space``; prunes
    (``optuna.TrialPruned``, reason stored in ``near:pruned``) a layer wider than
    ``tolerance`` x its saturation width, or a network the signal-scale guard rejects; and
    returns the score (and, with ``multi_objective=True``, the parameter count as a second
    value to minimise). Per-layer ranks, the widths, the parameter count and the signal
    statistics are stored as ``near:`` user attributes.

    Saturation widths are estimated once per study (``estimate_layer_sizes`` with ReLU and He
    initialisation, ``kaiming_uniform``, which keeps a ReLU signal's scale; PyTorch's default
    shrinks it by about sqrt(3) per layer, so deeper positions lose rank and would be sized
    too small) and kept in the study's user attributes, keyed by a fingerprint of the inputs,
    so later trials, other workers and reruns reuse them. ``sizing`` overrides the options of
    ``estimate_layer_sizes``.

    Args:
        inputs: Input samples, ``(samples, features)``; no labels.
        out_features: Output width (number of classes).
        space: The :class:`SearchSpace`.
        score: ``near`` (default), ``epsilon``, ``naswot`` or ``params``.
        repetitions: Initialisations averaged per score.
        seed: Base seed; every trial uses it, so equal configurations score equally.
        guard: ``True`` (default thresholds), a :class:`SignalGuard`, or ``False``.
        prune_oversized: Apply saturation pruning.
        tolerance: A layer may be up to this many times its saturation width.
        multi_objective: Return ``(score, n_params)`` for directions maximise, minimise.
        max_params: Soft limit on parameters, as an Optuna constraint ``n_params - max_params``.
        device: Device of the forward passes.
        sizing: Options for ``estimate_layer_sizes`` (overriding the defaults).
        notes: Write each trial's per-layer table as its optuna-dashboard note.

    Example:
        >>> import optuna, torch
        >>> x = torch.randn(128, 8, generator=torch.Generator().manual_seed(0))
        >>> objective = NearObjective(x, out_features=3, space=SearchSpace(max_width=32),
        ...                           prune_oversized=False, repetitions=1)
        >>> study = optuna.create_study(directions=objective.directions)
        >>> study.optimize(objective, n_trials=3)
        >>> len(study.trials)
        3
    """

    inputs: Any
    out_features: int
    space: SearchSpace = field(default_factory=SearchSpace)
    score: str = "near"
    repetitions: int = DEFAULT_EVAL_REPETITIONS
    seed: int = 0
    guard: bool | SignalGuard = True
    prune_oversized: bool = True
    tolerance: float = DEFAULT_TOLERANCE
    multi_objective: bool = False
    max_params: int | None = None
    device: str | torch.device | None = None
    sizing: dict[str, Any] = field(default_factory=dict)
    notes: bool = True

    def __post_init__(self) -> None:
        check_choice(self.score, tuple(SCORES), name="score")
        check_at_least(self.out_features, 1, name="out_features")
        if self.max_params is not None:
            check_at_least(self.max_params, 1, name="max_params")
        self._rules = TrialRules.of(self)
        self._batch: Batch = mlp_batch(self.inputs)

    @property
    def directions(self) -> list[Literal["maximize", "minimize"]]:
        """Study directions matching this objective's return values."""
        return ["maximize", "minimize"] if self.multi_objective else ["maximize"]

    def saturation_widths(
        self, study: optuna.Study, *, progress: Progress | None = None
    ) -> list[int]:
        """Per-position saturation widths for this study's data: cached in the study.

        The first call of a study estimates them (seconds); ``progress(done, total)`` reports
        its steps. Later calls, other workers and reruns read them from the study.
        """
        return self._rules.saturation(
            study,
            self._batch,
            out_features=self.out_features,
            depth=self.space.max_depth,
            max_width=self.space.max_width,
            progress=progress,
        )

    def __call__(self, trial: optuna.Trial) -> float | Sequence[float]:
        """Run one trial (see the class docs)."""
        widths, activation, init = self.space.suggest(trial)
        max_widths = self.saturation_widths(trial.study) if self.prune_oversized else None
        result = evaluate_config(
            self._batch,
            widths,
            activation,
            init,
            out_features=self.out_features,
            score=self.score,
            repetitions=self.repetitions,
            seed=self.seed,
            guard=self.guard,
            max_widths=max_widths,
            tolerance=self.tolerance,
            device=self.device,
        )
        trial.set_user_attr(TRIAL_ACTIVATION, activation)
        trial.set_user_attr(TRIAL_INIT, init)
        if self.max_params is not None:
            violation = result.n_params - self.max_params
            trial.set_constraint("max_params", float(violation))
            trial.set_user_attr(TRIAL_MAX_PARAMS, violation)  # the dashboard shows user attrs
        finish_trial(trial, widths=list(widths), result=result, notes=self.notes)
        if self.multi_objective:
            return result.value, float(result.n_params)
        return result.value
