"""Which torch modules count as weight layers and which as activations (one list for all).

``WEIGHT_LAYERS`` are the modules that open a measured layer and that the initialisation
schemes set; ``ACTIVATION_TYPES`` are the activation module classes that close one.
"""

from __future__ import annotations

from torch import nn
from torch.nn.modules import activation as _activation

CONV_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
WEIGHT_LAYERS: tuple[type[nn.Module], ...] = (nn.Linear, nn.Bilinear, *CONV_LAYERS)
_NOT_ACTIVATIONS = {"MultiheadAttention", "Softmax", "Softmin", "LogSoftmax", "Softmax2d"}
ACTIVATION_TYPES: tuple[type[nn.Module], ...] = tuple(
    getattr(_activation, name) for name in _activation.__all__ if name not in _NOT_ACTIVATIONS
)
"""Every class of ``torch.nn.modules.activation`` except the softmax family and attention."""
