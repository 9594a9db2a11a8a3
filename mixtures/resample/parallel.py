"""Ordered, bounded parallel map over a stream: results come back in input order.

Work runs in worker processes (``fork`` where available) so numpy-heavy chunks use every
core; at most ``2 * n_jobs`` chunks are in flight, so memory stays bounded whatever the
stream's length. ``n_jobs=1`` runs everything in the calling process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
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
) -> Iterator[R]:
    """``map(fn, items)`` in up to ``n_jobs`` processes, yielding results in input order.

    ``fn`` and ``initializer`` must be top-level functions (picklable). ``initializer``
    also runs in the calling process when ``n_jobs`` is 1, so both paths see the same state.
    """
    jobs = resolve_jobs(n_jobs)
    if jobs == 1:
        if initializer is not None:
            initializer(*initargs)
        for item in items:
            yield fn(item)
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(jobs, mp_context=mp.get_context(method), initializer=initializer, initargs=initargs) as pool:
        pending: deque[Future] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
