"""Every ``near:*`` attribute key, defined once: the contract of what a study stores.

All values are plain JSON types (a ``numpy.float32`` breaks SQLite storage), so anything that
reads an Optuna storage (optuna-dashboard, ``study.trials_dataframe()``, your own scripts) can
use them. The ``--json`` summary of ``python -m near_optuna.tune`` is built from these records.

Trial user attributes, written while the trial runs (by ``NearObjective`` or ``NearGate``):

==============================  ===========================================================
``near:widths``                 hidden-layer widths, ``[int, ...]``
``near:activation``             activation name (``NearObjective`` only)
``near:init``                   initialisation name (``NearObjective`` only)
``near:n_params``               trainable parameters, ``int``
``near:layers``                 per measured layer: ``{"name", "width", "pre", "post",
                                "rows"}``; ``post`` is ``null`` for the output layer
``near:score``                  NEAR of the trial (sum of per-layer means), whatever the study
                                optimises
``near:signal``                 signal-scale statistics (``input_rms``, ``output_rms``,
                                ``max_growth``, ``max_saturation``, ``max_drive``,
                                ``layer_rms``, ``saturation``, ``drive``)
``near:pruned``                 why the trial was pruned (pruned trials only)
``near:size_probe``             on a ``NearGate`` trial the size rule would have pruned
                                but that was trained to test whether width pays: the
                                rule's reason
``near:max_params_violation``   ``n_params - max_params`` when a parameter limit is set
                                (mirrors the Optuna constraint, which the dashboard does not
                                show)
``near:worker``                 ``host:pid`` of the worker that ran the trial
``near:surplus``                ``true`` on a trial failed because the study's budget was
                                reached before it could run
``near:candidate``              on a refinement trial: the configuration it trains
                                (``widths``, ``activation``, ``init``, ``origin``,
                                ``near_rank``, ``near_trial``)
``near:val_score``              on a refinement trial: its last validation ``score``, that
                                score's standard error ``se`` and the optimizer ``steps``
                                trained
``near:terms``                  on a finished trial of a shared refinement: the per-row
                                validation terms of its last score (their sum), from which
                                every worker computes the same paired standard errors
``near:duplicate``              on a refinement trial failed because another worker had
                                claimed its candidate first: that claim's trial number
==============================  ===========================================================

Study user attributes:

==============================  ===========================================================
``near:search_space``           the :class:`~near_optuna.SearchSpace` as a dict
``near:data``                   the data description (``Dataset.summary()``: name, task,
                                samples, features, classes; for a user's file also
                                ``task_rule`` and ``columns``: numeric, one-hot with their
                                categories, dropped, imputed)
``near:data_hash``              SHA-256 of the data's values (training and test features and
                                labels); a worker or resume with other values is refused
``near:score_name``             which score the study optimises (``near``, ``epsilon``, ...)
``near:settings``               scoring settings that every worker must share, and
                                ``seed``, the scoring seed the study was created with
                                (initialisations, row draws, data split, saturation estimate;
                                every worker and resume reuses it); written last, after the
                                other keys above, by the worker that created the study
``near:saturation``             saturation widths per layer position, the tolerance, the
                                sizing evidence, and the cache key they were computed for
``near:validation``             the ``--validate`` report: trained configurations, Spearman
                                correlation, the score's pick against the best trained
``near:evidence``               ``NearCallback``'s evidence (see ``NearEvidence``)
``near:stopped``                why ``NearCallback`` stopped the study
``near:size_rule``              ``NearGate``'s size rule retired because a size probe won:
                                ``reason`` (which trial won) and ``completed``
``near:refine``                 the refinement's answer and its evidence (linked study,
                                candidates, reference score, ``verdict`` with the margin
                                over the reference and its standard error, the size cap
                                and whether a wider candidate retired it, the rungs,
                                steps, time budget, seconds)
``near:candidates``             on the linked study of a shared refinement: the candidate
                                list every worker trains from, written by the first one
``near:model``                  the model file that ``--save-model`` last wrote: ``path``,
                                the answer's ``key``, how and on how many rows it was
                                ``trained``, and its ``validation`` score
==============================  ===========================================================
"""

from __future__ import annotations

# Trial attributes.
TRIAL_WIDTHS = "near:widths"
TRIAL_ACTIVATION = "near:activation"
TRIAL_INIT = "near:init"
TRIAL_N_PARAMS = "near:n_params"
TRIAL_LAYERS = "near:layers"
TRIAL_SCORE = "near:score"
TRIAL_SIGNAL = "near:signal"
TRIAL_PRUNED = "near:pruned"
TRIAL_SIZE_PROBE = "near:size_probe"
TRIAL_MAX_PARAMS = "near:max_params_violation"
TRIAL_WORKER = "near:worker"
TRIAL_SURPLUS = "near:surplus"
TRIAL_CANDIDATE = "near:candidate"
TRIAL_VALIDATION = "near:val_score"
TRIAL_TERMS = "near:terms"
TRIAL_DUPLICATE = "near:duplicate"

# Study attributes.
STUDY_SPACE = "near:search_space"
STUDY_DATA = "near:data"
STUDY_DATA_HASH = "near:data_hash"
STUDY_SCORE_NAME = "near:score_name"
STUDY_SETTINGS = "near:settings"
STUDY_SATURATION = "near:saturation"
STUDY_VALIDATION = "near:validation"
STUDY_EVIDENCE = "near:evidence"
STUDY_STOPPED = "near:stopped"
STUDY_REFINE = "near:refine"
STUDY_SIZE_RULE = "near:size_rule"
STUDY_MODEL = "near:model"
STUDY_CANDIDATES = "near:candidates"
