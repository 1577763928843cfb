"""Publishing a study's dashboard material: its note and every figure that applies.

Figures are plotly objects stored with ``optuna_dashboard.save_plotly_graph_object``. Every
writer here is best-effort: a missing plotly or a storage hiccup is logged, never raised.
"""

from __future__ import annotations

import logging
from typing import Any

import optuna

from near_optuna.dashboard._notes import study_note, write_note

logger = logging.getLogger("near_optuna")


def save_figure(study: optuna.Study, figure: Any, graph_id: str) -> bool:
    """Store a plotly figure on the study under ``graph_id`` (replacing an older one)."""
    try:
        from optuna_dashboard import save_plotly_graph_object

        save_plotly_graph_object(study, figure, graph_object_id=graph_id)
    except Exception as err:
        logger.warning("near_optuna: could not store the figure %s: %s", graph_id, err)
        return False
    return True


def publish_study(study: optuna.Study) -> list[str]:
    """Write the study note and every study-level figure that applies; return the figure ids.

    Works on any study near_optuna wrote to (``NearObjective``, ``NearGate``, the command
    line), at any time, without adding trials; running it again replaces the material. The
    command line's ``--redraw`` calls it.

    Figures need plotly (a dependency of near_optuna); where it was removed, only the note is
    written and a warning says why.

    Example:
        >>> import optuna
        >>> study = optuna.create_study(direction="maximize")
        >>> publish_study(study)  # the study note, and the figures its trials allow
        ['near-score-vs-width']
    """
    write_note(study, study_note(study))
    try:
        from near_optuna.dashboard._figures import study_figures

        figures = study_figures(study)
    except ImportError as err:
        logger.warning("near_optuna: no dashboard figures: %s", err)
        return []
    return [graph_id for graph_id, figure in figures if save_figure(study, figure, graph_id)]
