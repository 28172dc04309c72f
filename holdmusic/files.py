"""Which files a ``validate`` run covers, and checking many of them at once.

Folders are searched for ``*.mp3`` without recursion (a folder nested a thousand deep is
no recursion limit), a folder that cannot be listed is kept so that :mod:`holdmusic.rules`
gives it its own ``unreadable`` verdict, and the work is shared among worker processes
only when it outlasts starting them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from holdmusic.rules import DEFAULT_LIMITS, DEFAULT_MAX_BYTES, Limits, Verdict, check_path


def expand_paths(paths: list[str]) -> list[str]:
    """Files (and anything else, such as URLs) as given; folders searched recursively
    for ``*.mp3`` in any case, sorted.

    A folder that cannot be listed is kept in the list as itself, so that it gets its
    own ``unreadable`` verdict instead of vanishing (``os.walk`` skips it silently). The
    walk keeps its own stack: a folder nested a thousand deep is no recursion limit.
    """
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            out.extend(_walk_folder(p))
        else:
            out.append(p)
    return out


def _walk_folder(top: str) -> list[str]:
    found: list[tuple[tuple[str, ...], str]] = []
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        is_dir = entry.is_dir(follow_symlinks=False)
                    except OSError:
                        is_dir = False
                    if is_dir:
                        stack.append(entry.path)
                    elif entry.name.lower().endswith(".mp3"):
                        found.append((_parts(entry.path), entry.path))
        except OSError:
            found.append((_parts(folder), folder))  # judged as unreadable, by path
    return [path for _, path in sorted(found)]


def _parts(path: str) -> tuple[str, ...]:
    """A path's components, for sorting a folder before its neighbours' files ("a/z" before
    "a-b"), as ``pathlib.Path.parts`` would order them; pathlib itself costs start-up time."""
    return tuple(p for p in path.split(os.sep) if p and p != ".")


# Worker processes pay off once the work outlasts starting them (a fork, a pool, results
# pickled back: about a tenth of a second on a small machine). The work is estimated
# from what one check costs here (benchmarks/bench_validate.py): a fixed part per file
# (stat, open, tags, side-info checks) and a part per byte (reading, the walk). Measured
# again after issue 17 made the walk faster: 300 files of 30-60 s (174 MB) are about 0.2 s
# of work, and a pool (~40 ms to start on a 2-CPU machine, more when it is busy) made them
# slower, not faster; a thousand such files are worth two processes.
_SECONDS_PER_FILE = 0.0003
_SECONDS_PER_BYTE = 0.5e-9
_PARALLEL_FROM_SECONDS = 0.25


def workers_for(paths: list[str], jobs: int | None = None) -> int:
    """How many processes to check ``paths`` with: ``jobs`` if given, else from the work."""
    if jobs is not None:
        return max(1, jobs)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if not cpus or cpus == 1:
        return 1
    total = 0
    for p in paths:
        with contextlib.suppress(OSError):
            total += min(os.stat(p).st_size, DEFAULT_MAX_BYTES)  # a larger file is not walked
    seconds = len(paths) * _SECONDS_PER_FILE + total * _SECONDS_PER_BYTE
    if seconds < _PARALLEL_FROM_SECONDS:
        return 1
    return min(cpus, len(paths), max(2, int(seconds / _PARALLEL_FROM_SECONDS) + 1))


def check_many(
    paths: list[str], limits: Limits = DEFAULT_LIMITS, jobs: int | None = None
) -> Iterator[Verdict]:
    """Verdicts in the order of ``paths``; enough work is shared among worker processes."""
    workers = min(workers_for(paths, jobs), len(paths))
    if workers <= 1:
        for p in paths:
            yield check_path(p, limits)
        return
    from concurrent.futures import ProcessPoolExecutor

    chunk = max(1, len(paths) // (workers * 8))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(check_path, paths, [limits] * len(paths), chunksize=chunk)
