"""near_optuna: pick MLP widths, activations and initialisations without training them.

NEAR (Husistein, Reiher and Eckhoff, ICLR 2025, arXiv 2408.08776) scores an untrained network
by the effective ranks of its layers' pre- and post-activation matrices; near_optuna measures
it fast and exactly and puts it into Optuna studies.

Example:
    >>> import torch
    >>> from near_optuna import build_mlp, near_score
    >>> x = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    >>> near_score(build_mlp(8, [32, 32], 4, seed=0), x).total > 0
    True
"""

from near_optuna.dashboard._figures import plot_layer_size
from near_optuna.data._datasets import DATASETS, Dataset, from_arrays, load_dataset
from near_optuna.data._files import load_file
from near_optuna.measure._evaluate import Evaluation, evaluate_config
from near_optuna.measure._guard import SignalGuard, SignalStats
from near_optuna.measure._mlp import ACTIVATIONS, INITS, build_mlp
from near_optuna.measure._peers import SCORES, epsilon_score, get_score, naswot_score, param_score
from near_optuna.measure._score import LayerScore, NearScore, near_score
from near_optuna.measure._sizing import (
    LayerSizeEstimate,
    estimate_layer_size,
    estimate_layer_sizes,
)
from near_optuna.measure._train import TrainResult, train_and_evaluate
from near_optuna.numerics._fit import FitError, PowerFit
from near_optuna.numerics._rank import effective_rank
from near_optuna.numerics._rules import is_oversized
from near_optuna.study._callback import NearCallback
from near_optuna.study._gate import NearGate
from near_optuna.study._objective import NearObjective
from near_optuna.study._space import SearchSpace

__all__ = [
    "ACTIVATIONS",
    "DATASETS",
    "INITS",
    "SCORES",
    "Dataset",
    "Evaluation",
    "FitError",
    "LayerScore",
    "LayerSizeEstimate",
    "NearCallback",
    "NearGate",
    "NearObjective",
    "NearScore",
    "PowerFit",
    "SearchSpace",
    "SignalGuard",
    "SignalStats",
    "TrainResult",
    "build_mlp",
    "effective_rank",
    "epsilon_score",
    "estimate_layer_size",
    "estimate_layer_sizes",
    "evaluate_config",
    "from_arrays",
    "get_score",
    "is_oversized",
    "load_dataset",
    "load_file",
    "naswot_score",
    "near_score",
    "param_score",
    "plot_layer_size",
    "train_and_evaluate",
]

__version__ = "0.1.0"
