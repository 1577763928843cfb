"""What a study's finished trials say about NEAR: the estimator behind ``NearCallback``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import optuna
from scipy.stats import spearmanr

from near_optuna.numerics._checks import plain_json
from near_optuna.storage._keys import TRIAL_ACTIVATION, TRIAL_INIT, TRIAL_SCORE, TRIAL_WIDTHS


@dataclass(frozen=True)
class BestNear:
    """The completed trial with the highest NEAR.

    Attributes:
        trial: Its number.
        near: Its NEAR (``near:score``).
        value: Its first objective value.
        params: Its Optuna parameters, as the study named them.
        widths: Its hidden widths (``near:widths``), when recorded.
        activation: Its activation (``near:activation``), when recorded.
        init: Its initialisation (``near:init``), when recorded.
    """

    trial: int
    near: float
    value: float
    params: dict[str, Any]
    widths: list[int] | None = None
    activation: str | None = None
    init: str | None = None


@dataclass(frozen=True)
class NearEvidence:
    """Study-level NEAR evidence (stored in ``near:evidence``).

    Attributes:
        trials_with_near: Completed trials that recorded NEAR.
        spearman: Rank correlation of NEAR with the objective value, from 3 such trials on
            whose values differ and are not NEAR itself (else ``None``).
        best_near: The best-NEAR trial, or ``None``.
        since_improvement: Finished trials after the one that set the best NEAR.
    """

    trials_with_near: int
    spearman: float | None
    best_near: BestNear | None
    since_improvement: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; ``best_near`` leaves out what the trial did not record."""
        data = asdict(self)
        if self.best_near is not None:
            data["best_near"] = {k: v for k, v in data["best_near"].items() if v is not None}
        return dict(plain_json(data))


def _near(trial: optuna.trial.FrozenTrial) -> float | None:
    value = trial.user_attrs.get(TRIAL_SCORE)
    return None if value is None else float(value)


def _spearman(pairs: list[tuple[float, float]]) -> float | None:
    same = all(abs(a - b) <= 1e-9 * max(abs(a), 1.0) for a, b in pairs)  # objective is NEAR
    if len(pairs) < 3 or same or len({a for a, _ in pairs}) < 2 or len({b for _, b in pairs}) < 2:
        return None
    return float(spearmanr([a for a, _ in pairs], [b for _, b in pairs]).statistic)


def near_evidence(study: optuna.Study) -> NearEvidence:
    """Read the study's finished trials (a pure read) and summarise what NEAR says.

    Example:
        >>> import optuna
        >>> study = optuna.create_study(direction="maximize")
        >>> for near, accuracy in [(1.0, 0.5), (2.0, 0.7), (3.0, 0.9)]:
        ...     trial = study.ask()
        ...     trial.set_user_attr("near:score", near)
        ...     _ = study.tell(trial, accuracy)
        >>> evidence = near_evidence(study)
        >>> evidence.spearman, evidence.best_near.trial, evidence.since_improvement
        (1.0, 2, 0)
    """
    finished = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    done = [
        t for t in finished if t.state == optuna.trial.TrialState.COMPLETE and _near(t) is not None
    ]
    pairs = [(float(t.user_attrs[TRIAL_SCORE]), float(t.values[0])) for t in done if t.values]
    best = max(done, key=lambda t: _near(t) or 0.0, default=None)
    if best is None:
        return NearEvidence(len(done), _spearman(pairs), None, 0)
    attrs = best.user_attrs
    best_near = BestNear(
        trial=best.number,
        near=float(attrs[TRIAL_SCORE]),
        value=float(best.values[0]),
        params=dict(best.params),
        widths=attrs.get(TRIAL_WIDTHS),
        activation=attrs.get(TRIAL_ACTIVATION),
        init=attrs.get(TRIAL_INIT),
    )
    since = sum(1 for t in finished if t.number > best.number)
    return NearEvidence(len(done), _spearman(pairs), best_near, since)
