"""``NearCallback``: study-level NEAR evidence as an Optuna ``callbacks=[...]`` item."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import optuna
from scipy.stats import spearmanr

from near_optuna._dashboard import publish_study
from near_optuna._objective import ATTR_ACTIVATION, ATTR_INIT, ATTR_SCORE, ATTR_WIDTHS

logger = logging.getLogger("near_optuna")

ATTR_EVIDENCE = "near:evidence"


def _near(trial: optuna.trial.FrozenTrial) -> float | None:
    value = trial.user_attrs.get(ATTR_SCORE)
    return None if value is None else float(value)


def evidence(study: optuna.Study) -> dict[str, Any]:
    """What the completed trials say about NEAR (pure read of the study).

    * ``spearman``: rank correlation between the trials' ``near:score`` (written by
      :class:`NearGate`) and their objective values, from 3 such trials on (else ``None``);
    * ``best_near``: the completed trial with the highest NEAR, its value and configuration;
    * ``since_improvement``: finished trials after the one that set the best NEAR.
    """
    finished = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    done = [
        t for t in finished if t.state == optuna.trial.TrialState.COMPLETE and _near(t) is not None
    ]
    pairs = [(float(t.user_attrs[ATTR_SCORE]), float(t.values[0])) for t in done if t.values]
    rho = None
    same = all(abs(a - b) <= 1e-9 * max(abs(a), 1.0) for a, b in pairs)  # objective is NEAR
    if (
        len(pairs) >= 3
        and not same
        and len({p[0] for p in pairs}) > 1
        and len({p[1] for p in pairs}) > 1
    ):
        rho = float(spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic)
    best = max(done, key=lambda t: _near(t) or 0.0, default=None)
    info: dict[str, Any] = {
        "trials_with_near": len(done),
        "spearman": rho,
        "best_near": None,
        "since_improvement": 0,
    }
    if best is not None:
        info["best_near"] = {
            "trial": best.number,
            "near": _near(best),
            "value": best.values[0],
            "widths": best.user_attrs.get(ATTR_WIDTHS),
            "activation": best.user_attrs.get(ATTR_ACTIVATION),
            "init": best.user_attrs.get(ATTR_INIT),
            "params": best.params,
        }
        info["since_improvement"] = sum(1 for t in finished if t.number > best.number)
    return info


@dataclass
class NearCallback:
    """Keep study-level NEAR evidence up to date, and optionally stop a study early.

    After every finished trial (complete, pruned or failed), it stores :func:`evidence` in the
    study's ``near:evidence`` user attribute: the rank correlation between NEAR and your
    objective so far, and the best-NEAR configuration. With ``stop_after=N`` it calls
    ``study.stop()`` once the best NEAR has not improved for N finished trials. With
    ``publish_every=K`` it refreshes the optuna-dashboard study note and figures every K
    trials. Per-trial data is written by :class:`NearGate` or :class:`NearObjective` while
    the trial runs; a callback only sees finished trials. It is thread-safe (``n_jobs > 1``),
    and an error inside it is logged, never raised into the study.

    Args:
        stop_after: Stop after this many finished trials without a better NEAR (``None``: never).
        publish_every: Refresh dashboard material every this many trials (``None``: never).

    Raises:
        ValueError: For ``stop_after`` or ``publish_every`` below 1.

    Example:
        >>> import optuna
        >>> callback = NearCallback(stop_after=20)
        >>> study = optuna.create_study(direction="maximize")
        >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3, callbacks=[callback])
        >>> study.user_attrs["near:evidence"]["trials_with_near"]  # no NearGate in this study
        0
    """

    stop_after: int | None = None
    publish_every: int | None = None

    def __post_init__(self) -> None:
        for name in ("stop_after", "publish_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"`{name}` must be >= 1 or None, but got {name}={value}.")
        self._lock = threading.Lock()

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Update the study's evidence after ``trial`` finished."""
        with self._lock:
            try:
                info = evidence(study)
                study.set_user_attr(ATTR_EVIDENCE, info)
                if self.publish_every and (trial.number + 1) % self.publish_every == 0:
                    publish_study(study)
            except Exception as err:  # the callback must never break the study
                logger.warning("near_optuna: NearCallback skipped trial %s: %s", trial.number, err)
                return
            if (
                self.stop_after is not None
                and info["best_near"] is not None
                and info["since_improvement"] >= self.stop_after
            ):
                study.set_user_attr(
                    "near:stopped", f"best NEAR unchanged for {info['since_improvement']} trials"
                )
                study.stop()
