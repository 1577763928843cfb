import os
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import near_optuna.numerics._threads as threads_module
from near_optuna.numerics._threads import parallel_map, worker_count


def blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.fixture
def two_cores(monkeypatch):
    # The parallel path must be tested whatever this machine has: pretend it has two cores.
    monkeypatch.setattr(threads_module, "worker_count", lambda: 2)


def test_worker_count_is_the_usable_cpus_capped():
    assert 1 <= worker_count() <= threads_module.MAX_WORKERS
    assert worker_count() <= len(os.sched_getaffinity(0))


@pytest.mark.usefixtures("two_cores")
def test_keeps_order_and_runs_in_parallel_threads():
    names = parallel_map(lambda i: (i, threading.current_thread().name), list(range(20)))
    assert [i for i, _ in names] == list(range(20))
    assert all(name.startswith("near-lapack") for _, name in names)


@pytest.mark.usefixtures("two_cores")
def test_blas_is_single_threaded_inside_and_restored_after():
    before = blas_threads()
    inside = parallel_map(lambda _: blas_threads(), [0, 1])
    assert all(set(counts) == {1} for counts in inside), inside
    assert blas_threads() == before


def test_one_item_or_serial_runs_in_the_calling_thread():
    caller = threading.current_thread().name
    assert parallel_map(lambda _: threading.current_thread().name, [0]) == [caller]
    names = parallel_map(lambda _: threading.current_thread().name, [0, 1], parallel=False)
    assert names == [caller, caller]


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
