"""The command's entry point: parse, prepare, optimise, check with training, report.

Only the parser is imported up front, so ``--help`` and usage errors answer without loading
torch and Optuna; :func:`main` imports the rest once the arguments are known.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from near_optuna.tune._errors import PROG, UsageError, report_error
from near_optuna.tune._parser import parse_arguments

if TYPE_CHECKING:
    from near_optuna.study._refine import Refinement
    from near_optuna.study._training_check import TrainingCheck
    from near_optuna.tune._run import Prepared


def run(args: argparse.Namespace, prepared: Prepared, *, start: float) -> int:
    """Optimise, check with training (``--validate``), and report.

    ``start`` (``time.perf_counter()``) is when the command started: the run's time budget
    counts from there.
    """
    import json
    from pathlib import Path

    from near_optuna.dashboard._publish import publish_study
    from near_optuna.numerics._checks import plain_json
    from near_optuna.storage._open import display_url
    from near_optuna.study._training_check import check_with_training
    from near_optuna.tune._budget import one_thread_unless_asked, run_budget
    from near_optuna.tune._progress import progress_bar
    from near_optuna.tune._report import model_line, print_report, print_validation, summary
    from near_optuna.tune._run import data_notes, optimise

    if not args.quiet:
        notes, warnings = data_notes(prepared.data)
        for line in notes:
            print(line)
        for line in warnings:
            print(line, file=sys.stderr)
        if getattr(args, "pruning_note", None):
            print(args.pruning_note)
    if prepared.data.task_rule is not None and not args.quiet:
        print(f"Task: {prepared.data.task} ({prepared.data.task_rule}; `--task` sets it).")
    one_thread_unless_asked()
    budget = run_budget(args, prepared.data, start=start)
    if budget.how is not None and not args.quiet:
        print(f"Time budget: {budget.seconds:.0f} s ({budget.how}).")
    optimise(args, prepared, deadline=budget.near_deadline())
    study = prepared.study
    report: TrainingCheck | None = None
    if args.validate:
        try:
            with progress_bar("training (--validate)", quiet=args.quiet) as progress:
                report = check_with_training(
                    study,
                    prepared.data,
                    args.validate,
                    seed=prepared.seed,
                    device=args.device,
                    progress=progress,
                )
        except ValueError as err:  # no completed trial to train: say so, report the rest
            print(f"{PROG}: warning: `--validate` skipped: {err}", file=sys.stderr)
    refinement = None
    if args.refine:
        refinement = refine(args, prepared, time_budget=budget.left())
    model = None if args.save_model is None else save_model(args, prepared, refinement)
    figures = publish_study(study)
    info = summary(study, display_url(prepared.url), report, refinement)
    info["dashboard_figures"] = figures
    if model is not None:
        info["model"] = model
    print_report(info, args.score, quiet=args.quiet, pareto=args.multi_objective)
    if report is not None and not args.quiet:
        print_validation(report)
    if model is not None and not args.quiet:
        print(model_line(model))
    if args.json:
        text = json.dumps(plain_json(info), indent=2, allow_nan=False)
        Path(args.json).write_text(text + "\n")
    return 0


def refine(
    args: argparse.Namespace, prepared: Prepared, *, time_budget: float | None
) -> Refinement | None:
    """``--refine K``: train the best configurations; ``None`` with a warning if none exist."""
    from near_optuna.storage._open import open_storage
    from near_optuna.study._candidates import refine_candidates
    from near_optuna.study._refine import refine_study
    from near_optuna.tune._progress import progress_bar

    study = prepared.study
    try:
        candidates = refine_candidates(study, args.refine)
    except ValueError as err:
        print(f"{PROG}: warning: `--refine` skipped: {err}", file=sys.stderr)
        return None
    near = sum(c.origin == "near" for c in candidates)
    if near < args.refine and not args.quiet:
        print(f"--refine {args.refine}: the study has {near} distinct configurations; using them.")
    if args.max_total_trials is not None:
        return refine_with_workers(args, prepared)
    with progress_bar("refining (successive-halving rungs)", quiet=args.quiet) as progress:
        return refine_study(
            study,
            prepared.data,
            args.refine,
            epochs=args.refine_epochs,
            time_budget=time_budget,
            seed=prepared.seed,
            device=args.device,
            storage=open_storage(prepared.url),  # no heartbeat: trials are asked, not optimised
            progress=progress,
        )


def refine_with_workers(args: argparse.Namespace, prepared: Prepared) -> Refinement:
    """``--refine`` with ``--max-total-trials``: the refinement shared by every worker.

    Each candidate is trained once by whichever worker claims it; a worker with nothing left
    to claim waits for the others (a progress bar of finished candidates), and every worker
    gives the one answer (:mod:`near_optuna.study._shared`). Rungs are not shortened to a
    time budget here: every claimed candidate trains its rungs in full.
    """
    from near_optuna.storage._open import open_storage
    from near_optuna.study._refine import linked_study
    from near_optuna.study._shared import refine_shared
    from near_optuna.tune._progress import progress_bar

    study = prepared.study
    linked = linked_study(study, open_storage(prepared.url, heartbeat=args.heartbeat))
    label = "refining with the other workers (candidates finished)"
    with progress_bar(label, quiet=args.quiet) as progress:
        return refine_shared(
            study,
            linked,
            prepared.data,
            args.refine,
            budget=args.max_total_trials,
            epochs=args.refine_epochs,
            seed=prepared.seed,
            device=args.device,
            heartbeat=args.heartbeat,
            waiting=progress,
        )


def save_model(
    args: argparse.Namespace, prepared: Prepared, refinement: Refinement | None
) -> dict[str, Any] | None:
    """``--save-model PATH``: write the answer's trained network; its record, or ``None``.

    The refinement's answer is saved as it was trained there, trained on to the last rung's
    full length if the time budget cut it (:meth:`Refinement.complete_model`); without a
    refinement (``--refine 0``) the NEAR best is trained once by the refinement's recipe.
    The record is also stored as the study's ``near:model`` (the dashboard note names it).
    """
    from near_optuna.numerics._checks import plain_json
    from near_optuna.storage._keys import (
        STUDY_MODEL,
        TRIAL_ACTIVATION,
        TRIAL_INIT,
        TRIAL_WIDTHS,
    )
    from near_optuna.study._candidates import Candidate
    from near_optuna.study._refine import train_answer

    study = prepared.study
    model = None if refinement is None else refinement.complete_model()
    if model is None:
        completed = [t for t in study.get_trials(deepcopy=False) if t.value is not None]
        if not completed:
            print(f"{PROG}: warning: `--save-model` skipped: no completed trial.", file=sys.stderr)
            return None
        best = study.best_trial
        attrs = best.user_attrs
        widths = tuple(attrs[TRIAL_WIDTHS])
        candidate = Candidate(widths, attrs[TRIAL_ACTIVATION], attrs[TRIAL_INIT], "near", 1)
        model = train_answer(candidate, prepared.data, seed=prepared.seed, device=args.device)
    path = model.save(args.save_model)
    record = {
        "path": str(path),
        "key": model.info["candidate"]["key"],
        "trained": model.info["trained"],
        "validation": model.info["validation"],
    }
    study.set_user_attr(STUDY_MODEL, plain_json(record))
    return record


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    start = time.perf_counter()
    args = parse_arguments(argv)
    try:  # every check of the user's input happens here, before a trial is stored
        from near_optuna.tune._run import prepare, redraw

        if args.redraw:
            return redraw(args)
        prepared = prepare(args)
        return run(args, prepared, start=start)
    except UsageError as err:
        return report_error(PROG, err, debug=args.debug, usage=True)
    except KeyboardInterrupt:
        print(
            f"{PROG}: interrupted; finished trials are stored, run again to resume.",
            file=sys.stderr,
        )
        return 130
    except Exception as err:
        return report_error(PROG, err, debug=args.debug, usage=False)


if __name__ == "__main__":
    raise SystemExit(main())
