import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from pg_server import PASSWORD_USER, postgres_server

from near_optuna.storage._keys import TRIAL_WORKER
from near_optuna.storage._open import open_storage
from near_optuna.storage._workers import claim, fail_dead_workers, fail_orphaned_trials

COMPLETE = optuna.trial.TrialState.COMPLETE
FAIL = optuna.trial.TrialState.FAIL
FINISHED = (COMPLETE, optuna.trial.TrialState.PRUNED)
RUNNING = optuna.trial.TrialState.RUNNING
BUDGET = 12
KINDS = ["journal", "sqlite", "postgres"]
# One configuration only: every trial scores the same network, so every score must be equal
# whichever worker computed it (the study's scoring seed, not the worker's own --seed).
ONE_CONFIG = [
    *("--dataset", "wine", "--max-depth", "1", "--min-width", "16", "--max-width", "16"),
    *("--activations", "relu", "--inits", "kaiming_normal", "--no-prune-oversized"),
    *("--repetitions", "1", "--heartbeat", "1", "--refine", "0", "-q"),
]
# Started in step: each process imports everything first, waits at a start line (a file that
# the test writes once all are ready), then runs the real entry point exactly as
# `python -m near_optuna.tune ARGS` does (runpy). Plain Popen calls would spread the starts
# over the seconds that importing torch takes, and the workers would rarely collide.
IN_STEP = """
import os, pathlib, runpy, sys, time
import importlib.util, near_optuna.tune._main, sqlalchemy.dialects.sqlite
from near_optuna.data._datasets import load_dataset
load_dataset("wine")  # warm: what the workers do before they open the storage takes no time
if importlib.util.find_spec("psycopg"):
    import psycopg
line = pathlib.Path(sys.argv[1])
(line / f"ready-{os.getpid()}").touch()
while not (line / "go").exists():
    time.sleep(0.005)
start = float((line / "go").read_text())
while time.time() < start:
    pass
sys.argv = ["near_optuna.tune", *sys.argv[2:]]
runpy.run_module("near_optuna.tune", run_name="__main__", alter_sys=True)
"""


@pytest.fixture
def cpu_burner() -> Iterator[None]:
    """A process that keeps one core busy beside the test, as on a loaded CI machine."""
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        burner.kill()
        burner.wait()


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "OPTUNA_STORAGE"}


def start_in_step(commands: list[list[str]], cwd: Path) -> list[subprocess.Popen[bytes]]:
    """Start one `python -m near_optuna.tune` per argument list, all at the same instant."""
    line = cwd / "start-line"
    line.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", IN_STEP, str(line), *args],
            cwd=cwd,
            env=clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for args in commands
    ]
    deadline = time.time() + 180
    while len(list(line.glob("ready-*"))) < len(procs) and time.time() < deadline:
        if any(proc.poll() is not None for proc in procs):
            break  # one died while importing: its exit code tells the test
        time.sleep(0.05)
    (line / "go.tmp").write_text(str(time.time() + 0.5))
    (line / "go.tmp").rename(line / "go")
    return procs


def finish(procs: list[subprocess.Popen[bytes]], timeout: float = 300) -> list[tuple[int, str]]:
    """Exit codes and stderr of ``procs``; any still running at ``timeout`` is killed."""
    results = []
    deadline = time.time() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        results.append((proc.returncode, err))
    return results


def storage_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "postgres":
        url: str = request.getfixturevalue("empty_postgres")
        return url
    if kind == "journal":
        return f"journal:///{tmp_path / 'study.log'}"
    return f"sqlite:///{tmp_path / 'study.db'}"


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
        "--refine",
        "0",
        "-q",
    ]
    return subprocess.Popen(
        [sys.executable, "-m", "near_optuna.tune", *args],
        cwd=cwd,
        env=clean_env(),
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


@pytest.fixture
def empty_postgres(postgres) -> Iterator[str]:
    """A new, empty database on the throwaway server, dropped afterwards."""
    from pg_server import create_database, drop_database

    name = create_database(postgres[1])
    try:
        yield postgres[0].rsplit("/", 1)[0] + f"/{name}"
    finally:
        drop_database(postgres[1], name)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.usefixtures("cpu_burner")
@pytest.mark.slow
def test_three_workers_one_killed_finish_the_exact_budget(tmp_path, kind, request):
    storage = storage_url(kind, tmp_path, request)
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


KILLED_AFTER_ASK = """
import os, signal, sys
import optuna
from near_optuna.storage._open import open_storage
from near_optuna.storage._workers import ask_as_worker
study = optuna.load_study(study_name="s", storage=open_storage(sys.argv[1]))
ask_as_worker(study, {"near:candidate": {"key": "k"}})
os.kill(os.getpid(), signal.SIGKILL)  # the instant after ask(), before any other write
"""


@pytest.mark.parametrize("scheme", ["sqlite:///{}/s.db", "journal:///{}/s.log"])
def test_a_worker_killed_right_after_ask_leaves_a_trial_that_names_it(tmp_path, scheme):
    url = scheme.format(tmp_path)
    study = optuna.create_study(study_name="s", storage=open_storage(url))
    child = subprocess.Popen([sys.executable, "-c", KILLED_AFTER_ASK, url])
    assert child.wait(timeout=120) == -signal.SIGKILL
    (trial,) = study.get_trials(deepcopy=False)
    assert trial.state == RUNNING
    assert trial.user_attrs[TRIAL_WORKER] == f"{socket.gethostname()}:{child.pid}"
    assert trial.user_attrs["near:candidate"] == {"key": "k"}
    assert fail_dead_workers(study) == [trial.number]
    assert study.get_trials(deepcopy=False, states=(RUNNING,)) == []


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
@pytest.mark.slow
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


def final_trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    store = open_storage(storage)
    try:
        return load(store).trials
    finally:
        close(store)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.usefixtures("cpu_burner")
def test_six_workers_started_at_once_on_a_new_storage_all_start(tmp_path, kind, request):
    storage = storage_url(kind, tmp_path, request)
    budget = ["--storage", storage, "--max-total-trials", str(BUDGET), *ONE_CONFIG]
    procs = start_in_step([[*budget, "--seed", str(seed)] for seed in range(6)], tmp_path)
    results = finish(procs)
    assert [code for code, _ in results] == [0] * 6, results
    assert not [err for _, err in results if "warning" in err], results
    store = open_storage(storage)
    study = load(store)
    trials, settings = study.trials, study.user_attrs["near:settings"]
    close(store)
    states = Counter(t.state.name for t in trials)
    assert sum(t.state in FINISHED for t in trials) == BUDGET, states
    assert states["RUNNING"] == 0, states
    assert len({t.number for t in trials}) == len(trials), "no duplicated trial numbers"
    assert all(t.user_attrs.get("near:surplus") for t in trials if t.state == FAIL), states
    # Six --seed values, one scoring seed: the creator's, used by every worker.
    assert settings["seed"] in range(6)
    assert len({t.value for t in trials if t.state == COMPLETE}) == 1, "scored alike"


# One slow configuration: the first trial runs for many heartbeats while the other worker's
# trial waits for its place under a budget of 1, with no parameters yet.
SLOW = [
    *("--dataset", "digits", "--min-depth", "3", "--max-depth", "3"),
    *("--min-width", "1024", "--max-width", "1024", "--activations", "relu"),
    *("--inits", "default", "--no-prune-oversized", "--no-guard", "--repetitions", "6"),
    *("--heartbeat", "1", "--max-total-trials", "1", "--refine", "0", "-q"),
]


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.usefixtures("cpu_burner")
def test_a_worker_waiting_for_its_place_is_not_failed_as_an_orphan(tmp_path, kind, request):
    storage = storage_url(kind, tmp_path, request)
    procs = start_in_step([["--storage", storage, *SLOW, "--seed", s] for s in "01"], tmp_path)
    results = finish(procs)
    assert [code for code, _ in results] == [0, 0], results
    assert not [err for _, err in results if "warning" in err], results
    trials = final_trials(storage)
    assert sum(t.state in FINISHED for t in trials) == 1, [t.state for t in trials]
    assert not [t for t in trials if t.state == RUNNING]
    fails = [t for t in trials if t.state == FAIL]
    assert len(fails) == 1, [(t.number, t.user_attrs) for t in fails]
    waiting = fails[0]
    assert waiting.user_attrs.get("near:surplus") is True, waiting.user_attrs
    assert waiting.datetime_complete is not None
    assert waiting.datetime_start is not None
    waited = (waiting.datetime_complete - waiting.datetime_start).total_seconds()
    assert waited > 2.5, f"the second trial waited only {waited:.1f} s: no race was tested"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "near_optuna.tune", *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_a_later_seed_seeds_only_that_workers_sampler(tmp_path):
    first, fresh = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    for storage, seed in ((first, "0"), (first, "7"), (fresh, "7")):
        result = run_cli(
            "--storage", storage, *ONE_CONFIG, "--n-trials", "2", "--seed", seed, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
    values = {db: [t.value for t in final_trials(db)] for db in (first, fresh)}
    assert len(values[first]) == 2, "one configuration: each run scores it once (a grid)"
    assert len(set(values[first])) == 1, "the worker with --seed 7 scored with seed 0"
    assert values[fresh][0] != values[first][0], "seed 7 scores differently: the test bites"
    settings = optuna.load_study(study_name="near_optuna", storage=first).user_attrs
    assert settings["near:settings"]["seed"] == 0


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.slow
def test_a_file_that_is_not_a_journal_is_refused_and_left_alone(tmp_path):
    csv = tmp_path / "some.csv"
    csv.write_text("a,b,y\n1,2,0\n")
    database = tmp_path / "s.db"
    optuna.create_study(storage=f"sqlite:///{database}")
    for path, words in (
        (csv, "a text file whose first line is 'a,b,y'"),
        (database, "an SQLite database (open it as sqlite:///"),
    ):
        before = path.read_bytes()
        line = one_line_error(run_cli("--storage", f"journal:///{path.name}", "-q", cwd=tmp_path))
        assert words in line, line
        assert "not an Optuna journal file" in line, line
        assert path.read_bytes() == before


@pytest.mark.slow
def test_mysql_without_its_driver_names_the_package_to_install(tmp_path):
    line = one_line_error(
        run_cli("--storage", "mysql://ann:secret@127.0.0.1/db", "-q", cwd=tmp_path)
    )
    assert "pip install pymysql" in line, line
    assert "mysql+pymysql://" in line, line
    assert "secret" not in line


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used")
def test_a_waiting_trial_that_beats_is_no_orphan(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat=1)
    study = optuna.create_study(storage=storage)
    waiting, orphan = study.ask(), study.ask()  # no parameters, both
    storage.record_heartbeat(waiting._trial_id)
    time.sleep(1.2)
    assert fail_orphaned_trials(study, older_than=1.0) == [orphan.number]
    assert study.trials[waiting.number].state == RUNNING
    close(storage)


def test_a_trial_of_a_live_local_worker_is_no_orphan(tmp_path):
    study = optuna.create_study(storage=open_storage(f"journal:///{tmp_path / 's.log'}"))
    mine, orphan = study.ask(), study.ask()
    mine.set_user_attr(TRIAL_WORKER, f"{socket.gethostname()}:{os.getpid()}")
    time.sleep(1.2)
    assert fail_orphaned_trials(study, older_than=1.0) == [orphan.number]
    assert study.trials[mine.number].state == RUNNING


def test_a_worker_whose_trial_another_one_failed_goes_on(tmp_path, capsys):
    import argparse

    from near_optuna.tune._run import Prepared, optimise

    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=open_storage(url, heartbeat=1))
    other = optuna.load_study(study_name="s", storage=url)

    def objective(trial: optuna.Trial) -> float:
        if trial.number in (1, 2):  # another worker fails this trial while it runs
            other.tell(trial.number, state=FAIL)
        if trial.number == 2:  # ... and this one writes to it afterwards
            trial.set_user_attr("near:score", 1.0)
        return 1.0

    args = argparse.Namespace(
        n_trials=5, timeout=None, max_total_trials=None, heartbeat=1, quiet=True, n_jobs=1
    )
    optimise(args, Prepared(None, objective, study, url, 0))  # type: ignore[arg-type]
    assert [t.state for t in study.trials] == [COMPLETE, FAIL, FAIL, COMPLETE, COMPLETE]
    assert "marked a trial of this worker FAIL" in capsys.readouterr().err


# A shared refinement: 9 NEAR trials, then 7 candidates (2 NEAR picks, each x2 and x4, the
# reference) of up to 30 epochs on digits, a second or more each: a kill lands mid-training.
SHARED = [
    *("--dataset", "digits", "--max-width", "64", "--repetitions", "1", "--heartbeat", "1"),
    *("--max-total-trials", "9", "--refine", "2", "--refine-epochs", "30", "-q"),
]


def linked_trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    store = open_storage(storage)
    try:
        return optuna.load_study(study_name="near_optuna:refine", storage=store).trials
    finally:
        close(store)


def kill_one_mid_training(storage: str, procs: list[subprocess.Popen[bytes]]) -> int:
    """SIGKILL the worker of the first candidate seen training; its pid (0 if none was seen)."""
    pids = {proc.pid: proc for proc in procs}
    deadline = time.time() + 240
    while time.time() < deadline and all(proc.poll() is None for proc in procs):
        time.sleep(0.2)
        try:
            running = [t for t in linked_trials(storage) if t.state == RUNNING]
        except KeyError:
            continue  # no refinement yet
        for trial in running:
            pid = int(str(trial.user_attrs.get(TRIAL_WORKER, ":0")).rpartition(":")[2])
            if pid in pids:
                pids[pid].send_signal(signal.SIGKILL)
                pids[pid].wait()
                return pid
    return 0


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.usefixtures("cpu_burner")
def test_three_workers_share_the_refinement_and_give_one_answer(tmp_path, kind, request):
    storage = storage_url(kind, tmp_path, request)
    commands = [
        [
            *("--storage", storage, *SHARED, "--seed", str(s)),
            *("--json", str(tmp_path / f"{s}.json"), "--save-model", str(tmp_path / f"{s}.npz")),
        ]
        for s in range(3)
    ]
    procs = start_in_step(commands, tmp_path)
    killed = kill_one_mid_training(storage, procs)
    results = finish(procs)
    assert killed, "no candidate was seen training: nothing was killed"
    survivors = [i for i, proc in enumerate(procs) if proc.pid != killed]
    assert [results[i][0] for i in survivors] == [0, 0], results
    assert not [results[i][1] for i in survivors if "warning" in results[i][1].lower()], results
    trials = linked_trials(storage)
    assert not [t for t in trials if t.state == RUNNING]
    finished = Counter(
        t.user_attrs["near:candidate"]["key"] for t in trials if t.state in FINISHED
    )
    assert set(finished.values()) == {1}, f"each candidate finished once: {finished}"
    assert len(finished) == 7, finished
    dead = [t for t in trials if t.user_attrs.get(TRIAL_WORKER, "").endswith(f":{killed}")]
    failed = [t for t in dead if t.state == FAIL]
    assert failed, "the killed worker's candidate was failed"
    retrained = [t.user_attrs["near:candidate"]["key"] for t in failed]
    assert all(key in finished for key in retrained), "and trained again by a live worker"
    duplicates = [t for t in trials if t.state == FAIL and "near:duplicate" in t.user_attrs]
    assert all(t.params == {} and not t.intermediate_values for t in duplicates)
    answers = [json.loads((tmp_path / f"{i}.json").read_text())["answer"] for i in survivors]
    assert answers[0] == answers[1], answers
    from near_optuna import load_dataset, load_model

    rows = load_dataset("digits").x_test[:50]
    first, second = (load_model(tmp_path / f"{i}.npz").predict(rows) for i in survivors)
    assert (first == second).all(), "every worker saves the same network"
