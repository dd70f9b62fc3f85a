"""The survey of a dataset: :func:`survey_case` once per case on Dask, rows as they finish, then the summary."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ..tasks import dask_client, drain
from .fingerprint import N_SAMPLES, SEED, survey_case


def _case_fields(case) -> tuple[str, str | None, str, str]:
    if isinstance(case, dict):
        lab = case.get("label")
        return str(case["image"]), (str(lab) if lab else None), case.get("id"), case.get("split", "training")
    return str(case.image), (str(case.label) if case.label else None), case.id, case.split


def iter_survey(
    cases: Sequence,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    processes: bool = True,
    n_samples: int = N_SAMPLES,
    seed: int = SEED,
) -> Iterator[tuple[int, dict, np.ndarray]]:
    """Run :func:`survey_case` for every case; yield ``(index, row, samples)`` as they finish.

    Parameters
    ----------
    cases
        :class:`napari_liverct.dataset.Case` objects or dicts with ``image``,
        ``label``, ``id``, ``split``.
    workers
        Local worker processes (default: the machine's CPU count, at most one per case).
    scheduler
        Address of an existing Dask scheduler; ``"synchronous"`` runs in this process
        without Dask.
    client
        An existing ``distributed.Client`` to use instead (not closed here).
    processes
        Local cluster with processes (default) or threads.
    """
    fields = [_case_fields(c) for c in cases]
    if not fields:
        return
    if scheduler == "synchronous":
        for i, (img, lab, cid, split) in enumerate(fields):
            yield (i, *survey_case(img, lab, cid, split, n_samples, seed))
        return
    if client is not None:
        yield from _run_on(client, fields, n_samples, seed)
        return
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    n = min(int(workers or os.cpu_count() or 1), len(fields))
    with dask_client(n, scheduler, processes) as cl:
        yield from _run_on(cl, fields, n_samples, seed)


def _run_on(client, fields, n_samples, seed):
    from distributed import as_completed

    futures = {}
    for i, (img, lab, cid, split) in enumerate(fields):
        fut = client.submit(
            survey_case,
            img,
            lab,
            cid,
            split,
            n_samples,
            seed,
            key=f"liverct-survey-{i}-{time.time_ns()}",  # no file name: keys must encode as UTF-8
            pure=False,
        )
        futures[fut] = i
    try:
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                row, samples = fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker died: report, go on
                img, lab, cid, split = fields[i]
                row = {
                    "id": cid,
                    "split": split,
                    "image": img,
                    "label": lab,
                    "error": f"{img}: the survey task failed on its worker ({exc})",
                    "label_error": None,
                }
                samples = np.zeros(0, np.float32)
            yield i, row, samples
    finally:
        client.cancel(list(futures))


def survey(
    cases: Sequence,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool | Callable[[int, int, dict], None] = True,
    *,
    label_names: dict[int, str] | None = None,
    dataset_anomalies: list[dict] | None = None,
    client=None,
    processes: bool = True,
    n_samples: int = N_SAMPLES,
    seed: int = SEED,
) -> dict:
    """Survey a dataset: ``{"cases": [...], "summary": {...}, "anomalies": [...]}``.

    Parameters
    ----------
    cases, workers, scheduler, client, processes, n_samples, seed
        See :func:`iter_survey`.
    progress
        True for a rich progress bar on standard error, or a callable
        ``(done, total, row)`` called as each case finishes.
    label_names
        Labels declared by dataset.json; values outside them are anomalies.
    dataset_anomalies
        Where dataset.json and the folder disagree (``Dataset.issues``), listed first.

    Returns
    -------
    dict
        Rows in the order of ``cases``; see :mod:`napari_liverct.survey.summary`.
    """
    from .summary import build_report

    total = len(cases)
    rows: list = [None] * total
    samples: list = [None] * total
    it = iter_survey(
        cases, workers=workers, scheduler=scheduler, client=client, processes=processes, n_samples=n_samples, seed=seed
    )

    def keep(item):
        i, row, smp = item
        rows[i], samples[i] = row, smp
        return row

    drain(it, total, "survey", progress, keep)
    return build_report(rows, samples, label_names, dataset_anomalies)
