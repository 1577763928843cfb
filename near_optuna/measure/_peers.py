"""Peer zero-cost scores and one shape to choose any score by name.

Every score here is called as ``fn(model, inputs, *, repetitions=1, init=None, seed=0,
device=None) -> float``, higher is better, like ``near_score(...).total``.
"""

from __future__ import annotations

import copy
import math
import statistics
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from near_optuna.measure._capture import recording
from near_optuna.measure._inputs import check_inputs, probe_input, resolve_device
from near_optuna.measure._mlp import InitFn, apply_init
from near_optuna.measure._repetitions import draw_repetitions
from near_optuna.measure._score import near_score
from near_optuna.numerics._checks import check_choice

DEFAULT_EPSILON_WEIGHTS = (1e-7, 1.0)
DEFAULT_NASWOT_BATCH = 128
DEFAULT_EPSILON_BATCH = 256


class ScoreFn(Protocol):
    """The shape shared by every score: model and inputs in, a float out (higher is better)."""

    def __call__(
        self,
        model: nn.Module,
        inputs: Any,
        *,
        repetitions: int = 1,
        init: str | InitFn | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
    ) -> float: ...


def _probe(
    model: nn.Module, inputs: Any, device: str | torch.device | None
) -> tuple[nn.Module, torch.Tensor, torch.device]:
    x = check_inputs(model, inputs).tensor
    target = resolve_device(device, model)
    probe = copy.deepcopy(model).to(device=target, dtype=torch.float64).eval()
    return probe, x, target


def _set_constant(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        for module in model.modules():
            weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
            if isinstance(weight, torch.Tensor):
                weight.fill_(value)
            if isinstance(bias, torch.Tensor):
                bias.zero_()


def _min_max(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any] | None:
    low, high = float(values.min()), float(values.max())
    if not math.isfinite(low) or not math.isfinite(high) or high == low:
        return None
    scaled = (values - low) / (high - low)
    scaled[scaled == 0.0] = np.nan  # as the authors do: the minimum carries no dispersion
    return scaled


def epsilon_score(
    model: nn.Module,
    inputs: Any,
    *,
    repetitions: int = 1,
    init: str | InitFn | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    weights: tuple[float, float] = DEFAULT_EPSILON_WEIGHTS,
    batch_size: int = DEFAULT_EPSILON_BATCH,
) -> float:
    """The epsilon score (Gracheva, arXiv 2302.04406): output dispersion under two constants.

    Every weight is set to ``weights[0]``, then to ``weights[1]`` (biases zero), the first
    ``batch_size`` inputs are run through, each flattened output is min-max normalised (its
    minimum becomes NaN, as in the authors' code), and the score is
    ``nanmean(|y1 - y2|) / nanmean(y1 U y2)``. Constant outputs give ``0.0``. The constants
    replace any initialisation, so ``repetitions``, ``init`` and ``seed`` have no effect.
    Known weakness: a bias-free ReLU MLP scales its output by a constant, so it scores about 0.

    Example:
        >>> import torch
        >>> from near_optuna import build_mlp
        >>> x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
        >>> epsilon_score(build_mlp(4, [8], 3, activation="tanh"), x) > 0.0
        True
    """
    probe, x, target = _probe(model, inputs, device)
    outputs = []
    for value in weights:
        _set_constant(probe, value)
        with torch.no_grad():
            out = probe(probe_input(x[:batch_size], target))
        outputs.append(_min_max(out.detach().to("cpu", torch.float64).numpy().ravel()))
    first, second = outputs
    if first is None or second is None:
        return 0.0
    numerator = np.nanmean(np.abs(first - second)) if np.isfinite(first - second).any() else 0.0
    denominator = np.nanmean(np.concatenate([first, second]))
    if not np.isfinite(denominator) or denominator <= 0.0 or not np.isfinite(numerator):
        return 0.0
    return float(numerator / denominator)


def naswot_score(
    model: nn.Module,
    inputs: Any,
    *,
    repetitions: int = 1,
    init: str | InitFn | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    batch_size: int = DEFAULT_NASWOT_BATCH,
) -> float:
    """NASWOT (Mellor et al., ICML 2021): log-determinant of the activation-pattern kernel.

    For a batch of ``N`` samples, each hidden layer's binary codes ``c = (Z > 0)`` add
    ``c c^T + (1 - c)(1 - c)^T`` (units minus Hamming distance) to an ``N x N`` kernel ``K``;
    the score is ``log |det K|``, averaged over repetitions. The sign of the pre-activation is
    used for every activation, not only ReLU. Two samples with identical codes make ``K``
    singular: the score is then ``-inf`` (documented, never NaN).

    Example:
        >>> import torch
        >>> from near_optuna import build_mlp
        >>> x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
        >>> naswot_score(build_mlp(4, [64], 3, seed=0), x) > 0.0
        True
    """
    if repetitions < 1:
        raise ValueError(f"`repetitions` must be >= 1, but got {repetitions=}.")
    probe, x, target = _probe(model, inputs, device)
    size = min(batch_size, x.shape[0])
    scores = []
    for rep in draw_repetitions(x, size, repetitions, seed):
        if init is not None:
            apply_init(probe, init, rep.init)
        with torch.no_grad(), recording(probe) as recorder:
            probe(probe_input(rep.batch, target))
        kernel = np.zeros((size, size))
        for event in recorder.layers:
            if event.post is None:
                continue
            c = (event.pre.reshape(size, -1) > 0).to("cpu", torch.float64).numpy()
            kernel += c @ c.T + (1.0 - c) @ (1.0 - c).T
        sign, logdet = np.linalg.slogdet(kernel)
        scores.append(float(logdet) if sign != 0 else -math.inf)
    return statistics.fmean(scores) if all(map(math.isfinite, scores)) else -math.inf


def param_score(
    model: nn.Module,
    inputs: Any = None,
    *,
    repetitions: int = 1,
    init: str | InitFn | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> float:
    """The number of trainable parameters, as a float: the baseline every score must beat.

    Example:
        >>> from near_optuna import build_mlp
        >>> param_score(build_mlp(4, [8], 3))
        67.0
    """
    return float(sum(p.numel() for p in model.parameters() if p.requires_grad))


def _near_total(
    model: nn.Module,
    inputs: Any,
    *,
    repetitions: int = 1,
    init: str | InitFn | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> float:
    return near_score(
        model, inputs, repetitions=repetitions, init=init, seed=seed, device=device
    ).total


SCORES: dict[str, ScoreFn] = {
    "near": _near_total,
    "epsilon": epsilon_score,
    "naswot": naswot_score,
    "params": param_score,
}


def get_score(name: str) -> Callable[..., float]:
    """The score function called ``name`` (``near``, ``epsilon``, ``naswot`` or ``params``).

    Example:
        >>> get_score("params").__name__
        'param_score'
    """
    return SCORES[check_choice(name, tuple(SCORES), name="score")]
