"""The built-in datasets' names, importable without numpy (the command line's ``--help``)."""

from __future__ import annotations

DATASETS: tuple[str, ...] = ("digits", "mnist1d", "breast_cancer", "wine")
DEFAULT_DATASET = "digits"
