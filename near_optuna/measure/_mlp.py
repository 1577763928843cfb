"""Multi-layer perceptrons and seeded weight initialisations."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeAlias

import torch
from torch import nn

from near_optuna.measure._layers import WEIGHT_LAYERS
from near_optuna.numerics._checks import check_choice

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "mish": nn.Mish,
}

InitFn: TypeAlias = Callable[[nn.Module, torch.Generator], None]
"""A custom initialisation: called as ``fn(model, generator)``; it changes ``model`` in place."""


def _parameters(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
    assert isinstance(weight, torch.Tensor), "every weight layer has a weight tensor"
    return weight, bias if isinstance(bias, torch.Tensor) else None


def _default_(module: nn.Module, g: torch.Generator) -> None:
    # PyTorch's own reset_parameters, drawn from `g` instead of the global generator.
    weight, bias = _parameters(module)
    if isinstance(module, nn.Bilinear):  # U(+-1/sqrt(in1_features)) for weight and bias
        bound = 1.0 / math.sqrt(weight.shape[1])
        nn.init.uniform_(weight, -bound, bound, generator=g)
        if bias is not None:
            nn.init.uniform_(bias, -bound, bound, generator=g)
        return
    # Linear, ConvNd and ConvTransposeNd: kaiming_uniform_(a=sqrt(5)) for the weight,
    # U(+-1/sqrt(fan_in)) for the bias, with fan_in = weight.size(1) * receptive field.
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=g)
    if bias is not None:
        fan_in = weight[0].numel()
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        nn.init.uniform_(bias, -bound, bound, generator=g)


_WEIGHT_INITS: dict[str, Callable[[torch.Tensor, torch.Generator], object]] = {
    "xavier_uniform": lambda w, g: nn.init.xavier_uniform_(w, generator=g),
    "xavier_normal": lambda w, g: nn.init.xavier_normal_(w, generator=g),
    "kaiming_uniform": lambda w, g: nn.init.kaiming_uniform_(w, generator=g),
    "kaiming_normal": lambda w, g: nn.init.kaiming_normal_(w, generator=g),
    "orthogonal": lambda w, g: nn.init.orthogonal_(w, generator=g),
    "normal": lambda w, g: nn.init.normal_(w, mean=0.0, std=1.0, generator=g),
}
INITS: tuple[str, ...] = ("default", *_WEIGHT_INITS)


def apply_init(model: nn.Module, init: str | InitFn, generator: torch.Generator) -> None:
    """Re-initialise ``model`` in place with a named scheme or a custom function.

    Named schemes set the weight of every layer that NEAR measures (Linear, Bilinear, ConvNd
    and ConvTransposeNd); their biases become zero, except for ``"default"``, which redraws
    both as PyTorch's ``reset_parameters`` does (but from ``generator``). Norm layers are
    reset to their defaults.

    Raises:
        ValueError: If ``init`` is an unknown name.
    """
    if callable(init):
        with torch.no_grad():
            init(model, generator)
        return
    check_choice(init, INITS, name="init")
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, WEIGHT_LAYERS):
                if init == "default":
                    _default_(module, generator)
                    continue
                weight, bias = _parameters(module)
                _WEIGHT_INITS[init](weight, generator)
                if bias is not None:
                    bias.zero_()
            elif isinstance(module, (nn.LayerNorm, nn.modules.batchnorm._NormBase)):
                module.reset_parameters()


def build_mlp(
    in_features: int,
    widths: Sequence[int],
    out_features: int,
    *,
    activation: str = "relu",
    init: str = "default",
    seed: int | None = None,
) -> nn.Sequential:
    """A multi-layer perceptron: ``Linear + activation`` per hidden width, then a ``Linear``.

    Args:
        in_features: Input features (>= 1).
        widths: Hidden layer widths, each >= 1; may be empty (a linear model).
        out_features: Output features (>= 1).
        activation: One of ``relu, leaky_relu, elu, selu, gelu, silu, tanh, sigmoid,
            softplus, mish``.
        init: One of ``default`` (PyTorch's own), ``xavier_uniform``, ``xavier_normal``,
            ``kaiming_uniform``, ``kaiming_normal``, ``orthogonal``, ``normal`` (std 1).
            Named schemes other than ``default`` set every bias to zero.
        seed: Seed of the initialisation; ``None`` draws one from PyTorch's global generator.

    Returns:
        A ``torch.nn.Sequential``.

    Raises:
        ValueError: For a width below 1 or an unknown activation or initialisation name.

    Example:
        >>> model = build_mlp(64, [32, 16], 10, activation="tanh", init="orthogonal", seed=0)
        >>> [type(m).__name__ for m in model]
        ['Linear', 'Tanh', 'Linear', 'Tanh', 'Linear']
    """
    for name, value in (("in_features", in_features), ("out_features", out_features)):
        if value < 1:
            raise ValueError(f"`{name}` must be >= 1, but got {name}={value}.")
    for i, width in enumerate(widths):
        if width < 1:
            raise ValueError(f"`widths` must all be >= 1, but widths[{i}]={width}.")
    act = ACTIVATIONS[check_choice(activation, tuple(ACTIVATIONS), name="activation")]
    check_choice(init, INITS, name="init")
    layers: list[nn.Module] = []
    previous = in_features
    for width in widths:
        layers += [nn.Linear(previous, width), act()]
        previous = width
    layers.append(nn.Linear(previous, out_features))
    model = nn.Sequential(*layers)
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    apply_init(model, init, torch.Generator().manual_seed(seed))
    return model
