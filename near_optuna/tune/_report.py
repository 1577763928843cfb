"""What the command prints and writes: the best configurations, the ``--json`` summary."""

from __future__ import annotations

from collections import Counter
from typing import Any

import optuna

from near_optuna.storage._keys import (
    STUDY_DATA,
    STUDY_SATURATION,
    TRIAL_ACTIVATION,
    TRIAL_INIT,
    TRIAL_N_PARAMS,
    TRIAL_WIDTHS,
)
from near_optuna.study._refine import Refinement
from near_optuna.study._training_check import TrainingCheck


def _config(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    attrs = trial.user_attrs
    return {
        "trial": trial.number,
        "value": trial.values[0],
        "widths": attrs.get(TRIAL_WIDTHS),
        "activation": attrs.get(TRIAL_ACTIVATION),
        "init": attrs.get(TRIAL_INIT),
        "n_params": attrs.get(TRIAL_N_PARAMS),
    }


def best_configs(study: optuna.Study, count: int = 5) -> list[dict[str, Any]]:
    """The best completed configurations (the Pareto front for two objectives), best first."""
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(study.directions) > 1:
        done = study.best_trials
    return [_config(t) for t in sorted(done, key=lambda t: t.values[0], reverse=True)[:count]]


def answer(best: dict[str, Any] | None, refinement: Refinement | None) -> dict[str, Any] | None:
    """The configuration to use: the refinement's, else the NEAR best."""
    if refinement is None:
        if best is None:
            return None
        keys = ("widths", "activation", "init", "n_params")
        return {k: best[k] for k in keys} | {"near_rank": 1, "chosen_by": "near"}
    chosen = refinement.answer
    return {
        "widths": list(chosen.widths),
        "activation": chosen.activation,
        "init": chosen.init,
        "n_params": refinement.n_params,
        f"val_{'accuracy' if refinement.metric == 'accuracy' else 'r2'}": refinement.score,
        "near_rank": chosen.near_rank,
        "origin": chosen.origin,
        "chosen_by": "refine",
    }


def summary(
    study: optuna.Study,
    url: str,
    report: TrainingCheck | None,
    refinement: Refinement | None = None,
) -> dict[str, Any]:
    """The ``--json`` summary (its keys are listed in ``near_optuna.tune``'s docstring)."""
    trials = study.get_trials(deepcopy=False)
    best = best_configs(study, count=10)
    described = study.user_attrs.get(STUDY_DATA)
    data: dict[str, Any] = {
        "study_name": study.study_name,
        "storage": url,
        "n_trials": len(trials),
        "states": dict(Counter(t.state.name for t in trials)),
        "best": best[0] if best else None,
        "top": best,
        "saturation_widths": study.user_attrs.get(STUDY_SATURATION, {}).get("widths"),
        "task": described.get("task", "classification") if described else None,
        "data": described,
    }
    data["answer"] = answer(data["best"], refinement)
    if report is not None:
        data["validation"] = report.to_dict()
    if refinement is not None:
        data["refine"] = {
            k: v for k, v in refinement.to_dict().items() if k not in ("answer", "score")
        }
    return data


def _origin(found: dict[str, Any]) -> str:
    if found["origin"] == "reference":
        return "the reference MLP"
    if found["origin"] == "near":
        return f"NEAR rank {found['near_rank']}"
    how = (
        "at the widest searched width"
        if found["origin"] == "wide"
        else f"widths {found['origin']}"
    )
    return f"NEAR rank {found['near_rank']}, {how}"


def answer_line(info: dict[str, Any]) -> str:
    """How the answer was chosen, in one line."""
    found = info["answer"]
    config = (
        f"{found['widths']} {found['activation']} {found['init']} ({found['n_params']} params)"
    )
    if found["chosen_by"] == "near":
        return f"Answer (NEAR only, not trained; --refine 0): {config}"
    metric = "accuracy" if "val_accuracy" in found else "r2"
    refine = info["refine"]
    return (
        f"Answer (validated: {metric} {found[f'val_{metric}']:.4f} on held-out training rows, "
        f"{len(refine['candidates'])} candidates trained in {refine['seconds']:.0f} s): "
        f"{config}, {_origin(found)}"
    )


def model_line(model: dict[str, Any]) -> str:
    """Where ``--save-model`` wrote the answer, how it was trained, and how to predict."""
    trained = model["trained"]
    if trained["how"] != "refinement":
        how = f"trained once for it ({trained['epochs']:.0f} epochs)"
    elif trained.get("cut_at") is not None:
        how = (
            f"trained in the refinement (cut by the time budget at step {trained['cut_at']}) "
            f"and on to its full {trained['epochs']:.0f} epochs"
        )
    else:
        how = "as trained in the refinement"
    validation = model["validation"]
    return (
        f"Model saved to {model['path']}: {model['key']}, {how} on {trained['rows']} training "
        f"rows (validation {validation['metric']} {validation['score']:.4f} on "
        f"{trained['validation_rows']} held-out rows). Predict: python -m near_optuna.predict "
        f"--model {model['path']} --data FILE --out predictions.csv"
    )


def verdict_line(info: dict[str, Any]) -> str | None:
    """The refinement's verdict (did the architecture matter?), or ``None`` without one."""
    refine = info.get("refine")
    if refine is None or refine["verdict"].get("mattered") is None:
        return None
    return f"Verdict: {refine['verdict']['text']}."


def quiet_line(info: dict[str, Any], score: str) -> str:
    """The whole report of ``-q`` in one line."""
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(info["states"].items()))
    head = f"Study {info['study_name']!r}: {info['n_trials']} trials ({states})"
    best = info["best"]
    if best is None:
        return f"{head}; no completed trial yet."
    if info.get("refine") is not None:
        return f"{head}; {answer_line(info)}"
    validation = info.get("validation")
    checked = ""
    if validation is not None:
        rho = validation["spearman"]
        checked = f"; --validate: Spearman {'n/a' if rho is None else f'{rho:.3f}'}"
    return (
        f"{head}; best: trial {best['trial']} {score}={best['value']:.2f} "
        f"widths={best['widths']} {best['activation']} {best['init']}{checked}"
    )


def print_report(info: dict[str, Any], score: str, *, quiet: bool, pareto: bool) -> None:
    """The final table (the Pareto front with ``pareto``), saturation widths, dashboard command.

    With ``quiet`` it prints one line (:func:`quiet_line`).
    """
    if quiet:
        print(quiet_line(info, score))
        return
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(info["states"].items()))
    print(
        f"\nStudy {info['study_name']!r} in {info['storage']}: {info['n_trials']} trials "
        f"({states})"
    )
    if info.get("answer") is not None:
        print(answer_line(info))
        verdict = verdict_line(info)
        if verdict is not None:
            print(verdict)
    if not info["top"]:
        print("No completed trial yet.")
    else:
        if pareto:
            print(f"\nPareto front ({score} up, parameters down), by {score}:")
        print(f"\n{'trial':>6} {score:>9} {'params':>9}  {'widths':<22}{'activation':<12}init")
        for row in info["top"][:5]:
            print(
                f"{row['trial']:>6} {row['value']:>9.2f} {row['n_params']:>9}  "
                f"{row['widths']!s:<22}{row['activation']:<12}{row['init']}"
            )
    if info["saturation_widths"]:
        print(f"\nSaturation widths per layer: {info['saturation_widths']}")
    print(f"\nOpen the dashboard: optuna-dashboard {info['storage']}")


def _gap(difference: float, metric: str) -> str:
    return f"{difference:.4f}" if metric == "r2" else f"{100 * difference:.2f} points"


def print_validation(report: TrainingCheck) -> None:
    """The ``--validate`` table and its verdict."""
    print(f"\nValidation: {len(report.trials)} configurations trained for {report.epochs} epochs")
    metric = "R²" if report.metric == "r2" else "accuracy"
    print(f"{'trial':>6} {'group':<7}{'score':>9} {metric:>9}  widths / activation / init")
    for r in report.trials:
        print(
            f"{r.trial:>6} {r.group:<7}{r.value:>9.2f} {r.trained:>9.4f}  "
            f"{r.widths} {r.activation} {r.init}"
        )
    rho = "n/a" if report.spearman is None else f"{report.spearman:.3f}"
    print(
        f"Spearman(score, {metric}) = {rho}; the score's pick reached {report.pick_trained:.4f}"
        f", the best trained {report.best_trained:.4f} "
        f"({_gap(report.best_trained - report.pick_trained, report.metric)} apart)"
    )
