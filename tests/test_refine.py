import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

from near_optuna import NearObjective, SearchSpace, load_dataset
from near_optuna.data._split import validation_split
from near_optuna.study._refine import (
    MAX_ESCALATED_WIDTH,
    Candidate,
    escalate,
    refine_candidates,
    refine_study,
)

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPTUNA_STORAGE"}
    return subprocess.Popen(
        [sys.executable, "-m", "near_optuna.tune", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def near_study(storage: str, data, n_trials: int = 8) -> optuna.Study:
    objective = NearObjective(
        torch.from_numpy(data.x_train),
        out_features=data.n_classes,
        space=SearchSpace(max_depth=2, max_width=64),
        prune_oversized=False,
        repetitions=1,
    )
    study = optuna.create_study(
        study_name="near",
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0),
    )
    study.optimize(objective, n_trials=n_trials)
    return study


def test_escalation_doubles_and_quadruples_widths_within_the_cap():
    base = Candidate((100, 700), "relu", "default", "near", 1, 3)
    variants = escalate(base)
    assert [v.widths for v in variants] == [(200, 1400), (400, MAX_ESCALATED_WIDTH)]
    assert [v.origin for v in variants] == ["x2", "x4"]
    assert all(max(v.widths) <= MAX_ESCALATED_WIDTH for v in variants)
    capped = escalate(Candidate((900,), "relu", "default", "near", 1, 3), max_width=1000)
    assert [v.widths for v in capped] == [(1000,)], "x4 capped equals x2 capped: one variant"
    assert escalate(Candidate((1000,), "relu", "default", "near", 1, 3), max_width=1000) == []


def test_candidates_are_the_best_distinct_configurations_then_escalated(tmp_path):
    study = optuna.create_study(direction="maximize")
    for widths, activation, value in [([8], "relu", 3.0), ([8], "relu", 2.9), ([16], "tanh", 2.0)]:
        trial = study.ask()
        for key, attr in [("widths", widths), ("activation", activation), ("init", "default")]:
            trial.set_user_attr(f"near:{key}", attr)
        study.tell(trial, value)
    pruned = study.ask()
    pruned.set_user_attr("near:widths", [999])
    study.tell(pruned, state=optuna.trial.TrialState.PRUNED)
    chosen = refine_candidates(study, 5, escalate_top=1)
    assert [(c.widths, c.origin, c.near_rank) for c in chosen] == [
        ((8,), "near", 1),
        ((16,), "near", 2),
        ((16,), "x2", 1),
        ((32,), "x4", 1),
    ], "repeats count once, pruned trials never, escalations do not duplicate"
    with pytest.raises(ValueError, match="`k` must be >= 1"):
        refine_candidates(study, 0)


def test_the_answer_never_sees_the_test_split(tmp_path):
    data = load_dataset("wine")
    study = near_study(f"sqlite:///{tmp_path / 'a.db'}", data)
    optuna.copy_study(
        from_study_name="near",
        from_storage=f"sqlite:///{tmp_path / 'a.db'}",
        to_storage=f"sqlite:///{tmp_path / 'b.db'}",
    )
    twin = optuna.load_study(study_name="near", storage=f"sqlite:///{tmp_path / 'b.db'}")
    rng = np.random.default_rng(0)
    shuffled = dataclasses.replace(
        data,
        y_test=rng.permutation(data.y_test),
        x_test=rng.standard_normal(data.x_test.shape).astype(np.float32),
    )
    first = refine_study(study, data, 3, epochs=6, escalate_top=1)
    second = refine_study(twin, shuffled, 3, epochs=6, escalate_top=1)
    assert first.answer == second.answer
    assert first.score == second.score
    assert study.user_attrs["near:refine"]["answer"] == dataclasses.asdict(first.answer) | {
        "widths": list(first.answer.widths)
    }


def test_a_dataset_too_small_for_validation_is_refused():
    wine = load_dataset("wine")
    tiny = dataclasses.replace(wine, x_train=wine.x_train[:4], y_train=np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="too few to hold out a validation fraction"):
        validation_split(tiny, fraction=0.2)


def test_refine_through_the_command_line_on_sqlite(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    args = ["--storage", storage, "--dataset", "wine", "--max-width", "32", "--repetitions", "1"]
    proc = cli(
        *args,
        "--n-trials",
        "8",
        "--refine",
        "3",
        "--refine-epochs",
        "6",
        "--json",
        "s.json",
        cwd=tmp_path,
    )
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    info = json.loads((tmp_path / "s.json").read_text())
    answer = info["answer"]
    assert answer["chosen_by"] == "refine"
    assert set(answer) >= {"widths", "activation", "init", "n_params", "val_accuracy", "near_rank"}
    assert info["refine"]["study_name"] == "near_optuna:refine"
    assert info["refine"]["trainings"] == len(info["refine"]["candidates"])
    assert any(
        line.startswith("Answer (--refine: best validation accuracy") for line in out.splitlines()
    ), out
    linked = optuna.load_study(study_name="near_optuna:refine", storage=storage)
    assert len(linked.trials) == len(info["refine"]["candidates"])
    assert all(t.intermediate_values for t in linked.trials), "learning curves are stored"
    assert max(max(t.intermediate_values) for t in linked.trials) <= 6


def test_refine_larger_than_the_study_uses_what_it_has(tmp_path):
    args = ["--storage", f"sqlite:///{tmp_path / 's.db'}", "--dataset", "wine"]
    args += ["--max-width", "16", "--repetitions", "1", "--n-trials", "2"]
    proc = cli(*args, "--refine", "9", "--refine-epochs", "2", "--json", "s.json", cwd=tmp_path)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    info = json.loads((tmp_path / "s.json").read_text())
    near = sum(c["origin"] == "near" for c in info["refine"]["candidates"])
    assert 1 <= near <= 2
    assert f"--refine 9: the study has {near} distinct configurations; using them." in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--refine", "0"], "`--refine` must be >= 1, but got 0"),
        (["--refine", "-2"], "`--refine` must be >= 1, but got -2"),
        (["--refine", "2", "--multi-objective"], "does not go with `--multi-objective`"),
    ],
)
def test_bad_refine_arguments_exit_2_and_store_nothing(tmp_path, extra, message):
    proc = cli("--storage", f"sqlite:///{tmp_path / 's.db'}", *extra, cwd=tmp_path)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert message in err
    assert not (tmp_path / "s.db").exists()


def test_a_killed_refinement_resumes_without_retraining_finished_candidates(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    args = ["--storage", storage, "--dataset", "digits", "--max-width", "64", "--repetitions", "1"]
    args += ["--max-total-trials", "10", "--refine", "4", "--refine-epochs", "12", "-q"]
    first = cli(*args, cwd=tmp_path)
    deadline = time.time() + 600
    finished: list[optuna.trial.FrozenTrial] = []
    while time.time() < deadline and first.poll() is None:
        time.sleep(0.5)
        try:
            linked = optuna.load_study(study_name="near_optuna:refine", storage=storage)
        except KeyError:
            continue
        finished = linked.get_trials(deepcopy=False, states=FINISHED)
        if len(finished) >= 2:
            first.send_signal(signal.SIGKILL)
            break
    first.communicate(timeout=60)
    assert len(finished) >= 2, "the refinement was not caught midway"
    done_before = {t.user_attrs["near:candidate"]["key"] for t in finished}
    again = cli(*args, "--json", "again.json", cwd=tmp_path)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    linked = optuna.load_study(study_name="near_optuna:refine", storage=storage)
    keys = Counter(
        t.user_attrs["near:candidate"]["key"] for t in linked.trials if t.state in FINISHED
    )
    assert all(count == 1 for count in keys.values()), keys
    assert done_before <= set(keys)
    info = json.loads((tmp_path / "again.json").read_text())
    assert set(keys) == {
        f"{c['widths']}/{c['activation']}/{c['init']}" for c in info["refine"]["candidates"]
    }
    assert info["refine"]["trainings"] <= len(keys) - len(done_before)
    assert not [t for t in linked.trials if t.state == optuna.trial.TrialState.RUNNING]
