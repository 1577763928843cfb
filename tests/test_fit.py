import numpy as np
import pytest

from near_optuna.numerics._fit import FitError, PowerFit, fit_power_law, geometric_grid, knee_width


def test_corrected_slope_rule_keeps_the_b_c_factor():
    fit = PowerFit(a=0.2, b=0.8, c=-0.5, rmse=0.0, r2=1.0)
    n = fit.width_at_slope(1e-3)
    assert abs(fit.slope(n)) == pytest.approx(1e-3, rel=1e-10)
    released = 1e-3 ** (1 / (fit.c - 1))  # the authors' formula, without b * c
    assert released < 1 / 1e-3
    assert n != pytest.approx(released)


def test_power_law_fit_recovers_its_parameters():
    widths = [8, 16, 32, 64, 128, 256]
    a, b, c = 0.1, 0.9, -0.3
    # anchored at (1, 1): a + b = 1
    fit = fit_power_law(widths, [a + b * w**c for w in widths])
    assert (fit.a, fit.b, fit.c) == (
        pytest.approx(a, abs=1e-4),
        pytest.approx(b, abs=1e-4),
        pytest.approx(c, abs=1e-4),
    )
    assert fit.rmse < 1e-6
    assert fit.r2 == pytest.approx(1.0, abs=1e-9)
    assert fit(64) == pytest.approx(a + b * 64**c, rel=1e-5)


def test_logarithmic_decay_is_refused_as_degenerate():
    widths = [8, 16, 32, 64, 128, 256, 512]
    relative = [1.0 - 0.1 * np.log(w) for w in widths]
    with pytest.raises(FitError, match="degenerate"):
        fit_power_law(widths, relative)


def test_rising_curve_is_refused():
    with pytest.raises(FitError, match="does not decay"):
        fit_power_law([8, 16, 32, 64], [1.0, 1.5, 2.0, 2.5])


@pytest.mark.parametrize(
    ("ranks", "gain", "expected"),
    [
        ([8, 15, 20, 22], 0.5, 16),
        ([8, 16, 32, 64], 0.5, 64),  # never flattens: the largest width
        ([8, 9, 10, 11], 0.5, 8),
        ([8, 15, 20, 40], 0.5, 64),  # a late jump: it never flattens for good
    ],
)
def test_knee(ranks, gain, expected):
    assert knee_width([8, 16, 32, 64], ranks, gain=gain) == expected


@pytest.mark.parametrize(
    ("widths", "message"),
    [
        ([8, 16, 32], r"`widths` must hold at least 4 widths, but got \[8, 16, 32\]"),
        ([8, 16, 16, 32], "must be increasing and >= 1"),
        ([0, 16, 32, 64], "must be increasing and >= 1"),
    ],
)
def test_bad_grids(widths, message):
    with pytest.raises(ValueError, match=message):
        knee_width(widths, list(range(len(widths))), gain=0.5)


def test_gain_out_of_range():
    with pytest.raises(ValueError, match=r"`gain` must be in \(0, 1\), but got gain=1.5"):
        knee_width([1, 2, 3, 4], [1, 2, 3, 4], gain=1.5)


def test_non_finite_values_are_refused():
    with pytest.raises(ValueError, match="must be finite"):
        fit_power_law([1, 2, 3, 4], [1, np.nan, 0.5, 0.4])


def test_geometric_grid():
    assert geometric_grid(8, 64, per_octave=2) == [8, 11, 16, 23, 32, 45, 64]
    with pytest.raises(ValueError, match="need 1 <= low < high"):
        geometric_grid(8, 8)
