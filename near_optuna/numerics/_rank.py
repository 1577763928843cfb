"""Effective rank (Roy and Vetterli, 2007) and the singular-value routes behind it.

Pure math: arrays in, floats out. Everything is computed in float64.

Two routes to the singular values of a matrix ``A`` (``m x n``):

* ``"svd"``: LAPACK's divide-and-conquer SVD without vectors, the reference.
* ``"gram"``: the eigenvalues of the smaller Gram matrix (``A^T A`` or ``A A^T``),
  ``s_i = sqrt(lambda_i)``, about 2.5 times as fast for square matrices. Squaring loses the
  singular values below about ``sqrt(eps)`` times the largest one, so the route checks itself:
  from the eigenvalues and their error it bounds how far the effective rank can be off
  (:func:`gram_entropy_error`) and answers with the SVD whenever that bound exceeds
  ``GRAM_TOLERANCE`` (``1e-6`` relative). Long spectral tails (saturated sigmoids, for
  example, where the plain Gram answer is off by up to ``3e-4``) therefore cost an SVD, and
  well-resolved spectra do not. ``tests/test_rank.py`` checks the result against the SVD on
  activation matrices of many networks, and ``python -m near_optuna.benchmark`` reports the
  difference of whole scores. Activations computed in float32 carry rounding noise at about
  ``1e-7`` of the largest singular value, which is why ``near_score`` measures in float64.

All LAPACK calls go through ``numpy.linalg``: it releases the GIL (so independent matrices can
run in threads, see ``near_optuna.numerics._threads``), and using one BLAS library keeps a
second thread pool from spinning against torch's.
"""

from __future__ import annotations

import math
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

SpectrumMethod: TypeAlias = Literal["svd", "gram"]
SPECTRUM_METHODS: tuple[SpectrumMethod, ...] = ("svd", "gram")
FloatArray: TypeAlias = npt.NDArray[np.float64]


def as_float64_matrix(matrix: Any, *, name: str = "matrix") -> FloatArray:
    """Return ``matrix`` (a torch tensor or array-like) as a finite 2-D float64 numpy array.

    Raises:
        TypeError: If ``matrix`` cannot be read as a numeric array.
        ValueError: If it is not 2-D, has no rows or columns, or holds NaN or inf.
    """
    if hasattr(matrix, "detach"):  # torch.Tensor, without importing torch here
        matrix = matrix.detach().to("cpu").double().numpy()
    try:
        array = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"`{name}` must be a numeric 2-D array or tensor, but got {type(matrix).__name__}."
        ) from err
    if array.ndim != 2:
        raise ValueError(f"`{name}` must be 2-D, but got shape {tuple(array.shape)}.")
    if array.size == 0:
        raise ValueError(
            f"`{name}` must have at least one row and one column, but got shape {array.shape}."
        )
    if not np.isfinite(array).all():
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"`{name}` must be finite, but it holds {bad} NaN or inf entries.")
    return array


def singular_values(matrix: FloatArray, *, method: SpectrumMethod = "svd") -> FloatArray:
    """Singular values of a finite float64 matrix, in any order, all ``>= 0``.

    Args:
        matrix: A finite 2-D float64 array (see :func:`as_float64_matrix`).
        method: ``"svd"`` (reference) or ``"gram"`` (eigenvalues of the Gram matrix).

    Returns:
        ``min(m, n)`` non-negative singular values.

    Raises:
        ValueError: If ``method`` is unknown.
    """
    if method == "svd":
        return np.asarray(np.linalg.svd(matrix, compute_uv=False), dtype=np.float64)
    if method == "gram":
        return _gram_singular_values(matrix)
    raise ValueError(f"`method` must be one of {SPECTRUM_METHODS}, but got {method!r}.")


GRAM_ERROR_FACTOR = 8.0
GRAM_TOLERANCE = 1e-6
"""Largest estimated relative error of the effective rank accepted from the Gram route
(the project's bound for any fast route against the float64 SVD); above it, the SVD is used."""


def _without_zero_lines(matrix: FloatArray) -> FloatArray:
    # Exact-zero columns (dead ReLU units) and rows add exact-zero singular values and nothing
    # else; dropping them is exact, shrinks the problem, and keeps them out of the error bound.
    used_cols = np.flatnonzero(matrix.any(axis=0))
    used_rows = np.flatnonzero(matrix.any(axis=1))
    if used_cols.size < matrix.shape[1]:
        matrix = matrix[:, used_cols]
    if used_rows.size < matrix.shape[0]:
        matrix = matrix[used_rows]
    return matrix


def _gram_singular_values(matrix: FloatArray) -> FloatArray:
    matrix = _without_zero_lines(matrix)
    rows, cols = matrix.shape
    if rows == 0 or cols == 0:
        return np.zeros(1)
    # Squaring halves the exponent range: rescale to a largest entry of 1 first, so entries
    # near 1e-160 do not underflow to a zero Gram matrix nor entries near 1e160 overflow.
    scale = float(np.abs(matrix).max())
    matrix = matrix / scale
    gram = matrix.T @ matrix if rows >= cols else matrix @ matrix.T
    eigenvalues = np.asarray(np.linalg.eigvalsh(gram), dtype=np.float64)
    # Forming the Gram matrix and solving for its eigenvalues err by about sqrt(n) * eps *
    # lambda_max in absolute terms (measured on activation matrices up to 1024 wide: at most
    # 2.5 sqrt(n) eps lambda_max); GRAM_ERROR_FACTOR keeps a margin of 3. Anything below the
    # error is indistinguishable from 0.
    scale = GRAM_ERROR_FACTOR * math.sqrt(max(rows, cols)) * np.finfo(np.float64).eps
    error = scale * max(float(eigenvalues[-1]), 0.0)
    values = np.sqrt(np.where(eigenvalues > error, eigenvalues, 0.0))
    if gram_entropy_error(values, eigenvalues, error) > GRAM_TOLERANCE:
        return scale * singular_values(matrix, method="svd")
    return scale * values


def gram_entropy_error(values: FloatArray, eigenvalues: FloatArray, error: float) -> float:
    """First-order bound on how far the entropy (so the relative erank) can be off.

    Each singular value lies in ``[sqrt(lambda - error), sqrt(lambda + error)]``; moving
    ``s_i`` by ``d_i`` moves ``H`` by about ``d_i / S * |ln p_i + H|`` (for ``p_i = s_i / S``),
    evaluated at the far end of the interval for values near zero. Well-resolved spectra give
    about ``1e-12``; spectra with many values near ``sqrt(eps) * s_max`` give more than
    ``GRAM_TOLERANCE`` and are recomputed with the SVD.
    """
    total = float(values.sum())
    if total <= 0.0 or error <= 0.0:
        return 0.0
    high = np.sqrt(eigenvalues.clip(min=0.0) + error)
    low = np.sqrt((eigenvalues - error).clip(min=0.0))
    spread = np.maximum(high - values, values - low)
    p = values / total
    entropy = float(-(p[p > 0] * np.log(p[p > 0])).sum())
    far = np.maximum(values, spread) / total
    return float((spread / total * (np.abs(np.log(far)) + entropy + 1.0)).sum())


def product_singular_values(left: FloatArray, right: FloatArray) -> FloatArray:
    """Singular values of ``left @ right.T`` without forming it.

    With thin QR factorisations ``left = Q_l R_l`` and ``right = Q_r R_r`` (inner dimension
    ``k``), ``left @ right.T = Q_l (R_l R_r^T) Q_r^T``, so its nonzero singular values are those
    of the ``k x k`` matrix ``R_l R_r^T``. For a Linear layer, ``Z = [X 1] [W b]^T`` has inner
    dimension ``in_features + 1``, often far below its ``rows x width`` shape; the missing
    singular values are exact zeros and do not change the effective rank.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> a, b = rng.normal(size=(50, 3)), rng.normal(size=(40, 3))
        >>> bool(np.allclose(np.sort(product_singular_values(a, b)),
        ...                  np.sort(singular_values(a @ b.T))[-3:]))
        True
    """
    left_scale = float(np.abs(left).max()) or 1.0  # keep the product in range (see the Gram)
    right_scale = float(np.abs(right).max()) or 1.0
    r_left = np.asarray(np.linalg.qr(left / left_scale, mode="r"))  # (min(m, k), k)
    r_right = np.asarray(np.linalg.qr(right / right_scale, mode="r"))
    core = singular_values(r_left @ r_right.T, method="svd")
    return left_scale * right_scale * core


def effective_rank_from_singular_values(values: FloatArray) -> float:
    """``exp`` of the Shannon entropy of ``values / sum(values)``, with ``0 ln 0 = 0``.

    All-zero values (a zero matrix) give ``0.0``.

    Example:
        >>> import numpy as np
        >>> effective_rank_from_singular_values(np.array([2.0, 2.0, 0.0]))
        2.0
    """
    total = float(values.sum())
    if total <= 0.0:
        return 0.0
    p = values[values > 0.0] / total
    entropy = float(-(p * np.log(p)).sum())
    return math.exp(entropy)


def effective_rank(matrix: Any, *, method: SpectrumMethod = "svd") -> float:
    """Effective rank of a 2-D matrix (Roy and Vetterli, 2007).

    With singular values ``s_1 >= ... >= s_Q`` (``Q = min(rows, cols)``),
    ``p_k = s_k / sum(s)``, ``H = -sum_k p_k ln p_k`` (``0 ln 0 = 0``) and
    ``erank = exp(H)``. It lies in ``[1, rank]``; a matrix of zeros has effective rank ``0.0``.
    See https://infoscience.epfl.ch/record/110188 and NEAR, arXiv 2408.08776.

    Args:
        matrix: A 2-D torch tensor or numpy array; computed in float64.
        method: ``"svd"`` (default, reference) or ``"gram"`` (faster, see the module docs).

    Returns:
        The effective rank as a Python float.

    Raises:
        TypeError: If ``matrix`` is not numeric.
        ValueError: If ``matrix`` is not 2-D, is empty, holds NaN or inf, or ``method`` is
            unknown.

    Example:
        >>> import numpy as np
        >>> round(effective_rank(np.eye(4)), 12)
        4.0
        >>> round(effective_rank(np.outer([1.0, 2.0, 3.0], [1.0, -1.0])), 12)
        1.0
        >>> effective_rank(np.zeros((3, 2)))
        0.0
    """
    array = as_float64_matrix(matrix)
    return effective_rank_from_singular_values(singular_values(array, method=method))
