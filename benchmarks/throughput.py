"""Trials per minute of 1, 2 and 4 CLI workers sharing one study.

Usage:
    python benchmarks/throughput.py [--storage-kind journal|sqlite|postgres] [--trials 60]

For each worker count, a fresh study is warmed up with one trial (so the one-off saturation
estimate is cached in it), then that many ``python -m near_optuna.tune`` processes share a
budget of ``--trials`` more trials (``--max-total-trials``). The wall time runs from starting
the workers to the last one exiting, so it includes each process's start-up (imports, data).
``postgres`` starts a throwaway server with tests/pg_server.py (needs PostgreSQL installed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ARGS = ["--dataset", "digits", "--repetitions", "1", "-q"]


def run_workers(storage: str, workers: int, budget: int, cwd: str) -> float:
    """Seconds until ``workers`` processes have finished a shared ``budget``."""
    env = {k: v for k, v in os.environ.items() if k != "OPTUNA_STORAGE"}
    command = [
        sys.executable,
        "-m",
        "near_optuna.tune",
        "--storage",
        storage,
        "--study-name",
        f"throughput-{workers}",
        *ARGS,
    ]
    subprocess.run(
        [*command, "--n-trials", "1"], cwd=cwd, env=env, check=True, capture_output=True
    )
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [*command, "--max-total-trials", str(budget + 1)],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    for proc in procs:
        proc.wait()
    return time.perf_counter() - start


@contextlib.contextmanager
def storage_url(kind: str, root: str) -> Iterator[str]:
    """Yield a storage URL of ``kind`` (each worker count uses its own study name)."""
    if kind == "postgres":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from pg_server import postgres_server

        with postgres_server() as (url, _port):
            yield url
        return
    yield f"journal:///{root}/study.log" if kind == "journal" else f"sqlite:///{root}/study.db"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--storage-kind", choices=["journal", "sqlite", "postgres"], default="journal"
    )
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    print(f"{args.storage_kind} storage, {args.trials} trials on digits, {os.cpu_count()} CPUs")
    print("| workers | wall time (s) | trials per minute |")
    print("|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as root, storage_url(args.storage_kind, root) as url:
        for workers in args.workers:
            seconds = run_workers(url, workers, args.trials, root)
            print(f"| {workers} | {seconds:.1f} | {60 * args.trials / seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
