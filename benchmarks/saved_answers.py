"""The answer you can use: the saved model's test score and whole fit time, beside what users fit.

Usage: python benchmarks/saved_answers.py [--tables NAME ...] [--seeds 2] [--no-realmlp]
       [--out DIR] [--from-json FILE]

On the real tables of ``benchmarks/real_tables.py`` (same CSVs, same train/test splits), side
by side in one run, one torch thread each:

(a) ``near_optuna (saved)``: the plain command with ``--save-model``, as a user runs it; the
    saved file is loaded with ``load_model`` and predicts the test split's raw rows (the
    file's own preprocessing, no retraining). Its cost is the command's wall time.
(b) ``mlp-100``: the untuned default MLP (one layer of 100 ReLU units, PyTorch's
    initialisation), trained once for 60 epochs by the project's recipe on the whole training
    split; its cost is that training.
(c) ``hgb``: scikit-learn's HistGradientBoosting with its defaults.
(d) ``realmlp-td``: pytabkit's ``RealMLP_TD_Classifier`` / ``RealMLP_TD_Regressor`` with
    their defaults (skipped with ``--no-realmlp`` or when pytabkit is not installed:
    ``pip install pytabkit``).

(b)-(d) get the features near_optuna's reader makes (imputed, one-hot, standardised); the
test split is only scored. Writes ``saved_answers.json`` and ``saved_answers.md`` to
``--out`` (default benchmarks/results/).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from real_tables import TABLES, PreparedTable, near_command, prepare_table, run_hgb

from near_optuna import build_mlp, load_model, train_and_evaluate
from near_optuna.data._datasets import Dataset
from near_optuna.data._prepare import split_indices
from near_optuna.data._task import encode_target

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results"
METHODS = ("near_optuna (saved)", "mlp-100", "hgb", "realmlp-td")


def raw_test_rows(table: PreparedTable, data: Dataset, seed: int) -> tuple[Any, np.ndarray]:
    """The test split's rows as the file holds them, and their targets as the dataset has."""
    import pandas as pd

    frame = pd.read_csv(table.path)
    target = encode_target(frame[table.spec.target].to_numpy(), data.task)
    labels = target.values if data.task == "classification" else None
    _, test = split_indices(len(frame), labels, test_fraction=0.25, seed=seed)
    return frame.iloc[test], target.values[test]


def score(task: str, predicted: np.ndarray, truth: np.ndarray) -> float:
    if task == "classification":
        return float(np.mean(predicted == truth))
    truth = truth.astype(np.float64)
    return float(1.0 - np.sum((predicted - truth) ** 2) / np.sum((truth - truth.mean()) ** 2))


def run_saved(table: PreparedTable, data: Dataset, seed: int, folder: Path) -> dict[str, Any]:
    model_path = folder / f"{table.name}-{seed}.npz"
    command = near_command(table, seed, folder, f"--save-model {model_path}")
    env = {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *command[1:]], env=os.environ | env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1], "seconds": seconds}
    model = load_model(model_path)
    rows, truth = raw_test_rows(table, data, seed)
    predicted = model.predict(rows)
    if data.task == "classification":  # the file predicts labels; compare codes
        codes = {label: i for i, label in enumerate(model.classes)}
        predicted = np.array([codes[p] for p in predicted])
    # The file's features of the raw rows are the dataset's, bit for bit (tests/test_model.py).
    assert np.array_equal(model.features(rows), data.x_test)
    return {
        "test": score(data.task, predicted, truth),
        "seconds": seconds,
        "config": model.info["candidate"]["key"],
        "trained": model.info["trained"],
    }


def run_default_mlp(data: Dataset, seed: int) -> dict[str, Any]:
    model = build_mlp(data.in_features, [100], data.out_features, seed=seed)
    result = train_and_evaluate(model, data, epochs=60, seed=seed)
    return {"test": result.score, "seconds": result.seconds}


def run_realmlp(data: Dataset, seed: int) -> dict[str, Any]:
    try:
        from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor
    except ImportError:
        return {"error": "pytabkit is not installed"}
    kind = RealMLP_TD_Regressor if data.task == "regression" else RealMLP_TD_Classifier
    model = kind(random_state=seed, n_threads=1, device="cpu", verbosity=0)
    start = time.perf_counter()
    model.fit(data.x_train, data.y_train)
    seconds = time.perf_counter() - start
    predicted = np.asarray(model.predict(data.x_test)).reshape(-1)
    return {"test": score(data.task, predicted, data.y_test), "seconds": seconds}


def run_all(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    saved: dict[str, Any] = {"settings": vars(args) | {"out": str(out)}, "results": {}}
    saved["settings"].pop("from_json", None)
    with tempfile.TemporaryDirectory(prefix="saved_answers-") as tmp:
        folder = Path(tmp)
        for name in args.tables:
            table = prepare_table(name, folder)
            saved["results"][name] = {"task": table.spec.task, "runs": []}
            for seed in range(args.seeds):
                data = table.load(seed)
                methods = {
                    "near_optuna (saved)": run_saved(table, data, seed, folder),
                    "mlp-100": run_default_mlp(data, seed),
                    "hgb": run_hgb(data, seed, 1),
                }
                if args.realmlp:
                    methods["realmlp-td"] = run_realmlp(data, seed)
                saved["results"][name]["runs"].append(methods)
                (out / "saved_answers.json").write_text(json.dumps(saved, indent=1))
                cells = ", ".join(
                    f"{m} {r['test']:.4f} ({r['seconds']:.1f} s)" if "test" in r else f"{m} -"
                    for m, r in methods.items()
                )
                print(f"{name} seed {seed}: {cells}", flush=True)
    return saved


def markdown(saved: dict[str, Any]) -> str:
    lines = [
        "Test score (accuracy or R²) and whole fit time, mean over split seeds, one torch "
        "thread; near_optuna's is the saved model file's (no retraining).",
        "",
        "| table | task | " + " | ".join(METHODS) + " |",
        "|---|---|" + "---:|" * len(METHODS),
    ]
    for name, result in saved["results"].items():
        cells = []
        for method in METHODS:
            runs = [r[method] for r in result["runs"] if "test" in r.get(method, {})]
            if not runs:
                cells.append("-")
                continue
            test = statistics.fmean(r["test"] for r in runs)
            seconds = statistics.fmean(r["seconds"] for r in runs)
            cells.append(f"{test:.4f} ({seconds:.1f} s)")
        lines.append(f"| {name} | {result['task']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--no-realmlp", dest="realmlp", action="store_false")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--from-json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.from_json is not None:
        saved = json.loads(args.from_json.read_text())
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(1)
        saved = run_all(args, args.out)
    text = markdown(saved)
    (args.out / "saved_answers.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
