"""Several workers on one study: an exact trial budget, and trials of dead workers failed.

Optuna numbers trials atomically in the storage, so "the trials before mine" is well defined
for every worker. A trial runs only if fewer than ``budget`` earlier trials are finished
(complete or pruned) or still running; if ``budget`` earlier trials are already finished, it is
surplus (marked ``near:surplus`` and failed, and the worker stops); otherwise it waits, because a
running trial ahead of it may still die and leave its place free. At most ``budget`` trials
ever run to completion, and a killed worker's place is taken by another.

Journal storage has no heartbeat, so each trial records its worker (``host:pid``); a worker on
the same host fails the RUNNING trials of processes that no longer exist.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeAlias

import optuna

from near_optuna.storage._keys import TRIAL_SURPLUS, TRIAL_WORKER

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
RUNNING = optuna.trial.TrialState.RUNNING
POLL_SECONDS = 0.5
Result: TypeAlias = float | Sequence[float]


class BudgetReached(Exception):
    """Raised inside a surplus trial; the study's ``catch`` turns it into a FAIL state."""


def worker_id() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # a killed process that its parent has not reaped yet is a zombie: dead for us
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def fail_dead_workers(study: optuna.Study) -> list[int]:
    """Fail RUNNING trials whose worker ran on this host and no longer exists."""
    host, failed = socket.gethostname(), []
    for trial in study.get_trials(deepcopy=False, states=(RUNNING,)):
        worker = str(trial.user_attrs.get(TRIAL_WORKER, ""))
        name, _, pid = worker.rpartition(":")
        if name != host or not pid.isdigit() or _alive(int(pid)):
            continue
        if _fail(study, trial.number):
            failed.append(trial.number)
    return failed


def fail_orphaned_trials(study: optuna.Study, *, older_than: float) -> list[int]:
    """Fail RUNNING trials whose worker died between creating them and its first heartbeat.

    Optuna's heartbeat cleanup skips trials that never sent a heartbeat, so a worker killed in
    that instant would leave its trial RUNNING forever. Such a trial has no parameters (the
    objective suggests them first thing) and is older than the heartbeat grace period.
    """
    failed = []
    now = datetime.now()  # trial times are naive local time, as Optuna reads them
    for trial in study.get_trials(deepcopy=False, states=(RUNNING,)):
        start = trial.datetime_start
        if trial.params or start is None or (now - start).total_seconds() <= older_than:
            continue
        if _fail(study, trial.number):
            failed.append(trial.number)
    return failed


def fail_abandoned_trials(study: optuna.Study, *, grace: float) -> list[int]:
    """Fail every RUNNING trial whose worker is gone; return their numbers.

    Three checks, for three ways a worker dies: Optuna's heartbeat (RDB storages, any host),
    :func:`fail_dead_workers` (processes of this host, any storage), and
    :func:`fail_orphaned_trials` (trials that never sent a heartbeat, older than ``grace``).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    return fail_dead_workers(study) + fail_orphaned_trials(study, older_than=grace)


def _fail(study: optuna.Study, number: int) -> bool:
    try:
        study.tell(number, state=optuna.trial.TrialState.FAIL)
    except (RuntimeError, ValueError):  # finished by someone else meanwhile
        return False
    return True


def claim(
    study: optuna.Study, number: int, budget: int, cleanup: Callable[[], object] | None = None
) -> bool:
    """Wait until trial ``number`` may run under ``budget``; ``False`` if it is surplus."""
    while True:
        ahead = [t for t in study.get_trials(deepcopy=False) if t.number < number]
        done = sum(t.state in FINISHED for t in ahead)
        if done >= budget:
            return False
        if done + sum(t.state == RUNNING for t in ahead) < budget:
            return True
        time.sleep(POLL_SECONDS)
        if cleanup is not None:
            cleanup()


def budgeted(
    objective: Callable[[optuna.Trial], Result],
    budget: int | None,
    cleanup: Callable[[], object] | None = None,
) -> Callable[[optuna.Trial], Result]:
    """Wrap ``objective``: record the worker, and run only within the study's ``budget``."""

    def run(trial: optuna.Trial) -> Result:
        trial.set_user_attr(TRIAL_WORKER, worker_id())
        if budget is not None and not claim(trial.study, trial.number, budget, cleanup):
            trial.set_user_attr(TRIAL_SURPLUS, True)
            trial.study.stop()
            raise BudgetReached(f"the study's budget of {budget} trials is reached")
        return objective(trial)

    return run
