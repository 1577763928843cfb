"""The shared refinement's rules, in one process (the three-worker runs are in test_workers)."""

import itertools
import socket
import subprocess
import sys
import threading

import optuna
import pytest
from near_studies import near_study

from near_optuna import load_dataset
from near_optuna.data._split import validation_split
from near_optuna.storage._keys import (
    STUDY_CANDIDATES,
    STUDY_REFINE,
    TRIAL_CANDIDATE,
    TRIAL_DUPLICATE,
    TRIAL_TERMS,
    TRIAL_WORKER,
)
from near_optuna.storage._workers import ask_as_worker
from near_optuna.study._candidates import REFERENCE, Candidate
from near_optuna.study._shared import (
    SharedRefinement,
    decide_shared,
    fixed_candidates,
    refine_shared,
    shared_rungs,
    wait_for_budget,
)

FAIL = optuna.trial.TrialState.FAIL
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@pytest.fixture(scope="module")
def wine():
    return load_dataset("wine")


def linked(storage: str) -> optuna.Study:
    return optuna.create_study(
        study_name="near:refine", storage=storage, direction="maximize", load_if_exists=True
    )


def worker(link: optuna.Study, data, candidates: list[Candidate]) -> SharedRefinement:
    split = validation_split(data, seed=0)
    return SharedRefinement(
        link, split, candidates, max_steps=20, seed=0, device="cpu", grace=60.0, heartbeat=1.0
    )


def test_shared_rungs_are_optunas_successive_halving_rungs():
    assert shared_rungs(900, 9) == [100, 300, 900]
    assert shared_rungs(1800, 7) == [200, 600, 1800]
    assert shared_rungs(30, 27) == [20, 30]
    assert shared_rungs(900, 1) == [900]
    for rungs in (shared_rungs(n, c) for n in (60, 999, 4000) for c in (2, 5, 12)):
        halvings = list(itertools.pairwise(rungs[:-1]))  # the last rung is max_steps
        assert all(b == 3 * a for a, b in halvings), rungs


def test_the_candidate_list_is_written_once_and_read_by_every_later_worker(tmp_path, wine):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = near_study(storage, wine, 6, max_width=32)
    first = fixed_candidates(study, linked(storage), 2)
    assert first[0] == REFERENCE
    assert len(linked(storage).user_attrs[STUDY_CANDIDATES]) == len(first)
    later = fixed_candidates(study, linked(storage), 1)  # another k: the stored list wins
    assert later == first


def test_a_later_claim_of_a_claimed_candidate_is_failed_before_training(tmp_path, wine):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    link = linked(storage)
    earlier = ask_as_worker(link, {TRIAL_CANDIDATE: {"key": REFERENCE.key}})
    shared = worker(link, wine, [REFERENCE])
    shared._claim_and_train(REFERENCE)
    mine = link.trials[-1]
    assert mine.state == FAIL
    assert mine.user_attrs[TRIAL_DUPLICATE] == earlier.number
    assert shared.trainings == 0
    assert not mine.intermediate_values


def test_a_dead_workers_claim_is_failed_and_its_candidate_trained_again(tmp_path, wine):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    link = linked(storage)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = ask_as_worker(link, {TRIAL_CANDIDATE: {"key": REFERENCE.key}})
    dead.set_user_attr(TRIAL_WORKER, f"{socket.gethostname()}:{gone.pid}")
    small = Candidate((8,), "relu", "default", "near", 1, 0)
    shared = worker(link, wine, [REFERENCE, small])
    done = shared.run(poll=0.01)
    assert set(done) == {REFERENCE.key, small.key}
    assert link.trials[dead.number].state == FAIL
    assert shared.trainings == 2
    finished = [t for t in link.trials if t.state in FINISHED]
    assert sorted(t.user_attrs[TRIAL_CANDIDATE]["key"] for t in finished) == sorted(done)


def test_every_worker_decides_the_same_answer_from_the_stored_trials(tmp_path, wine):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = near_study(storage, wine, 6, max_width=32)
    result = refine_shared(study, linked(storage), wine, 2, budget=6, epochs=3, poll=0.01)
    assert result.answer in result.candidates
    assert study.user_attrs[STUDY_REFINE]["answer"] == result.to_dict()["answer"]
    assert result.model is not None, "the worker that trained the answer keeps its network"
    assert result.schedule["shared"] is True
    again = refine_shared(study, linked(storage), wine, 2, budget=6, epochs=3, poll=0.01)
    assert again.trainings == 0, "a second worker finds every candidate finished"
    assert again.answer == result.answer
    assert again.verdict == result.verdict
    stored = {t.user_attrs[TRIAL_CANDIDATE]["key"]: t for t in linked(storage).trials}
    split = validation_split(wine, seed=0)
    decided = decide_shared(
        study, stored, list(result.candidates), split, metric="accuracy", evidence=EVIDENCE
    )
    assert decided.answer == result.answer
    complete = [t for t in stored.values() if t.state == optuna.trial.TrialState.COMPLETE]
    assert all(len(t.user_attrs[TRIAL_TERMS]) == len(split.y_test) for t in complete)
    assert again.model is None, "another worker trains it only when asked for"
    x_answer = result.model.predict(wine.x_train[:5])
    x_again = again.complete_model().predict(wine.x_train[:5])
    assert (x_answer == x_again).all(), "both workers hold the same network"


EVIDENCE = {
    "study_name": "near:refine",
    "schedule": {},
    "trainings": 0,
    "steps": 0,
    "epochs": 0.0,
    "time_budget": None,
    "seconds": 0.0,
}


def test_waiting_for_the_budget_ends_when_it_is_finished_or_nothing_runs():
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(value=1.0))
    running = study.ask()
    returns_soon(lambda: wait_for_budget(study, 1, grace=60.0, poll=0.01))  # 1 of 1 finished
    waiting = threading.Thread(target=wait_for_budget, args=(study, 5), kwargs=WAIT, daemon=True)
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive(), "short of 5 with a trial running: it waits"
    study.tell(running, 2.0)
    waiting.join(10.0)
    assert not waiting.is_alive(), "nothing runs any more: it returns"


WAIT = {"grace": 60.0, "poll": 0.01}


def returns_soon(call, seconds: float = 10.0) -> None:
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"did not return within {seconds} s"
