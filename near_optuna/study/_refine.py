"""Refinement: NEAR screens, a small training budget decides, a reference keeps it honest.

After a NEAR study, :func:`refine_study` trains the candidates of
:func:`~near_optuna.study._candidates.refine_candidates` (NEAR's best distinct
configurations, wider variants of the best, wide probes where the saturation cap was small,
and the reference MLP) as trials of a linked study ``<name>:refine`` in the same storage, with
synchronous successive halving in optimizer steps inside an optional time budget
(:class:`~near_optuna.study._halving.Halving`). Each trial reports its validation score
(accuracy, or R² for a regression) at every rung.

The answer follows the one-standard-error rule: of the candidates of the last rung, those
within one standard error of the best (the paired standard error of the score difference on
the same validation rows, :mod:`near_optuna.numerics._noise`) are the leaders, and the
smallest leader is the answer. The reference, the default a user would take without tuning,
leads unless the best beats it by more than :data:`REFERENCE_SE` standard errors. The verdict
says whether the architecture mattered: the reference is not a leader (the answer beats it by
more than the noise), or it is (the leaders are tied within noise).

Validation is a split of the training data (``validation_split``); the test split is never
used for any choice. Candidates that a linked study already finished (complete or pruned) are
not trained again, so a refinement killed midway and run again goes on where it stopped.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna

from near_optuna.data._datasets import Dataset
from near_optuna.data._split import DEFAULT_VALIDATION_FRACTION, validation_split
from near_optuna.measure._model import TrainedModel
from near_optuna.measure._peers import param_score
from near_optuna.measure._steps import StepTrainer, one_torch_thread
from near_optuna.measure._train import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    held_out_terms,
    target_scale,
)
from near_optuna.numerics._checks import check_at_least, plain_json
from near_optuna.numerics._noise import Terms, leaders, standard_error
from near_optuna.storage._keys import STUDY_REFINE, TRIAL_CANDIDATE, TRIAL_VALIDATION
from near_optuna.storage._settings import data_hash
from near_optuna.storage._workers import fail_dead_workers
from near_optuna.study._candidates import (
    DEFAULT_ESCALATE_TOP,
    DEFAULT_PROBE_TOP,
    MAX_ESCALATED_WIDTH,
    REFERENCE,
    Candidate,
    is_above_cap,
    refine_candidates,
    size_cap,
)
from near_optuna.study._halving import Halving, Run

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
TRAINING_SHARE = 0.9
"""Share of a ``time_budget`` the rungs may plan for; the rest is for what their step-time
estimate leaves out: the validation scoring after each rung, the answer's copy and the
bookkeeping (measured on the Computers table: a plan for the whole budget overran it by 0.6 s
of 14.2 s with wide candidates)."""
REFERENCE_SE = 1.645
"""Standard errors by which the best must beat the reference to displace it from the leaders.

One standard error is the band of the one-standard-error rule among candidates; against the
reference the burden of proof is a one-sided test at the 5% level (z = 1.645), because a tuned
answer that is worse than the untuned default is the failure users notice. Measured on the real
tables benchmark before this rule (``benchmarks/real_tables.py``, two split seeds of seven
tables): of the three
answers that beat the reference on validation, the leads of 2.8 and 1.8 standard errors
(Computers) held on the test split (+0.014 and +0.012 R² over the default MLP), and the lead of
1.03 standard errors (fair, a 166k-parameter network, +0.0216 R², SE 0.0210) reversed: it
tested 0.075 R² below the default MLP.
"""
MIN_DECISIVE_FRACTION = 1 / 3
"""A candidate displaces the reference only if the last rung reached this share of its steps.

Comparisons after a few optimizer steps favour networks that learn fast, not those that end
best (wide networks that then overfit: on the Benefits table a 512x3 network won a rung cut to
a tenth of its steps by a busy machine, then tested 4.5 points below the reference). When the
time budget cuts the halving shorter than this, the reference stays the answer."""


@dataclass(frozen=True)
class Finalist:
    """A candidate of the last rung: its score, own standard error, size and row terms."""

    candidate: Candidate
    score: float
    se: float
    n_params: int
    terms: Terms | None = None

    def error_against(self, other: Finalist) -> float:
        """Standard error of ``self.score - other.score`` (paired when both have row terms)."""
        if self.terms is not None and other.terms is not None:
            return standard_error(self.terms, other.terms)
        return math.hypot(self.se, other.se)


@dataclass(frozen=True)
class Refinement:
    """The answer of a refinement and its evidence.

    Attributes:
        answer: The chosen configuration (the smallest leader).
        score: Its validation score after the last rung.
        metric: ``"accuracy"`` or ``"r2"``.
        n_params: Its trainable parameters.
        study_name: The linked study holding the trainings.
        candidates: Every configuration considered (reference first, then NEAR-ranked).
        reference_score: The reference's validation score (``None`` without a reference).
        verdict: ``mattered`` (is the reference outside the leaders), ``margin`` (answer
            minus reference) and ``se`` (its standard error), ``best`` (the top scorer),
            ``leaders`` (keys within one standard error of it) and ``text``.
        cap: ``widths`` (the saturation cap per position, ``None`` if the study had none),
            ``retired`` (the best validated candidate is wider than the cap) and ``by``.
        schedule: The rungs (cumulative steps, candidates), candidates dropped for time, and
            whether the time budget ended the halving early.
        trainings: Trainings run by this call (finished ones are not run again).
        steps: Optimizer steps trained by this call, all candidates together.
        epochs: The same in passes over the training rows.
        time_budget: Seconds the call was given (``None``: no limit).
        seconds: Wall time of this call.
        planned_steps: The last rung's planned length (``epochs`` passes), in optimizer steps.
        model: The answer's trained network with its data's preprocessing, ready to
            predict and to :meth:`save` (not part of :meth:`to_dict`): as trained in the
            halving, which a time budget may have cut short (see :meth:`complete_model`).
    """

    answer: Candidate
    score: float
    metric: str
    n_params: int
    study_name: str
    candidates: tuple[Candidate, ...]
    reference_score: float | None
    verdict: dict[str, Any]
    cap: dict[str, Any]
    schedule: dict[str, Any]
    trainings: int
    steps: int
    epochs: float
    time_budget: float | None
    seconds: float
    planned_steps: int = 0
    model: TrainedModel | None = field(default=None, repr=False, compare=False)
    _complete: Callable[[], TrainedModel] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, for the study's ``near:refine`` attribute and ``--json``."""
        record = asdict(dataclasses.replace(self, model=None, _complete=None))
        record.pop("model")
        record.pop("_complete")
        return dict(plain_json(record))

    def complete_model(self) -> TrainedModel | None:
        """The answer's network trained to the last rung's full length (``planned_steps``).

        The model itself when the halving reached that length; otherwise its training goes
        on from where the time budget stopped it (same rows, seed and mini-batch order, so
        the network is the one an uncut halving would have given). ``--save-model`` and the
        estimators save this one: a network cut after a few steps is a poor model to keep.
        """
        if self._complete is None:
            return self.model
        return self._complete()

    def save(self, path: str | Path) -> Path:
        """Write the answer's trained network and its preprocessing to ``path``; returns it.

        The file is read back by :func:`~near_optuna.load_model`.

        Raises:
            ValueError: When the refinement kept no trained network, or ``path``'s folder
                does not exist.
        """
        if self.model is None:
            raise ValueError("this refinement kept no trained network to save.")
        return self.model.save(path)


def linked_study(
    study: optuna.Study, storage: str | optuna.storages.BaseStorage | None = None
) -> optuna.Study:
    """The study ``<name>:refine`` that holds the refinement's trainings (made or loaded)."""
    return optuna.create_study(
        study_name=f"{study.study_name}:refine",
        storage=study._storage if storage is None else storage,
        direction="maximize",
        pruner=optuna.pruners.NopPruner(),  # the halving decides, over all candidates at once
        load_if_exists=True,
    )


def refine_study(
    study: optuna.Study,
    data: Dataset,
    k: int,
    *,
    epochs: int = DEFAULT_EPOCHS,
    time_budget: float | None = None,
    escalate_top: int = DEFAULT_ESCALATE_TOP,
    max_width: int = MAX_ESCALATED_WIDTH,
    probe_top: int = DEFAULT_PROBE_TOP,
    reference: Candidate | None = REFERENCE,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    seed: int = 0,
    device: str = "cpu",
    storage: str | optuna.storages.BaseStorage | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Refinement:
    """Train a NEAR study's best configurations and a reference; return the validated answer.

    Args:
        study: A finished (or running) NEAR study: ``NearObjective``'s or the command line's.
        data: The study's data; only its training split is used (split again into training
            and validation parts with ``validation_fraction`` and ``seed``).
        k: How many of the best distinct configurations to train (fewer if fewer exist).
        epochs: The last rung's length, in passes over the training part (counted in
            optimizer steps of ``DEFAULT_BATCH_SIZE`` rows).
        time_budget: Seconds for this call; rungs are shortened to fit (``None``: no limit).
        escalate_top: Also train the ``escalate_top`` best with every width x2 and x4.
        max_width: The cap of width escalation.
        probe_top: Wide probes of the ``probe_top`` best where the saturation cap was small.
        reference: The reference configuration (``None``: train none).
        validation_fraction: Share of the training split held out for validation.
        seed: Seed of the split, the initialisations and the mini-batch order.
        device: Where to train.
        storage: Where the linked study lives (default: the NEAR study's storage). The
            refinement asks and tells its trials itself, outside ``Study.optimize``, so give
            the same database without heartbeats (``optuna.storages.RDBStorage(url)``) when
            the study's storage has them: Optuna warns otherwise. Its trials record their
            worker (``near:worker``) and a rerun fails those of dead local processes.
        progress: Called as ``progress(done, total)`` after each rung.

    Returns:
        A :class:`Refinement`; also stored in the NEAR study's ``near:refine`` attribute.

    Raises:
        ValueError: For ``k < 1``, ``epochs < 1``, a ``time_budget`` that is not positive,
            a study without completed configurations, or a training split too small to hold
            out a validation set.

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
        >>> result.metric, result.candidates[0].origin
        ('accuracy', 'reference')
    """
    start = time.perf_counter()
    check_at_least(epochs, 1, name="epochs")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"`time_budget` must be > 0 seconds, but got {time_budget=}.")
    candidates = refine_candidates(
        study,
        k,
        escalate_top=escalate_top,
        max_width=max_width,
        probe_top=probe_top,
        reference=reference,
    )
    split = validation_split(data, fraction=validation_fraction, seed=seed)
    linked = linked_study(study, storage)
    fail_dead_workers(linked)
    earlier = _finished(linked, candidates)
    todo = [c for c in candidates if c.key not in earlier]
    max_steps = epochs * math.ceil(len(split.y_train) / DEFAULT_BATCH_SIZE)
    halving = Halving(
        linked,
        split,
        max_steps=max_steps,
        deadline=None if time_budget is None else start + TRAINING_SHARE * time_budget,
        seed=seed,
        device=device,
        progress=progress,
    )
    runs = halving.run(todo) if todo else []
    halving.finish(runs)
    finalists = [_finalist(r.candidate, r.score, split, run=r) for r in runs]
    finalists += _earlier_finalists(earlier, split)
    steps = sum(r.trainer.steps for r in runs)
    result = decide_answer(
        finalists,
        candidates,
        metric="r2" if data.task == "regression" else "accuracy",
        cap=size_cap(study),
        horizon=(max((r.trainer.steps for r in runs), default=max_steps), max_steps),
        evidence={
            "study_name": linked.study_name,
            "schedule": halving.schedule.to_dict(),
            "trainings": len(todo),
            "steps": steps,
            "epochs": steps * DEFAULT_BATCH_SIZE / len(split.y_train),
            "time_budget": time_budget,
            "seconds": time.perf_counter() - start,
        },
    )
    answer = next((r for r in runs if r.candidate.key == result.answer.key), None)
    if answer is not None:
        model = trained_model(answer.trainer, answer.candidate, data, split, how="refinement")
        trainer, candidate = answer.trainer, answer.candidate

        def complete() -> TrainedModel:
            if trainer.steps >= max_steps:
                return model
            cut = trainer.steps
            with one_torch_thread():
                trainer.train(max_steps - trainer.steps)
            return trained_model(trainer, candidate, data, split, how="refinement", cut_at=cut)

    else:  # finished by an earlier, interrupted call: train it again, as it was trained
        done = earlier[result.answer.key].user_attrs.get(TRIAL_VALIDATION, {})
        steps = int(done.get("steps", 1))
        model = train_answer(result.answer, data, steps=steps, seed=seed, device=device)

        def complete() -> TrainedModel:
            if steps >= max_steps:
                return model
            return train_answer(result.answer, data, steps=max_steps, seed=seed, device=device)

    result = dataclasses.replace(result, model=model, _complete=complete, planned_steps=max_steps)
    study.set_user_attr(STUDY_REFINE, result.to_dict())
    return result


def trained_model(
    trainer: StepTrainer,
    candidate: Candidate,
    data: Dataset,
    split: Dataset,
    *,
    how: str,
    cut_at: int | None = None,
) -> TrainedModel:
    """A copy of ``trainer``'s network as a :class:`TrainedModel` of ``data``'s rows.

    ``split`` is the validation split it was trained and scored on (``validation_split``);
    ``cut_at`` the steps at which a time budget had stopped it, if it was trained on after.
    """
    if data.preprocessing is None:
        raise ValueError(f"dataset {data.name!r} keeps no preprocessing: it cannot predict.")
    scale = target_scale(split.y_train)
    terms = held_out_terms(trainer.model, split.x_test, split.y_test, scale=scale)
    info = {
        "trained": {
            "how": how,
            "rows": len(split.y_train),
            "validation_rows": len(split.y_test),
            "steps": trainer.steps,
            "epochs": trainer.steps / trainer.steps_per_epoch,
            "seconds": trainer.seconds,
            "cut_at": cut_at,
        },
        "validation": {
            "metric": "r2" if data.task == "regression" else "accuracy",
            "score": float(terms.sum()),
            "se": standard_error(terms),
        },
        "candidate": plain_json(asdict(candidate) | {"key": candidate.key}),
        "data": {k: v for k, v in data.summary().items() if k != "columns"}
        | {"hash": data_hash(data)},
    }
    return TrainedModel(
        copy.deepcopy(trainer.model),
        widths=candidate.widths,
        activation=candidate.activation,
        init=candidate.init,
        preprocessing=data.preprocessing,
        target_scale=scale,
        info=info,
    )


def train_answer(
    candidate: Candidate,
    data: Dataset,
    *,
    steps: int | None = None,
    epochs: int = DEFAULT_EPOCHS,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    seed: int = 0,
    device: str = "cpu",
) -> TrainedModel:
    """Train one configuration by the refinement's recipe and keep it as a model.

    The same rows (the training split less the validation rows), initialisation seed and
    mini-batch order as :func:`refine_study`; what ``--save-model`` trains when nothing was
    trained in the run (``--refine 0``).

    Args:
        candidate: The configuration.
        data: The data; only its training split is used.
        steps: Optimizer steps (default: ``epochs`` passes over the training rows).
        epochs: Passes, when ``steps`` is not given.
        validation_fraction: As in :func:`refine_study`.
        seed: As in :func:`refine_study`.
        device: Where to train.

    Example:
        >>> from near_optuna import load_dataset
        >>> model = train_answer(REFERENCE, load_dataset("wine"), epochs=2)
        >>> model.info["trained"]["how"], model.task
        ('trained once', 'classification')
    """
    split = validation_split(data, fraction=validation_fraction, seed=seed)
    network = candidate.build(data, seed=seed)
    trainer = StepTrainer(network, split.x_train, split.y_train, seed=seed, device=device)
    with one_torch_thread():
        trainer.train(steps if steps is not None else epochs * trainer.steps_per_epoch)
    return trained_model(trainer, candidate, data, split, how="trained once")


def reference_seconds(
    data: Dataset,
    *,
    epochs: int = 60,
    reference: Candidate = REFERENCE,
    device: str = "cpu",
    steps: int = 20,
) -> float:
    """Estimated seconds of one ``epochs``-epoch training of ``reference`` on ``data``.

    Times ``steps`` optimizer steps (after two untimed ones) on the training split with the
    recipe of the refinement (one torch thread) and scales them to ``epochs`` passes.

    Example:
        >>> from near_optuna import load_dataset
        >>> reference_seconds(load_dataset("wine"), steps=3) > 0
        True
    """
    trainer = StepTrainer(reference.build(data), data.x_train, data.y_train, device=device)
    with one_torch_thread():
        trainer.train(2)
        trainer.seconds, trainer.steps = 0.0, 0
        trainer.train(steps)
    return trainer.seconds_per_step * trainer.steps_per_epoch * epochs


def _finished(
    linked: optuna.Study, candidates: list[Candidate]
) -> dict[str, optuna.trial.FrozenTrial]:
    """The linked study's finished trials of these candidates, by candidate key."""
    keys = {c.key for c in candidates}
    done = {}
    for trial in linked.get_trials(deepcopy=False, states=FINISHED):
        key = trial.user_attrs.get(TRIAL_CANDIDATE, {}).get("key")
        if key in keys:
            done[key] = trial
    return done


def candidate_size(candidate: Candidate, data: Dataset) -> int:
    """Trainable parameters of ``candidate``'s network for ``data``."""
    return int(param_score(candidate.build(data)))


def _finalist(candidate: Candidate, score: float, data: Dataset, *, run: Run) -> Finalist:
    assert run.terms is not None
    size = candidate_size(candidate, data)
    return Finalist(candidate, score, standard_error(run.terms), size, terms=run.terms)


def _earlier_finalists(
    earlier: dict[str, optuna.trial.FrozenTrial], data: Dataset
) -> list[Finalist]:
    """Candidates that an earlier, interrupted call completed (compared by their own SE)."""
    finalists = []
    for trial in earlier.values():
        if trial.state != optuna.trial.TrialState.COMPLETE:
            continue
        record = trial.user_attrs[TRIAL_CANDIDATE]
        candidate = Candidate(
            tuple(record["widths"]),
            record["activation"],
            record["init"],
            record["origin"],
            record.get("near_rank"),
            record.get("near_trial"),
        )
        se = trial.user_attrs.get(TRIAL_VALIDATION, {}).get("se")
        error = math.inf if se is None else float(se)
        finalists.append(
            Finalist(candidate, float(trial.values[0]), error, candidate_size(candidate, data))
        )
    return finalists


def decide_answer(
    finalists: list[Finalist],
    candidates: list[Candidate],
    *,
    metric: str,
    cap: list[float] | None,
    evidence: dict[str, Any],
    horizon: tuple[int, int] = (1, 1),
) -> Refinement:
    """The one-standard-error rule over the finalists, the verdict and the cap's fate.

    ``horizon`` is ``(steps of the last rung, steps planned)``: below
    :data:`MIN_DECISIVE_FRACTION` the reference stays the answer.
    """
    if not finalists:
        raise ValueError("the refinement has no finished candidate to choose from.")
    rank = {c.key: i for i, c in enumerate(candidates)}
    # Equal scores go to the smaller network, then to the earlier candidate.
    best = max(finalists, key=lambda f: (f.score, -f.n_params, -rank[f.candidate.key]))
    errors = [0.0 if f is best else best.error_against(f) for f in finalists]
    ahead = [finalists[i] for i in leaders([f.score for f in finalists], errors)]
    if best not in ahead:  # ties with the best: it leads by construction
        ahead.insert(0, best)
    reference = next((f for f in finalists if f.candidate.origin == "reference"), None)
    if reference is not None and reference not in ahead and _holds(reference, best):
        ahead.append(reference)
    answer = min(ahead, key=lambda f: (f.n_params, -f.score, rank[f.candidate.key]))
    verdict = _verdict(answer, best, ahead, reference, finalists, metric)
    reached, planned = horizon
    if (
        reference is not None
        and answer is not reference
        and reached < MIN_DECISIVE_FRACTION * planned
    ):
        verdict |= {
            "mattered": False,
            "text": (
                f"the time budget cut the training to {reached} of {planned} optimizer steps, "
                f"too short to trust a win over the reference ({answer.candidate.key} led it "
                f"by {answer.score - reference.score:+.4f} {metric}): the reference was kept"
            ),
        }
        answer = reference
    retired = is_above_cap(best.candidate.widths, cap)
    return Refinement(
        answer=answer.candidate,
        score=answer.score,
        metric=metric,
        n_params=answer.n_params,
        candidates=tuple(candidates),
        reference_score=None if reference is None else reference.score,
        verdict=verdict,
        cap={"widths": cap, "retired": retired, "by": best.candidate.key if retired else None},
        **evidence,
    )


def _holds(reference: Finalist, best: Finalist) -> bool:
    """Is the best's lead over the reference within :data:`REFERENCE_SE` standard errors?"""
    return best.score - reference.score <= REFERENCE_SE * best.error_against(reference)


def _verdict(
    answer: Finalist,
    best: Finalist,
    ahead: list[Finalist],
    reference: Finalist | None,
    others: list[Finalist],
    metric: str,
) -> dict[str, Any]:
    keys = [f.candidate.key for f in ahead]
    verdict: dict[str, Any] = {"best": best.candidate.key, "leaders": keys}
    if reference is None:
        return verdict | {"mattered": None, "margin": None, "se": None, "text": "no reference"}
    margin = answer.score - reference.score
    error = 0.0 if answer is reference else answer.error_against(reference)
    mattered = reference not in ahead
    if ahead == [reference]:
        runner = max(
            (f for f in others if f is not reference), key=lambda f: f.score, default=None
        )
        behind = (
            ""
            if runner is None
            else (f" (the next best, {runner.candidate.key}, scored {runner.score:.4f} {metric})")
        )
        text = f"no candidate came within noise of the reference: it is the answer{behind}"
    elif mattered:
        text = (
            f"the architecture mattered: the answer beats the reference "
            f"{reference.candidate.key} by {margin:+.4f} {metric} (SE {error:.4f}; the best "
            f"must lead it by more than {REFERENCE_SE:g} SE)"
        )
    else:
        text = _tied_text(answer, best, ahead, reference, metric)
    return verdict | {"mattered": mattered, "margin": margin, "se": error, "text": text}


def _tied_text(
    answer: Finalist, best: Finalist, ahead: list[Finalist], reference: Finalist, metric: str
) -> str:
    """The verdict when the reference is among the leaders beside other candidates."""
    which = "the reference" if answer is reference else answer.candidate.key
    error = 0.0 if best is reference else best.error_against(reference)
    if reference.score < best.score - error:
        band = (
            f"{best.candidate.key} leads the reference by {best.score - reference.score:+.4f} "
            f"{metric} (SE {error:.4f}), within the {REFERENCE_SE:g} standard errors it must "
            f"beat to displace it"
        )
    else:
        band = (
            f"{len(ahead)} within one standard error of the best, "
            f"{best.candidate.key} at {best.score:.4f}"
        )
    return (
        f"the leaders are within noise ({band}): the smallest of them, {which}, was chosen "
        f"(one-standard-error rule); the reference scored {reference.score:.4f} {metric}"
    )
