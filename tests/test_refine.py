import dataclasses
import json
import math
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
from near_studies import near_study

from near_optuna import SearchSpace, load_dataset
from near_optuna.data._split import validation_split
from near_optuna.study._candidates import (
    MAX_ESCALATED_WIDTH,
    REFERENCE,
    Candidate,
    escalate,
    refine_candidates,
)
from near_optuna.study._refine import refine_study

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


def test_escalation_doubles_and_quadruples_widths_within_the_cap():
    base = Candidate((100, 700), "relu", "default", "near", 1, 3)
    variants = escalate(base)
    assert [v.widths for v in variants] == [(200, 1400), (400, MAX_ESCALATED_WIDTH)]
    assert [v.origin for v in variants] == ["x2", "x4"]
    assert all(max(v.widths) <= MAX_ESCALATED_WIDTH for v in variants)
    capped = escalate(Candidate((900,), "relu", "default", "near", 1, 3), max_width=1000)
    assert [v.widths for v in capped] == [(1000,)], "x4 capped equals x2 capped: one variant"
    assert escalate(Candidate((1000,), "relu", "default", "near", 1, 3), max_width=1000) == []


def add_trial(study: optuna.Study, widths: list[int], activation: str, value: float) -> None:
    trial = study.ask()
    for key, attr in [("widths", widths), ("activation", activation), ("init", "default")]:
        trial.set_user_attr(f"near:{key}", attr)
    study.tell(trial, value)


def test_candidates_are_the_reference_the_best_distinct_configurations_then_escalated():
    study = optuna.create_study(direction="maximize")
    for widths, activation, value in [([8], "relu", 3.0), ([8], "relu", 2.9), ([16], "tanh", 2.0)]:
        add_trial(study, widths, activation, value)
    pruned = study.ask()
    pruned.set_user_attr("near:widths", [999])
    study.tell(pruned, state=optuna.trial.TrialState.PRUNED)
    chosen = refine_candidates(study, 5, escalate_top=1)
    assert [(c.widths, c.origin, c.near_rank) for c in chosen] == [
        ((100,), "reference", None),
        ((8,), "near", 1),
        ((16,), "near", 2),
        ((16,), "x2", 1),
        ((32,), "x4", 1),
    ], "repeats count once, pruned trials never, escalations do not duplicate"
    no_reference = refine_candidates(study, 1, escalate_top=0, reference=None)
    assert [c.origin for c in no_reference] == ["near"]
    with pytest.raises(ValueError, match="`k` must be >= 1"):
        refine_candidates(study, 0)


def capped_study(cap: int, max_width: int) -> optuna.Study:
    """A NEAR study whose saturation cap (tolerance 2) is `cap` at every position."""
    study = optuna.create_study(direction="maximize")
    study.set_user_attr("near:saturation", {"widths": [cap // 2, cap // 2], "tolerance": 2.0})
    study.set_user_attr("near:search_space", SearchSpace(max_width=max_width).to_dict())
    add_trial(study, [4, 3], "relu", 5.0)
    add_trial(study, [2], "tanh", 4.0)
    add_trial(study, [3], "elu", 3.0)
    return study


def test_wide_probes_only_where_the_cap_kept_layers_below_the_widest_width():
    probes = [c for c in refine_candidates(capped_study(8, 64), 3) if c.origin == "wide"]
    assert [(c.widths, c.activation, c.near_rank) for c in probes] == [
        ((64, 64), "relu", 1),
        ((64,), "tanh", 2),
    ], "the two best shapes at the widest searched width"
    assert not [c for c in refine_candidates(capped_study(64, 64), 3) if c.origin == "wide"]
    assert not [
        c for c in refine_candidates(capped_study(8, 64), 3, probe_top=0) if c.origin == "wide"
    ]


def test_the_cap_retires_when_a_wide_probe_wins_on_validation():
    data = load_dataset("digits")
    study = capped_study(8, 64)  # NEAR proposes networks of 2-4 units; digits needs more
    result = refine_study(study, data, 3, epochs=8, escalate_top=0, reference=None)
    assert result.answer.origin == "wide", result.answer
    assert result.cap == {"widths": [8.0, 8.0], "retired": True, "by": result.answer.key}
    assert study.user_attrs["near:refine"]["cap"]["retired"] is True
    kept = refine_study(
        capped_study(8, 64), data, 3, epochs=8, escalate_top=0, probe_top=0, reference=None
    )
    assert kept.cap["retired"] is False, "without probes nothing wider than the cap can win"
    assert kept.cap["by"] is None


def test_the_reference_is_trained_to_the_end_and_wins_over_tiny_networks():
    data = load_dataset("digits")
    result = refine_study(capped_study(8, 64), data, 3, epochs=8, escalate_top=0, probe_top=0)
    assert result.answer == REFERENCE
    assert result.reference_score == result.score
    verdict = result.verdict
    assert verdict["mattered"] is False
    assert verdict["leaders"] == [REFERENCE.key]
    assert "no candidate came within noise of the reference" in verdict["text"]
    steps = [rung["steps"] for rung in result.schedule["rungs"]]
    assert steps == sorted(steps)
    assert result.schedule["rungs"][-1]["candidates"] >= 2, "the reference and a survivor"


def test_leaders_within_noise_give_the_smallest_and_a_clear_margin_is_the_verdict():
    from near_optuna.study._refine import Finalist, decide_answer

    small = Candidate((8,), "relu", "default", "near", 1, 1)
    large = Candidate((512, 512), "relu", "default", "x4", 1, 1)

    def finalist(candidate: Candidate, score: float, se: float, size: int) -> Finalist:
        return Finalist(candidate, score, se, size)

    tied = decide_answer(
        [
            finalist(REFERENCE, 0.90, 0.01, 1000),
            finalist(small, 0.895, 0.01, 10),
            finalist(large, 0.905, 0.01, 5000),
        ],
        [REFERENCE, small, large],
        metric="accuracy",
        cap=None,
        evidence=EVIDENCE,
    )
    assert tied.answer == small, "all three within one SE (unpaired 0.014): the smallest"
    assert tied.verdict["mattered"] is False
    assert tied.verdict["best"] == large.key
    assert "one-standard-error rule" in tied.verdict["text"]
    clear = decide_answer(
        [
            finalist(REFERENCE, 0.80, 0.01, 1000),
            finalist(small, 0.70, 0.01, 10),
            finalist(large, 0.90, 0.01, 5000),
        ],
        [REFERENCE, small, large],
        metric="accuracy",
        cap=None,
        evidence=EVIDENCE,
    )
    assert clear.answer == large
    assert clear.verdict["mattered"] is True
    assert clear.verdict["margin"] == pytest.approx(0.10)
    assert clear.verdict["se"] == pytest.approx(np.hypot(0.01, 0.01))
    assert (
        "beats the reference [100]/relu/default by +0.1000 accuracy (SE 0.0141; "
        in (clear.verdict["text"])
    )


def test_the_reference_is_displaced_only_by_a_significant_lead():
    from near_optuna.study._refine import REFERENCE_SE, Finalist, decide_answer

    wide = Candidate((53, 442, 320), "gelu", "default", "x4", 1, 1)

    def decide(lead_in_se: float):
        se = 0.0210 / math.sqrt(2)  # unpaired: SE of the difference 0.0210
        return decide_answer(
            [
                Finalist(REFERENCE, 0.10, se, 1001),
                Finalist(wide, 0.10 + lead_in_se * 0.0210, se, 166426),
            ],
            [REFERENCE, wide],
            metric="r2",
            cap=None,
            evidence=EVIDENCE,
        )

    assert REFERENCE_SE == 1.645
    held = decide(1.03)  # fair, seed 1: +0.0216 R² (SE 0.0210) on validation
    assert held.answer == REFERENCE, "a lead of one SE does not displace the reference"
    assert held.verdict["mattered"] is False
    assert held.verdict["leaders"] == [wide.key, REFERENCE.key]
    text = held.verdict["text"]
    assert "[53, 442, 320]/gelu/default leads the reference by +0.0216 r2 (SE 0.0210)" in text
    assert "within the 1.645 standard errors it must beat to displace it" in text
    assert "the smallest of them, the reference, was chosen" in text
    assert decide(1.64).answer == REFERENCE
    beaten = decide(1.66)
    assert beaten.answer == wide
    assert beaten.verdict["mattered"] is True
    assert beaten.verdict["leaders"] == [wide.key]


EVIDENCE = {
    "study_name": "s:refine",
    "schedule": {},
    "trainings": 3,
    "steps": 0,
    "epochs": 0.0,
    "time_budget": None,
    "seconds": 0.0,
}


def test_a_time_budget_shortens_the_rungs_and_still_answers():
    data = load_dataset("digits")
    study = capped_study(8, 64)
    free = refine_study(study, data, 3, epochs=10, escalate_top=0)
    rushed = refine_study(
        capped_study(8, 64), data, 3, epochs=10, escalate_top=0, time_budget=1e-3
    )
    assert rushed.schedule["stopped_by_time"] is True
    assert rushed.steps < free.steps
    assert rushed.time_budget == 1e-3
    assert rushed.answer in rushed.candidates
    with pytest.raises(ValueError, match="`time_budget` must be > 0 seconds"):
        refine_study(study, data, 3, time_budget=0)


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


def test_a_rerun_in_one_process_does_not_train_finished_candidates_again(tmp_path):
    data = load_dataset("wine")
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = near_study(storage, data, n_trials=4)
    first = refine_study(study, data, 2, epochs=4, escalate_top=0, probe_top=0)
    assert first.trainings == len(first.candidates)
    again = refine_study(study, data, 2, epochs=4, escalate_top=0, probe_top=0)
    assert again.trainings == 0, "every candidate is finished in the linked study"
    assert again.candidates == first.candidates
    assert again.answer in again.candidates
    assert again.model is not None, "the answer is trained again by the recipe"
    linked = optuna.load_study(study_name="near:refine", storage=storage)
    assert len(linked.trials) == len(first.candidates)


def test_a_dataset_too_small_for_validation_is_refused():
    wine = load_dataset("wine")
    tiny = dataclasses.replace(wine, x_train=wine.x_train[:4], y_train=np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="too few to hold out a validation fraction"):
        validation_split(tiny, fraction=0.2)


@pytest.mark.slow
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
    lines = out.splitlines()
    assert "Warning" not in err, "no library warning (the heartbeat one) leaks to the terminal"
    assert any(line.startswith("Answer (validated: accuracy") for line in lines), out
    assert any(line.startswith("Verdict: ") for line in lines), out
    assert info["refine"]["verdict"]["mattered"] in (True, False)
    assert info["refine"]["candidates"][0]["origin"] == "reference"
    linked = optuna.load_study(study_name="near_optuna:refine", storage=storage)
    assert len(linked.trials) == len(info["refine"]["candidates"])
    assert all(t.intermediate_values for t in linked.trials), "learning curves are stored"
    rows = len(validation_split(load_dataset("wine")).y_train)
    assert max(max(t.intermediate_values) for t in linked.trials) <= 6 * -(-rows // 64)
    reference = [
        t for t in linked.trials if t.user_attrs["near:candidate"]["origin"] == "reference"
    ]
    assert [t.state for t in reference] == [optuna.trial.TrialState.COMPLETE]
    assert set(reference[0].user_attrs["near:val_score"]) == {"score", "se", "steps"}


@pytest.mark.slow
def test_refine_larger_than_the_study_uses_what_it_has(tmp_path):
    args = ["--storage", f"sqlite:///{tmp_path / 's.db'}", "--dataset", "wine"]
    args += ["--max-width", "16", "--repetitions", "1", "--n-trials", "2"]
    extra = ["--refine", "9", "--refine-epochs", "2", "--time-budget", "20"]
    proc = cli(*args, *extra, "--json", "s.json", cwd=tmp_path)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    info = json.loads((tmp_path / "s.json").read_text())
    near = sum(c["origin"] == "near" for c in info["refine"]["candidates"])
    assert 1 <= near <= 2
    assert f"--refine 9: the study has {near} distinct configurations; using them." in out
    assert "Time budget: 20 s (--time-budget)." in out
    assert 0 < info["refine"]["time_budget"] <= 20, "the refinement gets what the study left"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--refine", "-2"], "`--refine` must be >= 0, but got -2"),
        (["--time-budget", "0"], "`--time-budget` must be > 0 seconds, but got 0.0"),
        (["--time-budget", "-5"], "`--time-budget` must be > 0 seconds, but got -5.0"),
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_refine_0_answers_with_the_near_best_and_trains_nothing(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    args = ["--storage", storage, "--dataset", "wine", "--max-width", "16", "--repetitions", "1"]
    proc = cli(*args, "--n-trials", "4", "--refine", "0", "--json", "s.json", cwd=tmp_path)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    info = json.loads((tmp_path / "s.json").read_text())
    assert info["answer"]["chosen_by"] == "near"
    assert info["answer"]["widths"] == info["best"]["widths"]
    assert "refine" not in info
    assert "Answer (NEAR only, not trained; --refine 0): " in out
    assert "Time budget" not in out, "no budget without a refinement unless one is given"
    assert "near_optuna:refine" not in optuna.get_all_study_names(storage)


def test_a_halving_cut_short_by_time_keeps_the_reference_however_far_another_led():
    from near_optuna.study._refine import MIN_DECISIVE_FRACTION, Finalist, decide_answer

    wide = Candidate((512, 512, 512), "silu", "xavier_uniform", "wide", 1, 0)
    finalists = [
        Finalist(REFERENCE, 0.70, 0.01, 3102),
        Finalist(wide, 0.80, 0.01, 541186),
    ]
    evidence = {
        "study_name": "s:refine",
        "schedule": {},
        "trainings": 2,
        "steps": 0,
        "epochs": 0.0,
        "time_budget": 30.0,
        "seconds": 1.0,
    }

    def decide(reached: int):
        return decide_answer(
            finalists,
            [REFERENCE, wide],
            metric="accuracy",
            cap=None,
            evidence=evidence,
            horizon=(reached, 1380),
        )

    assert decide(1380).answer == wide
    assert decide(1380).verdict["mattered"] is True
    short = decide(int(MIN_DECISIVE_FRACTION * 1380) - 1)
    assert short.answer == REFERENCE
    assert short.score == 0.70
    assert short.n_params == 3102
    assert short.verdict["mattered"] is False
    assert short.verdict["text"].startswith("the time budget cut the training to 459 of 1380")
    assert "the reference was kept" in short.verdict["text"]
