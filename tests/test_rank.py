import math

import numpy as np
import pytest
import torch

from near_optuna import build_mlp, effective_rank
from near_optuna.measure._capture import collect, recording
from near_optuna.numerics._rank import (
    GRAM_TOLERANCE,
    effective_rank_from_singular_values,
    product_singular_values,
    singular_values,
)

METHODS = ["svd", "gram"]


def reference_erank(matrix: np.ndarray) -> float:
    """Independent float64 reference: numpy's full SVD and the entropy written out."""
    s = np.linalg.svd(np.asarray(matrix, dtype=np.float64), compute_uv=True)[1]
    if s.sum() == 0:
        return 0.0
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


def random_orthogonal(n: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return q * np.sign(np.diag(r))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [1, 2, 5, 64])
def test_identity_has_full_effective_rank(n, method):
    assert effective_rank(np.eye(n), method=method) == pytest.approx(n, rel=1e-12), f"n={n}"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", [0, 1])
def test_orthogonal_matrix_has_full_effective_rank(seed, method):
    q = random_orthogonal(20, seed)
    assert effective_rank(q, method=method) == pytest.approx(20, rel=1e-10)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (10, 6)])
def test_rank_one_matrix_has_effective_rank_one(shape, method):
    rng = np.random.default_rng(3)
    matrix = np.outer(rng.normal(size=shape[0]), rng.normal(size=shape[1]))
    assert effective_rank(matrix, method=method) == pytest.approx(1.0, rel=1e-9), shape


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (6, 2)])
def test_zero_matrix_has_effective_rank_zero(shape, method):
    assert effective_rank(np.zeros(shape), method=method) == 0.0


@pytest.mark.parametrize("method", METHODS)
def test_constant_columns_are_rank_one(method):
    matrix = np.tile(np.array([[1.0, -2.0, 3.0]]), (6, 1))
    assert effective_rank(matrix, method=method) == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_known_spectrum(method):
    # singular values 3 and 1: p = (3/4, 1/4), erank = exp(-(3/4 ln 3/4 + 1/4 ln 1/4))
    expected = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert effective_rank(np.diag([3.0, 1.0]), method=method) == pytest.approx(expected, 1e-12)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scale", [1e-200, 1e-8, 0.5, 3.0, 1e8, 1e200])
def test_invariant_under_scaling(scale, method):
    matrix = np.random.default_rng(5).normal(size=(12, 9))
    base = effective_rank(matrix, method=method)
    assert effective_rank(scale * matrix, method=method) == pytest.approx(base, rel=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_invariant_under_orthogonal_rotations(method):
    matrix = np.random.default_rng(6).normal(size=(15, 15)) @ np.diag(np.logspace(0, -3, 15))
    rotated = random_orthogonal(15, 1) @ matrix @ random_orthogonal(15, 2)
    assert effective_rank(rotated, method=method) == pytest.approx(
        effective_rank(matrix, method=method), rel=1e-9
    )


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(30, 30), (40, 12), (12, 40), (64, 64)])
def test_matches_independent_reference(shape, seed):
    rng = np.random.default_rng(seed)
    rank = min(shape) // 2
    matrix = rng.normal(size=(shape[0], rank)) @ rng.normal(size=(rank, shape[1]))
    matrix += 1e-3 * rng.normal(size=shape)
    expected = reference_erank(matrix)
    assert effective_rank(matrix, method="svd") == pytest.approx(expected, rel=1e-12), shape
    assert effective_rank(matrix, method="gram") == pytest.approx(expected, rel=1e-6), shape
    assert 1.0 <= expected <= min(shape)


def test_accepts_torch_tensors_in_any_float_dtype():
    matrix = torch.randn(9, 5, generator=torch.Generator().manual_seed(0))
    expected = reference_erank(matrix.double().numpy())
    assert effective_rank(matrix) == pytest.approx(expected, rel=1e-12)
    assert effective_rank(matrix.double()) == pytest.approx(expected, rel=1e-12)


def test_from_singular_values_drops_zeros():
    assert effective_rank_from_singular_values(np.array([1.0, 1.0, 0.0, 0.0])) == pytest.approx(2)
    assert effective_rank_from_singular_values(np.zeros(3)) == 0.0


@pytest.mark.parametrize("scale", [1e-150, 1.0, 1e150])
def test_product_route_is_scale_safe(scale):
    rng = np.random.default_rng(1)
    left, right = rng.normal(size=(60, 5)), rng.normal(size=(40, 5))
    expected = effective_rank_from_singular_values(product_singular_values(left, right))
    scaled = effective_rank_from_singular_values(product_singular_values(scale * left, right))
    assert scaled == pytest.approx(expected, rel=1e-12)


def test_product_route_matches_the_explicit_product():
    rng = np.random.default_rng(0)
    left, right = rng.normal(size=(200, 9)), rng.normal(size=(150, 9))
    explicit = np.sort(np.linalg.svd(left @ right.T, compute_uv=False))[-9:]
    np.testing.assert_allclose(np.sort(product_singular_values(left, right)), explicit, rtol=1e-10)


def activation_matrices():
    """Pre- and post-activation matrices of untrained MLPs, the inputs the routes really see."""
    x = torch.randn(256, 24, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for activation in ["relu", "tanh", "sigmoid", "gelu", "softplus"]:
        for init in ["default", "normal", "orthogonal"]:
            model = build_mlp(24, [256, 256], 10, activation=activation, init=init, seed=1)
            model = model.double().eval()
            with torch.no_grad(), recording(model) as recorder:
                model(x)
            for capture in collect(recorder):
                for kind, matrix in (("pre", capture.pre), ("post", capture.post)):
                    if matrix is not None:
                        yield f"{activation}/{init}/{capture.name}/{kind}", matrix.numpy()


def test_gram_route_agrees_with_svd_within_the_tolerance_on_activations():
    worst = 0.0
    for case, matrix in activation_matrices():
        svd = effective_rank_from_singular_values(singular_values(matrix, method="svd"))
        gram = effective_rank_from_singular_values(singular_values(matrix, method="gram"))
        error = abs(gram - svd) / svd
        assert error <= GRAM_TOLERANCE, f"{case}: relative error {error:.2e}"
        worst = max(worst, error)
    assert worst < 1e-6


def test_gram_route_falls_back_to_svd_where_it_cannot_resolve_the_spectrum(monkeypatch):
    # Saturated sigmoids: a dominant singular value and a long tail below sqrt(eps) * s_max,
    # where squared values are lost. The error estimate must send this to the SVD.
    x = torch.randn(256, 24, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    model = build_mlp(24, [256, 256, 256], 10, activation="sigmoid", seed=0).double()
    with torch.no_grad(), recording(model) as recorder:
        model(x)
    matrix = collect(recorder)[2].post.numpy()
    calls = []
    original = np.linalg.svd
    monkeypatch.setattr(np.linalg, "svd", lambda *a, **k: calls.append(1) or original(*a, **k))
    gram = effective_rank(matrix, method="gram")
    assert calls, "the Gram route should have fallen back to the SVD for this matrix"
    assert gram == pytest.approx(reference_erank(matrix), rel=1e-12)


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (np.zeros(3), ValueError, "`matrix` must be 2-D, but got shape \\(3,\\)"),
        (np.zeros((2, 2, 2)), ValueError, "must be 2-D"),
        (np.zeros((0, 3)), ValueError, "at least one row and one column"),
        (np.array([[1.0, np.nan]]), ValueError, "must be finite, but it holds 1 NaN or inf"),
        (np.array([[np.inf, 1.0]]), ValueError, "must be finite"),
        ([["a", "b"]], TypeError, "must be a numeric 2-D array or tensor"),
    ],
)
def test_bad_matrices_are_refused(bad, error, message):
    with pytest.raises(error, match=message):
        effective_rank(bad)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="`method` must be one of \\('svd', 'gram'\\)"):
        effective_rank(np.eye(2), method="qr")  # type: ignore[arg-type]
