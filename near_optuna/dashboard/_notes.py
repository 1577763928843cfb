"""Markdown notes for optuna-dashboard: one per trial (its layers) and one per study.

optuna-dashboard stores notes in the study's storage (``optuna_dashboard.save_note``). Trial
notes must be written while the trial runs (a finished trial is read-only), so the objective
and the gate call :func:`write_note`; the study note can be written at any time. Writing is
best-effort: a storage hiccup is logged, never raised, because a note must not fail a trial.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import optuna

from near_optuna.storage._keys import (
    STUDY_DATA,
    STUDY_MODEL,
    STUDY_REFINE,
    STUDY_SATURATION,
    STUDY_SCORE_NAME,
    STUDY_SPACE,
    STUDY_VALIDATION,
)

logger = logging.getLogger("near_optuna")


def layer_table(layers: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of per-layer effective ranks and their utilisation (erank / width).

    ``layer`` is the hidden layer's position (as in saturation widths and figures) or
    ``output``; ``module`` is the layer's name in the model.

    Example:
        >>> print(layer_table([{"name": "0", "width": 4, "pre": 3.0, "post": 2.0, "rows": 4},
        ...                    {"name": "2", "width": 2, "pre": 2.0, "post": None, "rows": 2}]))
        | layer | module | width | rows | erank pre | erank post | use pre | use post |
        |---|---|---:|---:|---:|---:|---:|---:|
        | 0 | 0 | 4 | 4 | 3.00 | 2.00 | 75% | 50% |
        | output | 2 | 2 | 2 | 2.00 | — | 100% | — |
    """
    lines = [
        "| layer | module | width | rows | erank pre | erank post | use pre | use post |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    position = 0
    for layer in layers:
        width = max(int(layer["width"]), 1)
        post = layer.get("post")
        post_text = "—" if post is None else f"{post:.2f}"
        use_post = "—" if post is None else f"{post / width:.0%}"
        label = "output" if post is None else str(position)
        position += post is not None
        lines.append(
            f"| {label} | {layer['name']} | {layer['width']} | {layer.get('rows', '')} | "
            f"{layer['pre']:.2f} | {post_text} | {layer['pre'] / width:.0%} | {use_post} |"
        )
    return "\n".join(lines)


def trial_note(
    layers: Sequence[dict[str, Any]],
    *,
    score: float | None,
    pruned: str | None,
    signal: dict[str, Any] | None,
    probe: str | None = None,
) -> str:
    """The Markdown note of one trial: verdict, per-layer table, signal statistics."""
    parts = []
    if pruned is not None:
        parts.append(f"**Pruned:** {pruned}")
    elif score is not None:
        parts.append(f"**NEAR:** {score:.2f}")
    if probe is not None and pruned is None:
        parts.append(f"**Size probe:** trained to find out whether width pays ({probe})")
    if layers:
        parts.append(layer_table(layers))
    if signal:
        drive = ""
        if "max_drive" in signal:  # records written before the drive rule existed have none
            drive = f", largest drive {_number(signal['max_drive'], '.3g')}x"
        parts.append(
            f"Signal: output RMS {_number(signal['output_rms'], '.3g')}, largest growth "
            f"{_number(signal['max_growth'], '.3g')}x, most saturated layer "
            f"{_number(signal['max_saturation'], '.0%')}{drive}."
        )
    return "\n\n".join(parts)


def _number(value: float | None, spec: str) -> str:
    # Stored records hold None where a statistic was infinite (plain JSON has no inf).
    return "inf" if value is None else format(value, spec)


def write_note(target: optuna.Study | optuna.Trial, body: str) -> None:
    """Save ``body`` as the dashboard note of a study or a running trial (best effort)."""
    try:
        from optuna_dashboard import save_note

        save_note(target, body)
    except Exception as err:  # a note must never fail the trial or the study
        what = "the study" if isinstance(target, optuna.Study) else f"trial {target.number}"
        logger.warning("near_optuna: could not write the dashboard note of %s: %s", what, err)


def data_note(data: dict[str, Any]) -> str:
    """Markdown: the study's data, its task and how a file's columns became features.

    Example:
        >>> print(data_note({"name": "pets", "description": "pets.csv", "train_samples": 30,
        ...     "features": 4, "classes": 2, "task": "classification",
        ...     "columns": {"target": "label", "features": ["age", "weight"],
        ...                 "one_hot": {"color": ["a", "b"]}, "dropped": ["id"]}}))
        **Data:** pets (pets.csv): 30 training samples, 4 features, classification of 2 classes.
        <BLANKLINE>
        **Columns:** target 'label'; 2 numeric (age, weight); one-hot: color (a, b); dropped: id.
    """
    task = data.get("task", "classification")
    kind = f"classification of {data['classes']} classes" if task == "classification" else task
    rule = f" (auto: {data['task_rule']})" if data.get("task_rule") else ""
    parts = [
        f"**Data:** {data['name']} ({data['description']}): {data['train_samples']} training "
        f"samples, {data['features']} features, {kind}{rule}."
    ]
    columns = data.get("columns")
    if columns:
        parts.append(f"**Columns:** {_columns_text(columns)}.")
    return "\n\n".join(parts)


def _columns_text(columns: dict[str, Any]) -> str:
    numeric = columns.get("features", [])
    shown = ", ".join(numeric[:20]) + (
        f" and {len(numeric) - 20} more" if len(numeric) > 20 else ""
    )
    items = [f"target {columns.get('target')!r}", f"{len(numeric)} numeric ({shown})"]
    one_hot = columns.get("one_hot") or {}
    if one_hot:
        items.append(
            "one-hot: "
            + "; ".join(f"{name} ({', '.join(map(str, cats))})" for name, cats in one_hot.items())
        )
    if columns.get("dropped"):
        items.append(f"dropped: {', '.join(map(str, columns['dropped']))}")
    imputed = columns.get("imputed")
    if imputed:
        where = ", ".join(f"{name} ({n})" for name, n in imputed["columns"].items())
        items.append(
            f"{imputed['cells']} missing cells filled with the training split's "
            f"{imputed['how']}: {where}"
        )
    text = "; ".join(items)
    for key, label in (("notes", "Note"), ("warnings", "Warning")):
        for line in columns.get(key, []):
            text += f".\n\n**{label}:** {line.rstrip('.')}"
    return text


def refine_note(refine: dict[str, Any]) -> str:
    """Markdown: the refinement's answer, its verdict, the size cap and the rungs."""
    found = refine["answer"]
    rank = "" if found["near_rank"] is None else f", from NEAR rank {found['near_rank']}"
    rungs = ", ".join(f"{r['candidates']} at {r['steps']}" for r in refine["schedule"]["rungs"])
    lines = [
        f"**Answer:** {found['widths']} {found['activation']} {found['init']} "
        f"({refine['n_params']} parameters, {found['origin']}{rank}): validation "
        f"{refine['metric']} {refine['score']:.4f}, chosen from {len(refine['candidates'])} "
        f"candidates trained with successive halving in the linked study "
        f"`{refine['study_name']}` (candidates at cumulative optimizer steps: {rungs}; "
        f"{refine['seconds']:.0f} s).",
        f"**Verdict:** {refine['verdict']['text']}.",
    ]
    cap = refine["cap"]
    if cap["widths"] is not None:
        fate = f"retired: {cap['by']} won on validation" if cap["retired"] else "kept"
        lines.append(f"**Size cap** (saturation widths x tolerance): {cap['widths']}; {fate}.")
    return "\n\n".join(lines)


def model_note(model: dict[str, Any]) -> str:
    """Markdown: the model file ``--save-model`` wrote and how its network was trained."""
    trained, validation = model["trained"], model["validation"]
    return (
        f"**Model file:** `{model['path']}` ({model['key']}, {trained['how']}, "
        f"{trained['steps']} optimizer steps on {trained['rows']} training rows; validation "
        f"{validation['metric']} {validation['score']:.4f}). Predict with `python -m "
        f"near_optuna.predict --model {model['path']} --data FILE --out predictions.csv`."
    )


def study_note(study: optuna.Study) -> str:
    """Markdown: data, search space, saturation widths and validation of a near_optuna study."""
    attrs = study.user_attrs
    parts = ["## near_optuna study"]
    refine = attrs.get(STUDY_REFINE)
    if refine:
        parts.append(refine_note(refine))
    model = attrs.get(STUDY_MODEL)
    if model:
        parts.append(model_note(model))
    data = attrs.get(STUDY_DATA)
    if data:
        parts.append(data_note(data))
    space = attrs.get(STUDY_SPACE)
    if space:
        parts.append(
            f"**Search space:** depth {space['min_depth']} to {space['max_depth']}, widths "
            f"{space['min_width']} to {space['max_width']}, activations "
            f"{', '.join(space['activations'])}; inits {', '.join(space['inits'])}."
        )
    if attrs.get(STUDY_SCORE_NAME):
        parts.append(f"**Score:** {attrs[STUDY_SCORE_NAME]}.")
    saturation = attrs.get(STUDY_SATURATION)
    if saturation:
        parts.append(
            f"**Saturation widths per layer:** {saturation['widths']} (a layer may be "
            f"up to {saturation['tolerance']:g}x its width before it is pruned)."
        )
    validation = attrs.get(STUDY_VALIDATION)
    if validation:
        rho = validation["spearman"]
        metric = "R²" if validation.get("metric") == "r2" else "accuracy"
        parts.append(
            f"**Validation** ({len(validation['trials'])} configurations trained for "
            f"{validation['epochs']} epochs): Spearman(score, {metric}) = "
            f"{'n/a' if rho is None else f'{rho:.3f}'}; the score's pick reached "
            f"{validation['pick_trained']:.4f}, the best trained "
            f"{validation['best_trained']:.4f}."
        )
    return "\n\n".join(parts)
