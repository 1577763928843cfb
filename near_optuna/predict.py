"""Predict with a saved model: ``python -m near_optuna.predict --model M --data F --out O``.

Reads new rows from ``--data`` (``.csv``, ``.tsv``, ``.parquet``, ``.npy`` or ``.npz``, by the
same rules as ``python -m near_optuna.tune --data``), applies the model's preprocessing (the
training data's columns, one-hot categories, imputation values and scaling) and writes one
prediction per input row, in order, to ``--out`` (``.csv``, ``.tsv`` or ``.parquet``), in a
column named after the target (``prediction`` for a model trained on arrays). ``--proba`` adds
one column per class, ``proba_<class>``. Columns that the model does not use (the target
among them) are ignored.

Exit codes: 0 success; 2 bad usage or input (one line on stderr, no traceback unless
``--debug``; nothing is written); 1 an unexpected failure.

Example:
    ``python -m near_optuna.tune --data cars.csv --target price --save-model cars.npz``, then
    ``python -m near_optuna.predict --model cars.npz --data new_cars.csv --out prices.csv``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROG = "python -m near_optuna.predict"
OUT_SUFFIXES = (".csv", ".tsv", ".parquet")


class _UsageError(ValueError):
    """Bad usage or input: one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    """The command's flags."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Predict with a model saved by `python -m near_optuna.tune --save-model`.",
    )
    parser.add_argument("--model", required=True, metavar="PATH", help="the model file")
    parser.add_argument(
        "--data", required=True, metavar="FILE", help="new rows: .csv, .tsv, .parquet, .npy, .npz"
    )
    parser.add_argument(
        "--out", required=True, metavar="FILE", help="where to write: .csv, .tsv or .parquet"
    )
    parser.add_argument(
        "--proba", action="store_true", help="add one probability column per class"
    )
    parser.add_argument("--device", default="cpu", help="where the network runs (cpu, cuda)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return parser


def _flag(message: str, flag: str) -> str:
    return message.replace("`path`", f"`{flag}`").replace("`data`", f"`{flag}`")


def _check_out(out: Path, data: Path) -> None:
    if out.suffix.lower() not in OUT_SUFFIXES:
        raise _UsageError(
            f"`--out` must end in one of {', '.join(OUT_SUFFIXES)}, but got {out.name!r}."
        )
    if not out.parent.is_dir():
        raise _UsageError(f"`--out` folder does not exist: {str(out.parent)!r}.")
    if out.exists() and data.exists() and out.resolve() == data.resolve():
        raise _UsageError(f"`--out` {out.name!r} is the `--data` file: it would be overwritten.")


def predictions(model: Any, rows: Any, *, proba: bool) -> Any:
    """One row per input row: the prediction column and, with ``proba``, one per class."""
    import pandas as pd

    name = model.target or "prediction"
    output = model.outputs(model.features(rows))
    frame = pd.DataFrame(index=range(len(output)))
    frame[name] = model.decode(output)
    if proba and model.task != "regression":
        probabilities = model.probabilities(output)
        for j, label in enumerate(model.classes):
            frame[f"proba_{label}"] = probabilities[:, j]
    return frame


def _write(frame: Any, out: Path) -> None:
    suffix = out.suffix.lower()
    if suffix == ".parquet":
        try:
            frame.to_parquet(out, index=False)
        except ImportError as err:
            raise _UsageError(
                "`--out` is a Parquet file, which needs the Python package 'pyarrow': "
                "pip install 'near_optuna[parquet]'."
            ) from err
        return
    frame.to_csv(out, index=False, sep="\t" if suffix == ".tsv" else ",")


def run(args: argparse.Namespace) -> int:
    """Load, predict, write; user errors raise :class:`_UsageError`."""
    from near_optuna.measure._model import load_model
    from near_optuna.tune._errors import user_input

    out, data = Path(args.out), Path(args.data)
    _check_out(out, data)
    with user_input({"path": "--model"}):
        model = load_model(args.model)
    model.device = args.device
    if args.proba and model.task == "regression":
        raise _UsageError("`--proba` needs a classifier, but this model is a regression.")
    with user_input({"path": "--data", "data": "--data"}):
        frame = predictions(model, data, proba=args.proba)
    _write(frame, out)
    if not args.quiet:
        for note in model.notes:
            print(_flag(note, "--data"))
        print(f"Wrote {len(frame)} predictions ({', '.join(frame.columns)}) to {out}.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    from near_optuna.tune._errors import UsageError, report_error

    try:
        return run(args)
    except (UsageError, _UsageError) as err:
        return report_error(PROG, err, debug=args.debug, usage=True)
    except Exception as err:
        return report_error(PROG, err, debug=args.debug, usage=False)


if __name__ == "__main__":
    raise SystemExit(main())
