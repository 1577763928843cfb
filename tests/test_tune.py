import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest

from near_optuna.storage._open import open_storage
from near_optuna.tune import main

FAST = ["--max-width", "32", "--repetitions", "1", "--refine", "0", "-q"]
COMPLETE = optuna.trial.TrialState.COMPLETE
RUNNING = optuna.trial.TrialState.RUNNING


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real entry point, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if k != "OPTUNA_STORAGE"}
    return subprocess.run(
        [sys.executable, "-m", "near_optuna.tune", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def trials(storage: str, name: str = "near_optuna") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=storage).trials


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.slow
def test_no_arguments_runs_on_digits_and_resumes(tmp_path):
    first = cli("--json", "summary.json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "studies" / "near_optuna.db").is_file()
    assert "optuna-dashboard sqlite:///studies/near_optuna.db" in first.stdout
    info = json.loads((tmp_path / "summary.json").read_text())
    assert info["study_name"] == "near_optuna"
    assert info["storage"] == "sqlite:///studies/near_optuna.db"
    # 50 trials, or fewer (at least 20) when the NEAR study's share of the time budget ends
    assert 20 <= info["n_trials"] <= 50
    assert sum(info["states"].values()) == info["n_trials"]
    assert info["answer"]["chosen_by"] == "refine", "the plain command ends with a refinement"
    assert info["refine"]["time_budget"] <= 60
    assert info["refine"]["verdict"]["text"]
    assert any(line.startswith("Answer (validated: ") for line in first.stdout.splitlines())
    best = info["best"]
    assert set(best) >= {"trial", "value", "widths", "activation", "init", "n_params"}
    storage = f"sqlite:///{tmp_path / 'studies' / 'near_optuna.db'}"
    before = {t.number: t.value for t in trials(storage) if t.state == COMPLETE}
    again = cli("--n-trials", "5", "--refine", "0", "-q", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    after = trials(storage)
    assert len(after) == info["n_trials"] + 5
    assert all(after[n].value == v for n, v in before.items()), "earlier trials kept as they were"


@pytest.mark.slow
def test_killed_study_resumes_without_losing_trials(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    args = ["--storage", storage, "--heartbeat", "1", "--max-width", "512", "-q"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "near_optuna.tune", *args, "--n-trials", "1000"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            time.sleep(0.5)
            try:
                done = [t for t in trials(storage) if t.state == COMPLETE]
            except KeyError:  # the study is not created yet
                continue
            if len(done) >= 5:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    completed = {t.number: t.value for t in trials(storage) if t.state == COMPLETE}
    assert len(completed) >= 5
    time.sleep(2.5)  # past the heartbeat grace period of the killed worker
    result = cli(*args, "--n-trials", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    final = trials(storage)
    assert not [t for t in final if t.state == RUNNING], "a dead worker's trial stays RUNNING"
    kept = {t.number: t.value for t in final if t.number in completed}
    assert kept == completed


def test_two_threads_lose_nothing(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["--storage", storage, "--n-jobs", "2", "--n-trials", "12", *FAST]) == 0
    final = trials(storage)
    assert len(final) == 12
    assert {t.number for t in final} == set(range(12))
    assert all(t.state != RUNNING for t in final)
    assert all("near:layers" in t.user_attrs for t in final if t.state == COMPLETE)


def test_a_resumed_run_proposes_new_configurations(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    args = ["--storage", storage, "--n-trials", "4", "--sampler", "random", *FAST]
    assert main(args) == 0
    assert main(args) == 0
    params = [t.params for t in trials(storage)]
    assert params[4:] != params[:4], "the second run replayed the first run's draws"


def test_changed_settings_on_resume_are_refused_by_name(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["--storage", storage, "--n-trials", "2", *FAST]) == 0
    assert main(["--storage", storage, "--n-trials", "2", "--seed", "1", *FAST]) == 0
    capsys.readouterr()
    changed = ["--repetitions", "2", "--no-guard", "--seed", "5"]
    assert main(["--storage", storage, "--n-trials", "2", *FAST, *changed]) == 2
    error = capsys.readouterr().err
    assert "`--repetitions` is 1 in the study, 2 now" in error
    assert "`--no-guard` was not given for the study and is given now" in error
    assert "scored alike" in error, "the message says why they must match"
    assert "seed" not in error, "only the differing keys are named"
    assert "{" not in error, "no whole dictionaries"
    assert len(trials(storage)) == 4


@pytest.mark.slow
def test_validate_without_completed_trials_warns_and_reports(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    args = [
        "--storage",
        storage,
        "--n-trials",
        "2",
        "--min-width",
        "256",
        "--max-width",
        "512",
        "--inits",
        "normal",
        "--activations",
        "relu",
        "--validate",
        "1",
        "--json",
        str(tmp_path / "s.json"),
        "-q",
    ]
    assert main(args) == 0
    expected = "warning: `--validate` skipped: the training check needs completed trials"
    assert expected in capsys.readouterr().err
    assert json.loads((tmp_path / "s.json").read_text())["best"] is None


def test_max_total_trials_is_a_study_budget(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["--storage", storage, "--max-total-trials", "6", *FAST]) == 0
    assert main(["--storage", storage, "--max-total-trials", "6", *FAST]) == 0
    assert len(trials(storage)) == 6


def test_validate_trains_and_reports(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    code = main(
        [
            "--storage",
            storage,
            "--dataset",
            "wine",
            "--n-trials",
            "10",
            "--validate",
            "2",
            "--json",
            str(tmp_path / "s.json"),
            *FAST[:-1],  # not -q: the table is printed
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Spearman(score, accuracy)" in out
    report = json.loads((tmp_path / "s.json").read_text())["validation"]
    assert [t["group"] for t in report["trials"]] == ["top", "top", "random", "random"]
    assert all(0.0 <= t["trained"] <= 1.0 for t in report["trials"])
    study = optuna.load_study(study_name="near_optuna", storage=storage)
    assert study.user_attrs["near:validation"]["k"] == 2


def test_config_file_and_command_line_override(tmp_path):
    config = tmp_path / "study.toml"
    config.write_text(
        'study-name = "from-config"\ndataset = "wine"\nn-trials = 4\n'
        'activations = ["relu", "tanh"]\nmax-width = 16\nrepetitions = 1\n'
    )
    storage = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["--config", str(config), "--storage", storage, "--n-trials", "3", "-q"]) == 0
    final = trials(storage, "from-config")
    assert len(final) == 3
    assert {t.params["activation"] for t in final} <= {"relu", "tanh"}


def test_multi_objective(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    code = main(
        [
            "--storage",
            storage,
            "--multi-objective",
            "--n-trials",
            "8",
            "--json",
            str(tmp_path / "s.json"),
            *FAST,
        ]
    )
    assert code == 0
    study = optuna.load_study(study_name="near_optuna", storage=storage)
    assert len(study.directions) == 2
    assert study.metric_names == ["near", "n_params"]
    assert json.loads((tmp_path / "s.json").read_text())["best"] is not None


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


def test_user_data_files(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 4)), rng.integers(0, 3, 60)
    np.save(tmp_path / "d.npy", np.column_stack([x, y]))
    np.savez(tmp_path / "d.npz", x=x, y=y)
    rows = ["a,b,name,label"] + [
        f"{a},{b},n{i},{c}" for i, (a, b, c) in enumerate(zip(x[:, 0], x[:, 1], y, strict=True))
    ]
    csv_file = write_csv(tmp_path / "d.csv", rows)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    for i, extra in enumerate(
        [
            ["--data", str(tmp_path / "d.npy")],
            ["--data", str(tmp_path / "d.npz")],
            ["--data", str(csv_file), "--target", "label", "--drop", "name"],
        ]
    ):
        name = f"user{i}"
        assert (
            main(["--storage", storage, "--study-name", name, "--n-trials", "2", *extra, *FAST])
            == 0
        )
        data = optuna.load_study(study_name=name, storage=storage).user_attrs["near:data"]
        assert data["features"] == (2 if "--target" in extra else 4)
        assert data["classes"] == 3
        assert data["task"] == "classification"
        assert data["columns"]["dropped"] == (["name"] if "--target" in extra else [])


def test_a_regression_table_with_text_ids_and_gaps(tmp_path, capsys):
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    frame["group"] = np.array(["a", "b", "c"])[np.arange(len(frame)) % 3]
    frame["id"] = [f"patient{i}" for i in range(len(frame))]
    frame.loc[[3, 50, 200], "bmi"] = np.nan
    frame.to_csv(tmp_path / "diabetes.csv", index=False)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    args = ["--storage", storage, "--data", str(tmp_path / "diabetes.csv"), "--target", "target"]
    assert main([*args, "--n-trials", "3", "--max-width", "32", "--repetitions", "1"]) == 2
    assert "column 'id' holds more than 32 distinct text values" in capsys.readouterr().err
    out_json = tmp_path / "out.json"
    extra = ["--drop", "id", "--impute", "mean", "--json", str(out_json)]
    assert main([*args, *extra, "--n-trials", "3", "--max-width", "32", "--repetitions", "1"]) == 0
    out = capsys.readouterr().out
    assert "Task: regression (the target holds 214 distinct whole numbers, more than 20" in out
    summary = json.loads(out_json.read_text())
    assert summary["task"] == "regression"
    columns = summary["data"]["columns"]
    assert columns["one_hot"] == {"group": ["a", "b", "c"]}
    assert columns["dropped"] == ["id"]
    assert columns["imputed"] == {"how": "mean", "cells": 3, "columns": {"bmi": 3}}
    assert summary["data"]["features"] == 10 + 3
    study = optuna.load_study(study_name="near_optuna", storage=storage)
    done = study.get_trials(states=(COMPLETE,))
    widths = done[0].user_attrs["near:widths"]
    sizes = [13, *widths, 1]  # one output
    assert done[0].user_attrs["near:n_params"] == sum(
        a * b + b for a, b in itertools.pairwise(sizes)
    )
    from near_optuna.dashboard._notes import study_note

    note = study_note(study)
    assert "regression" in note
    assert "one-hot: group (a, b, c); dropped: id; 3 missing cells filled" in note


def test_parquet_without_pyarrow_exits_2_naming_the_extra(tmp_path):
    import pandas as pd

    pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]}).to_parquet(tmp_path / "d.parquet")
    code = (
        "import runpy, sys\n"
        "sys.modules['pyarrow'] = None\n"
        "sys.argv = ['near_optuna.tune', '--data', 'd.parquet', '--target', 'y', '-q']\n"
        "runpy.run_module('near_optuna.tune', run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    line = one_line_error(result)
    assert line == (
        "python -m near_optuna.tune: error: `--data` 'd.parquet' is a Parquet file, which needs "
        "the Python package 'pyarrow': pip install 'near_optuna[parquet]'."
    )


def wine_csv(path: Path, noise: float = 0.0) -> Path:
    from sklearn.datasets import load_wine

    data = load_wine()
    x = data.data + np.random.default_rng(0).normal(scale=noise, size=data.data.shape)
    header = ",".join(f"c{i}" for i in range(x.shape[1])) + ",label"
    rows = [
        ",".join(map(str, row.tolist())) + f",{y}" for row, y in zip(x, data.target, strict=True)
    ]
    path.parent.mkdir(exist_ok=True)
    return write_csv(path, [header, *rows])


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
@pytest.mark.slow
def test_other_data_under_the_same_name_is_refused_by_its_values(tmp_path, kind):
    file = tmp_path / ("s.db" if kind == "sqlite" else "s.log")
    storage = f"{kind}:///{file}"
    run = ["--storage", storage, "--target", "label", "--n-trials", "2", *FAST]
    first = cli(*run, "--data", str(wine_csv(tmp_path / "a" / "wine.csv")), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    snapshot = file.read_bytes()
    other = wine_csv(tmp_path / "b" / "wine.csv", noise=0.1)  # same name, columns and shape
    line = one_line_error(cli(*run, "--data", str(other), cwd=tmp_path))
    assert "was created with other data: the data's values hash to" in line, line
    assert file.read_bytes() == snapshot, "the stored study changed"
    renamed = wine_csv(tmp_path / "c" / "renamed.csv")  # the same values under another name
    again = cli(*run, "--data", str(renamed), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    study = optuna.load_study(study_name="near_optuna", storage=open_storage(storage))
    assert len(study.trials) == 4


@pytest.fixture(scope="module")
def populated_db(tmp_path_factory) -> Path:
    """A study with 3 trials, made once; each test below works on its own copy."""
    db = tmp_path_factory.mktemp("populated") / "s.db"
    assert main(["--storage", f"sqlite:///{db}", "--n-trials", "3", *FAST]) == 0
    return db


@pytest.fixture
def populated(tmp_path, populated_db) -> tuple[str, Path]:
    """A study with 3 trials whose database must survive every bad command below."""
    shutil.copyfile(populated_db, tmp_path / "s.db")
    return f"sqlite:///{tmp_path / 's.db'}", tmp_path


BAD = [
    (["--dataset", "cifar10"], "argument --dataset: invalid choice: 'cifar10'"),
    (["--data", "missing.csv"], "`--data` file not found: 'missing.csv'"),
    (
        ["--data", "{dir}/nan.csv", "--target", "y"],
        "`--data` 'nan.csv' has 1 missing cell, in column 'a' (1): fill them, drop those columns "
        "(`--drop`) or set `--impute` to 'mean' or 'median'.",
    ),
    (
        ["--data", "{dir}/nan.csv", "--target", "label"],
        "`--target` 'label' is not a column of 'nan.csv'; columns: a, y.",
    ),
    (
        ["--data", "{dir}/image.csv", "--target", "y"],
        "`--data` 'image.csv' is not a text table: it holds binary data (a NUL byte at offset 8)",
    ),
    (["--data", "{dir}/image.png", "--target", "y"], "`--data` must end in one of .csv, .tsv"),
    (
        ["--data", "{dir}/single.csv", "--target", "y"],
        "`--target` 'y' has a single class (0): classification needs at least 2.",
    ),
    (
        ["--data", "{dir}/empty.csv", "--target", "y"],
        "`--data` 'empty.csv' is empty: a header row and data rows are needed.",
    ),
    (
        ["--data", "{dir}/header.csv", "--target", "y"],
        "'header.csv' has column names but no data rows",
    ),
    (
        ["--data", "{dir}/ids.csv", "--target", "y"],
        "`--data` 'ids.csv' column 'id' holds more than 32 distinct text values (40 in its first "
        "40 rows), too many to one-hot encode (an ID or free text?): add it to `--drop`.",
    ),
    (
        ["--data", "{dir}/ids.csv", "--target", "y", "--drop", "idd"],
        "`--drop` names 'idd', which is not a column of 'ids.csv'; columns: a, id, y.",
    ),
    (
        ["--data", "{dir}/float.csv", "--target", "y", "--task", "classification"],
        "`--target` 'y' holds numbers that are not whole numbers (such as 0.5), so they are not "
        "class labels: set `--task` to 'regression' or 'auto'.",
    ),
    (
        ["--data", "{dir}/ids.csv", "--target", "id", "--task", "regression"],
        "`--target` 'id' holds text (such as 'u0'), which regression cannot fit: set `--task` to "
        "'classification' or 'auto'.",
    ),
    (["--dataset", "digits", "--task", "regression"], "is a classification dataset, but `--task`"),
    (["--drop", "a"], "`--drop` goes with `--data`."),
    (["--min-width", "64", "--max-width", "32"], "`--max-width` must be >= `--min-width` (64)"),
    (["--storage", "nodb://what"], "`--storage` is not a database URL Optuna accepts"),
    (["--storage", "sqlite:///{dir}/notes.txt"], "could not be opened: file is not a database"),
    (["--max-depth", "2"], "`--max-depth` is 3 in the study, 2 now (the sampler learns one"),
    (["--n-trials", "0"], "`--n-trials` must be >= 1, but got 0"),
    (["--data", "{dir}/nan.csv", "--dataset", "wine"], "either `--dataset` or `--data`"),
    (["--device", "cuda:7"], "`--device` is 'cuda:7', but CUDA is not available"),
    (["--config", "{dir}/bad.toml"], "has an unknown key 'epochs'"),
    (["--config", "{dir}"], "cannot be read"),
    (["--json", "{dir}/missing/out.json"], "`--json` folder does not exist"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[m[:30] for _, m in BAD])
def test_bad_input_exits_2_with_one_line_and_leaves_the_study(
    populated, args, message, monkeypatch, capsys
):
    storage, tmp_path = populated
    write_csv(tmp_path / "nan.csv", ["a,y", "1.0,0", "nan,1", "2.0,0"])
    write_csv(tmp_path / "single.csv", ["a,y", "1.0,0", "2.0,0", "3.0,0"])
    write_csv(tmp_path / "float.csv", ["a,y"] + [f"{i},{i % 3 / 2}" for i in range(12)])
    write_csv(tmp_path / "ids.csv", ["a,id,y"] + [f"{i},u{i},{i % 2}" for i in range(40)])
    write_csv(tmp_path / "header.csv", ["a,b,y"])
    (tmp_path / "empty.csv").write_text("")
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"
    (tmp_path / "image.csv").write_bytes(png)
    (tmp_path / "image.png").write_bytes(png)
    (tmp_path / "notes.txt").write_text("not a database\n")
    (tmp_path / "bad.toml").write_text("epochs = 3\n")
    db = tmp_path / "s.db"
    snapshot = db.read_bytes()
    args = [a.replace("{dir}", str(tmp_path)) for a in args]
    if not any(a == "--storage" for a in args):
        args = ["--storage", storage, *args]
    # In this process (the checks and messages are those of the command; a subprocess per case
    # cost 2-3 s of interpreter start and imports); the real entry point is tested below.
    monkeypatch.chdir(tmp_path)
    line = one_line_error(in_process(capsys, *args, *FAST))
    assert line.startswith("python -m near_optuna.tune: error: "), line
    assert message in line, line
    assert db.read_bytes() == snapshot, "the stored study changed"
    assert len(trials(storage)) == 3


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """``main(args)`` in this process, as a finished command (argparse errors exit)."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as stop:
        code = int(stop.code or 0)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["near_optuna.tune", *args], code, out, err)


@pytest.mark.parametrize(("args", "message"), [BAD[0], BAD[2]], ids=["argparse", "data"])
def test_bad_input_from_the_real_entry_point_exits_2_with_one_line(populated, args, message):
    storage, tmp_path = populated
    write_csv(tmp_path / "nan.csv", ["a,y", "1.0,0", "nan,1", "2.0,0"])
    args = [a.replace("{dir}", str(tmp_path)) for a in args]
    snapshot = (tmp_path / "s.db").read_bytes()
    line = one_line_error(cli("--storage", storage, *args, *FAST, cwd=tmp_path))
    assert line.startswith("python -m near_optuna.tune: error: "), line
    assert message in line, line
    assert (tmp_path / "s.db").read_bytes() == snapshot, "the stored study changed"


def test_debug_shows_the_traceback(tmp_path):
    result = cli("--data", "missing.csv", "--debug", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" in result.stderr


@pytest.mark.slow
def test_a_trial_orphaned_before_its_first_heartbeat_is_failed(tmp_path):
    from near_optuna.storage._workers import fail_orphaned_trials

    storage = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["--storage", storage, "--n-trials", "2", *FAST]) == 0
    study = optuna.load_study(study_name="near_optuna", storage=storage)
    orphan = study.ask()  # created, then its worker "died": no params, no heartbeat
    assert fail_orphaned_trials(study, older_than=60.0) == [], "too young to judge"
    time.sleep(1.2)
    assert fail_orphaned_trials(study, older_than=1.0) == [orphan.number]
    assert study.trials[orphan.number].state == optuna.trial.TrialState.FAIL
    assert main(["--storage", storage, "--n-trials", "1", *FAST]) == 0
    assert not [t for t in trials(storage) if t.state == RUNNING]


@pytest.mark.slow
def test_quiet_prints_one_line(tmp_path):
    result = cli("--n-trials", "3", "--max-width", "32", "--repetitions", "1", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    assert lines[0].startswith("Study 'near_optuna': 3 trials"), lines[0]
    assert result.stderr == "", "no hint, warning or progress bar under -q"


@pytest.mark.slow
def test_progress_resume_and_pareto_are_shown(tmp_path):
    args = ["--max-width", "32", "--repetitions", "1", "--n-trials", "3", "--multi-objective"]
    first = cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "sizing layers" in first.stderr, "the one-off layer sizing shows a progress bar"
    assert "Pareto front (near up, parameters down)" in first.stdout
    assert "Resuming" not in first.stdout
    again = cli(*args, "--validate", "1", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Resuming study 'near_optuna' (3 trials so far)." in again.stdout
    assert "training (--validate)" in again.stderr, "--validate training shows a progress bar"


def test_help_has_a_text_and_default_for_every_option_without_loading_torch():
    code = (
        "import runpy, sys\n"
        "sys.argv = ['near_optuna.tune', '--help']\n"
        "try:\n"
        "    runpy.run_module('near_optuna.tune', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LOADED', sorted(m for m in ('torch', 'optuna', 'numpy') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "LOADED []" in result.stdout, result.stdout[-300:]
    from near_optuna.tune._parser import build_parser

    parser = build_parser()
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help, f"{action.option_strings} has no help text"
        text = formatter._get_help_string(action)
        if action.default not in (None, False):
            assert "default" in text, f"{action.option_strings} does not show its default"


@pytest.mark.slow
def test_a_small_finite_space_is_enumerated_once(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    args = ["--storage", storage, "--min-depth", "2", "--max-depth", "2"]
    args += ["--min-width", "16", "--max-width", "16", "--inits", "kaiming_uniform"]
    args += ["--activations", "relu", "tanh", "gelu", "--n-trials", "20", "--repetitions", "1"]
    assert main([*args, "-q"]) == 0
    done = trials(storage)
    configs = [(t.params["activation"], t.params["init"]) for t in done]
    assert len(done) == 3, "the grid of 3 configurations ends the study"
    assert len(set(configs)) == 3


@pytest.mark.slow
def test_redraw_publishes_an_existing_study_without_trials(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["--storage", storage, "--n-trials", "3", *FAST]) == 0
    result = cli("--storage", storage, "--redraw", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Redrew study 'near_optuna'" in result.stdout
    assert "near-score-vs-width" in result.stdout
    assert len(trials(storage)) == 3
    missing = cli("--storage", storage, "--study-name", "nope", "--redraw", cwd=tmp_path)
    assert "`--redraw` needs an existing study" in one_line_error(missing)


def test_a_bug_is_an_unexpected_failure_not_a_usage_error(tmp_path, monkeypatch, capsys):
    # Only the user's input makes exit code 2; a ValueError from the project's own code is a
    # failure (exit 1), even though it is a ValueError.
    import near_optuna.tune._run as run_module

    def broken(*_args, **_kwargs):
        raise ValueError("an internal invariant broke")

    monkeypatch.setattr(run_module, "optimise", broken)
    code = main(["--storage", f"sqlite:///{tmp_path / 's.db'}", "--n-trials", "1", *FAST])
    assert code == 1
    assert "unexpected failure: ValueError: an internal invariant broke" in capsys.readouterr().err


@pytest.mark.slow
def test_a_regression_csv_is_tuned_checked_and_refined_as_regression(tmp_path):
    from sklearn.datasets import load_diabetes

    load_diabetes(as_frame=True).frame.to_csv(tmp_path / "diabetes.csv", index=False)
    args = ["--data", "diabetes.csv", "--target", "target", "--n-trials", "6", "--max-width", "32"]
    args += ["--repetitions", "1", "--validate", "1", "--refine", "2", "--refine-epochs", "4"]
    result = cli(*args, "--json", "d.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Task: regression" in result.stdout
    assert "Spearman(score, R²)" in result.stdout
    info = json.loads((tmp_path / "d.json").read_text())
    assert info["task"] == "regression"
    assert info["answer"]["chosen_by"] == "refine"
    assert "val_r2" in info["answer"]
    assert info["refine"]["metric"] == "r2"
    assert info["validation"]["metric"] == "r2"
    study = optuna.load_study(
        study_name="near_optuna",
        storage="sqlite:///" + str(tmp_path / "studies" / "near_optuna.db"),
    )
    best = study.best_trial
    assert best.user_attrs["near:layers"][-1]["width"] == 1, "one output"
