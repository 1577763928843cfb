"""A refinement that several workers share: each candidate trained once, one answer for all.

With a study budget (``--max-total-trials``) every worker that reaches the refinement works on
the one linked study ``<name>:refine``:

1. **One candidate list.** After the NEAR study's budget is finished (or no trial of it runs
   any more), the first worker writes the candidates in the linked study's
   ``near:candidates``; every worker trains from that stored list.
2. **Claims.** A worker claims the first unclaimed candidate as a RUNNING trial created with
   its ``host:pid`` in one write (:func:`~near_optuna.storage._workers.ask_as_worker`). Of two
   claims of one candidate the earlier trial wins; the later one is failed
   (``near:duplicate``) before anything is trained.
3. **Halving.** A claimed candidate trains through the rungs; Optuna's
   ``SuccessiveHalvingPruner`` decides at each rung over every worker's reports (asynchronous:
   a trial is compared with those that reached the rung before it). The reference is never
   pruned.
4. **Dead workers.** A claim whose worker is gone (its process on this host, its heartbeat on
   an RDB storage, or no heartbeat at all after a grace period) is failed, and the candidate is
   claimed again by a live worker.
5. **One answer.** A worker with nothing left to claim waits until every candidate is
   finished, then decides from what the linked study stores (final scores and each finalist's
   per-row validation terms), so every worker gives the same answer; the first writes it as the
   NEAR study's ``near:refine``.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import numpy as np
import optuna

from near_optuna.data._datasets import Dataset
from near_optuna.data._split import DEFAULT_VALIDATION_FRACTION, validation_split
from near_optuna.measure._model import TrainedModel
from near_optuna.measure._steps import StepTrainer, one_torch_thread
from near_optuna.measure._train import DEFAULT_BATCH_SIZE, target_scale
from near_optuna.numerics._checks import plain_json
from near_optuna.numerics._noise import standard_error
from near_optuna.storage._keys import (
    STUDY_CANDIDATES,
    STUDY_REFINE,
    TRIAL_CANDIDATE,
    TRIAL_DUPLICATE,
    TRIAL_PRUNED,
    TRIAL_TERMS,
    TRIAL_VALIDATION,
)
from near_optuna.storage._workers import ask_as_worker, fail_abandoned_trials
from near_optuna.study._candidates import Candidate, refine_candidates, size_cap
from near_optuna.study._halving import (
    MIN_RUNG_STEPS,
    REDUCTION_FACTOR,
    record_validation,
    validation_terms,
)
from near_optuna.study._refine import (
    Finalist,
    Refinement,
    candidate_size,
    decide_answer,
    train_answer,
    trained_model,
)

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
RUNNING = optuna.trial.TrialState.RUNNING
POLL_SECONDS = 0.5


def shared_rungs(max_steps: int, candidates: int) -> list[int]:
    """Rung step targets ``r0 * 3**i`` (Optuna's successive-halving rungs), then ``max_steps``.

    Example:
        >>> shared_rungs(900, 9), shared_rungs(30, 27), shared_rungs(900, 1)
        ([100, 300, 900], [20, 30], [900])
    """
    halvings = math.ceil(math.log(candidates, REDUCTION_FACTOR)) if candidates > 1 else 0
    first = max(min(MIN_RUNG_STEPS, max_steps), max_steps // REDUCTION_FACTOR**halvings)
    rungs = [first * REDUCTION_FACTOR**i for i in range(halvings + 1)]
    return sorted({r for r in rungs if r < max_steps} | {max_steps})


def wait_for_budget(study: optuna.Study, budget: int, *, grace: float, poll: float) -> None:
    """Return once ``budget`` trials of ``study`` are finished or none of it runs any more."""
    while True:
        fail_abandoned_trials(study, grace=grace)
        trials = study.get_trials(deepcopy=False)
        if sum(t.state in FINISHED for t in trials) >= budget:
            return
        if not any(t.state == RUNNING for t in trials):
            return
        time.sleep(poll)


def fixed_candidates(study: optuna.Study, linked: optuna.Study, k: int) -> list[Candidate]:
    """The linked study's stored candidate list, written from ``study`` by the first caller."""
    if STUDY_CANDIDATES not in linked.user_attrs:
        candidates = refine_candidates(study, k)
        linked.set_user_attr(STUDY_CANDIDATES, plain_json([asdict(c) for c in candidates]))
    stored = linked.user_attrs[STUDY_CANDIDATES]
    return [Candidate(**(record | {"widths": tuple(record["widths"])})) for record in stored]


@contextmanager
def beating(linked: optuna.Study, trial_id: int, every: float) -> Iterator[None]:
    """Record heartbeats of ``trial_id`` every ``every`` seconds (RDB storages with them)."""
    storage = getattr(linked._storage, "_backend", linked._storage)
    if not isinstance(storage, optuna.storages.RDBStorage) or (
        storage.get_heartbeat_interval() is None
    ):
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            storage.record_heartbeat(trial_id)
            if stop.wait(every):
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class SharedRefinement:
    """One worker's part of a shared refinement (see the module's docstring).

    Args:
        linked: The linked study, created with a ``SuccessiveHalvingPruner`` on a storage
            whose RDB form has heartbeats.
        split: Training rows (``x_train``) and validation rows (``x_test``).
        candidates: The stored candidate list.
        max_steps: Steps of the last rung.
        seed: Seed of the initialisations and mini-batch orders (every worker's the same).
        device: Where to train.
        grace: Seconds after which a claim that never beat is a dead worker's.
        heartbeat: Seconds between heartbeats of a claimed candidate.
        waiting: Called as ``waiting(finished, total)`` while this worker waits for others.
    """

    def __init__(
        self,
        linked: optuna.Study,
        split: Dataset,
        candidates: list[Candidate],
        *,
        max_steps: int,
        seed: int,
        device: str,
        grace: float,
        heartbeat: float,
        waiting: Callable[[int, int], None] | None = None,
    ) -> None:
        self.linked, self.split, self.candidates = linked, split, candidates
        self.max_steps, self.seed, self.device = max_steps, seed, device
        self.grace, self.heartbeat, self.waiting = grace, heartbeat, waiting
        others = sum(c.origin != "reference" for c in candidates)
        self.rungs = shared_rungs(max_steps, max(others, 1))
        self.scale = target_scale(split.y_train)
        self.trainings = 0
        self.steps = 0
        self.trained: dict[str, StepTrainer] = {}
        """This worker's completed candidates, by key (their networks, kept for the answer)."""

    def run(self, poll: float = POLL_SECONDS) -> dict[str, optuna.trial.FrozenTrial]:
        """Claim and train until every candidate is finished; its finished trial, by key."""
        keys = [c.key for c in self.candidates]
        while True:
            fail_abandoned_trials(self.linked, grace=self.grace)
            trials = self.linked.get_trials(deepcopy=False)
            done = {str(_key(t)): t for t in trials if t.state in FINISHED and _key(t) in keys}
            if len(done) == len(keys):
                return done
            busy = {_key(t) for t in trials if t.state == RUNNING}
            free = [c for c in self.candidates if c.key not in done and c.key not in busy]
            if free:
                self._claim_and_train(free[0])
                continue
            if self.waiting is not None:
                self.waiting(len(done), len(keys))
            time.sleep(poll)

    def _claim_and_train(self, candidate: Candidate) -> None:
        trial = ask_as_worker(self.linked, candidate.trial_attrs())
        earlier = [
            t
            for t in self.linked.get_trials(deepcopy=False, states=(*FINISHED, RUNNING))
            if _key(t) == candidate.key and t.number < trial.number
        ]
        if earlier:  # another worker claimed it first
            trial.set_user_attr(TRIAL_DUPLICATE, earlier[0].number)
            self.linked.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        with beating(self.linked, trial._trial_id, self.heartbeat), one_torch_thread():
            self._train(candidate, trial)

    def _train(self, candidate: Candidate, trial: optuna.Trial) -> None:
        self.trainings += 1
        trainer = StepTrainer(
            candidate.build(self.split, seed=self.seed),
            self.split.x_train,
            self.split.y_train,
            seed=self.seed,
            device=self.device,
        )
        for target in self.rungs:
            trainer.train(target - trainer.steps)
            terms = validation_terms(trainer, self.split, self.scale, self.device)
            score = float(terms.sum())
            trial.report(score, trainer.steps)
            record_validation(trial, terms, trainer.steps)
            last = target == self.rungs[-1]
            if not last and candidate.origin != "reference" and trial.should_prune():
                trial.set_user_attr(
                    TRIAL_PRUNED,
                    f"successive halving: validation score {score:.4g} after {trainer.steps} "
                    "steps is not in the best third of those that reached this rung",
                )
                self.steps += trainer.steps
                self.linked.tell(trial, state=optuna.trial.TrialState.PRUNED)
                return
        self.steps += trainer.steps
        trial.set_user_attr(TRIAL_TERMS, [float(v) for v in terms])
        self.linked.tell(trial, score)
        self.trained[candidate.key] = trainer


def _last_step(trial: optuna.trial.FrozenTrial) -> int:
    return max(trial.intermediate_values, default=0)


def _key(trial: optuna.trial.FrozenTrial) -> str | None:
    key = trial.user_attrs.get(TRIAL_CANDIDATE, {}).get("key")
    return None if key is None else str(key)


def decide_shared(
    study: optuna.Study,
    done: dict[str, optuna.trial.FrozenTrial],
    candidates: list[Candidate],
    split: Dataset,
    *,
    metric: str,
    evidence: dict[str, Any],
) -> Refinement:
    """The answer from the stored trials alone: every worker that calls it gets the same one."""
    finalists = []
    for candidate in candidates:
        trial = done[candidate.key]
        if trial.state != optuna.trial.TrialState.COMPLETE or TRIAL_TERMS not in trial.user_attrs:
            continue
        terms = np.asarray(trial.user_attrs[TRIAL_TERMS], dtype=np.float64)
        size = candidate_size(candidate, split)
        finalists.append(
            Finalist(candidate, float(terms.sum()), standard_error(terms), size, terms=terms)
        )
    cap = size_cap(study)
    return decide_answer(finalists, candidates, metric=metric, cap=cap, evidence=evidence)


def refine_shared(
    study: optuna.Study,
    linked: optuna.Study,
    data: Dataset,
    k: int,
    *,
    budget: int,
    epochs: int,
    seed: int = 0,
    device: str = "cpu",
    heartbeat: float = 5.0,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    waiting: Callable[[int, int], None] | None = None,
    poll: float = POLL_SECONDS,
) -> Refinement:
    """This worker's part of a shared refinement, and the answer every worker gives.

    ``linked`` is the linked study ``<name>:refine`` (``_refine.linked_study``) on the same
    storage, with heartbeats where it is an RDB storage; its pruner becomes Optuna's
    ``SuccessiveHalvingPruner`` on this worker's rungs. The worker that trained the answer
    keeps its network as ``model``; another one trains it again by the recipe (same rows, seed
    and steps) when :meth:`Refinement.complete_model` asks for it: the same network.
    """
    wait_for_budget(study, budget, grace=2 * heartbeat, poll=poll)
    start = time.perf_counter()
    candidates = fixed_candidates(study, linked, k)
    split = validation_split(data, fraction=validation_fraction, seed=seed)
    max_steps = epochs * math.ceil(len(split.y_train) / DEFAULT_BATCH_SIZE)
    worker = SharedRefinement(
        linked,
        split,
        candidates,
        max_steps=max_steps,
        seed=seed,
        device=device,
        grace=2 * heartbeat,
        heartbeat=heartbeat,
        waiting=waiting,
    )
    linked.pruner = optuna.pruners.SuccessiveHalvingPruner(
        min_resource=worker.rungs[0], reduction_factor=REDUCTION_FACTOR
    )
    done = worker.run(poll)
    result = decide_shared(
        study,
        done,
        candidates,
        split,
        metric="r2" if data.task == "regression" else "accuracy",
        evidence={
            "study_name": linked.study_name,
            "schedule": _schedule(worker.rungs, done),
            "trainings": worker.trainings,
            "steps": worker.steps,
            "epochs": worker.steps * DEFAULT_BATCH_SIZE / len(split.y_train),
            "time_budget": None,
            "seconds": time.perf_counter() - start,
        },
    )
    mine = worker.trained.get(result.answer.key)
    if mine is not None:  # this worker trained the answer: its network is at hand
        model = trained_model(mine, result.answer, data, split, how="refinement")
        result = dataclasses.replace(result, model=model, planned_steps=max_steps)
    else:  # another worker's: trained again by the recipe when asked for (--save-model)
        steps = int(done[result.answer.key].user_attrs[TRIAL_VALIDATION]["steps"])

        def again() -> TrainedModel:
            return train_answer(result.answer, data, steps=steps, seed=seed, device=device)

        result = dataclasses.replace(result, _complete=again, planned_steps=max_steps)
    if STUDY_REFINE not in study.user_attrs:
        study.set_user_attr(STUDY_REFINE, result.to_dict())
    return result


def _schedule(rungs: list[int], done: dict[str, optuna.trial.FrozenTrial]) -> dict[str, Any]:
    """The rungs and how many candidates reached each, in the single-worker record's shape."""
    reached = [
        {
            "steps": s,
            "candidates": sum(max(t.intermediate_values, default=0) >= s for t in done.values()),
        }
        for s in rungs
    ]
    return {"rungs": reached, "dropped": [], "stopped_by_time": False, "shared": True}
