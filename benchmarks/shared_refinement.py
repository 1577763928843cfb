"""The refinement shared by 1, 2 and 3 workers: its wall time, trainings per worker, one answer.

Usage: python benchmarks/shared_refinement.py [--workers 1 2 3] [--repeats 3]
       [--dataset mnist1d] [--trials 30] [--refine 4] [--refine-epochs 30] [--out DIR]

One NEAR study of ``--trials`` trials is made first (``--refine 0``), so every run refines the
same candidates. Then, for each worker count and repeat, a copy of that study gets that many
``python -m near_optuna.tune ... --max-total-trials N --refine K`` processes started at once
(the budget is already finished, so they go straight to the shared refinement), one torch
thread each. Reported per count: the median wall seconds of the whole command (first start to
last exit) and of the refinement (the longest worker's ``refine.seconds`` in ``--json``), the
trainings each worker ran, the optimizer steps of all workers together, and whether every
worker's answer is the same. The machine's cores bound what more workers gain here.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results"


def near_study(args: argparse.Namespace, folder: Path, env: dict[str, str]) -> Path:
    """The NEAR study every run refines: ``--trials`` trials, no refinement."""
    db = folder / "near.db"
    command = [sys.executable, "-m", "near_optuna.tune", *study_flags(args, db), "--refine", "0"]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return db


def study_flags(args: argparse.Namespace, db: Path) -> list[str]:
    return [
        *("--dataset", args.dataset, "--storage", f"sqlite:///{db}"),
        *("--max-width", str(args.max_width), "--max-total-trials", str(args.trials)),
        *("--repetitions", "1", "-q"),
    ]


def run_workers(
    n: int, args: argparse.Namespace, near: Path, folder: Path, env: dict[str, str]
) -> dict[str, object]:
    """Start ``n`` workers on a copy of the NEAR study; their records and the wall seconds."""
    db = folder / f"shared-{n}.db"
    shutil.copyfile(near, db)
    refine = ["--refine", str(args.refine), "--refine-epochs", str(args.refine_epochs)]
    start = time.perf_counter()
    command = [sys.executable, "-m", "near_optuna.tune", *study_flags(args, db), *refine]
    procs = [
        subprocess.Popen(
            [*command, "--seed", str(i), "--json", str(folder / f"shared-{n}-{i}.json")],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for i in range(n)
    ]
    codes = [proc.wait() for proc in procs]
    wall = time.perf_counter() - start
    if any(codes):
        raise RuntimeError(f"{n} worker(s) exited with {codes}")
    records = [json.loads((folder / f"shared-{n}-{i}.json").read_text()) for i in range(n)]
    answers = {json.dumps(r["answer"]) for r in records}
    return {
        "workers": n,
        "wall": wall,
        "refine_seconds": max(r["refine"]["seconds"] for r in records),
        "trainings": [r["refine"]["trainings"] for r in records],
        "steps": sum(r["refine"]["steps"] for r in records),
        "one_answer": len(answers) == 1,
        "answer": records[0]["answer"],
    }


def table(runs: dict[int, list[dict[str, object]]], args: argparse.Namespace) -> str:
    """Markdown: one row per worker count, medians over the repeats."""
    lines = [
        f"Settings: {vars(args)}",
        "",
        "| workers | whole command s (median) | refinement s (median; each repeat) "
        "| trainings per worker | optimizer steps, all workers | one answer | answer |",
        "|---:|---:|---|---|---:|---|---|",
    ]
    for n, rows in runs.items():
        refine = [float(str(r["refine_seconds"])) for r in rows]
        wall = statistics.median(float(str(r["wall"])) for r in rows)
        answer = rows[0]["answer"]
        assert isinstance(answer, dict)
        each = ", ".join(f"{v:.1f}" for v in refine)
        one = all(r["one_answer"] for r in rows)
        lines.append(
            f"| {n} | {wall:.1f} | {statistics.median(refine):.1f} ({each}) "
            f"| {[r['trainings'] for r in rows]} | {[r['steps'] for r in rows]} "
            f"| {'yes' if one else '**no**'} "
            f"| {answer['widths']} {answer['activation']} {answer['init']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run each worker count in turn and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dataset", default="mnist1d")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--max-width", type=int, default=256)
    parser.add_argument("--refine", type=int, default=4)
    parser.add_argument("--refine-epochs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "OPTUNA_STORAGE"}
    env |= {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    runs: dict[int, list[dict[str, object]]] = {n: [] for n in args.workers}
    with tempfile.TemporaryDirectory() as tmp:
        near = near_study(args, Path(tmp), env)
        for repeat in range(args.repeats):
            for n in args.workers:  # counts interleaved: load drifts hit every count alike
                row = run_workers(n, args, near, Path(tmp), env)
                runs[n].append(row)
                print(
                    f"repeat {repeat}, {n} worker(s): {row['wall']:.1f} s, refinement "
                    f"{row['refine_seconds']:.1f} s, trainings {row['trainings']}, steps "
                    f"{row['steps']}, one answer: {row['one_answer']}",
                    flush=True,
                )
    text = table(runs, args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "shared_refinement.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
