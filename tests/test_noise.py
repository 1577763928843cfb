import math

import numpy as np
import pytest

from near_optuna.numerics._noise import leaders, standard_error


@pytest.mark.parametrize(("p", "n"), [(0.5, 100), (0.9, 1000), (0.97, 360)])
def test_the_standard_error_of_an_accuracy_is_the_binomial_one(p, n):
    correct = np.zeros(n)
    correct[: round(p * n)] = 1.0
    p = correct.mean()
    expected = math.sqrt(p * (1 - p) / (n - 1))  # sample variance: n - 1
    assert standard_error(correct / n) == pytest.approx(expected, rel=1e-12), (p, n)


def test_the_paired_error_counts_only_rows_where_the_models_differ():
    n = 200
    a = np.ones(n) / n
    b = a.copy()
    b[:10] = 0.0  # b misses 10 rows that a gets right
    d = np.zeros(n)
    d[:10] = 1.0
    assert standard_error(a, b) == pytest.approx(math.sqrt(n) * d.std(ddof=1) / n, rel=1e-12)
    assert standard_error(a, a) == 0.0
    a[10:30] = 0.0  # both now miss rows 10-29: the shared misses cancel in the difference
    b[10:30] = 0.0
    unpaired = math.hypot(standard_error(a), standard_error(b))
    assert standard_error(a, b) < unpaired / 2, "pairing removes the rows both get wrong"


def test_r2_terms_against_a_bootstrap():
    rng = np.random.default_rng(0)
    n = 400
    y = rng.standard_normal(n)
    good, poor = y + 0.3 * rng.standard_normal(n), y + 0.6 * rng.standard_normal(n)
    sst = float(np.sum((y - y.mean()) ** 2))

    def terms(prediction):
        return 1.0 / n - (prediction - y) ** 2 / sst

    assert terms(good).sum() == pytest.approx(1 - np.sum((good - y) ** 2) / sst)
    draws = rng.integers(0, n, size=(2000, n))
    boot = [(terms(good)[i].sum() - terms(poor)[i].sum()) for i in draws]
    assert standard_error(terms(good), terms(poor)) == pytest.approx(np.std(boot), rel=0.1)


def test_degenerate_and_bad_terms():
    assert standard_error(np.array([0.5])) == math.inf, "one row: no spread to measure"
    assert standard_error(np.array([])) == math.inf
    with pytest.raises(ValueError, match="`terms` must be finite"):
        standard_error(np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="`other` must have the shape of `terms`"):
        standard_error(np.ones(3), np.ones(4))


def test_leaders_follow_the_one_standard_error_rule():
    assert leaders([0.8, 0.9, 0.85], [0.05, 0.0, 0.06]) == [1, 2]
    assert leaders([0.8, 0.9, 0.86], [0.11, 0.0, 0.04]) == [0, 1, 2]
    assert leaders([1.0], [0.0]) == [0]
    with pytest.raises(ValueError, match="`scores` must hold at least one score"):
        leaders([], [])
    with pytest.raises(ValueError, match="`errors` must have one entry per score"):
        leaders([1.0, 2.0], [0.0])
