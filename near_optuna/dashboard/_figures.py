"""Figures (plotly, an optional dependency imported only when a figure is drawn)."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna

from near_optuna.measure._sizing import LayerSizeEstimate
from near_optuna.numerics._fit import PowerFit
from near_optuna.storage._keys import STUDY_SATURATION, STUDY_VALIDATION, TRIAL_WIDTHS


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError as err:
        raise ImportError(
            "plotting needs plotly, a dependency of near_optuna: pip install plotly."
        ) from err
    return go


def _marker(
    go: Any, figure: Any, x: float, span: tuple[float, float], name: str, color: str, dash: str
) -> None:
    # A vertical line as a trace, named in the legend. (add_vline's annotation is placed in
    # log10 units on a log axis, which stretches the axis to 10^x.)
    figure.add_trace(
        go.Scatter(
            x=[x, x], y=list(span), mode="lines", name=name, line={"color": color, "dash": dash}
        )
    )


def plot_layer_size(estimate: LayerSizeEstimate) -> Any:
    """Draw a layer-size estimate: the measured relative score, the fit, both rules' widths.

    Returns:
        A ``plotly.graph_objects.Figure`` (log-scaled width axis).

    Raises:
        ImportError: If plotly is not installed (with the command that installs it).

    Example:
        >>> import torch
        >>> from near_optuna import estimate_layer_size
        >>> x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
        >>> est = estimate_layer_size(x, out_features=2, widths=[4, 8, 16, 32], repetitions=1)
        >>> [trace.name for trace in plot_layer_size(est).data][:1]
        ['measured erank / width']
    """
    go = _plotly()
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=list(estimate.widths),
            y=list(estimate.relative),
            mode="markers+lines",
            name="measured erank / width",
        )
    )
    if estimate.fit is not None:
        grid = np.geomspace(1, estimate.widths[-1], 200)
        figure.add_trace(
            go.Scatter(
                x=grid,
                y=estimate.fit(grid),
                mode="lines",
                line={"dash": "dot"},
                name=f"fit a + b n^c (c={estimate.fit.c:.2f}, rmse={estimate.fit.rmse:.3f})",
            )
        )
    low, high = min(estimate.relative), max(estimate.relative)
    _marker(go, figure, estimate.knee, (low, high), f"knee {estimate.knee}", "green", "solid")
    if estimate.slope_width is not None and estimate.slope_width <= estimate.widths[-1]:
        _marker(
            go,
            figure,
            estimate.slope_width,
            (low, high),
            f"slope rule {estimate.slope_width:.0f}",
            "orange",
            "dash",
        )
    figure.update_layout(
        title=f"Layer {estimate.position} size: {estimate.width} ({estimate.rule} rule, "
        f"{estimate.matrix}-activation)",
        xaxis={"title": "width", "type": "log"},
        yaxis={"title": "effective rank / width"},
    )
    return figure


def estimate_from_dict(data: dict[str, Any]) -> LayerSizeEstimate:
    """Rebuild a :class:`LayerSizeEstimate` from its ``to_dict()`` form (study attributes)."""
    values = dict(data)
    for key in ("preceding", "widths", "ranks", "relative"):
        values[key] = tuple(values[key])
    values["fit"] = None if values.get("fit") is None else PowerFit(**values["fit"])
    return LayerSizeEstimate(**values)


def plot_score_vs_width(study: optuna.Study) -> Any:
    """Each completed trial's score against its first layer's width, one trace per depth.

    The first position's saturation width and the pruning limit are marked when known.
    """
    go = _plotly()
    figure = go.Figure()
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    by_depth: dict[int, list[tuple[int, float, int]]] = {}
    for t in done:
        widths = t.user_attrs.get(TRIAL_WIDTHS)
        if widths:
            by_depth.setdefault(len(widths), []).append((widths[0], t.values[0], t.number))
    for depth, points in sorted(by_depth.items()):
        points.sort()
        figure.add_trace(
            go.Scatter(
                x=[p[0] for p in points],
                y=[p[1] for p in points],
                mode="markers",
                name=f"depth {depth}",
                text=[f"trial {p[2]}" for p in points],
            )
        )
    saturation = study.user_attrs.get(STUDY_SATURATION)
    values = [p[1] for points in by_depth.values() for p in points]
    if saturation and values:
        width, limit = saturation["widths"][0], saturation["widths"][0] * saturation["tolerance"]
        span = (min(values), max(values))
        _marker(go, figure, width, span, f"saturation width {width}", "green", "solid")
        _marker(go, figure, limit, span, f"pruned beyond {limit:g}", "red", "dash")
    figure.update_layout(
        title="Score against the first layer's width",
        xaxis={"title": "width of layer 0", "type": "log"},
        yaxis={"title": "score"},
    )
    return figure


def plot_validation(report: dict[str, Any]) -> Any:
    """Score against the trained result for the configurations ``--validate`` trained."""
    go = _plotly()
    figure = go.Figure()
    for group in ("top", "random"):
        rows = [r for r in report["trials"] if r["group"] == group]
        figure.add_trace(
            go.Scatter(
                x=[r["value"] for r in rows],
                y=[r["trained"] for r in rows],
                mode="markers",
                name=f"{group} scored",
                text=[
                    f"trial {r['trial']}: {r['widths']} {r['activation']} {r['init']}"
                    for r in rows
                ],
            )
        )
    rho = "n/a" if report["spearman"] is None else f"{report['spearman']:.3f}"
    metric = "R²" if report.get("metric") == "r2" else "accuracy"
    figure.update_layout(
        title=f"Score against trained {metric} (Spearman {rho})",
        xaxis={"title": "score"},
        yaxis={"title": f"test {metric} after {report['epochs']} epochs"},
    )
    return figure


def study_figures(study: optuna.Study) -> list[tuple[str, Any]]:
    """``(graph id, figure)`` for every study-level figure the study's data allows."""
    _plotly()
    figures = [("near-score-vs-width", plot_score_vs_width(study))]
    saturation = study.user_attrs.get(STUDY_SATURATION)
    for data in (saturation or {}).get("estimates", []):
        estimate = estimate_from_dict(data)
        figures.append((f"near-layer-size-{estimate.position}", plot_layer_size(estimate)))
    validation = study.user_attrs.get(STUDY_VALIDATION)
    if validation:
        figures.append(("near-score-vs-accuracy", plot_validation(validation)))
    return figures
