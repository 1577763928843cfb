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


def summary(study: optuna.Study, url: str, report: TrainingCheck | None) -> dict[str, Any]:
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
    if report is not None:
        data["validation"] = report.to_dict()
    return data


def print_report(info: dict[str, Any], score: str, quiet: bool) -> None:
    """The final table, saturation widths and the dashboard command."""
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(info["states"].items()))
    print(
        f"\nStudy {info['study_name']!r} in {info['storage']}: {info['n_trials']} trials "
        f"({states})"
    )
    if not info["top"]:
        print("No completed trial yet.")
    elif quiet:
        b = info["best"]
        print(
            f"Best: trial {b['trial']} {score}={b['value']:.2f} widths={b['widths']} "
            f"{b['activation']} {b['init']}"
        )
    else:
        print(f"\n{'trial':>6} {score:>9} {'params':>9}  {'widths':<22}{'activation':<12}init")
        for row in info["top"][:5]:
            print(
                f"{row['trial']:>6} {row['value']:>9.2f} {row['n_params']:>9}  "
                f"{row['widths']!s:<22}{row['activation']:<12}{row['init']}"
            )
    if info["saturation_widths"]:
        print(f"\nSaturation widths per layer: {info['saturation_widths']}")
    print(f"\nOpen the dashboard: optuna-dashboard {info['storage']}")


def print_validation(report: TrainingCheck) -> None:
    """The ``--validate`` table and its verdict."""
    print(f"\nValidation: {len(report.trials)} configurations trained for {report.epochs} epochs")
    print(f"{'trial':>6} {'group':<7}{'score':>9} {'accuracy':>9}  widths / activation / init")
    for r in report.trials:
        print(
            f"{r.trial:>6} {r.group:<7}{r.value:>9.2f} {r.accuracy:>9.4f}  "
            f"{r.widths} {r.activation} {r.init}"
        )
    rho = "n/a" if report.spearman is None else f"{report.spearman:.3f}"
    print(
        f"Spearman(score, accuracy) = {rho}; the score's pick reached {report.pick_accuracy:.4f}"
        f", the best trained {report.best_accuracy:.4f} "
        f"({100 * (report.best_accuracy - report.pick_accuracy):.2f} points apart)"
    )
