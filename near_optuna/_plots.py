"""Figures (plotly, an optional dependency imported only when a figure is drawn)."""

from __future__ import annotations

from typing import Any

import numpy as np

from near_optuna._sizing import LayerSizeEstimate


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError as err:
        raise ImportError(
            "plotting needs plotly: pip install 'near_optuna[plot]' (or pip install plotly)."
        ) from err
    return go


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
    figure.add_vline(
        x=estimate.knee, line={"color": "green"}, annotation_text=f"knee {estimate.knee}"
    )
    if estimate.slope_width is not None and estimate.slope_width <= estimate.widths[-1]:
        figure.add_vline(
            x=estimate.slope_width,
            line={"color": "orange", "dash": "dash"},
            annotation_text=f"slope rule {estimate.slope_width:.0f}",
        )
    figure.update_layout(
        title=f"Layer {estimate.position} size: {estimate.width} ({estimate.rule} rule, "
        f"{estimate.matrix}-activation)",
        xaxis={"title": "width", "type": "log"},
        yaxis={"title": "effective rank / width"},
    )
    return figure
