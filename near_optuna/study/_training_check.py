"""The training check (``--validate``): does a finished study's score rank trained results?"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import optuna
from scipy.stats import spearmanr

from near_optuna.data._datasets import Dataset
from near_optuna.measure._mlp import build_mlp
from near_optuna.measure._train import DEFAULT_EPOCHS, train_and_evaluate
from near_optuna.storage._keys import STUDY_VALIDATION, TRIAL_ACTIVATION, TRIAL_INIT, TRIAL_WIDTHS


@dataclass(frozen=True)
class TrainedConfig:
    """One trained configuration: its trial, score, trained test result and why it was chosen.

    ``trained`` is the test accuracy, or the test R² for a regression (see ``metric``).
    """

    trial: int
    value: float
    trained: float
    group: str
    widths: list[int]
    activation: str
    init: str


@dataclass(frozen=True)
class TrainingCheck:
    """How well a study's score ranked the trained results of some of its configurations.

    Attributes:
        k: Top-scored configurations trained (and as many random others).
        epochs: Training epochs per configuration (the fixed recipe of ``train_and_evaluate``).
        trials: The trained configurations.
        spearman: Spearman rho between score and trained result (``None`` for fewer than 3).
        pick_trained: Trained result of the configuration the score ranks first.
        best_trained: The best trained result among those trained.
        metric: ``"accuracy"`` (classes) or ``"r2"`` (a regression target).
    """

    k: int
    epochs: int
    trials: tuple[TrainedConfig, ...]
    spearman: float | None
    pick_trained: float
    best_trained: float
    metric: str = "accuracy"

    def to_dict(self) -> dict[str, object]:
        """Plain JSON types, for the study's user attributes."""
        return asdict(self)


def _score(trial: optuna.trial.FrozenTrial) -> float:
    return float(trial.values[0])


def _distinct(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The first (best) trial of each configuration: samplers propose repeats."""
    seen, unique = set(), []
    for trial in trials:
        key = (
            tuple(trial.user_attrs[TRIAL_WIDTHS]),
            trial.user_attrs[TRIAL_ACTIVATION],
            trial.user_attrs[TRIAL_INIT],
        )
        if key not in seen:
            seen.add(key)
            unique.append(trial)
    return unique


def check_with_training(
    study: optuna.Study,
    data: Dataset,
    k: int,
    *,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> TrainingCheck:
    """Train the ``k`` best-scored and ``k`` random other completed configurations, briefly.

    Repeated configurations count once (their best-scored trial).

    Each configuration is built from its trial's ``near:`` attributes with ``seed`` and trained
    with :func:`train_and_evaluate` (Adam, ``epochs`` epochs); the report is stored in the
    study's ``near:validation`` user attribute.

    Raises:
        ValueError: If ``k < 1`` or the study has no completed trial to validate.
    """
    if k < 1:
        raise ValueError(f"`k` must be >= 1, but got {k=}.")
    done = [
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if TRIAL_WIDTHS in t.user_attrs
    ]
    if not done:
        raise ValueError("the training check needs completed trials, but the study has none.")
    ranked = _distinct(sorted(done, key=_score, reverse=True))
    top, rest = ranked[:k], ranked[k:]
    rng = np.random.default_rng(seed)
    chosen = [rest[i] for i in sorted(rng.choice(len(rest), min(k, len(rest)), replace=False))]
    metric = "r2" if data.task == "regression" else "accuracy"
    rows = []
    for i, (trial, group) in enumerate(
        [(t, "top") for t in top] + [(t, "random") for t in chosen]
    ):
        attrs = trial.user_attrs
        model = build_mlp(
            data.in_features,
            attrs[TRIAL_WIDTHS],
            data.out_features,
            activation=attrs[TRIAL_ACTIVATION],
            init=attrs[TRIAL_INIT],
            seed=seed,
        )
        result = train_and_evaluate(model, data, epochs=epochs, seed=seed, device=device)
        rows.append(
            TrainedConfig(
                trial.number,
                _score(trial),
                result.score,
                group,
                list(attrs[TRIAL_WIDTHS]),
                attrs[TRIAL_ACTIVATION],
                attrs[TRIAL_INIT],
            )
        )
        if progress is not None:
            progress(i + 1, len(top) + len(chosen))
    rho = None
    if len(rows) >= 3 and len({r.value for r in rows}) > 1 and len({r.trained for r in rows}) > 1:
        rho = float(spearmanr([r.value for r in rows], [r.trained for r in rows]).statistic)
    report = TrainingCheck(
        k,
        epochs,
        tuple(rows),
        rho,
        rows[0].trained,
        max(r.trained for r in rows),
        metric,
    )
    study.set_user_attr(STUDY_VALIDATION, report.to_dict())
    return report
