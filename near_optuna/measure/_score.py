"""The NEAR score of a torch model (Husistein, Reiher and Eckhoff, ICLR 2025)."""

from __future__ import annotations

import copy
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from near_optuna.measure._capture import LayerCapture, collect, recording
from near_optuna.measure._guard import SignalStats, signal_stats
from near_optuna.measure._inputs import check_inputs, probe_input, resolve_device
from near_optuna.measure._layers import WEIGHT_LAYERS
from near_optuna.measure._mlp import InitFn, apply_init
from near_optuna.measure._repetitions import draw_repetitions
from near_optuna.numerics._rank import (
    SPECTRUM_METHODS,
    FloatArray,
    SpectrumMethod,
    effective_rank_from_singular_values,
    product_singular_values,
    singular_values,
)
from near_optuna.numerics._threads import parallel_map

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
            cannot see (``near_optuna.measure._guard``).
    """

    total: float
    layers: tuple[LayerScore, ...]
    totals: tuple[float, ...]
    signal: SignalStats | None = None

    @property
    def std(self) -> float:
        """Sample standard deviation of the per-repetition totals (0.0 for one repetition)."""
        return statistics.stdev(self.totals) if len(self.totals) > 1 else 0.0


def _batch_size(model: nn.Module, samples: int, rows: int | None) -> int:
    if rows is not None:
        return min(samples, rows)
    widths = [
        getattr(m, "out_features", 0) or getattr(m, "out_channels", 0)
        for m in model.modules()
        if isinstance(m, WEIGHT_LAYERS)
    ]
    return min(samples, max(widths, default=samples))


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
        model: Any ``torch.nn.Module`` with Linear or Conv layers (see
            ``near_optuna.measure._capture`` for how layers and activations are paired).
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
    x = check_inputs(model, inputs).tensor
    target = resolve_device(device, model)
    probe = copy.deepcopy(model).to(device=target, dtype=torch.float64).eval()
    size = _batch_size(probe, x.shape[0], rows)
    # All forward passes first, then all spectra: alternating torch's and LAPACK's thread pools
    # layer by layer makes their idle-spinning threads fight over the cores.
    pending: list[list[_Pending]] = []
    signal = None
    for rep in draw_repetitions(x, size, repetitions, seed):
        if init is not None:
            apply_init(probe, init, rep.init)
        batch = probe_input(rep.batch, target)
        with torch.no_grad(), recording(probe) as recorder:
            probe(batch)
        captures = collect(recorder, generator=rep.rows, rows=rows)
        if signal is None:
            signal = signal_stats(batch, recorder.layers)
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
