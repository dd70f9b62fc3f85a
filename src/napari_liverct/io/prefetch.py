"""Read a dataset's cases ahead of the user: a bounded cache of LayerData, filled in the background.

The Dataset browser asks :class:`CaseCache` for the case the user opens; while that case
is on screen the cases within ``radius`` of it in the list are read by one background
thread (nearest first, next before previous), so that Next and Previous find their
case already read, as MIC-DKFZ's napari-data-inspection does.  The cache is bounded:
entries farthest (in the list) from the current case are dropped first whenever the
cached arrays exceed ``budget_bytes``, and only the window ``current +- radius`` is
kept.  A file changed on disk since it was read (size or modification time) is read
again.  No napari and no Qt here: a plain thread pool and futures.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

__all__ = ["CaseCache", "default_budget_bytes", "layer_data_nbytes"]

#: Upper bound of the default budget (bytes); ``LIVERCT_PREFETCH_MB`` overrides the budget.
MAX_DEFAULT_BUDGET = 4 * 1024**3


def default_budget_bytes() -> int:
    """Memory the prefetch cache may hold: ``LIVERCT_PREFETCH_MB``, else a quarter of the
    memory available now, at most 4 GiB (a 512 x 512 x 150 int16 CT with its labels
    is about 115 MB)."""
    env = os.environ.get("LIVERCT_PREFETCH_MB")
    if env:
        return max(0, int(float(env) * 1024**2))
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not POSIX
        avail = 4 * MAX_DEFAULT_BUDGET
    return int(min(MAX_DEFAULT_BUDGET, avail // 4))


def layer_data_nbytes(layer_data: Sequence[tuple]) -> int:
    """Bytes held by the arrays of a list of LayerData tuples."""
    return int(sum(np.asarray(d[0]).nbytes for d in layer_data if hasattr(d[0], "nbytes")))


def _ok(fut: Future) -> bool:
    return fut.done() and not fut.cancelled() and fut.exception() is None


def _file_key(path) -> tuple:
    if path is None:
        return (None,)
    p = Path(path)
    try:
        st = p.stat()
        return (str(p), st.st_size, st.st_mtime_ns)
    except OSError:
        return (str(p), None, None)


class CaseCache:
    """Cases read ahead in one background thread, bounded in memory.

    Parameters
    ----------
    read
        ``read(case) -> list of LayerData`` (the case's image and labels).
    radius
        How many cases before and after the current one to read ahead; 0 turns the
        read-ahead off (and nothing is cached).
    budget_bytes
        Bound on the cached arrays (default :func:`default_budget_bytes`).
    """

    def __init__(self, read: Callable, radius: int = 1, budget_bytes: int | None = None) -> None:
        self._read_fn = read
        self._warned: dict[tuple, list[warnings.WarningMessage]] = {}
        self.radius = int(radius)
        self.budget_bytes = default_budget_bytes() if budget_bytes is None else int(budget_bytes)
        self._lock = threading.RLock()  # done-callbacks may run in the thread that holds it
        self._entries: dict[tuple, Future] = {}
        self._order: list[tuple] = []  # the case list of the last prefetch, as keys
        self._current: tuple | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.hits = 0
        self.misses = 0

    def _read(self, case) -> list[tuple]:
        """Read a case, keeping the warnings it raised (an oblique affine, a broken sform...)
        for :meth:`warnings_of`: a warning shown from a reading thread would reach
        napari's notifications outside the main thread."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = self._read_fn(case)
        with self._lock:
            self._warned[self.key(case)] = list(caught)
        return data

    def warnings_of(self, case) -> list[warnings.WarningMessage]:
        """The warnings the last read of ``case`` raised (to be shown in the main thread)."""
        with self._lock:
            return list(self._warned.get(self.key(case), ()))

    # ------------------------------------------------------------------ keys
    @staticmethod
    def key(case) -> tuple:
        """Identity of a case's files as they are on disk now."""
        return (_file_key(case.image), _file_key(getattr(case, "label", None)))

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="liverct-prefetch")
        return self._pool

    # ---------------------------------------------------------------- access
    def get(self, case) -> list[tuple] | None:
        """The case's LayerData when it has been read (successfully), else None."""
        k = self.key(case)
        with self._lock:
            fut = self._entries.get(k)
        if fut is not None and _ok(fut):
            self.hits += 1
            return fut.result()
        return None

    def load(self, case) -> list[tuple]:
        """The case's LayerData: from the cache, from a read in flight, or read now.

        Runs in the caller's thread (a worker thread of the widget); a failed read is
        not kept, so the next request tries again, and its error is raised.
        """
        if self.radius <= 0:
            return self._read(case)
        k = self.key(case)
        with self._lock:
            fut = self._entries.get(k)
            # a read still queued behind others is taken over: read it here, now
            if fut is not None and (fut.cancelled() or fut.cancel()):
                fut = None
        if fut is not None:
            try:
                return fut.result()  # running: cannot be cancelled any more
            except BaseException:
                with self._lock:
                    if self._entries.get(k) is fut:
                        del self._entries[k]
                raise
        self.misses += 1
        data = self._read(case)
        done: Future = Future()
        done.set_result(data)
        with self._lock:
            self._entries[k] = done
        return data

    def prefetch(self, cases: Sequence, index: int) -> list:
        """Make ``cases[index]`` current and read its neighbours within ``radius`` ahead.

        Returns the cases scheduled now (nearest first: +1, -1, +2, -2, ...).  Entries
        outside the window are dropped; pending reads outside it are cancelled.
        """
        if self.radius <= 0 or not cases or not 0 <= index < len(cases):
            return []
        keys = [self.key(c) for c in cases]
        want = [index]
        for d in range(1, self.radius + 1):
            want += [i for i in (index + d, index - d) if 0 <= i < len(cases)]
        keep = {keys[i] for i in want}
        with self._lock:
            self._order, self._current = keys, keys[index]
            for k in [k for k in self._entries if k not in keep]:
                self._entries.pop(k).cancel()
        self._trim()
        scheduled = []
        for i in want[1:]:
            with self._lock:
                if keys[i] in self._entries:
                    continue
                if self._budget_left() <= 0:
                    break
                fut = self._executor().submit(self._read, cases[i])
                self._entries[keys[i]] = fut
            fut.add_done_callback(lambda _f: self._trim())
            scheduled.append(cases[i])
        return scheduled

    # ---------------------------------------------------------------- memory
    def nbytes(self) -> int:
        """Bytes held by the cases read so far."""
        with self._lock:
            futs = list(self._entries.values())
        return sum(layer_data_nbytes(f.result()) for f in futs if _ok(f))

    def _budget_left(self) -> int:
        """Budget minus the cases read and, for each read still pending, their mean size."""
        with self._lock:
            futs = list(self._entries.values())
        sizes = [layer_data_nbytes(f.result()) for f in futs if _ok(f)]
        pending = sum(1 for f in futs if not f.done())
        mean = sum(sizes) / len(sizes) if sizes else 0
        return int(self.budget_bytes - sum(sizes) - pending * mean)

    def _trim(self) -> None:
        """Drop finished entries farthest from the current case until within budget."""
        with self._lock:
            pos = {k: i for i, k in enumerate(self._order)}
            here = pos.get(self._current, 0)
            done = [k for k, f in self._entries.items() if _ok(f)]
            done.sort(key=lambda k: abs(pos.get(k, 10**9) - here), reverse=True)
            sizes = {k: layer_data_nbytes(self._entries[k].result()) for k in done}
            total = sum(sizes.values())
            for k in done:
                if total <= self.budget_bytes or k == self._current:
                    continue
                total -= sizes[k]
                del self._entries[k]

    def cached_keys(self) -> list[tuple]:
        """Keys of the cases read and held now (for tests and the status line)."""
        with self._lock:
            return [k for k, f in self._entries.items() if _ok(f)]

    def wait(self, timeout: float | None = None) -> None:
        """Block until every scheduled read has finished (benchmarks, tests)."""
        with self._lock:
            futs = list(self._entries.values())
        for f in futs:
            try:
                f.result(timeout=timeout)
            except BaseException:  # noqa: BLE001 - a failed read is reported when opened
                pass
        self._trim()

    def clear(self) -> None:
        """Forget every case (a new dataset was loaded)."""
        with self._lock:
            for f in self._entries.values():
                f.cancel()
            self._entries.clear()
            self._warned.clear()

    def close(self) -> None:
        """Cancel pending reads and stop the thread (without waiting for a read in progress)."""
        self.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
