"""Guarding a study against workers or reruns with other settings."""

from __future__ import annotations

from typing import Any

import optuna

from near_optuna.storage._open import StorageError


def check_study_settings(study: optuna.Study, expected: dict[str, Any]) -> None:
    """Refuse to add trials to a study that was created with other settings.

    ``expected`` maps study user-attribute keys to their values; keys the study lacks are
    written (a new study), keys that differ raise.

    Raises:
        StorageError: Naming the first differing setting and what to do.
    """
    attrs = study.user_attrs
    for key, value in expected.items():
        if key in attrs and attrs[key] != value:
            raise StorageError(
                f"study {study.study_name!r} was created with another {key.split(':')[-1]} "
                f"({attrs[key]!r}, now {value!r}); use another study name or the same settings."
            )
    for key, value in expected.items():
        if key not in attrs:
            study.set_user_attr(key, value)
