import pytest
import torch

import near_optuna.measure._sizing as sizing
from near_optuna import FitError, estimate_layer_size, estimate_layer_sizes
from near_optuna.numerics._fit import knee_width

GRID = [4, 8, 16, 32, 64]


def inputs(n: int = 96, d: int = 12, rank: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if rank is None:
        return torch.randn(n, d, generator=g)
    return torch.randn(n, rank, generator=g) @ torch.randn(rank, d, generator=g)


def test_estimate_is_the_knee_of_its_own_measurements():
    est = estimate_layer_size(inputs(), out_features=3, widths=GRID, repetitions=1, rows=64)
    assert est.width == est.knee == knee_width(GRID, est.ranks, gain=est.gain)
    assert est.widths == tuple(GRID)
    assert est.relative == pytest.approx([e / w for e, w in zip(est.ranks, GRID, strict=True)])
    assert all(0 < r <= 1.0 + 1e-9 for r in est.relative)
    assert est.to_dict()["widths"] == tuple(GRID)


def test_pre_activation_saturates_at_the_input_dimension():
    low = estimate_layer_size(
        inputs(rank=2), out_features=3, widths=GRID, repetitions=1, rows=64, matrix="pre"
    )
    full = estimate_layer_size(
        inputs(), out_features=3, widths=GRID, repetitions=1, rows=64, matrix="pre"
    )
    assert max(low.ranks) <= 3.0 + 1e-6, "rank of [X 1] with X of rank 2"
    assert low.width < full.width


def test_slope_rule_raises_on_a_refused_fit(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise FitError("the fit is degenerate (test)")

    monkeypatch.setattr(sizing, "fit_power_law", refuse)
    est = estimate_layer_size(inputs(), out_features=2, widths=GRID, repetitions=1, rows=32)
    assert est.fit is None
    assert est.fit_error == "the fit is degenerate (test)"
    with pytest.raises(FitError, match="degenerate"):
        estimate_layer_size(inputs(), out_features=2, widths=GRID, repetitions=1, rule="slope")


def test_deeper_layers_are_sized_one_at_a_time():
    sizes = estimate_layer_sizes(
        inputs(), out_features=2, depth=2, widths=GRID, repetitions=1, rows=48
    )
    assert [s.position for s in sizes] == [0, 1]
    assert sizes[0].preceding == ()
    assert sizes[1].preceding == (sizes[0].width,)


def test_seeded():
    a = estimate_layer_size(inputs(), out_features=2, widths=GRID, repetitions=2, seed=3)
    b = estimate_layer_size(inputs(), out_features=2, widths=GRID, repetitions=2, seed=3)
    assert a == b


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"widths": [8, 16, 32]}, "`widths` must hold at least 4 widths"),
        ({"widths": [8, 32, 16, 64]}, "must be increasing"),
        ({"gain": 0.0}, r"`gain` must be in \(0, 1\), but got gain=0.0"),
        ({"slope": 2.0}, r"`slope` must be in \(0, 1\)"),
        ({"rows": 1}, "`rows` must be None or >= 2, but got rows=1"),
        ({"rule": "elbow"}, "`rule` must be one of knee, slope, but got 'elbow'"),
        ({"matrix": "weights"}, "`matrix` must be one of post, pre, both"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        estimate_layer_size(inputs(), out_features=2, **kwargs)


def test_too_few_samples():
    with pytest.raises(
        ValueError, match=r"`inputs` must hold at least 2 samples, but got shape \(1, 4\)"
    ):
        estimate_layer_size(torch.randn(1, 4), out_features=2, widths=GRID)


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="`depth` must be >= 1, but got depth=0"):
        estimate_layer_sizes(inputs(), out_features=2, depth=0)


def test_plot_shows_measurements_fit_and_rules():
    from near_optuna import plot_layer_size

    est = estimate_layer_size(inputs(), out_features=2, widths=GRID, repetitions=1, rows=64)
    figure = plot_layer_size(est)
    assert list(figure.data[0].x) == GRID
    assert list(figure.data[0].y) == pytest.approx(est.relative)
    names = [trace.name for trace in figure.data]
    assert f"knee {est.knee}" in names
    assert not figure.layout.annotations, "log-axis annotations would stretch the axis"
    knee = next(t for t in figure.data if t.name == f"knee {est.knee}")
    assert list(knee.x) == [est.knee, est.knee]


def test_plot_without_plotly_says_how_to_install(monkeypatch):
    import builtins

    from near_optuna import plot_layer_size

    real_import = builtins.__import__

    def no_plotly(name, *args, **kwargs):
        if name.startswith("plotly"):
            raise ImportError("no plotly")
        return real_import(name, *args, **kwargs)

    est = estimate_layer_size(inputs(), out_features=2, widths=GRID, repetitions=1, rows=32)
    monkeypatch.setattr(builtins, "__import__", no_plotly)
    with pytest.raises(ImportError, match=r"a dependency of near_optuna: pip install plotly"):
        plot_layer_size(est)
