"""What a refinement trains: NEAR's best, wider variants, wide probes and a reference.

* ``near``: the ``k`` best distinct configurations of the NEAR study;
* ``x2``, ``x4``: the best few with every width doubled and quadrupled (NEAR cannot tell how
  wide a dataset needs its layers: the labels can);
* ``wide``: where the study's saturation cap kept every layer below the search space's widest
  width (low-dimensional inputs give small estimates), the best few at that widest width in
  every layer, so that a label-blind cap can never leave only small networks to choose from;
* ``reference``: a well-known default MLP, :data:`REFERENCE`, trained in every refinement as
  the yardstick that the answer must beat beyond the validation noise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import optuna
from torch import nn

from near_optuna.data._datasets import Dataset
from near_optuna.measure._mlp import build_mlp
from near_optuna.numerics._checks import check_at_least, plain_json
from near_optuna.storage._keys import (
    STUDY_SATURATION,
    STUDY_SPACE,
    TRIAL_ACTIVATION,
    TRIAL_CANDIDATE,
    TRIAL_INIT,
    TRIAL_WIDTHS,
)

ESCALATION_FACTORS: tuple[int, ...] = (2, 4)
DEFAULT_ESCALATE_TOP = 2
DEFAULT_PROBE_TOP = 2
MAX_ESCALATED_WIDTH = 2048
"""The cap of width escalation: no escalated layer is wider than this."""


@dataclass(frozen=True)
class Candidate:
    """One configuration the refinement trains.

    Attributes:
        widths: Hidden-layer widths.
        activation: Activation name.
        init: Initialisation name.
        origin: ``"near"`` (a NEAR-ranked configuration), ``"x2"``, ``"x4"`` (its widths
            escalated by that factor), ``"wide"`` (its shape at the search space's widest
            width) or ``"reference"`` (:data:`REFERENCE`).
        near_rank: Rank (1 = best) of the NEAR configuration it came from (``None`` for the
            reference).
        near_trial: Number of that trial in the NEAR study (``None`` for the reference).
    """

    widths: tuple[int, ...]
    activation: str
    init: str
    origin: str
    near_rank: int | None = None
    near_trial: int | None = None

    @property
    def key(self) -> str:
        """Identifies the configuration (widths, activation, init) across runs."""
        return f"{list(self.widths)}/{self.activation}/{self.init}"

    def build(self, data: Dataset, *, seed: int | None = None) -> nn.Sequential:
        """The untrained network of this configuration for ``data``'s inputs and outputs."""
        return build_mlp(
            data.in_features,
            self.widths,
            data.out_features,
            activation=self.activation,
            init=self.init,
            seed=seed,
        )

    def trial_attrs(self) -> dict[str, Any]:
        """The user attributes of a refinement trial that trains this configuration."""
        return {
            TRIAL_CANDIDATE: plain_json(asdict(self) | {"key": self.key}),
            TRIAL_WIDTHS: list(self.widths),
            TRIAL_ACTIVATION: self.activation,
            TRIAL_INIT: self.init,
        }

    def variant(self, widths: tuple[int, ...], origin: str) -> Candidate:
        """The same shape's activation, init and NEAR origin with other widths."""
        return Candidate(
            widths, self.activation, self.init, origin, self.near_rank, self.near_trial
        )


REFERENCE = Candidate((100,), "relu", "default", "reference")
"""The reference MLP of every refinement: one hidden layer of 100 ReLU units with PyTorch's
default initialisation, the shape of scikit-learn's ``MLPClassifier`` and ``MLPRegressor``.

Chosen by measurement (``benchmarks/real_tables.py``, seven real tables, each retrained 60
epochs): two layers of 256 overfit the small noisy tables (test R² -0.41 on ``fair``, 3.4 and
4.3 points of accuracy below on ``Chile`` and ``Benefits``) and won only by 0.011 R² on
``Computers`` and less elsewhere; three layers of 512 were worse still."""


def near_ranked(study: optuna.Study) -> list[Candidate]:
    """Completed NEAR trials as candidates, best first, one per distinct configuration."""
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    done = [t for t in done if TRIAL_WIDTHS in t.user_attrs and TRIAL_ACTIVATION in t.user_attrs]
    seen: set[str] = set()
    ranked: list[Candidate] = []
    for trial in sorted(done, key=lambda t: (-float(t.values[0]), t.number)):
        attrs = trial.user_attrs
        candidate = Candidate(
            tuple(int(w) for w in attrs[TRIAL_WIDTHS]),
            str(attrs[TRIAL_ACTIVATION]),
            str(attrs.get(TRIAL_INIT, "default")),
            "near",
            len(ranked) + 1,
            trial.number,
        )
        if candidate.key not in seen:
            seen.add(candidate.key)
            ranked.append(candidate)
    return ranked


def escalate(
    candidate: Candidate,
    *,
    factors: tuple[int, ...] = ESCALATION_FACTORS,
    max_width: int = MAX_ESCALATED_WIDTH,
) -> list[Candidate]:
    """Width-escalated variants: every width times each factor, capped at ``max_width``.

    Variants that the cap makes equal to the original or to each other are left out.

    Example:
        >>> base = Candidate((64, 600), "relu", "default", "near", 1, 7)
        >>> [v.widths for v in escalate(base, max_width=1024)]
        [(128, 1024), (256, 1024)]
    """
    variants, seen = [], {candidate.widths}
    for factor in factors:
        widths = tuple(min(w * factor, max_width) for w in candidate.widths)
        if widths not in seen:
            seen.add(widths)
            variants.append(candidate.variant(widths, f"x{factor}"))
    return variants


def size_cap(study: optuna.Study) -> list[float] | None:
    """The widest layer per position that saturation pruning let through, if it pruned.

    ``tolerance x saturation width`` from the study's ``near:saturation`` record; ``None``
    when the study holds no such record (pruning off, or a study made elsewhere).
    """
    record: Any = study.user_attrs.get(STUDY_SATURATION)
    if not isinstance(record, dict) or not record.get("widths"):
        return None
    tolerance = float(record.get("tolerance", 1.0))
    return [tolerance * int(w) for w in record["widths"]]


def is_above_cap(widths: tuple[int, ...], cap: list[float] | None) -> bool:
    """Is any layer wider than the cap at its position (the last one beyond it)?

    Example:
        >>> is_above_cap((64, 300), [128.0, 256.0]), is_above_cap((64,), None)
        (True, False)
    """
    if not cap:
        return False
    return any(w > cap[min(i, len(cap) - 1)] for i, w in enumerate(widths))


def wide_probes(
    study: optuna.Study, ranked: list[Candidate], *, top: int = DEFAULT_PROBE_TOP
) -> list[Candidate]:
    """The ``top`` best shapes at the search space's widest width, where the cap kept below it.

    Nothing when the study has no saturation record or search space, or when the cap lets
    every position reach the widest width.
    """
    cap, space = size_cap(study), study.user_attrs.get(STUDY_SPACE)
    if cap is None or not isinstance(space, dict):
        return []
    widest = int(space["max_width"])
    if min(cap) >= widest:
        return []
    return [c.variant((widest,) * len(c.widths), "wide") for c in ranked[:top]]


def refine_candidates(
    study: optuna.Study,
    k: int,
    *,
    escalate_top: int = DEFAULT_ESCALATE_TOP,
    max_width: int = MAX_ESCALATED_WIDTH,
    probe_top: int = DEFAULT_PROBE_TOP,
    reference: Candidate | None = REFERENCE,
) -> list[Candidate]:
    """The reference, the ``k`` best distinct configurations, escalations and wide probes.

    Each configuration appears once (the first origin wins).

    Raises:
        ValueError: If ``k < 1``, ``escalate_top < 0``, ``probe_top < 0``, or the study has
            no completed trial with a configuration.
    """
    check_at_least(k, 1, name="k")
    check_at_least(escalate_top, 0, name="escalate_top")
    check_at_least(probe_top, 0, name="probe_top")
    ranked = near_ranked(study)
    if not ranked:
        raise ValueError(
            f"study {study.study_name!r} has no completed trial with a configuration to refine."
        )
    pool = [] if reference is None else [reference]
    pool += ranked[:k]
    for base in ranked[: min(escalate_top, k)]:
        pool += escalate(base, max_width=max_width)
    pool += wide_probes(study, ranked[:k], top=probe_top)
    chosen: dict[str, Candidate] = {}
    for candidate in pool:
        chosen.setdefault(candidate.key, candidate)
    return list(chosen.values())
