"""The run's time budget: how long the NEAR study and the refinement may take together.

With the refinement on, a run is given ``--time-budget`` seconds, or by default twice the time
of one 60-epoch training of the reference MLP on the data, within 30 to 60 seconds
(:func:`~near_optuna.numerics._rules.default_time_budget`). The NEAR study gets at most
:data:`NEAR_SHARE` of it (its trials cost forward passes only and rarely need that much), the
refinement whatever is left when the study ends. A trial count given on the command line
(``--n-trials``, ``--max-total-trials``) is kept under the default budget: the study runs its
trials, and the refinement still gets at least the rest of its share.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field

from near_optuna.data._datasets import Dataset
from near_optuna.numerics._rules import default_time_budget

NEAR_SHARE = 0.4
"""The most of the run's budget the NEAR study may take when a refinement follows."""
MIN_REFINE_SECONDS = 1.0
"""The refinement gets at least this, even after a NEAR study that overran its share."""
REPORT_SECONDS = 3.0
"""Kept back at the end of the budget for the dashboard figures and the report (plotly's
import and the figures took up to 2.5 s on the loaded 2-core machine)."""


@dataclass(frozen=True)
class RunBudget:
    """A run's budget in seconds (``None``: unlimited) and how it was set.

    Attributes:
        seconds: The whole run's budget.
        how: How it was set, for the output (``None`` when unlimited).
        refine: Whether a refinement follows the NEAR study.
        counts_first: Whether the NEAR study runs its trial count whatever the time.
        start: ``time.perf_counter()`` when the budget began (the command's start).
    """

    seconds: float | None
    how: str | None
    refine: bool
    counts_first: bool = False
    start: float = field(default_factory=time.perf_counter)

    def near_deadline(self) -> float | None:
        """When the NEAR study should stop (``time.perf_counter()``; ``None``: no limit)."""
        if self.seconds is None or self.counts_first:
            return None
        return self.start + self.seconds * (NEAR_SHARE if self.refine else 1.0)

    def left(self) -> float | None:
        """Seconds left for the refinement (at least :data:`MIN_REFINE_SECONDS`)."""
        if self.seconds is None:
            return None
        floor = self.seconds * (1 - NEAR_SHARE) if self.counts_first else MIN_REFINE_SECONDS
        left = self.seconds - REPORT_SECONDS - (time.perf_counter() - self.start)
        return max(left, floor)


def one_thread_unless_asked() -> None:
    """One torch thread for the command, unless ``OMP_NUM_THREADS`` asks for another count.

    The command's torch work is small: forward passes of at most a few hundred rows and
    training steps of 64 rows. Its cores go to the spectra (one matrix per core, see
    ``numerics/_threads.py``). With another process on the machine, torch's second thread
    spins while it waits for a core: on the 2-core machine with one busy core, the digits
    layer sizing took 14.2 s with two threads and 4.4 s with one, and 20 NEAR trials 6.7 s
    and 0.9 s.
    """
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(1)


def run_budget(args: argparse.Namespace, data: Dataset, *, start: float) -> RunBudget:
    """The budget that ``--time-budget`` and ``--refine`` ask for on ``data``, from ``start``."""
    refine = bool(args.refine)
    if args.time_budget is not None:
        return RunBudget(args.time_budget, "--time-budget", refine, start=start)
    if not refine:
        return RunBudget(None, None, refine, start=start)
    from near_optuna.study._refine import reference_seconds

    reference = reference_seconds(data, device=args.device)
    seconds = default_time_budget(reference)
    how = (
        f"twice one 60-epoch training of the reference MLP (about {reference:.1f} s here), "
        "within 30-60 s; --time-budget sets it"
    )
    counted = args.n_trials is not None or args.max_total_trials is not None
    if counted:
        how += "; the NEAR study runs the trials you asked for first"
    return RunBudget(seconds, how, refine, counts_first=counted, start=start)
