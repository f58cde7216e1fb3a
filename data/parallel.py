"""One way to map a function over many files: a process pool with a progress bar."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """Number of worker processes: the usable CPU count, at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def parallel_map(fn: Callable[[T], R], items: Sequence[T], *, workers: int | None = None,
                 desc: str = "", chunksize: int = 16, progress: bool = True) -> list[R]:
    """``[fn(item) for item in items]`` over a process pool, in order, with a progress bar.

    Args:
        fn: a picklable (module-level) function.
        items: inputs.
        workers: processes; 1 runs in this process (no pickling), None uses every core.
        desc: progress-bar label.
        chunksize: items sent to a worker at a time.
        progress: show a tqdm bar (on stderr).

    Returns:
        Results in the order of ``items``.
    """
    workers = default_workers() if workers is None else int(workers)
    bar_kwargs = {"total": len(items), "desc": desc, "disable": not progress, "unit": "img"}
    if workers <= 1 or len(items) < 2 * chunksize:
        return [fn(item) for item in tqdm(items, **bar_kwargs)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results: Iterable[R] = pool.map(fn, items, chunksize=chunksize)
        return list(tqdm(results, **bar_kwargs))
