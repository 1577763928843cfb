"""Optuna glue: the search space, per-study saturation widths, and :class:`NearObjective`."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import optuna
import torch

from near_optuna._dashboard import trial_note, write_note
from near_optuna._evaluate import (
    DEFAULT_EVAL_REPETITIONS,
    DEFAULT_TOLERANCE,
    Evaluation,
    evaluate_config,
)
from near_optuna._fit import geometric_grid
from near_optuna._guard import SignalGuard
from near_optuna._mlp import ACTIVATIONS, INITS, check_choice
from near_optuna._peers import SCORES
from near_optuna._score import check_inputs
from near_optuna._sizing import estimate_layer_sizes

# Trial and study attribute keys (plain JSON values; see DESIGN.md section 4).
ATTR_LAYERS = "near:layers"
ATTR_SCORE = "near:score"
ATTR_N_PARAMS = "near:n_params"
ATTR_WIDTHS = "near:widths"
ATTR_ACTIVATION = "near:activation"
ATTR_INIT = "near:init"
ATTR_SIGNAL = "near:signal"
ATTR_PRUNED = "near:pruned"
ATTR_MAX_PARAMS = "near:max_params_violation"
ATTR_SPACE = "near:search_space"
ATTR_DATA = "near:data"
ATTR_SATURATION = "near:saturation"
SIZING_INIT = "kaiming_uniform"


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
    activations: tuple[str, ...] = ("relu", "gelu", "silu", "tanh", "elu")
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

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        data = asdict(self)
        data["activations"], data["inits"] = list(self.activations), list(self.inits)
        return data


def sizing_grid(max_width: int) -> list[int]:
    """Doubling widths up to twice the largest searched width: at least 5, from 8 when possible.

    Example:
        >>> sizing_grid(512), sizing_grid(16)
        ([8, 16, 32, 64, 128, 256, 512, 1024], [2, 4, 8, 16, 32])
    """
    high = max(2 * max_width, 32)
    return geometric_grid(max(1, min(8, high // 16)), high)


def study_saturation_widths(
    study: optuna.Study,
    inputs: torch.Tensor,
    *,
    out_features: int,
    depth: int,
    tolerance: float,
    options: dict[str, Any],
    device: str | torch.device | None = None,
) -> list[int]:
    """Saturation widths for ``depth`` positions, estimated once and kept in the study.

    The cache key covers the inputs (a hash), the depth and the sizing options, so workers and
    reruns with the same settings reuse the estimate and other settings recompute it.
    """
    options = {"init": SIZING_INIT} | options
    settings = json.dumps(options, sort_keys=True, default=str)
    digest = hashlib.sha256(settings.encode()).hexdigest()[:8]
    key = f"{data_fingerprint(inputs)}:{depth}:{digest}"
    cached = study.user_attrs.get(ATTR_SATURATION)
    if isinstance(cached, dict) and cached.get("key") == key:
        return [int(w) for w in cached["widths"]]
    estimates = estimate_layer_sizes(
        inputs, out_features=out_features, depth=depth, device=device, **options
    )
    widths = [e.width for e in estimates]
    study.set_user_attr(
        ATTR_SATURATION,
        {
            "key": key,
            "widths": widths,
            "tolerance": tolerance,
            "estimates": [_jsonable(e.to_dict()) for e in estimates],
        },
    )
    return widths


def data_fingerprint(inputs: torch.Tensor) -> str:
    """A short hash of the inputs, so cached saturation widths are reused only for them."""
    array = np.ascontiguousarray(inputs.detach().cpu().numpy())
    return hashlib.sha256(array.tobytes() + str(array.shape).encode()).hexdigest()[:16]


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
        if self.repetitions < 1:
            raise ValueError(
                f"`repetitions` must be >= 1, but got repetitions={self.repetitions}."
            )
        if self.tolerance < 1.0:
            raise ValueError(f"`tolerance` must be >= 1, but got tolerance={self.tolerance}.")
        if self.max_params is not None and self.max_params < 1:
            raise ValueError(f"`max_params` must be >= 1, but got max_params={self.max_params}.")
        if self.out_features < 1:
            raise ValueError(f"`out_features` must be >= 1, but got {self.out_features}.")
        probe = torch.nn.Linear(int(np.shape(self.inputs)[-1]), 1)
        self.inputs = check_inputs(probe, self.inputs)
        if self.inputs.dim() != 2 or self.inputs.shape[0] < 2:
            raise ValueError(
                "`inputs` must be 2-D with at least 2 samples, but got shape "
                f"{tuple(self.inputs.shape)}."
            )
        self._lock = threading.Lock()

    @property
    def directions(self) -> list[Literal["maximize", "minimize"]]:
        """Study directions matching this objective's return values."""
        return ["maximize", "minimize"] if self.multi_objective else ["maximize"]

    def saturation_widths(self, study: optuna.Study) -> list[int]:
        """Per-position saturation widths for this study's data: cached in the study."""
        options = {"widths": sizing_grid(self.space.max_width), "seed": self.seed} | self.sizing
        with self._lock:
            return study_saturation_widths(
                study,
                self.inputs,
                out_features=self.out_features,
                depth=self.space.max_depth,
                tolerance=self.tolerance,
                options=options,
                device=self.device,
            )

    def __call__(self, trial: optuna.Trial) -> float | Sequence[float]:
        """Run one trial (see the class docs)."""
        widths, activation, init = self.space.suggest(trial)
        max_widths = self.saturation_widths(trial.study) if self.prune_oversized else None
        result = evaluate_config(
            self.inputs,
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
        trial.set_user_attr(ATTR_ACTIVATION, activation)
        trial.set_user_attr(ATTR_INIT, init)
        if self.max_params is not None:
            violation = result.n_params - self.max_params
            trial.set_constraint("max_params", float(violation))
            trial.set_user_attr(ATTR_MAX_PARAMS, violation)  # the dashboard shows user attrs
        record_trial(trial, widths=list(widths), result=result, notes=self.notes)
        if result.pruned is not None:
            raise optuna.TrialPruned(result.pruned)
        if self.multi_objective:
            return result.value, float(result.n_params)
        return result.value


def record_trial(
    trial: optuna.Trial, *, widths: list[int], result: Evaluation, notes: bool = True
) -> None:
    """Store an evaluation on a live trial: ``near:`` attributes and the dashboard note."""
    layers = [_jsonable(asdict(layer)) for layer in result.layers]
    signal = None if result.signal is None else _jsonable(result.signal.to_dict())
    trial.set_user_attr(ATTR_WIDTHS, widths)
    trial.set_user_attr(ATTR_N_PARAMS, result.n_params)
    trial.set_user_attr(ATTR_LAYERS, layers)
    if result.layers:  # NEAR itself, whatever the study optimises (sum of per-layer means)
        trial.set_user_attr(ATTR_SCORE, float(sum(layer.total for layer in result.layers)))
    if signal is not None:
        trial.set_user_attr(ATTR_SIGNAL, signal)
    if result.pruned is not None:
        trial.set_user_attr(ATTR_PRUNED, result.pruned)
    if notes:
        value = None if result.pruned is not None else result.value
        write_note(trial, trial_note(layers, score=value, pruned=result.pruned, signal=signal))


def _jsonable(value: Any) -> Any:
    """Plain JSON types (numpy scalars break SQLite storage)."""
    return json.loads(json.dumps(value, default=float))
