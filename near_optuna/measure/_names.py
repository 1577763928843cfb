"""The names users choose from, importable without torch.

The command line's ``--help`` reads them, and it must answer at once.

``measure/_mlp.py`` and ``measure/_peers.py`` check that their tables have exactly these names.
"""

from __future__ import annotations

ACTIVATION_NAMES: tuple[str, ...] = (
    "relu",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "silu",
    "tanh",
    "sigmoid",
    "softplus",
    "mish",
)
INIT_NAMES: tuple[str, ...] = (
    "default",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "orthogonal",
    "normal",
)
SCORE_NAMES: tuple[str, ...] = ("near", "epsilon", "naswot", "params")
DEFAULT_ACTIVATIONS: tuple[str, ...] = ("relu", "gelu", "silu", "tanh", "elu")
"""The activations a study searches unless told otherwise."""
DEFAULT_EVAL_REPETITIONS = 5
"""Initialisations averaged per score in a study trial."""
