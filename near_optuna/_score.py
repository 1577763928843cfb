"""The NEAR score of a torch model (Husistein, Reiher and Eckhoff, ICLR 2025)."""

from __future__ import annotations

import copy
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from near_optuna._capture import WEIGHT_LAYERS, LayerCapture, collect, recording
from near_optuna._guard import SignalStats, signal_stats
from near_optuna._mlp import InitFn, apply_init
from near_optuna._rank import (
    SPECTRUM_METHODS,
    FloatArray,
    SpectrumMethod,
    effective_rank_from_singular_values,
    product_singular_values,
    singular_values,
)
from near_optuna._threads import parallel_map

DEFAULT_REPETITIONS = 1
DEFAULT_METHOD: SpectrumMethod = "gram"
PARALLEL_MIN_WIDTH = 128
"""Layers at least this wide get their spectra computed in parallel threads."""


@dataclass(frozen=True)
class LayerScore:
    """Effective ranks of one measured layer, averaged over repetitions.

    Attributes:
        name: The qualified name of the layer's Linear or Conv module in the model.
        width: Neurons (or channels) of the layer: the columns of its matrices.
        pre: Effective rank of the pre-activation matrix ``Z``.
        post: Effective rank of the post-activation matrix ``H``; ``None`` for the output layer
            (and for layers whose activation is not a module).
        rows: Rows of the measured matrices: ``min(width, available rows)``.
    """

    name: str
    width: int
    pre: float
    post: float | None
    rows: int

    @property
    def total(self) -> float:
        """``pre + post`` (``pre`` alone when there is no post-activation)."""
        return self.pre + (self.post or 0.0)


@dataclass(frozen=True)
class NearScore:
    """A NEAR score with its per-layer breakdown.

    Attributes:
        total: Mean over repetitions of the sum of every layer's ``pre + post``.
        layers: One :class:`LayerScore` per measured layer, in execution order.
        totals: The total of each repetition (their spread shows the score's noise).
        signal: Scale statistics of the first repetition's forward pass, which effective rank
            cannot see (``near_optuna._guard``).
    """

    total: float
    layers: tuple[LayerScore, ...]
    totals: tuple[float, ...]
    signal: SignalStats | None = None

    @property
    def std(self) -> float:
        """Sample standard deviation of the per-repetition totals (0.0 for one repetition)."""
        return statistics.stdev(self.totals) if len(self.totals) > 1 else 0.0


INIT_STREAM, ROWS_STREAM = 0, 1


def repetition_generator(seed: int, repetition: int, stream: int = INIT_STREAM) -> torch.Generator:
    """A ``torch.Generator`` for one repetition, well mixed from ``(seed, repetition, stream)``.

    Stream 0 initialises the weights, so repetition ``r`` of a score with ``init`` measures
    exactly ``apply_init(model, init, repetition_generator(seed, r))``; stream 1 draws rows.
    """
    state = np.random.SeedSequence([seed, repetition, stream]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)


def resolve_device(device: str | torch.device | None, model: nn.Module) -> torch.device:
    """``device``, else the device of the model's first parameter, else the CPU."""
    if device is None:
        first = next(model.parameters(), None)
        return first.device if first is not None else torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"`device` must name a torch device, but got {device!r}.") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"`device` is {device!r}, but CUDA is not available on this machine.")
    return resolved


def check_inputs(model: nn.Module, inputs: Any) -> torch.Tensor:
    """Validate ``inputs`` against ``model`` and return them as a tensor.

    Raises:
        TypeError: If ``inputs`` is not a tensor or array.
        ValueError: If there are no samples, non-finite values, no measurable layer, or a
            feature count that differs from what the model's first layer expects.
    """
    if isinstance(inputs, torch.Tensor):
        tensor = inputs
    else:
        try:
            tensor = torch.as_tensor(np.asarray(inputs))
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"`inputs` must be a torch tensor or numpy array, but got {type(inputs).__name__}."
            ) from err
    if tensor.dim() < 2 or tensor.shape[0] == 0:
        raise ValueError(
            "`inputs` must be a batch with at least one sample (shape (samples, ...)), "
            f"but got shape {tuple(tensor.shape)}."
        )
    if tensor.is_floating_point() and not torch.isfinite(tensor).all():
        raise ValueError("`inputs` must be finite, but they hold NaN or inf values.")
    first = next((m for m in model.modules() if isinstance(m, WEIGHT_LAYERS)), None)
    if first is None:
        kinds = ", ".join(t.__name__ for t in WEIGHT_LAYERS)
        raise ValueError(f"`model` has no measurable layer: NEAR needs one of {kinds}.")
    _check_features(first, tensor)
    return tensor


def _check_features(first: nn.Module, inputs: torch.Tensor) -> None:
    if isinstance(first, nn.Linear):
        expected, got, what = first.in_features, inputs.shape[-1], "features (last dimension)"
    elif isinstance(first, nn.modules.conv._ConvNd):
        expected, got, what = first.in_channels, inputs.shape[1], "channels (dimension 1)"
    else:
        return
    if expected != got:
        raise ValueError(
            f"`inputs` must have {expected} {what}, as the model's first layer "
            f"{type(first).__name__} expects, but got shape {tuple(inputs.shape)}."
        )


def _batch_size(model: nn.Module, samples: int, rows: int | None) -> int:
    if rows is not None:
        return min(samples, rows)
    widths = [
        getattr(m, "out_features", 0) or getattr(m, "out_channels", 0)
        for m in model.modules()
        if isinstance(m, WEIGHT_LAYERS)
    ]
    return min(samples, max(widths, default=samples))


@dataclass(frozen=True)
class _Repetition:
    batch: torch.Tensor
    init: torch.Generator
    rows: torch.Generator


def _repetitions(
    inputs: torch.Tensor, size: int, repetitions: int, seed: int
) -> Iterator[_Repetition]:
    # Repetition 0 measures the first rows, so one repetition is exactly reproducible from the
    # caller's order; later repetitions draw their rows at random (seeded).
    for r in range(repetitions):
        rows = repetition_generator(seed, r, ROWS_STREAM)
        batch = inputs[:size]
        if r > 0:
            batch = inputs[torch.randperm(inputs.shape[0], generator=rows)[:size]]
        yield _Repetition(batch, repetition_generator(seed, r, INIT_STREAM), rows)


def _finite_array(matrix: torch.Tensor, name: str, what: str) -> FloatArray:
    array = matrix.detach().to("cpu", torch.float64).numpy()
    if not np.isfinite(array).all():
        raise ValueError(
            f"the {what}-activations of layer {name!r} are not finite (the signal overflowed); "
            "use a smaller initialisation scale."
        )
    return array


@dataclass(frozen=True)
class _Pending:
    """One layer of one repetition, as float64 CPU arrays waiting for their spectra."""

    name: str
    width: int
    rows: int
    pre: FloatArray | tuple[FloatArray, FloatArray]  # a matrix, or factors of a product
    post: FloatArray | None


def _pending(capture: LayerCapture, method: SpectrumMethod) -> _Pending:
    pre: FloatArray | tuple[FloatArray, FloatArray] = _finite_array(
        capture.pre, capture.name, "pre"
    )
    if capture.pre_factors is not None and method != "svd":
        left, right = capture.pre_factors
        pre = (left.to("cpu", torch.float64).numpy(), right.to("cpu", torch.float64).numpy())
    post = None if capture.post is None else _finite_array(capture.post, capture.name, "post")
    return _Pending(capture.name, capture.width, int(capture.pre.shape[0]), pre, post)


def _measure(pending: _Pending, method: SpectrumMethod) -> _Measured:
    if isinstance(pending.pre, tuple):
        pre = effective_rank_from_singular_values(product_singular_values(*pending.pre))
    else:
        pre = effective_rank_from_singular_values(singular_values(pending.pre, method=method))
    post = None
    if pending.post is not None:
        post = effective_rank_from_singular_values(singular_values(pending.post, method=method))
    return _Measured(pending.name, pending.width, pending.rows, pre, post)


def near_score(
    model: nn.Module,
    inputs: Any,
    *,
    repetitions: int = DEFAULT_REPETITIONS,
    init: str | InitFn | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    method: SpectrumMethod = DEFAULT_METHOD,
    rows: int | None = None,
) -> NearScore:
    """NEAR: the sum over layers of the effective ranks of pre- and post-activation matrices.

    ``NEAR = sum_l erank(Z_l) + erank(H_l)`` over hidden layers, plus ``erank`` of the output
    layer once (arXiv 2408.08776). A layer of width ``w`` is measured on ``min(w, n)`` rows
    (samples), so its matrices are square when there are enough samples.

    The model is measured on a float64 copy in ``eval()`` mode under ``torch.no_grad()``;
    the caller's model, weights and training mode are never touched, and no hook is left
    behind, even when the forward pass raises.

    Args:
        model: Any ``torch.nn.Module`` with Linear or Conv layers (see ``near_optuna._capture``
            for how layers and activations are paired).
        inputs: A batch of inputs (tensor or array), samples first; no labels.
        repetitions: Number of measurements to average (>= 1). Repetition 0 uses the first
            rows of ``inputs``; each later one a seeded random draw of rows.
        init: ``None`` keeps the model's weights. A scheme name (see :func:`build_mlp`) or a
            function ``fn(model, generator)`` re-initialises the copy before *every*
            repetition, each with its own seed (the authors' code falls back to PyTorch's
            default after the first repetition; this does not).
        seed: Base seed of row draws and initialisations: same seed, same score.
        device: Where to run the forward pass (``"cpu"``, ``"cuda"``, ...); default: the
            model's device. Singular values are always computed in float64 on the CPU.
        method: ``"gram"`` (default: eigenvalues of the Gram matrix, agrees with the SVD
            within 1e-6 relative on float64 activations) or ``"svd"`` (reference).
        rows: ``None`` (the paper's rule: ``min(width, n)`` rows per layer) or a fixed number
            of rows for every layer, so that layers of different widths are measured on the
            same samples (used for layer sizing).

    Returns:
        A :class:`NearScore` with the total and the per-layer breakdown.

    Raises:
        ValueError: For ``repetitions < 1``, an unknown ``init`` or ``method``, bad
            ``inputs`` (empty, non-finite, wrong feature count), a model with no measurable
            layer, or activations that overflow.
        TypeError: If ``inputs`` is not a tensor or array.

    Example:
        >>> import torch
        >>> from near_optuna import build_mlp, near_score
        >>> model = build_mlp(8, [16], 3, seed=0)
        >>> x = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
        >>> score = near_score(model, x)
        >>> [(layer.name, layer.width, layer.post is None) for layer in score.layers]
        [('0', 16, False), ('2', 3, True)]
        >>> score.total == near_score(model, x).total
        True
    """
    if repetitions < 1:
        raise ValueError(f"`repetitions` must be >= 1, but got {repetitions=}.")
    if method not in SPECTRUM_METHODS:
        raise ValueError(f"`method` must be one of {SPECTRUM_METHODS}, but got {method!r}.")
    if rows is not None and rows < 1:
        raise ValueError(f"`rows` must be None or >= 1, but got {rows=}.")
    inputs = check_inputs(model, inputs)
    target = resolve_device(device, model)
    probe = copy.deepcopy(model).to(device=target, dtype=torch.float64).eval()
    if inputs.is_floating_point():
        inputs = inputs.to(torch.float64)
    size = _batch_size(probe, inputs.shape[0], rows)
    # All forward passes first, then all spectra: alternating torch's and LAPACK's thread pools
    # layer by layer makes their idle-spinning threads fight over the cores.
    pending: list[list[_Pending]] = []
    signal = None
    for rep in _repetitions(inputs, size, repetitions, seed):
        if init is not None:
            apply_init(probe, init, rep.init)
        with torch.no_grad(), recording(probe) as recorder:
            probe(rep.batch.to(target))
        captures = collect(recorder, generator=rep.rows, rows=rows)
        if signal is None:
            signal = signal_stats(rep.batch, recorder.layers)
        pending.append([_pending(c, method) for c in captures])
    flat = [p for rep in pending for p in rep]
    large = max(p.width for p in flat) >= PARALLEL_MIN_WIDTH
    measured = iter(parallel_map(lambda p: _measure(p, method), flat, parallel=large))
    return _summarise([[next(measured) for _ in rep] for rep in pending], signal)


@dataclass(frozen=True)
class _Measured:
    name: str
    width: int
    rows: int
    pre: float
    post: float | None


def _summarise(per_rep: list[list[_Measured]], signal: SignalStats | None) -> NearScore:
    layers = []
    for i, first in enumerate(per_rep[0]):
        posts = [rep[i].post or 0.0 for rep in per_rep]
        layers.append(
            LayerScore(
                name=first.name,
                width=first.width,
                pre=statistics.fmean(rep[i].pre for rep in per_rep),
                post=None if first.post is None else statistics.fmean(posts),
                rows=first.rows,
            )
        )
    totals = tuple(sum(m.pre + (m.post or 0.0) for m in rep) for rep in per_rep)
    return NearScore(statistics.fmean(totals), tuple(layers), totals, signal)
