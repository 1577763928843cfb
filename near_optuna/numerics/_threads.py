"""Run independent LAPACK jobs on all cores, one BLAS thread each.

A NEAR score needs the spectra of many independent matrices. LAPACK's symmetric eigensolver
scales poorly across threads for one matrix of a few hundred to a few thousand rows, so it is
faster to give each core its own matrix with single-threaded BLAS. numpy's ``linalg`` releases
the GIL, so plain threads suffice.

The BLAS thread limit is process-wide (threadpoolctl), so it is reference-counted: with several
scores running at once (Optuna's ``n_jobs``), the first one in sets it and the last one out
restores the original setting.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 8


class _BlasLimit:
    """Reference-counted ``threadpoolctl`` limit of BLAS to one thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._active: Any = None
        self._controller: Any = None

    @contextlib.contextmanager
    def single_threaded(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                if self._controller is None:
                    from threadpoolctl import ThreadpoolController

                    self._controller = ThreadpoolController()
                self._active = self._controller.limit(limits=1, user_api="blas")
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._active.restore_original_limits()
                    self._active = None


_LIMIT = _BlasLimit()
_POOL_LOCK = threading.Lock()
_POOL: list[ThreadPoolExecutor] = []


def worker_count() -> int:
    """Workers used for parallel jobs: the CPUs this process may use, at most ``MAX_WORKERS``."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


def _pool() -> ThreadPoolExecutor:
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(
                ThreadPoolExecutor(max_workers=worker_count(), thread_name_prefix="near-lapack")
            )
        return _POOL[0]


def parallel_map(fn: Callable[[T], R], items: Sequence[T], *, parallel: bool = True) -> list[R]:
    """``[fn(item) for item in items]``, spread over the cores with single-threaded BLAS.

    Falls back to a plain loop for one item, one core, or ``parallel=False`` (small jobs, where
    thread hand-off costs more than it saves). Exceptions propagate as from the loop.

    Example:
        >>> parallel_map(abs, [-1, 2, -3])
        [1, 2, 3]
    """
    if not parallel or len(items) < 2 or worker_count() < 2:
        return [fn(item) for item in items]
    with _LIMIT.single_threaded():
        return list(_pool().map(fn, items))
