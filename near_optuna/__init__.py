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

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from near_optuna.dashboard._figures import plot_layer_size
    from near_optuna.dashboard._publish import publish_study
    from near_optuna.data._datasets import Dataset, from_arrays, load_dataset
    from near_optuna.data._files import load_file
    from near_optuna.data._names import DATASETS
    from near_optuna.measure._evaluate import Evaluation, evaluate_config
    from near_optuna.measure._guard import SignalGuard, SignalStats
    from near_optuna.measure._mlp import ACTIVATIONS, INITS, build_mlp
    from near_optuna.measure._model import TrainedModel, load_model
    from near_optuna.measure._peers import (
        SCORES,
        epsilon_score,
        get_score,
        naswot_score,
        param_score,
    )
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
    from near_optuna.study._candidates import Candidate
    from near_optuna.study._estimators import NearMLPClassifier, NearMLPRegressor
    from near_optuna.study._gate import NearGate
    from near_optuna.study._objective import NearObjective
    from near_optuna.study._refine import Refinement, refine_study
    from near_optuna.study._space import SearchSpace

# Public name -> the private module that defines it. Imported on first use, so that
# `import near_optuna` (and `python -m near_optuna.tune --help`) need not load torch.
_EXPORTS = {
    "ACTIVATIONS": "near_optuna.measure._mlp",
    "DATASETS": "near_optuna.data._names",
    "Dataset": "near_optuna.data._datasets",
    "Evaluation": "near_optuna.measure._evaluate",
    "LayerSizeEstimate": "near_optuna.measure._sizing",
    "estimate_layer_size": "near_optuna.measure._sizing",
    "estimate_layer_sizes": "near_optuna.measure._sizing",
    "FitError": "near_optuna.numerics._fit",
    "INITS": "near_optuna.measure._mlp",
    "LayerScore": "near_optuna.measure._score",
    "NearCallback": "near_optuna.study._callback",
    "NearMLPClassifier": "near_optuna.study._estimators",
    "NearMLPRegressor": "near_optuna.study._estimators",
    "TrainedModel": "near_optuna.measure._model",
    "load_model": "near_optuna.measure._model",
    "NearGate": "near_optuna.study._gate",
    "NearObjective": "near_optuna.study._objective",
    "Candidate": "near_optuna.study._candidates",
    "Refinement": "near_optuna.study._refine",
    "refine_study": "near_optuna.study._refine",
    "NearScore": "near_optuna.measure._score",
    "PowerFit": "near_optuna.numerics._fit",
    "SCORES": "near_optuna.measure._peers",
    "SearchSpace": "near_optuna.study._space",
    "SignalGuard": "near_optuna.measure._guard",
    "SignalStats": "near_optuna.measure._guard",
    "TrainResult": "near_optuna.measure._train",
    "build_mlp": "near_optuna.measure._mlp",
    "effective_rank": "near_optuna.numerics._rank",
    "epsilon_score": "near_optuna.measure._peers",
    "evaluate_config": "near_optuna.measure._evaluate",
    "from_arrays": "near_optuna.data._datasets",
    "get_score": "near_optuna.measure._peers",
    "is_oversized": "near_optuna.numerics._rules",
    "load_dataset": "near_optuna.data._datasets",
    "load_file": "near_optuna.data._files",
    "naswot_score": "near_optuna.measure._peers",
    "near_score": "near_optuna.measure._score",
    "param_score": "near_optuna.measure._peers",
    "plot_layer_size": "near_optuna.dashboard._figures",
    "publish_study": "near_optuna.dashboard._publish",
    "train_and_evaluate": "near_optuna.measure._train",
}

__all__ = [
    "ACTIVATIONS",
    "DATASETS",
    "INITS",
    "SCORES",
    "Candidate",
    "Dataset",
    "Evaluation",
    "FitError",
    "LayerScore",
    "LayerSizeEstimate",
    "NearCallback",
    "NearGate",
    "NearMLPClassifier",
    "NearMLPRegressor",
    "NearObjective",
    "NearScore",
    "PowerFit",
    "Refinement",
    "SearchSpace",
    "SignalGuard",
    "SignalStats",
    "TrainResult",
    "TrainedModel",
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
    "load_model",
    "naswot_score",
    "near_score",
    "param_score",
    "plot_layer_size",
    "publish_study",
    "refine_study",
    "train_and_evaluate",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'near_optuna' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
