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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeAlias

import optuna

ATTR_WORKER = "near:worker"
ATTR_SURPLUS = "near:surplus"
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
        worker = str(trial.user_attrs.get(ATTR_WORKER, ""))
        name, _, pid = worker.rpartition(":")
        if name != host or not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        except (RuntimeError, ValueError):  # finished meanwhile
            continue
        failed.append(trial.number)
    return failed


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
        trial.set_user_attr(ATTR_WORKER, worker_id())
        if budget is not None and not claim(trial.study, trial.number, budget, cleanup):
            trial.set_user_attr(ATTR_SURPLUS, True)
            trial.study.stop()
            raise BudgetReached(f"the study's budget of {budget} trials is reached")
        return objective(trial)

    return run
