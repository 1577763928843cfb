"""Successive halving in optimizer steps, inside a time budget.

Every candidate trains the same number of optimizer steps in a round (a *rung*); after each
rung all of them are scored on the validation rows, the best third goes on to a rung three
times as long, and the rest are pruned. Rungs are synchronous: a candidate is compared with all
others at the same step count, whatever order they trained in. The reference candidate is
never pruned: it is the yardstick of the final comparison.

Budgets are in optimizer steps, not epochs, so that a large table costs what its steps cost,
not a multiple of its rows: the first rungs see a random part of the rows (multi-fidelity in
rows and steps at once). With a time budget each rung gets an equal share of the time left;
a rung that would overrun its share is shortened, and the slowest candidates (more than eight
times the median step time) are dropped first when even the first rung cannot fit.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import optuna

from near_optuna.data._datasets import Dataset
from near_optuna.measure._steps import StepTrainer, one_torch_thread
from near_optuna.measure._train import held_out_terms, target_scale
from near_optuna.numerics._checks import plain_json
from near_optuna.numerics._noise import Terms, standard_error
from near_optuna.storage._keys import (
    TRIAL_PRUNED,
    TRIAL_VALIDATION,
)
from near_optuna.storage._workers import ask_as_worker
from near_optuna.study._candidates import Candidate

REDUCTION_FACTOR = 3
MIN_RUNG_STEPS = 20
"""No rung is shorter than this many steps unless the time budget says so."""
PROBE_STEPS = 5
"""Steps every candidate trains first, to time it before the first rung is planned."""
SLOW_FACTOR = 8.0
"""A candidate whose step takes more than this times the median can be dropped for time.

Wide candidates are slow and often the best (the x4 escalations on mnist1d, 4-6 times the
median step time, won there): only a candidate far slower than the rest is dropped."""


@dataclass
class Run:
    """One candidate in training: its trial, trainer and latest validation terms."""

    candidate: Candidate
    trial: optuna.Trial
    trainer: StepTrainer
    terms: Terms | None = None

    @property
    def score(self) -> float:
        """Validation score after the last evaluation (``-inf`` before one)."""
        return float(self.terms.sum()) if self.terms is not None else -math.inf


@dataclass
class Schedule:
    """What the halving did: rungs (cumulative steps, candidates in it) and drops."""

    rungs: list[dict[str, int]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    stopped_by_time: bool = False

    def to_dict(self) -> dict[str, object]:
        """Plain JSON types."""
        return dict(plain_json(asdict(self)))


def rung_steps(max_steps: int, candidates: int, *, reduction: int = REDUCTION_FACTOR) -> list[int]:
    """Cumulative step targets of the rungs: the last is ``max_steps``, each a third of the next.

    As many rungs as halvings take ``candidates`` to one, the first at least
    :data:`MIN_RUNG_STEPS` (or ``max_steps`` if smaller); rungs that this floor makes equal
    are one rung.

    Example:
        >>> rung_steps(900, 9), rung_steps(900, 1), rung_steps(30, 27)
        ([100, 300, 900], [900], [20, 30])
    """
    halvings = math.ceil(math.log(candidates) / math.log(reduction)) if candidates > 1 else 0
    floor = min(MIN_RUNG_STEPS, max_steps)
    targets = (
        max(floor, round(max_steps / reduction ** (halvings - r))) for r in range(halvings + 1)
    )
    return sorted(set(targets))


def steps_that_fit(target: int, runs: list[Run], seconds: float) -> int:
    """The cumulative step target that ``runs`` reach within ``seconds`` (at most ``target``).

    Each run's measured time per step prices its remaining steps; all runs stop at the same
    step count.
    """
    done = max(r.trainer.steps for r in runs)
    rate = sum(r.trainer.seconds_per_step for r in runs)
    if math.isinf(seconds) or rate <= 0 or not math.isfinite(rate):
        return target
    return max(done, min(target, done + int(seconds / rate)))


def validation_terms(
    trainer: StepTrainer, data: Dataset, scale: tuple[float, float], device: str
) -> Terms:
    """Per-row validation terms of ``trainer``'s model on ``data``'s held-out rows.

    A diverged model gets terms that sum to below any other model's score (and below 0).
    """
    terms = held_out_terms(trainer.model, data.x_test, data.y_test, scale=scale, device=device)
    if trainer.diverged:  # a diverged model keeps no score above any other's
        low = min(float(terms.sum()), 0.0) - 1.0
        terms = np.full_like(terms, low / len(terms))
    return terms


def record_validation(trial: optuna.Trial, terms: Terms | None, steps: int) -> None:
    """Store the trial's latest validation score, its standard error and steps."""
    score = float(terms.sum()) if terms is not None else -math.inf
    error = standard_error(terms) if terms is not None else math.inf
    record = {"score": score, "se": error, "steps": steps}
    trial.set_user_attr(TRIAL_VALIDATION, plain_json(record))


class Halving:
    """Train ``candidates`` in synchronous rungs of successive halving on ``data``.

    Args:
        linked: The study that holds one trial per candidate.
        data: Training rows (``x_train``) and validation rows (``x_test``).
        max_steps: Steps of the last rung.
        deadline: ``time.perf_counter()`` value by which training must stop (``None``: none).
        seed: Seed of the initialisations and mini-batch orders.
        device: Where to train.
        progress: Called as ``progress(done, total)`` after each rung.
    """

    def __init__(
        self,
        linked: optuna.Study,
        data: Dataset,
        *,
        max_steps: int,
        deadline: float | None,
        seed: int,
        device: str,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.linked, self.data, self.max_steps = linked, data, max_steps
        self.deadline, self.seed, self.device, self.progress = deadline, seed, device, progress
        self.scale = target_scale(data.y_train)
        self.schedule = Schedule()

    def _left(self) -> float:
        return math.inf if self.deadline is None else self.deadline - time.perf_counter()

    def start(self, candidate: Candidate) -> Run:
        """Open the candidate's trial, created with its worker and candidate in one write."""
        trial = ask_as_worker(self.linked, candidate.trial_attrs())
        model = candidate.build(self.data, seed=self.seed)
        trainer = StepTrainer(
            model, self.data.x_train, self.data.y_train, seed=self.seed, device=self.device
        )
        return Run(candidate, trial, trainer)

    def _evaluate(self, run: Run) -> None:
        run.terms = validation_terms(run.trainer, self.data, self.scale, self.device)
        run.trial.report(run.score, run.trainer.steps)

    def _prune(self, run: Run, reason: str) -> None:
        run.trial.set_user_attr(TRIAL_PRUNED, reason)
        self._record(run)
        self.linked.tell(run.trial, state=optuna.trial.TrialState.PRUNED)

    def _record(self, run: Run) -> None:
        record_validation(run.trial, run.terms, run.trainer.steps)

    def _drop_slow(self, runs: list[Run], target: int, share: float) -> list[Run]:
        """Drop the slowest candidates (never the reference) while the first rung overruns."""
        while steps_that_fit(target, runs, share) < target:
            median = statistics.median(r.trainer.seconds_per_step for r in runs)
            slow = [
                r
                for r in runs
                if r.candidate.origin != "reference"
                and r.trainer.seconds_per_step > SLOW_FACTOR * median
            ]
            if not slow:
                break
            worst = max(slow, key=lambda r: r.trainer.seconds_per_step)
            runs.remove(worst)
            self.schedule.dropped.append(worst.candidate.key)
            self._evaluate(worst)
            per_step = 1000 * worst.trainer.seconds_per_step
            self._prune(worst, f"too slow for the time budget ({per_step:.1f} ms per step)")
        return runs

    def run(self, candidates: list[Candidate]) -> list[Run]:
        """Train through the rungs; returns the runs of the last rung (their trials stay open)."""
        with one_torch_thread():
            return self._rungs(candidates)

    def _rungs(self, candidates: list[Candidate]) -> list[Run]:
        others = sum(c.origin != "reference" for c in candidates)
        targets = rung_steps(self.max_steps, max(others, 1))
        runs = []
        for candidate in candidates:
            run = self.start(candidate)
            run.trainer.train(min(PROBE_STEPS, targets[0]))
            runs.append(run)
        for rung, target in enumerate(targets):
            share = self._left() / (len(targets) - rung)
            if rung == 0:
                runs = self._drop_slow(runs, target, share)
            reached = steps_that_fit(target, runs, share)
            if rung > 0 and reached <= self.schedule.rungs[-1]["steps"]:  # no time for more
                self.schedule.stopped_by_time = True
                return runs
            for run in runs:
                run.trainer.train(reached - run.trainer.steps)
                self._evaluate(run)
            self.schedule.rungs.append({"steps": reached, "candidates": len(runs)})
            if self.progress is not None:
                self.progress(rung + 1, len(targets))
            if rung == len(targets) - 1 or self._left() <= 0:
                self.schedule.stopped_by_time = rung < len(targets) - 1
                return runs
            runs = self._halve(runs, rung)
        return runs

    def _halve(self, runs: list[Run], rung: int) -> list[Run]:
        """Keep the best third of the candidates (and the reference); prune the rest."""
        ranked = sorted(
            (r for r in runs if r.candidate.origin != "reference"),
            key=lambda r: -r.score,
        )
        keep = {id(r) for r in ranked[: math.ceil(len(ranked) / REDUCTION_FACTOR)]}
        kept = []
        for run in runs:
            if id(run) in keep or run.candidate.origin == "reference":
                kept.append(run)
            else:
                self._prune(
                    run,
                    f"successive halving: validation score {run.score:.4g} after "
                    f"{run.trainer.steps} steps is not in the best third of rung {rung}",
                )
        return kept

    def finish(self, runs: list[Run]) -> None:
        """Complete the last rung's trials with their validation scores."""
        for run in runs:
            self._record(run)
            self.linked.tell(run.trial, run.score)
