import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from pg_server import PASSWORD_USER, postgres_server

from near_optuna.storage._keys import TRIAL_WORKER
from near_optuna.storage._open import open_storage
from near_optuna.storage._workers import claim, fail_dead_workers

COMPLETE = optuna.trial.TrialState.COMPLETE
FINISHED = (COMPLETE, optuna.trial.TrialState.PRUNED)
RUNNING = optuna.trial.TrialState.RUNNING
BUDGET = 12


def worker(storage: str, cwd: Path) -> subprocess.Popen[bytes]:
    args = [
        "--storage",
        storage,
        "--max-total-trials",
        str(BUDGET),
        "--dataset",
        "wine",
        "--max-width",
        "64",
        "--repetitions",
        "1",
        "--heartbeat",
        "1",
        "-q",
    ]
    env = {k: v for k, v in os.environ.items() if k != "OPTUNA_STORAGE"}
    return subprocess.Popen(
        [sys.executable, "-m", "near_optuna.tune", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def load(storage: optuna.storages.BaseStorage) -> optuna.Study:
    return optuna.load_study(study_name="near_optuna", storage=storage)


def close(storage: optuna.storages.BaseStorage) -> None:
    engine = getattr(storage, "engine", None)
    if engine is not None:  # RDB storages keep a connection pool
        engine.dispose()


@pytest.fixture(scope="module")
def postgres() -> Iterator[tuple[str, int]]:
    with postgres_server() as server:
        yield server


@pytest.mark.parametrize("kind", ["journal", "sqlite", "postgres"])
def test_three_workers_one_killed_finish_the_exact_budget(tmp_path, kind, request):
    storages = {
        "journal": f"journal:///{tmp_path / 'study.log'}",
        "sqlite": f"sqlite:///{tmp_path / 'study.db'}",
    }
    storage = request.getfixturevalue("postgres")[0] if kind == "postgres" else storages[kind]
    procs = [worker(storage, tmp_path) for _ in range(3)]
    store = open_storage(storage)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            time.sleep(0.3)
            try:
                finished = [t for t in load(store).trials if t.state in FINISHED]
            except (KeyError, ValueError):
                continue  # the study is not created yet
            if len(finished) >= 2:
                break
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait()  # reaped, as a shell would
        for proc in procs[1:]:
            assert proc.wait(timeout=300) == 0, proc.stderr.read().decode() if proc.stderr else ""
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stderr:
                proc.stderr.close()
    trials = load(store).trials
    close(store)
    finished = [t for t in trials if t.state in FINISHED]
    assert len(finished) == BUDGET, [(t.number, t.state.name) for t in trials]
    assert not [t for t in trials if t.state == RUNNING]
    assert len({t.number for t in trials}) == len(trials), "no duplicated trial numbers"
    assert all("near:layers" in t.user_attrs for t in trials if t.state == COMPLETE)
    # A FAIL is a surplus claim beyond the budget, or the one trial the killed worker was running.
    killed = f"{socket.gethostname()}:{procs[0].pid}"
    fails = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    surplus = [t for t in fails if t.user_attrs.get("near:surplus") is True]
    others = [t for t in fails if t not in surplus]
    assert len(others) <= 1, [(t.number, t.user_attrs) for t in others]
    assert all(t.user_attrs.get(TRIAL_WORKER) in (killed, None) for t in others), others
    assert all(t.user_attrs.get(TRIAL_WORKER) != killed for t in surplus)


def test_claim_counts_running_trials_ahead_and_waits_for_them():
    study = optuna.create_study()
    first, second = study.ask(), study.ask()
    assert claim(study, first.number, budget=1)
    # The first trial still runs: the second may neither run nor give up yet. Once the
    # first finishes, the budget is spent and the second is surplus.
    study.tell(first, 1.0)
    assert not claim(study, second.number, budget=1)
    third = study.ask()
    assert claim(study, third.number, budget=3)


def test_a_dead_trial_ahead_frees_its_place(monkeypatch):
    import near_optuna.storage._workers as workers

    monkeypatch.setattr(workers, "POLL_SECONDS", 0.01)
    study = optuna.create_study()
    dead, mine = study.ask(), study.ask()
    dead.set_user_attr(TRIAL_WORKER, "nohost:1")
    calls = []

    def cleanup() -> None:
        calls.append(1)
        study.tell(dead.number, state=optuna.trial.TrialState.FAIL)

    assert claim(study, mine.number, budget=1, cleanup=cleanup)
    assert calls == [1]


def test_an_unreaped_killed_worker_counts_as_dead():
    from near_optuna.storage._workers import _alive

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert _alive(child.pid)
        child.send_signal(signal.SIGKILL)
        time.sleep(0.5)  # now a zombie: not reaped yet
        assert not _alive(child.pid)
    finally:
        child.wait()


def test_trials_of_dead_local_processes_are_failed():
    import socket

    study = optuna.create_study()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    orphan, alive = study.ask(), study.ask()
    orphan.set_user_attr(TRIAL_WORKER, f"{socket.gethostname()}:{gone.pid}")
    alive.set_user_attr(TRIAL_WORKER, f"{socket.gethostname()}:{os.getpid()}")
    assert fail_dead_workers(study) == [orphan.number]
    assert study.trials[alive.number].state == RUNNING


def test_journal_url_errors(tmp_path):
    from near_optuna.storage._open import StorageError

    with pytest.raises(StorageError, match="names no file"):
        open_storage("journal:///")
    (tmp_path / "dir").mkdir()
    with pytest.raises(StorageError, match="could not be opened"):
        open_storage(f"journal:///{tmp_path / 'dir'}")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://postgres@127.0.0.1:{closed}/near", "could not be opened"),
        (
            f"postgresql://{PASSWORD_USER}:wrong@127.0.0.1:{{port}}/near",
            "password authentication failed",
        ),
        (
            "postgresql+pg8000://postgres@127.0.0.1:{port}/near",
            "needs the Python package 'pg8000', which is not installed",
        ),
    ],
    ids=["unreachable", "wrong-password", "missing-driver"],
)
def test_database_problems_exit_2_with_one_line(tmp_path, postgres, url, message):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # bound, never listening: connection refused
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "near_optuna.tune",
                "--storage",
                url.format(port=postgres[1], closed=closed),
                "-q",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "wrong" not in lines[0], "the password is not shown"
