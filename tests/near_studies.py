"""A small NEAR study for the refinement tests (one helper, imported by several test files)."""

import optuna
import torch

from near_optuna import NearObjective, SearchSpace


def near_study(storage: str, data, n_trials: int = 8, max_width: int = 64) -> optuna.Study:
    """``n_trials`` NEAR trials on ``data`` in a study named ``near`` (TPE, seed 0)."""
    objective = NearObjective(
        torch.from_numpy(data.x_train),
        out_features=data.n_classes,
        space=SearchSpace(max_depth=2, max_width=max_width),
        prune_oversized=False,
        repetitions=1,
    )
    study = optuna.create_study(
        study_name="near",
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0),
    )
    study.optimize(objective, n_trials=n_trials)
    return study
