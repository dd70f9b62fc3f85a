"""Running one task per case on Dask: the client (a local cluster or a scheduler) and the collect loop.

Used by the survey, the evaluation and the report; nothing here knows what a task computes.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager

__all__ = ["dask_client", "drain"]


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
            silence_logs=logging.ERROR,
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
                bar.update(task, advance=1, description=str((row or {}).get("id")))
        return
    for done, item in enumerate(items, 1):
        row = keep(item)
        if callable(progress):
            progress(done, total, row)
