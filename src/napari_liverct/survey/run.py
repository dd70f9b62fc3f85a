"""The survey of a dataset: :func:`survey_case` once per case on Dask, rows as they finish, then the summary."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ..parallel.tasks import drain, run_tasks
from .case import SurveyCase
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
) -> Iterator[tuple[int, SurveyCase, np.ndarray]]:
    """Run :func:`survey_case` for every case; yield ``(index, row, samples)`` as they finish.

    Parameters
    ----------
    cases
        :class:`napari_liverct.datasets.folder.Case` objects or dicts with ``image``,
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

    def failed(i, exc):
        img, lab, cid, split = fields[i]
        case = SurveyCase(cid, split, img, lab, error=f"{img}: the survey task failed on its worker ({exc})")
        return case, np.zeros(0, np.float32)

    calls = [((img, lab, cid, split, n_samples, seed), {}) for img, lab, cid, split in fields]
    tasks = run_tasks(
        survey_case,
        calls,
        what="survey",
        on_failure=failed,
        workers=workers,
        scheduler=scheduler,
        client=client,
        processes=processes,
    )
    try:
        for i, (row, samples) in tasks:
            yield i, row, samples
    finally:
        tasks.close()  # cancels the unfinished tasks and closes a local cluster now


def survey(
    cases: Sequence,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool | Callable[[int, int, dict], None] = True,
    *,
    label_names: dict[int, str] | None = None,
    dataset_anomalies: list | None = None,
    dataset: dict | None = None,
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
    dataset
        The summary's ``dataset`` block (:func:`dataset_block`), when the cases are a dataset's.

    Returns
    -------
    dict
        Rows in the order of ``cases``; see :mod:`napari_liverct.survey.summary`.
    """
    from .summary import summarise_survey

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
    return summarise_survey(rows, samples, label_names, dataset_anomalies, dataset=dataset)


def dataset_block(ds) -> dict:
    """The ``summary["dataset"]`` block of a dataset's survey: name, root, layout, dataset.json."""
    return {
        "name": ds.name,
        "root": str(ds.root),
        "layout": ds.layout,
        "json": str(ds.json_path) if ds.json_path else None,
    }


def dataset_report(ds, rows: list, samples: list) -> dict:
    """The survey report of a :class:`napari_liverct.datasets.folder.Dataset` from its case rows and
    samples: the dataset's label names, its issues listed first among the anomalies, and
    its ``dataset`` block (the one assembly for the CLI, the HTML report and the widget)."""
    from .summary import summarise_survey

    return summarise_survey(rows, samples, ds.label_names, ds.issues, dataset=dataset_block(ds))


def survey_dataset(ds, workers: int | None = None, scheduler: str | None = None, progress=True, **kw) -> dict:
    """:func:`survey` of every case of a Dataset, as :func:`dataset_report` assembles it."""
    return survey(
        ds.cases,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        label_names=ds.label_names,
        dataset_anomalies=ds.issues,
        dataset=dataset_block(ds),
        **kw,
    )
