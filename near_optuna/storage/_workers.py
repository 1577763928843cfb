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
from typing import Any, TypeAlias

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


def ask_as_worker(study: optuna.Study, user_attrs: dict[str, Any] | None = None) -> optuna.Trial:
    """``study.ask()``, with ``near:worker`` (and ``user_attrs``) written with the trial.

    The trial and its attributes are one write to the storage (one transaction of an RDB
    storage, one record of a journal), so a worker killed at any instant leaves no RUNNING trial
    without its ``host:pid``: :func:`fail_dead_workers` can always tell whose trial it was.
    ``study.ask()`` followed by ``set_user_attr`` has a window between the two. Queued
    (WAITING) trials are not taken: this is for studies whose trials this package creates.

    Example:
        >>> study = optuna.create_study()
        >>> trial = ask_as_worker(study, {"near:candidate": "a"})
        >>> sorted(study.trials[0].user_attrs), trial.number
        (['near:candidate', 'near:worker'], 0)
    """
    attrs = {TRIAL_WORKER: worker_id()} | dict(user_attrs or {})
    template = optuna.trial.FrozenTrial(
        number=-1,
        state=RUNNING,
        value=None,
        datetime_start=datetime.now(),  # naive local time, as Optuna's own ask() stores it
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs=attrs,
        system_attrs={},
        intermediate_values={},
        trial_id=-1,
    )
    # Optuna's public API has no ask() with attributes; this is what ask() does, with a template.
    trial_id = study._storage.create_new_trial(study._study_id, template_trial=template)
    return optuna.Trial(study, trial_id)


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
        name, _, pid = str(trial.user_attrs.get(TRIAL_WORKER, "")).rpartition(":")
        if name != host or not pid.isdigit() or _alive(int(pid)):
            continue
        if _fail(study, trial.number):
            failed.append(trial.number)
    return failed


def fail_orphaned_trials(study: optuna.Study, *, older_than: float) -> list[int]:
    """Fail RUNNING trials whose worker died between creating them and its first heartbeat.

    Optuna's heartbeat cleanup skips trials that never sent a heartbeat, so a worker killed in
    that instant would leave its trial RUNNING forever. An orphan is older than
    ``older_than`` seconds, is not held by a live process of this host (its ``near:worker``),
    and never beat: it has no heartbeat row (RDB storages with a heartbeat) or, where the
    storage keeps no heartbeats (journal), no ``near:worker`` either.

    Why "no heartbeat row" is safe (optuna 5.0): ``optuna/study/_optimize.py:_run_trial``
    runs the objective inside ``get_heartbeat_thread(...)``, and that thread
    (``optuna/storages/_heartbeat.py:HeartbeatThread._record_heartbeat``) records the first
    heartbeat (``RDBStorage.record_heartbeat`` inserts the ``trial_heartbeats`` row) as soon as
    it starts and then every interval until the objective returns. The row comes a moment
    after the objective starts (present at its entry in 4 of 50 trials measured), and it keeps
    beating while a trial waits for its place under the budget (:func:`claim`), which has no
    parameters yet: parameters say nothing about whether a worker is alive.
    """
    now = datetime.now()  # trial times are naive local time, as Optuna reads them
    old = [
        trial
        for trial in study.get_trials(deepcopy=False, states=(RUNNING,))
        if trial.datetime_start is not None
        and (now - trial.datetime_start).total_seconds() > older_than
        and not held_by_live_local_worker(trial)
    ]
    beating = _trials_with_heartbeat(study, old) if old else set()
    failed = []
    for trial in old:
        if beating is None:
            orphan = TRIAL_WORKER not in trial.user_attrs
        else:
            orphan = trial._trial_id not in beating
        if orphan and _fail(study, trial.number):
            failed.append(trial.number)
    return failed


def held_by_live_local_worker(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether the trial's ``near:worker`` is a process of this host that is still alive."""
    name, _, pid = str(trial.user_attrs.get(TRIAL_WORKER, "")).rpartition(":")
    return name == socket.gethostname() and pid.isdigit() and _alive(int(pid))


def _trials_with_heartbeat(
    study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial]
) -> set[int] | None:
    """Ids of ``trials`` with a heartbeat row; ``None`` if the storage records no heartbeats.

    Optuna has no public reader of heartbeats, so this reads its ``trial_heartbeats`` table
    through its own model; ``study._storage`` wraps the ``RDBStorage`` in a cache.
    """
    storage = study._storage
    storage = getattr(storage, "_backend", storage)
    if not isinstance(storage, optuna.storages.RDBStorage) or storage.heartbeat_interval is None:
        return None
    import sqlalchemy
    from optuna.storages._rdb.models import TrialHeartbeatModel

    ids = [trial._trial_id for trial in trials]
    query = sqlalchemy.select(TrialHeartbeatModel.trial_id).where(
        TrialHeartbeatModel.trial_id.in_(ids)
    )
    with storage.engine.connect() as connection:
        return {int(row[0]) for row in connection.execute(query)}


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
    """Wait until trial ``number`` may run under ``budget``; ``False`` if it is surplus.

    The trial keeps its heartbeat while it waits: Optuna's heartbeat thread beats for as long
    as the objective runs, and this wait is part of it. ``cleanup`` (run between polls) fails
    abandoned trials ahead, whose places then come free.
    """
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


def optimize_worker(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], Result],
    *,
    n_trials: int | None,
    timeout: float | None,
    on_taken_over: Callable[[], object],
    **options: Any,
) -> None:
    """``study.optimize`` that survives a trial someone else failed while this worker ran it.

    Optuna gives up the whole ``optimize`` call then (:func:`is_taken_over`); this calls
    ``on_taken_over`` and goes on with the trials and time that are left. ``options`` go to
    ``study.optimize`` (``n_jobs``, ``callbacks``, ``catch``, ...).
    """
    started: list[int] = []

    def counted(trial: optuna.Trial) -> Result:
        started.append(trial.number)
        return objective(trial)

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if n_trials is None else n_trials - len(started)
        seconds = None if deadline is None else deadline - time.monotonic()
        if (left is not None and left <= 0) or (seconds is not None and seconds <= 0):
            return
        try:
            study.optimize(counted, n_trials=left, timeout=seconds, **options)
            return
        except Exception as err:
            if not is_taken_over(err):
                raise
            on_taken_over()


def is_taken_over(err: BaseException) -> bool:
    """Whether ``err`` is Optuna refusing to finish a trial that someone else already ended.

    ``study.optimize`` tells the objective's result once it returns; if another worker failed
    the trial meanwhile (its heartbeat came too late, say), Optuna raises
    ``ValueError("Cannot tell a FAIL trial.")`` (``optuna/study/_tell.py``) out of
    ``optimize``, or, when the objective had returned a value, an ``AssertionError("Should
    not reach.")`` from ``_run_trial``'s ``finally`` with that ``ValueError`` as its context.
    The worker itself is fine and may go on with its next trial.

    Example:
        >>> is_taken_over(ValueError("Cannot tell a FAIL trial.")), is_taken_over(ValueError())
        (True, False)
    """
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ValueError) and str(seen).startswith("Cannot tell a "):
            return True
        seen = seen.__context__
    return False
