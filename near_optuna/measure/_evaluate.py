"""What one trial does for one configuration: prune oversized layers, score, guard.

:func:`verdict` is the rule chain after scoring, shared by :func:`evaluate_config` (and so
``NearObjective``) and ``NearGate``: the signal-scale guard, then a finite score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from near_optuna.measure._guard import SignalGuard, SignalStats, resolve_guard
from near_optuna.measure._inputs import check_inputs
from near_optuna.measure._mlp import ACTIVATIONS, INITS, build_mlp
from near_optuna.measure._names import DEFAULT_EVAL_REPETITIONS
from near_optuna.measure._peers import SCORES, get_score, param_score
from near_optuna.measure._score import LayerScore, NearScore, near_score
from near_optuna.numerics._checks import check_at_least, check_choice
from near_optuna.numerics._rules import DEFAULT_TOLERANCE, is_oversized


@dataclass(frozen=True)
class Evaluation:
    """The outcome of :func:`evaluate_config` (and of one ``NearGate`` call).

    Attributes:
        value: The score (higher is better); ``nan`` only when saturation pruning rejected the
            configuration before it was scored (then ``pruned`` says so).
        pruned: ``None``, or why the configuration is rejected.
        layers: Per-layer NEAR records (empty when pruned before scoring).
        n_params: Trainable parameters of the MLP.
        signal: Scale statistics of the forward pass (``None`` when pruned before scoring).
    """

    value: float
    pruned: str | None
    layers: tuple[LayerScore, ...]
    n_params: int
    signal: SignalStats | None

    @classmethod
    def scored(
        cls, near: NearScore, *, value: float, pruned: str | None, n_params: int
    ) -> Evaluation:
        """An evaluation whose NEAR was measured (``value`` may be a peer score)."""
        return cls(float(value), pruned, near.layers, n_params, near.signal)

    @classmethod
    def rejected(cls, reason: str, *, n_params: int) -> Evaluation:
        """An evaluation rejected before anything was measured."""
        return cls(math.nan, reason, (), n_params, None)


def verdict(
    near: NearScore, value: float, *, guard: SignalGuard | None, score: str = "near"
) -> str | None:
    """The rules after scoring: the signal-scale guard, then a finite score.

    Returns ``None`` when the network passes, else the reason.

    Example:
        >>> from near_optuna.measure._guard import SignalStats
        >>> near = NearScore(5.0, (), (5.0,), SignalStats(1.0, (1.0,), 1.0, (0.5,)))
        >>> verdict(near, 5.0, guard=SignalGuard()) is None
        True
        >>> verdict(near, float("-inf"), guard=None, score="naswot")
        'the naswot score is not finite (-inf): the network cannot be ranked'
    """
    if guard is not None and near.signal is not None:
        reason = guard.verdict(near.signal)
        if reason is not None:
            return reason
    if not math.isfinite(value):  # naswot's singular kernel: -inf
        return f"the {score} score is not finite ({value}): the network cannot be ranked"
    return None


def evaluate_config(
    inputs: Any,
    widths: Sequence[int],
    activation: str,
    init: str,
    *,
    out_features: int,
    score: str = "near",
    repetitions: int = DEFAULT_EVAL_REPETITIONS,
    seed: int = 0,
    guard: bool | SignalGuard = True,
    max_widths: Sequence[int] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    device: str | torch.device | None = None,
) -> Evaluation:
    """Score one MLP configuration exactly as a trial of :class:`NearObjective` does.

    1. With ``max_widths`` (per-position saturation widths), an oversized layer rejects the
       configuration before anything is computed (``is_oversized``).
    2. The MLP is built, and NEAR is measured with ``init`` re-applied in each repetition.
    3. The signal-scale guard (``guard=True`` for the default thresholds, a
       :class:`SignalGuard` for others, ``False`` to skip) may reject it with a reason.
    4. ``value`` is NEAR, or the peer score named by ``score`` (``epsilon``, ``naswot``,
       ``params``).

    Raises:
        ValueError: For unknown names, widths below 1, ``repetitions < 1`` or bad inputs.

    Example:
        >>> import torch
        >>> x = torch.randn(200, 10, generator=torch.Generator().manual_seed(0))
        >>> ok = evaluate_config(x, [32], "relu", "kaiming_normal", out_features=3)
        >>> ok.pruned is None, ok.n_params
        (True, 451)
        >>> bad = evaluate_config(x, [512, 512], "relu", "normal", out_features=3)
        >>> bad.pruned.startswith("signal-scale guard")
        True
    """
    check_choice(activation, tuple(ACTIVATIONS), name="activation")
    check_choice(init, INITS, name="init")
    check_choice(score, tuple(SCORES), name="score")
    check_at_least(repetitions, 1, name="repetitions")
    if not widths or any(w < 1 for w in widths):
        raise ValueError(f"`widths` must be one or more widths >= 1, but got {list(widths)}.")
    shape = getattr(getattr(inputs, "tensor", inputs), "shape", (0, 0))
    model = build_mlp(
        int(shape[-1]), widths, out_features, activation=activation, init=init, seed=seed
    )
    n_params = int(param_score(model))
    if max_widths is not None:
        reason = is_oversized(widths, max_widths, tolerance=tolerance)
        if reason is not None:
            return Evaluation.rejected(reason, n_params=n_params)
    batch = check_inputs(model, inputs)
    reps = repetitions if score == "near" else 1
    near = near_score(model, batch, repetitions=reps, init=init, seed=seed, device=device)
    value = near.total
    if score != "near":
        value = get_score(score)(
            model, batch, repetitions=repetitions, init=init, seed=seed, device=device
        )
    reason = verdict(near, value, guard=resolve_guard(guard), score=score)
    return Evaluation.scored(near, value=value, pruned=reason, n_params=n_params)
