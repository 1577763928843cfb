"""``NearCallback``: study-level NEAR evidence as an Optuna ``callbacks=[...]`` item.

Shaped like Optuna's terminator: an estimator (:func:`near_evidence`), a rule
(``has_stalled``), and this thin callback that stores the one and applies the other.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import optuna

from near_optuna.dashboard._publish import publish_study
from near_optuna.numerics._rules import has_stalled
from near_optuna.storage._keys import STUDY_EVIDENCE, STUDY_STOPPED
from near_optuna.study._evidence import near_evidence

logger = logging.getLogger("near_optuna")


@dataclass
class NearCallback:
    """Keep study-level NEAR evidence up to date, and optionally stop a study early.

    After every finished trial (complete, pruned or failed), it stores :func:`near_evidence` in the
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
                evidence = near_evidence(study)
                study.set_user_attr(STUDY_EVIDENCE, evidence.to_dict())
                if self.publish_every and (trial.number + 1) % self.publish_every == 0:
                    publish_study(study)
            except Exception as err:  # the callback must never break the study
                logger.warning("near_optuna: NearCallback skipped trial %s: %s", trial.number, err)
                return
            if evidence.best_near is None:
                return
            reason = has_stalled(evidence.since_improvement, patience=self.stop_after)
            if reason is not None:
                study.set_user_attr(STUDY_STOPPED, reason)
                study.stop()
