"""The data's name lists and limits, importable without numpy (the command line's ``--help``)."""

from __future__ import annotations

DATASETS: tuple[str, ...] = ("digits", "mnist1d", "breast_cancer", "wine", "diabetes")
DEFAULT_DATASET = "digits"
TASKS: tuple[str, ...] = ("auto", "classification", "regression")
IMPUTE: tuple[str, ...] = ("mean", "median")
MAX_CATEGORIES = 32
"""A text column with more distinct values than this is refused (an ID or free text)."""
