"""Curve rules for layer-size estimation: a power-law fit with its true slope, and a knee.

Pure math on measured curves (arrays in, numbers out), following the NEAR paper's MLP method
(arXiv 2408.08776, section 4.2) with its released code's defect corrected: the slope of
``r(n) = a + b n^c`` is ``b c n^(c - 1)``, so ``|slope| = t`` at ``n = (t / |b c|)^(1 / (c - 1))``;
the released code returns ``t^(1 / (c - 1))``, which drops ``b c`` and caps every estimate
below ``1 / t``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

MIN_GRID = 4
MIN_EXPONENT = 0.05
"""Fits with ``c > -MIN_EXPONENT`` are refused: ``a + b n^c`` is then ~ ``a + b + b c ln n``."""


class FitError(ValueError):
    """The power law could not be fitted, or the fit is degenerate."""


@dataclass(frozen=True)
class PowerFit:
    """``r(n) = a + b * n**c`` fitted to the relative scores, with its quality.

    Attributes:
        a: Offset.
        b: Scale.
        c: Exponent (negative for a decaying relative score).
        rmse: Root-mean-square residual over the fitted points.
        r2: Coefficient of determination over the fitted points.
    """

    a: float
    b: float
    c: float
    rmse: float
    r2: float

    def __call__(self, n: float | np.ndarray) -> float | np.ndarray:
        """Evaluate the fitted curve."""
        return self.a + self.b * np.power(n, self.c)

    def slope(self, n: float) -> float:
        """``dr/dn = b c n^(c - 1)``."""
        return float(self.b * self.c * n ** (self.c - 1.0))

    def width_at_slope(self, threshold: float) -> float:
        """The width where ``|dr/dn|`` falls to ``threshold`` (the corrected paper rule).

        Example:
            >>> fit = PowerFit(a=0.0, b=2.0, c=-1.0, rmse=0.0, r2=1.0)  # r = 2 / n
            >>> round(fit.width_at_slope(0.02), 6)  # |slope| = 2 / n^2 = 0.02 at n = 10
            10.0
        """
        return float((threshold / abs(self.b * self.c)) ** (1.0 / (self.c - 1.0)))


def check_grid(widths: Sequence[int], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Validate a measured grid: at least ``MIN_GRID`` distinct increasing widths >= 1."""
    n = np.asarray(widths, dtype=np.float64)
    r = np.asarray(values, dtype=np.float64)
    if n.ndim != 1 or n.shape != r.shape:
        raise ValueError(
            f"`widths` and the values must be 1-D of one length, got {n.shape}, {r.shape}."
        )
    if n.size < MIN_GRID:
        raise ValueError(f"`widths` must hold at least {MIN_GRID} widths, but got {list(widths)}.")
    if np.any(n < 1) or np.any(np.diff(n) <= 0):
        raise ValueError(f"`widths` must be increasing and >= 1, but got {list(widths)}.")
    if not np.isfinite(r).all():
        raise ValueError("the measured values must be finite.")
    return n, r


def fit_power_law(widths: Sequence[int], relative: Sequence[float]) -> PowerFit:
    """Fit ``a + b n^c`` to relative scores, anchored at ``(1, 1)`` as the paper does.

    Raises:
        FitError: If the fit does not converge, or degenerates: ``c >= 0`` (no decay), or
            ``c > -MIN_EXPONENT`` or ``|a|, |b| > 100``, where ``a + b n^c`` only mimics a
            logarithm and its slope means nothing.
    """
    n, r = check_grid(widths, relative)
    x = np.concatenate([[1.0], n])
    y = np.concatenate([[1.0], r])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            params, _ = curve_fit(
                lambda t, a, b, c: a + b * np.power(t, c),
                x,
                y,
                p0=(0.0, 1.0, -0.5),
                bounds=([-1e3, -1e3, -5.0], [1e3, 1e3, 1.0]),
                maxfev=20000,
            )
        except (RuntimeError, ValueError) as err:
            raise FitError(f"the power-law fit a + b n^c did not converge: {err}") from err
    a, b, c = (float(v) for v in params)
    if c >= 0.0 or b * c >= 0.0:
        raise FitError(f"the fitted curve does not decay (a={a:.3g}, b={b:.3g}, c={c:.3g}).")
    if c > -MIN_EXPONENT or max(abs(a), abs(b)) > 100.0:
        raise FitError(
            f"the fit is degenerate (a={a:.3g}, b={b:.3g}, c={c:.3g}): with c near 0, "
            "a + b n^c only imitates a logarithm and its slope means nothing; use the knee rule."
        )
    fitted = a + b * np.power(x, c)
    residual = y - fitted
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((residual**2).sum()) / total if total > 0 else 1.0
    return PowerFit(a, b, c, rmse=float(np.sqrt(np.mean(residual**2))), r2=r2)


def knee_width(widths: Sequence[int], ranks: Sequence[float], *, gain: float) -> int:
    """Fit-free rule: the first width after which a neuron adds less than ``gain`` dimensions.

    ``ranks`` are the measured effective ranks at ``widths``. Between neighbouring grid points
    the marginal gain is ``(E_{i+1} - E_i) / (n_{i+1} - n_i)`` effective dimensions per added
    neuron; the answer is the first ``n_i`` from which it stays below ``gain``, or the largest
    width if it never falls that low.

    Example:
        >>> knee_width([8, 16, 32, 64], [8, 15, 20, 22], gain=0.5)
        16
    """
    if not 0.0 < gain < 1.0:
        raise ValueError(f"`gain` must be in (0, 1), but got {gain=}.")
    n, e = check_grid(widths, ranks)
    gains = np.diff(e) / np.diff(n)
    for i in range(gains.size):
        if np.all(gains[i:] < gain):
            return int(n[i])
    return int(n[-1])


def geometric_grid(low: int, high: int, *, per_octave: int = 1) -> list[int]:
    """Widths from ``low`` to ``high`` in steps of ``2**(1/per_octave)``, rounded, unique.

    Example:
        >>> geometric_grid(8, 64)
        [8, 16, 32, 64]
    """
    if low < 1 or high <= low:
        raise ValueError(f"need 1 <= low < high, but got low={low}, high={high}.")
    steps = round(math.log2(high / low) * per_octave)
    values = np.round(low * 2.0 ** (np.arange(steps + 1) / per_octave)).astype(int)
    return sorted(set(int(v) for v in values) | {high})
