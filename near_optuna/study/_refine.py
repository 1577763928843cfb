"""Refinement: NEAR screens, a small training budget decides.

After a NEAR study, :func:`refine_study` trains the best distinct configurations that survived
the guard and saturation pruning, plus width-escalated variants of the best few (NEAR cannot
tell how wide a dataset needs its layers: the labels can), as trials of a linked study
``<name>:refine`` in the same storage. Each training reports its per-epoch validation score
(accuracy, or R² for a regression) with ``trial.report`` and is pruned by Optuna's
``SuccessiveHalvingPruner``. The answer is the best validated configuration (on equal
scores, the one with fewer parameters).

Validation is a split of the training data (``validation_split``); the test split is never
used for any choice. Candidates that a linked study already finished (complete or pruned) are
not trained again, so a refinement killed midway and run again goes on where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import optuna

from near_optuna.data._datasets import Dataset
from near_optuna.data._split import DEFAULT_VALIDATION_FRACTION, validation_split
from near_optuna.measure._mlp import build_mlp
from near_optuna.measure._peers import param_score
from near_optuna.measure._train import (
    DEFAULT_EPOCHS,
    held_out_score,
    target_scale,
    train_epochs,
)
from near_optuna.numerics._checks import check_at_least, plain_json
from near_optuna.storage._keys import (
    STUDY_REFINE,
    TRIAL_ACTIVATION,
    TRIAL_CANDIDATE,
    TRIAL_INIT,
    TRIAL_WIDTHS,
    TRIAL_WORKER,
)
from near_optuna.storage._workers import fail_dead_workers, worker_id

ESCALATION_FACTORS: tuple[int, ...] = (2, 4)
DEFAULT_ESCALATE_TOP = 2
MAX_ESCALATED_WIDTH = 2048
"""The cap of width escalation: no escalated layer is wider than this."""
REDUCTION_FACTOR = 3
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@dataclass(frozen=True)
class Candidate:
    """One configuration the refinement trains.

    Attributes:
        widths: Hidden-layer widths.
        activation: Activation name.
        init: Initialisation name.
        origin: ``"near"`` (a NEAR-ranked configuration) or ``"x2"``, ``"x4"`` (its widths
            escalated by that factor).
        near_rank: Rank (1 = best) of the NEAR configuration it came from.
        near_trial: Number of that trial in the NEAR study.
    """

    widths: tuple[int, ...]
    activation: str
    init: str
    origin: str
    near_rank: int
    near_trial: int

    @property
    def key(self) -> str:
        """Identifies the configuration (widths, activation, init) across runs."""
        return f"{list(self.widths)}/{self.activation}/{self.init}"


@dataclass(frozen=True)
class Refinement:
    """The answer of a refinement and its evidence.

    Attributes:
        answer: The best validated configuration.
        score: Its validation score after the last epoch it trained.
        metric: ``"accuracy"`` or ``"r2"``.
        n_params: Its trainable parameters.
        study_name: The linked study holding the trainings.
        candidates: Every configuration considered, NEAR-ranked first.
        trainings: Trainings run by this call (finished ones are not run again).
        epochs: Epochs trained over all of the linked study's finished trials.
        seconds: Wall time of this call.
    """

    answer: Candidate
    score: float
    metric: str
    n_params: int
    study_name: str
    candidates: tuple[Candidate, ...]
    trainings: int
    epochs: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, for the study's ``near:refine`` attribute and ``--json``."""
        return dict(plain_json(asdict(self)))


def _configurations(study: optuna.Study) -> list[tuple[optuna.trial.FrozenTrial, Candidate]]:
    """Completed NEAR trials, best first, one per distinct configuration."""
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    done = [t for t in done if TRIAL_WIDTHS in t.user_attrs and TRIAL_ACTIVATION in t.user_attrs]
    seen: set[str] = set()
    ranked: list[tuple[optuna.trial.FrozenTrial, Candidate]] = []
    for trial in sorted(done, key=lambda t: (-float(t.values[0]), t.number)):
        attrs = trial.user_attrs
        candidate = Candidate(
            tuple(int(w) for w in attrs[TRIAL_WIDTHS]),
            str(attrs[TRIAL_ACTIVATION]),
            str(attrs.get(TRIAL_INIT, "default")),
            "near",
            len(ranked) + 1,
            trial.number,
        )
        if candidate.key not in seen:
            seen.add(candidate.key)
            ranked.append((trial, candidate))
    return ranked


def escalate(
    candidate: Candidate,
    *,
    factors: tuple[int, ...] = ESCALATION_FACTORS,
    max_width: int = MAX_ESCALATED_WIDTH,
) -> list[Candidate]:
    """Width-escalated variants: every width times each factor, capped at ``max_width``.

    Variants that the cap makes equal to the original or to each other are left out.

    Example:
        >>> base = Candidate((64, 600), "relu", "default", "near", 1, 7)
        >>> [v.widths for v in escalate(base, max_width=1024)]
        [(128, 1024), (256, 1024)]
    """
    variants, seen = [], {candidate.widths}
    for factor in factors:
        widths = tuple(min(w * factor, max_width) for w in candidate.widths)
        if widths not in seen:
            seen.add(widths)
            variants.append(
                Candidate(
                    widths,
                    candidate.activation,
                    candidate.init,
                    f"x{factor}",
                    candidate.near_rank,
                    candidate.near_trial,
                )
            )
    return variants


def refine_candidates(
    study: optuna.Study,
    k: int,
    *,
    escalate_top: int = DEFAULT_ESCALATE_TOP,
    max_width: int = MAX_ESCALATED_WIDTH,
) -> list[Candidate]:
    """The ``k`` best distinct configurations and escalated variants of the best ``escalate_top``.

    Raises:
        ValueError: If ``k < 1``, ``escalate_top < 0``, or the study has no completed trial
            with a configuration.
    """
    check_at_least(k, 1, name="k")
    check_at_least(escalate_top, 0, name="escalate_top")
    ranked = [candidate for _, candidate in _configurations(study)]
    if not ranked:
        raise ValueError(
            f"study {study.study_name!r} has no completed trial with a configuration to refine."
        )
    chosen = ranked[:k]
    keys = {c.key for c in chosen}
    for base in ranked[: min(escalate_top, len(chosen))]:
        for variant in escalate(base, max_width=max_width):
            if variant.key not in keys:
                keys.add(variant.key)
                chosen.append(variant)
    return chosen


def _train(
    trial: optuna.Trial,
    candidate: Candidate,
    data: Dataset,
    *,
    epochs: int,
    seed: int,
    device: str,
) -> tuple[float, int]:
    """Train ``candidate``, reporting the validation score each epoch; prune when told."""
    model = build_mlp(
        data.in_features,
        candidate.widths,
        data.out_features,
        activation=candidate.activation,
        init=candidate.init,
        seed=seed,
    )
    score, done, scale = float("-inf"), 0, target_scale(data.y_train)
    steps = train_epochs(
        model, data.x_train, data.y_train, epochs=epochs, seed=seed, device=device
    )
    for done, _loss in enumerate(steps, start=1):
        score = held_out_score(model, data.x_test, data.y_test, scale=scale, device=device)[0]
        trial.report(score, done)
        if trial.should_prune():
            raise optuna.TrialPruned(f"validation score {score:.4g} after {done} epochs")
    return score, done


def _linked_study(study: optuna.Study, epochs: int) -> optuna.Study:
    pruner = optuna.pruners.SuccessiveHalvingPruner(
        min_resource=max(1, epochs // 10), reduction_factor=REDUCTION_FACTOR
    )
    return optuna.create_study(
        study_name=f"{study.study_name}:refine",
        storage=study._storage,
        direction="maximize",
        pruner=pruner,
        load_if_exists=True,
    )


def refine_study(
    study: optuna.Study,
    data: Dataset,
    k: int,
    *,
    epochs: int = DEFAULT_EPOCHS,
    escalate_top: int = DEFAULT_ESCALATE_TOP,
    max_width: int = MAX_ESCALATED_WIDTH,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    seed: int = 0,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> Refinement:
    """Train a NEAR study's best configurations with successive halving; return the answer.

    Args:
        study: A finished (or running) NEAR study: ``NearObjective``'s or the command line's.
        data: The study's data; only its training split is used (split again into training
            and validation parts with ``validation_fraction`` and ``seed``).
        k: How many of the best distinct configurations to train (fewer if fewer exist).
        epochs: The most epochs any candidate trains.
        escalate_top: Also train the ``escalate_top`` best with every width x2 and x4.
        max_width: The cap of width escalation.
        validation_fraction: Share of the training split held out for validation.
        seed: Seed of the split, the initialisations and the mini-batch order.
        device: Where to train.
        progress: Called as ``progress(done, total)`` after each candidate.

    Returns:
        A :class:`Refinement`; also stored in the NEAR study's ``near:refine`` attribute.

    Raises:
        ValueError: For ``k < 1``, a study without completed configurations, or a training
            split too small to hold out a validation set.

    Example:
        >>> import optuna, torch
        >>> from near_optuna import NearObjective, SearchSpace, load_dataset
        >>> data = load_dataset("wine")
        >>> objective = NearObjective(torch.from_numpy(data.x_train), out_features=3,
        ...                           space=SearchSpace(max_depth=1, max_width=32),
        ...                           prune_oversized=False, repetitions=1)
        >>> study = optuna.create_study(direction="maximize")
        >>> study.optimize(objective, n_trials=4)
        >>> result = refine_study(study, data, 2, epochs=4, escalate_top=0)
        >>> result.metric, len(result.candidates) <= 2
        ('accuracy', True)
    """
    start = time.perf_counter()
    candidates = refine_candidates(study, k, escalate_top=escalate_top, max_width=max_width)
    split = validation_split(data, fraction=validation_fraction, seed=seed)
    linked = _linked_study(study, epochs)
    fail_dead_workers(linked)
    finished = {
        t.user_attrs[TRIAL_CANDIDATE]["key"]
        for t in linked.get_trials(deepcopy=False, states=FINISHED)
        if TRIAL_CANDIDATE in t.user_attrs
    }
    trainings = 0
    for i, candidate in enumerate(candidates):
        if candidate.key not in finished:
            _run_candidate(linked, candidate, split, epochs=epochs, seed=seed, device=device)
            trainings += 1
        if progress is not None:
            progress(i + 1, len(candidates))
    result = _answer(linked, candidates, split, trainings, time.perf_counter() - start)
    study.set_user_attr(STUDY_REFINE, result.to_dict())
    return result


def _run_candidate(
    linked: optuna.Study,
    candidate: Candidate,
    data: Dataset,
    *,
    epochs: int,
    seed: int,
    device: str,
) -> None:
    trial = linked.ask()
    trial.set_user_attr(TRIAL_WORKER, worker_id())
    trial.set_user_attr(TRIAL_CANDIDATE, plain_json(asdict(candidate) | {"key": candidate.key}))
    trial.set_user_attr(TRIAL_WIDTHS, list(candidate.widths))
    trial.set_user_attr(TRIAL_ACTIVATION, candidate.activation)
    trial.set_user_attr(TRIAL_INIT, candidate.init)
    try:
        score, _ = _train(trial, candidate, data, epochs=epochs, seed=seed, device=device)
    except optuna.TrialPruned:
        linked.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return
    linked.tell(trial, score)


def _answer(
    linked: optuna.Study,
    candidates: list[Candidate],
    data: Dataset,
    trainings: int,
    seconds: float,
) -> Refinement:
    by_key = {c.key: c for c in candidates}
    finished = linked.get_trials(deepcopy=False, states=FINISHED)
    mine = [t for t in finished if t.user_attrs.get(TRIAL_CANDIDATE, {}).get("key") in by_key]
    complete = [t for t in mine if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:  # every candidate pruned: the best last reported score decides
        complete = [t for t in mine if t.intermediate_values]

    def value(trial: optuna.trial.FrozenTrial) -> float:
        if trial.values:
            return float(trial.values[0])
        return float(trial.intermediate_values[max(trial.intermediate_values)])

    def size(candidate: Candidate) -> int:
        return int(param_score(build_mlp(data.in_features, candidate.widths, data.out_features)))

    def rank(trial: optuna.trial.FrozenTrial) -> tuple[float, int, int]:
        candidate = by_key[trial.user_attrs[TRIAL_CANDIDATE]["key"]]
        # Equal validation scores go to the smaller network, then to the better NEAR rank.
        return value(trial), -size(candidate), -candidate.near_rank

    best = max(complete, key=rank)
    answer = by_key[best.user_attrs[TRIAL_CANDIDATE]["key"]]
    epochs = sum(max(t.intermediate_values, default=0) for t in mine)
    metric = "r2" if data.task == "regression" else "accuracy"
    return Refinement(
        answer,
        value(best),
        metric,
        size(answer),
        linked.study_name,
        tuple(candidates),
        trainings,
        epochs,
        seconds,
    )
