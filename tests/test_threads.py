import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from near_optuna._threads import parallel_map, worker_count


def blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_keeps_order_and_runs_in_parallel_threads():
    names = parallel_map(lambda i: (i, threading.current_thread().name), list(range(20)))
    assert [i for i, _ in names] == list(range(20))
    if worker_count() > 1:
        assert all(name.startswith("near-lapack") for _, name in names)


def test_blas_is_single_threaded_inside_and_restored_after():
    before = blas_threads()
    inside = parallel_map(lambda _: blas_threads(), [0, 1])
    if worker_count() > 1:
        assert all(set(counts) == {1} for counts in inside)
    assert blas_threads() == before


def test_concurrent_callers_restore_the_original_limit():
    before = blas_threads()
    barrier = threading.Barrier(3)

    def work() -> None:
        barrier.wait()
        for _ in range(5):
            parallel_map(lambda a: np.linalg.eigvalsh(a @ a.T), [np.eye(50)] * 4)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert blas_threads() == before


def test_exceptions_propagate():
    def fail(i: int) -> int:
        if i == 3:
            raise ZeroDivisionError("three")
        return i

    with pytest.raises(ZeroDivisionError, match="three"):
        parallel_map(fail, list(range(6)))
    assert parallel_map(fail, [1], parallel=False) == [1]
