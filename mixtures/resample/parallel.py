"""Ordered, bounded parallel map over a stream: results come back in input order.

Work runs in worker processes (``fork`` where available), or in threads for work that
spends its time in NumPy and Arrow kernels that release the GIL (no data is copied between
processes then). At most ``2 * n_jobs`` items are in flight, so memory stays bounded whatever
the stream's length. ``n_jobs=1`` runs everything in the calling thread.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def resolve_jobs(n_jobs: int | None) -> int:
    """``None`` or ``0`` means every available core; negative means cores + 1 + n_jobs."""
    cores = available_cores()
    if not n_jobs:
        return cores
    if n_jobs < 0:
        return max(1, cores + 1 + n_jobs)
    return n_jobs


def ordered_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    n_jobs: int | None = 1,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple = (),
    backend: str = "processes",
) -> Iterator[R]:
    """``map(fn, items)`` in up to ``n_jobs`` processes (or threads), results in input order.

    For processes, ``fn`` and ``initializer`` must be top-level functions (picklable).
    ``initializer`` runs once in the calling process for threads and for ``n_jobs=1``, so
    every path sees the same state.
    """
    jobs = resolve_jobs(n_jobs)
    if jobs == 1 or backend == "threads":
        if initializer is not None:
            initializer(*initargs)
    if jobs == 1:
        for item in items:
            yield fn(item)
        return
    if backend == "threads":
        pool_cm = ThreadPoolExecutor(jobs)
    else:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        pool_cm = ProcessPoolExecutor(jobs, mp_context=mp.get_context(method), initializer=initializer, initargs=initargs)
    with pool_cm as pool:
        pending: deque[Future] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
