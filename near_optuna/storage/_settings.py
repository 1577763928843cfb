"""The settings every worker of a study must share, written once, by the study's creator.

Several workers may open one new study at the same instant. Creating the study is atomic in
every Optuna storage (one worker creates it, the others get ``DuplicatedStudyError`` and load
it), so only the creator writes the shared settings; the others wait until
``near:settings``, written last, is there (:func:`wait_for_settings`) and then compare. No two
workers ever race to write different values, such as their own scoring seeds.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from near_optuna.data._datasets import Dataset
from near_optuna.storage._keys import (
    STUDY_DATA,
    STUDY_DATA_HASH,
    STUDY_SCORE_NAME,
    STUDY_SETTINGS,
    STUDY_SPACE,
)
from near_optuna.storage._open import StorageError

SETTINGS_WAIT_SECONDS = 60.0
"""How long a worker that loaded a new study waits for its creator's settings."""
POLL_SECONDS = 0.2
WHY = {
    STUDY_SPACE: "the sampler learns one search space",
    STUDY_SCORE_NAME: "a study optimises one score",
    STUDY_DATA_HASH: "scores on other data cannot be compared",
    STUDY_DATA: "scores on other data cannot be compared",
    STUDY_SETTINGS: "trials are compared by their scores, so all of them must be scored alike",
}
"""Why each shared study attribute must match, for the messages."""


@dataclass(frozen=True)
class Difference:
    """One setting whose stored value differs from this run's.

    Attributes:
        key: The study attribute (``near:settings``).
        name: The setting (``repetitions``): the attribute's field, or its last part.
        stored: The study's value.
        given: This run's value.
    """

    key: str
    name: str
    stored: Any
    given: Any


class SettingsMismatch(StorageError):
    """A study created with other settings than this run's; ``differences`` says which."""

    def __init__(self, study_name: str, differences: list[Difference]) -> None:
        self.study_name = study_name
        self.differences = differences
        shown = "; ".join(
            f"`{d.name}` is {short(d.stored)} in the study, {short(d.given)} now"
            for d in differences
        )
        super().__init__(
            f"study {study_name!r} was created with other settings: {shown} ({self.why()}); "
            "use another `study_name` or the study's settings."
        )

    def why(self) -> str:
        """Why the differing settings must match, each reason once."""
        return "; ".join(
            dict.fromkeys(WHY.get(d.key, "workers must agree") for d in self.differences)
        )


def short(value: Any) -> str:
    """A value for a one-line message: hashes cut to 12 characters.

    Example:
        >>> short("0123456789abcdef" * 4), short(3), short(["relu"])
        ('0123456789ab', '3', "['relu']")
    """
    if isinstance(value, str) and len(value) == 64:
        return value[:12]
    return repr(value) if isinstance(value, str) else str(value)


def data_hash(data: Dataset) -> str:
    """SHA-256 of a dataset's values: training and test features and labels, in order.

    These are the values the networks see, after the split and the standardisation: the name
    and description do not count (the same values in a renamed file are the same data), nor
    does shifting or scaling a whole column, which standardises to the same features. Dtypes
    and shapes count. Values are exact, so workers must load the data with the same split
    seed (the study's) and the same library versions.

    Example:
        >>> from near_optuna.data._datasets import from_arrays
        >>> x, y = np.arange(20.0).reshape(10, 2) % 7, np.arange(10) % 2
        >>> data_hash(from_arrays(x, y, name="a")) == data_hash(from_arrays(x, y, name="b"))
        True
        >>> data_hash(from_arrays(x, y)) == data_hash(from_arrays(x**2, y))
        False
    """
    digest = hashlib.sha256()
    for array in (data.x_train, data.y_train, data.x_test, data.y_test):
        values = np.ascontiguousarray(array)
        digest.update(f"{values.dtype.str}{values.shape};".encode())
        digest.update(values.tobytes())
    return digest.hexdigest()


def differences(
    attrs: Mapping[str, Any],
    expected: Mapping[str, Any],
    *,
    ignore: Mapping[str, Collection[str]] | None = None,
) -> list[Difference]:
    """The settings of ``expected`` whose value in ``attrs`` differs; absent ones do not count.

    Dict values are compared field by field, leaving out the fields that ``ignore`` names for
    that key (for example the scoring seed, or the data's file name).

    Example:
        >>> differences({"near:settings": {"seed": 0, "repetitions": 5}},
        ...             {"near:settings": {"seed": 1, "repetitions": 3}},
        ...             ignore={"near:settings": ["seed"]})
        [Difference(key='near:settings', name='repetitions', stored=5, given=3)]
    """
    found = []
    for key, given in expected.items():
        if key not in attrs:
            continue
        stored, skip = attrs[key], set((ignore or {}).get(key, ()))
        if isinstance(stored, dict) and isinstance(given, dict):
            for name in dict.fromkeys([*stored, *given]):
                if name not in skip and stored.get(name) != given.get(name):
                    found.append(Difference(key, name, stored.get(name), given.get(name)))
        elif stored != given:
            found.append(Difference(key, key.split(":")[-1], stored, given))
    return found


def check_study_settings(
    study: optuna.Study,
    expected: Mapping[str, Any],
    *,
    ignore: Mapping[str, Collection[str]] | None = None,
) -> None:
    """Refuse to add trials to a study that was created with other settings.

    ``expected`` maps study user-attribute keys to this run's values. Every stored key is
    compared first (:func:`differences`); only then are the keys the study lacks written, in
    the order of ``expected``, so a refused run leaves the study as it was.

    Raises:
        SettingsMismatch: Naming each differing setting, its two values and why they must
            match.
    """
    attrs = study.user_attrs
    found = differences(attrs, expected, ignore=ignore)
    if found:
        raise SettingsMismatch(study.study_name, found)
    for key, value in expected.items():
        if key not in attrs:
            study.set_user_attr(key, value)


def wait_for_settings(
    study: optuna.Study, *, seconds: float = SETTINGS_WAIT_SECONDS
) -> dict[str, Any]:
    """The study's user attributes once its creator has written ``near:settings``.

    A study that already holds trials, or whose settings do not come within ``seconds`` (its
    creator died), is returned as it is; the caller then writes what is missing.
    """
    deadline = time.monotonic() + seconds
    while True:
        attrs = dict(study.user_attrs)
        if STUDY_SETTINGS in attrs or study.get_trials(deepcopy=False):
            return attrs
        if time.monotonic() > deadline:
            return attrs
        time.sleep(POLL_SECONDS)


def stored_seed(attrs: Mapping[str, Any]) -> int | None:
    """The scoring seed the study was created with, if it has one.

    Example:
        >>> stored_seed({"near:settings": {"seed": 3}}), stored_seed({})
        (3, None)
    """
    settings = attrs.get(STUDY_SETTINGS)
    seed = settings.get("seed") if isinstance(settings, dict) else None
    return seed if isinstance(seed, int) else None
