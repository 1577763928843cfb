"""Saturation widths per layer position, estimated once per study and kept in the study.

The estimate (``estimate_layer_sizes``) costs seconds, so the first trial that needs it stores
it in the study's ``near:saturation`` attribute with a key that covers the inputs (their
fingerprint), the depth and the sizing options; later trials, other workers and reruns with
the same key reuse it, and other settings recompute it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

import optuna
import torch

from near_optuna.data._batch import Batch
from near_optuna.measure._sizing import Progress, estimate_layer_sizes
from near_optuna.numerics._checks import plain_json
from near_optuna.numerics._fit import geometric_grid
from near_optuna.storage._keys import STUDY_SATURATION

SIZING_INIT = "kaiming_uniform"
"""He initialisation keeps a ReLU signal's scale; PyTorch's default shrinks it by about
sqrt(3) per layer, so deeper positions would lose rank and be sized too small."""
DEFAULT_SIZING_MAX_WIDTH = 512
"""The widest layer a study searches when nothing says otherwise (``SearchSpace().max_width``);
the sizing grid reaches twice that."""

_LOCK = threading.Lock()  # one estimate at a time per process (Optuna's n_jobs threads)


def sizing_grid(max_width: int) -> list[int]:
    """Doubling widths up to twice the largest searched width: at least 5, from 8 when possible.

    Example:
        >>> sizing_grid(512), sizing_grid(16)
        ([8, 16, 32, 64, 128, 256, 512, 1024], [2, 4, 8, 16, 32])
    """
    high = max(2 * max_width, 32)
    return geometric_grid(max(1, min(8, high // 16)), high)


def saturation_widths(
    study: optuna.Study,
    batch: Batch,
    *,
    out_features: int,
    depth: int,
    max_width: int = DEFAULT_SIZING_MAX_WIDTH,
    tolerance: float,
    seed: int,
    sizing: dict[str, Any] | None = None,
    device: str | torch.device | None = None,
    progress: Progress | None = None,
) -> list[int]:
    """Saturation widths for ``depth`` positions of an MLP on ``batch``, cached in ``study``.

    ``sizing`` overrides the options of ``estimate_layer_sizes`` (defaults: a doubling grid up
    to ``2 * max_width``, He initialisation, ``seed``). ``tolerance`` is stored beside the
    widths for the dashboard. ``progress(done, total)`` reports the estimate's steps (it is
    not called when the study already holds the widths).
    """
    options = {"widths": sizing_grid(max_width), "seed": seed, "init": SIZING_INIT}
    options |= sizing or {}
    settings = json.dumps(options, sort_keys=True, default=str)
    digest = hashlib.sha256(settings.encode()).hexdigest()[:8]
    key = f"{batch.fingerprint}:{depth}:{digest}"
    with _LOCK:
        cached = study.user_attrs.get(STUDY_SATURATION)
        if isinstance(cached, dict) and cached.get("key") == key:
            return [int(w) for w in cached["widths"]]
        estimates = estimate_layer_sizes(
            batch,
            out_features=out_features,
            depth=depth,
            device=device,
            progress=progress,
            **options,
        )
        widths = [e.width for e in estimates]
        record = {
            "key": key,
            "widths": widths,
            "tolerance": tolerance,
            "estimates": [e.to_dict() for e in estimates],
        }
        study.set_user_attr(STUDY_SATURATION, plain_json(record))
    return widths
