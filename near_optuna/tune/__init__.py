"""``python -m near_optuna.tune``: an Optuna study that scores MLPs with NEAR, not training.

With no arguments it tunes depth, widths, activation and initialisation of an MLP for the
built-in ``digits`` data, stores the trials in ``sqlite:///studies/near_optuna.db``, then
trains the best configurations beside a reference MLP on held-out training rows (the
refinement; ``--refine 0`` turns it off) within a time budget, and prints the validated
answer, its verdict, the best configurations and the command that opens optuna-dashboard on
them. Run it again with the same ``--study-name`` and ``--storage`` to resume.

Exit codes: 0 success; 2 bad usage or input (one line on stderr, no traceback unless
``--debug``, no stored trial touched); 1 an unexpected failure; 130 interrupted.

``--json PATH`` writes a summary with the keys ``study_name``, ``storage`` (password hidden),
``n_trials``, ``states`` (trial state name to count), ``best`` and ``top`` (``trial``,
``value``, ``widths``, ``activation``, ``init``, ``n_params``; the Pareto front for
``--multi-objective``), ``saturation_widths``, ``task`` (``classification`` or
``regression``), ``data`` (the study's data description: name, task, samples, features,
classes and, for ``--data``, the ``columns`` used: numeric, one-hot with their categories,
dropped, imputed), ``dashboard_figures``, ``answer`` (the configuration to use: ``widths``,
``activation``, ``init``, ``n_params``, ``near_rank``, ``chosen_by``: ``refine`` or ``near``;
after a refinement also ``val_accuracy`` or ``val_r2`` and ``origin``), after a refinement
``refine`` (``study_name``, ``metric``, ``candidates``, ``reference_score``, ``verdict``:
``mattered``, ``margin``, ``se``, ``best``, ``leaders``, ``text``; ``cap``: ``widths``,
``retired``, ``by``; ``schedule``: ``rungs``, ``dropped``, ``stopped_by_time`` and, for a
refinement shared by workers (``--max-total-trials``), ``shared``;
``trainings``, ``steps``, ``epochs``, ``time_budget``, ``seconds``), after ``--validate``
``validation``, and after ``--save-model`` ``model`` (``path``, ``key``, ``trained``: ``how``,
``rows``, ``validation_rows``, ``steps``, ``epochs``, ``seconds``; ``validation``: ``metric``,
``score``, ``se``). Non-finite numbers are written as ``null``.
"""

from near_optuna.tune._main import main

__all__ = ["main"]
