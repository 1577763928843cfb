"""What one trial does for one configuration: prune oversized layers, score, guard."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from near_optuna._guard import SignalGuard, SignalStats
from near_optuna._mlp import ACTIVATIONS, INITS, build_mlp, check_choice
from near_optuna._peers import SCORES, get_score, param_score
from near_optuna._score import LayerScore, check_inputs, near_score

DEFAULT_TOLERANCE = 2.0
DEFAULT_EVAL_REPETITIONS = 5


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


@dataclass(frozen=True)
class Evaluation:
    """The outcome of :func:`evaluate_config`.

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
       configuration before anything is computed (:func:`is_oversized`).
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
    if not widths or any(w < 1 for w in widths):
        raise ValueError(f"`widths` must be one or more widths >= 1, but got {list(widths)}.")
    features = int(getattr(inputs, "shape", (0, 0))[-1])
    model = build_mlp(features, widths, out_features, activation=activation, init=init, seed=seed)
    n_params = int(param_score(model))
    if max_widths is not None:
        reason = is_oversized(widths, max_widths, tolerance=tolerance)
        if reason is not None:
            return Evaluation(math.nan, reason, (), n_params, None)
    x = check_inputs(model, inputs)
    near = near_score(
        model,
        x,
        repetitions=repetitions if score == "near" else 1,
        init=init,
        seed=seed,
        device=device,
    )
    value = near.total
    if score != "near":
        value = get_score(score)(
            model, x, repetitions=repetitions, init=init, seed=seed, device=device
        )
    rule = guard if isinstance(guard, SignalGuard) else (SignalGuard() if guard else None)
    verdict = None if rule is None or near.signal is None else rule.verdict(near.signal)
    if verdict is None and not math.isfinite(value):  # naswot's singular kernel: -inf
        verdict = f"the {score} score is not finite ({value}): the network cannot be ranked"
    return Evaluation(float(value), verdict, near.layers, n_params, near.signal)
