"""What a trial records while it runs: ``near:*`` attributes and its dashboard note."""

from __future__ import annotations

from dataclasses import asdict

import optuna

from near_optuna.dashboard._notes import trial_note, write_note
from near_optuna.measure._evaluate import Evaluation
from near_optuna.numerics._checks import plain_json
from near_optuna.storage._keys import (
    TRIAL_LAYERS,
    TRIAL_N_PARAMS,
    TRIAL_PRUNED,
    TRIAL_SCORE,
    TRIAL_SIGNAL,
    TRIAL_SIZE_PROBE,
    TRIAL_WIDTHS,
)


def record_trial(
    trial: optuna.Trial,
    *,
    widths: list[int],
    result: Evaluation,
    notes: bool = True,
    probe: str | None = None,
) -> None:
    """Store an evaluation on a live trial: ``near:`` attributes and the dashboard note.

    ``near:score`` is NEAR itself (the sum of the per-layer means), whatever the study
    optimises, so a study that optimises a peer score or accuracy still ranks by NEAR.
    """
    layers = [plain_json(asdict(layer)) for layer in result.layers]
    signal = None if result.signal is None else plain_json(result.signal.to_dict())
    trial.set_user_attr(TRIAL_WIDTHS, [int(w) for w in widths])
    trial.set_user_attr(TRIAL_N_PARAMS, int(result.n_params))
    trial.set_user_attr(TRIAL_LAYERS, layers)
    if result.layers:
        trial.set_user_attr(TRIAL_SCORE, float(sum(layer.total for layer in result.layers)))
    if signal is not None:
        trial.set_user_attr(TRIAL_SIGNAL, signal)
    if result.pruned is not None:
        trial.set_user_attr(TRIAL_PRUNED, result.pruned)
    if probe is not None:
        trial.set_user_attr(TRIAL_SIZE_PROBE, probe)
    if notes:
        value = None if result.pruned is not None else result.value
        note = trial_note(layers, score=value, pruned=result.pruned, signal=signal, probe=probe)
        write_note(trial, note)
