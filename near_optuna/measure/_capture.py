"""Forward hooks that collect each layer's pre- and post-activation matrices.

Layers are found by the order in which modules run, not by their names:

* a weight layer (Linear, Bilinear, ConvNd, ConvTransposeNd) opens a layer;
* the next activation module that runs (any class in ``torch.nn.modules.activation`` except
  the softmax family and attention) closes it: its *input* is the pre-activation ``Z`` (so a
  norm layer in between is included, as in Conv -> BatchNorm -> ReLU) and its *output* is the
  post-activation ``H``;
* a weight layer that is followed by another weight layer, or by nothing (the output layer),
  is measured once, on its own output, with ``post = None``.

This departs from the authors' code, which hooks every module that has a ``weight`` and so
counts norm layers as extra matrices. Activations applied as functions
(``torch.relu`` inside ``forward``) are invisible to hooks: such layers are measured on their
pre-activation only.

Tensors become matrices with one row per sample (2-D outputs), per sample and position
(ConvNd: channels are columns), or per sample and token (``(batch, tokens, features)``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from near_optuna.measure._layers import ACTIVATION_TYPES, CONV_LAYERS, WEIGHT_LAYERS


@dataclass(frozen=True)
class LayerCapture:
    """The raw matrices of one measured layer (rows x width, float, on the model's device).

    ``pre_factors``, when set, are ``(left, right)`` with ``pre == left @ right.T`` and a small
    inner dimension: a Linear layer's ``[X 1]`` and ``[W b]`` (see
    ``near_optuna.numerics._rank.product_singular_values``).
    """

    name: str
    width: int
    pre: torch.Tensor
    post: torch.Tensor | None
    pre_factors: tuple[torch.Tensor, torch.Tensor] | None = None
    activation: nn.Module | None = None


@dataclass(frozen=True)
class _Event:
    name: str
    channels_first: bool
    pre: torch.Tensor
    post: torch.Tensor | None
    linear: tuple[torch.Tensor, nn.Linear] | None  # (input, module) when pre is its output
    activation: nn.Module | None = None


@dataclass
class _Open:
    name: str
    channels_first: bool
    output: torch.Tensor
    linear: tuple[torch.Tensor, nn.Linear] | None


def as_rows(tensor: torch.Tensor, *, channels_first: bool) -> torch.Tensor:
    """Reshape a layer output to a matrix with one column per neuron or channel.

    Example:
        >>> as_rows(torch.zeros(2, 3, 4, 5), channels_first=True).shape
        torch.Size([40, 3])
        >>> as_rows(torch.zeros(2, 7, 6), channels_first=False).shape
        torch.Size([14, 6])
    """
    if tensor.dim() == 1:
        return tensor.reshape(-1, 1)
    if tensor.dim() == 2:
        return tensor
    if channels_first:
        tensor = tensor.movedim(1, -1)
    return tensor.reshape(-1, tensor.shape[-1])


class _Recorder:
    """Pairs weight-layer and activation events in execution order."""

    def __init__(self) -> None:
        self.layers: list[_Event] = []
        self._open: _Open | None = None

    def on_weight(
        self,
        name: str,
        channels_first: bool,
        output: torch.Tensor,
        linear: tuple[torch.Tensor, nn.Linear] | None,
    ) -> None:
        self.finish()
        self._open = _Open(name, channels_first, output.detach(), linear)

    def on_activation(
        self, inputs: torch.Tensor, output: torch.Tensor, module: nn.Module | None = None
    ) -> None:
        if self._open is None:  # an activation with no weight layer before it: nothing to pair
            return
        opened, self._open = self._open, None
        # The factors describe the pre-activation only if nothing (a norm) came in between.
        same = (
            inputs.data_ptr() == opened.output.data_ptr() and inputs.shape == opened.output.shape
        )
        linear = opened.linear if same else None
        self.layers.append(
            _Event(
                opened.name,
                opened.channels_first,
                inputs.detach(),
                output.detach(),
                linear,
                module,
            )
        )

    def finish(self) -> None:
        """Close the open layer, if any, as a layer without post-activation."""
        if self._open is not None:
            opened, self._open = self._open, None
            self.layers.append(
                _Event(opened.name, opened.channels_first, opened.output, None, opened.linear)
            )


def _first_tensor(value: object) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    return None


@contextlib.contextmanager
def recording(model: nn.Module) -> Iterator[_Recorder]:
    """Hook ``model`` for one or more forward passes; every hook is removed on exit.

    The hooks are removed in a ``finally`` block, so they are gone even when the forward pass
    raises.
    """
    recorder = _Recorder()
    handles: list[torch.utils.hooks.RemovableHandle] = []

    def weight_hook(name: str, channels_first: bool):  # type: ignore[no-untyped-def]
        def hook(module: nn.Module, inputs: object, output: object) -> None:
            tensor, x = _first_tensor(output), _first_tensor(inputs)
            if tensor is None:
                return
            linear = None
            if isinstance(module, nn.Linear) and x is not None and x.dim() == 2:
                linear = (x.detach(), module)
            recorder.on_weight(name, channels_first, tensor, linear)

        return hook

    pending: list[torch.Tensor | None] = [None]

    def activation_pre_hook(module: nn.Module, inputs: object) -> None:
        pre = _first_tensor(inputs)
        # An in-place activation overwrites its input: keep a copy of the pre-activation.
        inplace = bool(getattr(module, "inplace", False))
        pending[0] = None if pre is None else (pre.detach().clone() if inplace else pre)

    def activation_hook(module: nn.Module, _inputs: object, output: object) -> None:
        pre, post = pending[0], _first_tensor(output)
        pending[0] = None
        if pre is not None and post is not None and pre.shape == post.shape:
            recorder.on_activation(pre, post, module)

    try:
        for name, module in model.named_modules():
            if isinstance(module, WEIGHT_LAYERS):
                hook = weight_hook(name, isinstance(module, CONV_LAYERS))
                handles.append(module.register_forward_hook(hook))
            elif isinstance(module, ACTIVATION_TYPES):
                handles.append(module.register_forward_pre_hook(activation_pre_hook))
                handles.append(module.register_forward_hook(activation_hook))
        yield recorder
        recorder.finish()
    finally:
        for handle in handles:
            handle.remove()


def pick_rows(
    matrix: torch.Tensor, *, count: int, sample_major: bool, generator: torch.Generator | None
) -> slice:
    """Which ``count`` contiguous rows of ``matrix`` to measure.

    Sample-major matrices (one row per sample) use their first rows, so the caller's input
    order decides. Conv and sequence matrices follow the paper (arXiv 2408.08776, Fig. A.3): a
    block of contiguous rows, here starting at a seeded random row.
    """
    rows = matrix.shape[0]
    if sample_major or generator is None or rows <= count:
        return slice(0, min(count, rows))
    start = int(torch.randint(0, rows - count + 1, (1,), generator=generator).item())
    return slice(start, start + count)


def _linear_factors(
    linear: tuple[torch.Tensor, nn.Linear], rows: slice
) -> tuple[torch.Tensor, torch.Tensor] | None:
    x, module = linear
    x = x[rows]
    weight = module.weight.detach()
    inner = weight.shape[1] + (module.bias is not None)
    if inner >= min(x.shape[0], weight.shape[0]):
        return None  # no smaller than the matrix itself: nothing to gain
    if module.bias is None:
        return x, weight
    ones = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)
    bias = module.bias.detach().reshape(-1, 1)
    return torch.cat([x, ones], dim=1), torch.cat([weight, bias], dim=1)


def collect(
    recorder: _Recorder, *, generator: torch.Generator | None = None, rows: int | None = None
) -> list[LayerCapture]:
    """Turn a recorder's events into per-layer matrices.

    Each matrix has ``min(width, available)`` rows (square when enough rows exist, as in the
    paper), or ``min(rows, available)`` rows when ``rows`` is given.
    """
    captures = []
    for event in recorder.layers:
        sample_major = event.pre.dim() <= 2
        pre = as_rows(event.pre, channels_first=event.channels_first)
        width = int(pre.shape[1])
        count = width if rows is None else rows
        rows_used = pick_rows(pre, count=count, sample_major=sample_major, generator=generator)
        post = None
        if event.post is not None:
            post = as_rows(event.post, channels_first=event.channels_first)[rows_used]
        factors = None if event.linear is None else _linear_factors(event.linear, rows_used)
        captures.append(
            LayerCapture(event.name, width, pre[rows_used], post, factors, event.activation)
        )
    return captures
