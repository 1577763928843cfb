"""Smoke test of benchmarks/shared_refinement.py with a tiny study (two worker counts)."""

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.slow
def test_the_benchmark_runs_workers_and_writes_its_table(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    shared = importlib.import_module("shared_refinement")
    argv = ["shared_refinement.py", "--workers", "1", "2", "--repeats", "1", "--dataset", "wine"]
    argv += ["--trials", "4"]
    argv += ["--max-width", "16", "--refine", "1", "--refine-epochs", "2", "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    shared.main()
    table = (tmp_path / "shared_refinement.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith(("| 1 |", "| 2 |"))]
    assert len(rows) == 2, table
    assert all("| yes |" in row for row in rows), "every worker gave the same answer"
