"""Running one task per case on Dask: the workers check, the client (a local cluster or a
scheduler), submit-and-collect, and the progress loop.

The one task runner of the survey, the evaluation, the report and segmentation; nothing
here knows what a task computes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["check_workers", "dask_client", "run_tasks", "drain"]


def check_workers(workers: int | None) -> int | None:
    """``workers`` if it is None (the machine's CPU count) or a whole number >= 1, else ValueError."""
    if workers is not None and (isinstance(workers, bool) or int(workers) != workers or workers < 1):
        raise ValueError(f"workers must be at least 1, not {workers}")
    return workers


def run_tasks(
    fn: Callable,
    calls: Iterable[tuple[tuple, dict]],
    *,
    what: str,
    on_failure: Callable[[int, BaseException], Any],
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    processes: bool = True,
) -> Iterator[tuple[int, Any]]:
    """Run ``fn(*args, **kwargs)`` for each ``(args, kwargs)`` of ``calls``; yield
    ``(index, result)`` as each finishes.

    Parameters
    ----------
    fn
        A picklable function (it runs in worker processes).
    what
        Names the tasks' Dask keys (``liverct-<what>-<index>-<ns>``: never a file name,
        keys must encode as UTF-8).
    on_failure
        ``on_failure(index, exc)`` gives the result of a task that failed on its worker
        (the worker died, the result did not unpickle); the others go on.
    workers
        Local worker processes (default: the machine's CPU count, at most one per task).
    scheduler
        Address of an existing Dask scheduler; ``"synchronous"`` runs the calls in this
        process, in order, without Dask (exceptions propagate).
    client
        An existing ``distributed.Client`` to use instead (not closed here).
    processes
        Local cluster with processes (default) or threads.

    Unfinished tasks are cancelled, and a local cluster closed, when the consumer stops
    early (``close()`` on the generator).
    """
    calls = list(calls)
    if not calls:
        return
    if scheduler == "synchronous":
        for i, (args, kwargs) in enumerate(calls):
            yield i, fn(*args, **kwargs)
        return
    if client is not None:
        yield from _run_on(client, fn, calls, what, on_failure)
        return
    check_workers(workers)
    n = min(int(workers or os.cpu_count() or 1), len(calls))
    with dask_client(n, scheduler, processes) as own_client:
        yield from _run_on(own_client, fn, calls, what, on_failure)


def _run_on(client, fn, calls, what, on_failure):
    from distributed import as_completed

    futures = {}
    for i, (args, kwargs) in enumerate(calls):
        fut = client.submit(fn, *args, **kwargs, key=f"liverct-{what}-{i}-{time.time_ns()}", pure=False)
        futures[fut] = i
    try:
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker died: report, go on
                result = on_failure(i, exc)
            yield i, result
    finally:
        client.cancel(list(futures))


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None, processes: bool = True):
    """A ``distributed.Client``: to ``scheduler`` if given, else to a new LocalCluster.

    The local cluster has ``workers`` (default ``os.cpu_count()``) single-threaded
    worker processes (threads when ``processes`` is False), no dashboard, and its
    scheduler's HTTP endpoint on a free local port.
    """
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from exc
        try:
            yield client
        finally:
            client.close()
        return
    n = int(workers or os.cpu_count() or 1)
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
            # the scheduler always serves HTTP; a free port avoids clashing with another cluster
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0", "dashboard": False},
            # a worker racing the scheduler at shutdown logs a CommClosedError traceback at
            # ERROR level: noise to a user (failed tasks come back through their futures)
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def drain(items, total: int, what: str, progress, keep) -> None:
    """Consume ``items`` (tuples ``(index, ...)`` as tasks finish), calling ``keep(item)``,
    which returns the row shown in the progress: a rich bar on standard error when
    ``progress`` is True, ``progress(done, total, row)`` when it is a callable.

    The one collect loop of ``survey``, ``evaluate`` and ``report``.
    """
    if progress is True:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn(what),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=Console(stderr=True),
        ) as bar:
            task = bar.add_task("", total=total)
            for item in items:
                row = keep(item)
                name = str(
                    row.get("id") if isinstance(row, dict) else getattr(row, "id", None)
                )  # a non-UTF-8 file name shows its bytes as \xNN
                name = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                bar.update(task, advance=1, description=name)
        return
    for done, item in enumerate(items, 1):
        row = keep(item)
        if callable(progress):
            progress(done, total, row)
