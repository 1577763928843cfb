"""Reading a user's table: ``near_optuna.load_file`` against ``pandas.read_csv`` alone.

The test file is issue 13's: 200,000 rows, 50 float columns (8 significant digits), a string
column ``color`` (5 values) and an integer ``label`` (10 classes), about 110 MB of CSV. It is
generated (seeded) in a temporary folder and deleted afterwards.

Each measurement runs in a fresh Python process that first imports numpy, pandas, pyarrow,
scikit-learn's splitter and near_optuna, then records its peak RSS (``ru_maxrss``), reads the
file once and reports the wall time and how far the peak RSS rose above that baseline. The
readers alternate, three times each; the table shows medians.

    python benchmarks/read_table.py                  # the comparison (about 1 minute)
    python benchmarks/read_table.py --rows 1000000 --cli
        # a larger table, and the whole command on it:
        # python -m near_optuna.tune --data BIG.csv --target label --n-trials 20

``--cli`` runs the command in a child process and reports its wall time, its peak RSS and
the table's float32 size (rows x features x 4 bytes).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROWS = 200_000
FLOATS = 50
COLORS = np.array(["red", "green", "blue", "yellow", "purple"])
WRITE_ROWS = 100_000
READERS = ("pandas.read_csv", "load_file(.csv)", "load_file(.parquet)")


def write_table(path: Path, rows: int, *, seed: int = 0, color: bool = True) -> None:
    """The test table, written in blocks so a large one never sits in memory."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    with path.open("w") as fh:
        for start in range(0, rows, WRITE_ROWS):
            n = min(WRITE_ROWS, rows - start)
            frame = pd.DataFrame(
                rng.standard_normal((n, FLOATS)), columns=[f"f{i}" for i in range(FLOATS)]
            )
            if color:
                frame["color"] = COLORS[rng.integers(0, len(COLORS), n)]
            frame["label"] = rng.integers(0, 10, n)
            frame.to_csv(fh, index=False, header=start == 0, float_format="%.8g")


def worker(reader: str, path: str, parquet: str) -> None:
    """One measurement in this (fresh) process: print a JSON line."""
    import pandas as pd
    import pyarrow.parquet  # noqa: F401  (both readers pay the same imports)
    import sklearn.model_selection  # noqa: F401

    import near_optuna

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if reader == "pandas.read_csv":
        pd.read_csv(path)
    elif reader == "load_file(.csv)":
        near_optuna.load_file(path, target="label")
    else:
        near_optuna.load_file(parquet, target="label")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mb": (peak - base) / 1024}))


def measure(path: Path, parquet: Path, repeats: int) -> dict[str, list[dict[str, float]]]:
    """Each reader ``repeats`` times in fresh processes, alternating."""
    results: dict[str, list[dict[str, float]]] = {r: [] for r in READERS}
    for _ in range(repeats):
        for reader in READERS:
            out = subprocess.run(
                [sys.executable, __file__, "--worker", reader, str(path), str(parquet)],
                check=True,
                capture_output=True,
                text=True,
            )
            results[reader].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def report(results: dict[str, list[dict[str, float]]]) -> None:
    """The Markdown table of medians, with ratios to ``pandas.read_csv``."""
    base_s = statistics.median(r["seconds"] for r in results["pandas.read_csv"])
    base_mb = statistics.median(r["peak_mb"] for r in results["pandas.read_csv"])
    print("| reader | time (s) | time / read_csv | peak memory (MB) | memory / read_csv |")
    print("|---|---:|---:|---:|---:|")
    for reader, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        mb = statistics.median(r["peak_mb"] for r in runs)
        print(
            f"| {reader} | {seconds:.2f} | {seconds / base_s:.2f}x | {mb:.0f} | "
            f"{mb / base_mb:.2f}x |"
        )


def run_command(path: Path) -> float:
    """Run the command on ``path`` in a child process; its wall time in seconds."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable, "-m", "near_optuna.tune", "--data", str(path), "--target", "label",
            "--n-trials", "20", "-q", "--storage", f"sqlite:///{folder}/big.db",
        ]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def run_cli(path: Path, rows: int) -> None:
    """The whole command on ``path``: wall time, peak RSS over a 1,000-row run's, table size.

    ``ru_maxrss`` of the children is the largest child's, so the small run goes first.
    """
    with tempfile.TemporaryDirectory() as folder:
        small = Path(folder) / "small.csv"
        write_table(small, 1000)
        run_command(small)
    base = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    seconds = run_command(path)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    table = rows * (FLOATS + len(COLORS)) * 4 / 2**30
    print(
        f"{rows} rows, {path.stat().st_size / 2**30:.2f} GiB of CSV, a float32 table of "
        f"{table:.2f} GiB: the command took {seconds:.0f} s; peak RSS {peak:.2f} GiB, "
        f"{peak - base:.2f} GiB above a 1,000-row run ({(peak - base) / table:.2f}x the table)"
    )


def main() -> None:
    """Generate the table, then compare the readers (and run the command with ``--cli``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cli", action="store_true", help="also run the command on it")
    parser.add_argument("--no-compare", action="store_true", help="skip the reader table")
    parser.add_argument(
        "--table", help="use this CSV (written by write_table, with --rows rows) as it is"
    )
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "table.csv"
        if args.table:
            path = Path(args.table)
        else:
            write_table(path, args.rows)
        print(f"{args.rows} rows, {path.stat().st_size / 1e6:.0f} MB of CSV")
        if not args.no_compare:
            import pandas as pd

            parquet = Path(folder) / "table.parquet"
            pd.read_csv(path).to_parquet(parquet)
            report(measure(path, parquet, args.repeats))
        if args.cli:
            run_cli(path, args.rows)


if __name__ == "__main__":
    main()
