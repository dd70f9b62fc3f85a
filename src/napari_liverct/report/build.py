"""Build the QC report of a dataset: per-case Dask tasks, the survey's summary, the page data.

:func:`build_report` runs :func:`napari_liverct.report.case.report_case` once per case
(on local Dask worker processes, an existing scheduler, or ``"synchronous"``), then:

* the dataset summary and anomalies are the survey's own
  (:func:`napari_liverct.survey.summary.build_report` on the same rows and samples),
  and ``survey.json`` in the output folder is byte for byte what ``napari-liverct
  survey --format json`` writes (apart from the ``seconds`` timings);
* with predictions, the evaluation summary is :func:`napari_liverct.compare.evaluate.summarise`
  of the same per-case rows, and ``evaluation.json`` has the layout of ``napari-liverct
  evaluate``'s JSON;
* ``index.html`` shows those numbers (:mod:`napari_liverct.report.html`).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["build_report", "iter_report_cases"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text))[:60] or "case"


def iter_report_cases(tasks: list[dict], *, workers=None, scheduler=None, client=None, processes=True):
    """Run :func:`report_case` per task dict; yield ``(index, result)`` as they finish."""
    from ..parallel.tasks import run_tasks
    from ..survey.case import SurveyCase
    from .case import report_case

    def failed(i, exc):  # the case gets a row with the reason
        t = tasks[i]
        return {
            "row": SurveyCase(
                id=t["case_id"],
                split=t["split"],
                image=t["image"],
                label=t["label"],
                error=f"{t['image']}: the report task failed on its worker ({exc})",
            ),
            "samples": np.zeros(0, np.float32),
            "evaluation": None,
            "stats": None,
            "pictures": [],
            "png": {},
            "notes": [],
        }

    yield from run_tasks(
        report_case,
        [((), t) for t in tasks],
        what="report",
        on_failure=failed,
        workers=workers,
        scheduler=scheduler,
        client=client,
        processes=processes,
    )


_OURS = {"index.html", "survey.json", "evaluation.json", "cases", "img"}


def check_report_target(out: Path) -> None:
    """Refuse to replace a folder that is neither empty nor an earlier report.

    The report is built beside ``out`` and swapped in whole
    (:func:`napari_liverct.outputs.units.atomic_folder`), so whatever ``out`` held goes: only
    an empty folder, or one holding nothing but an earlier report's files, is accepted.
    """
    if not out.is_dir():
        if os.path.lexists(out) and not out.is_symlink():
            raise ValueError(f"{out}: exists and is not a folder; choose a folder for the report")
        return
    names = {e.name for e in os.scandir(out)}
    if not names:
        return
    foreign = sorted(names - _OURS)
    index = out / "index.html"
    ours = index.is_file() and b'content="napari-liverct report"' in index.read_bytes()[:4096]
    if foreign or not ours:
        what = f"it holds {foreign[0]!r}" if foreign else "it holds no napari-liverct report"
        raise ValueError(
            f"{out}: {what}; the report replaces the whole folder, so give a new or empty folder "
            "(or the folder of an earlier report)"
        )


def _import_matplotlib() -> None:
    import matplotlib.figure  # noqa: F401


def build_report(
    dataset,
    out_dir,
    *,
    predictions=None,
    options: dict | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    processes: bool = True,
    progress: bool | Callable[[int, int, dict], None] = True,
    max_px: int = 288,
    title: str | None = None,
) -> dict:
    """Write the report site (``index.html``, ``survey.json``, pictures) into ``out_dir``.

    Parameters
    ----------
    dataset
        Dataset folder or dataset.json (:func:`napari_liverct.datasets.folder.load_dataset`).
    out_dir
        Output folder.  The report is built in a temporary folder beside it and swapped
        in when complete, so the previous report stays whole until then; an existing
        folder must be empty or hold an earlier report (:func:`check_report_target`).
    predictions
        Folder of predictions named like the label files (as ``napari-liverct evaluate``).
    options
        Keyword arguments of :func:`napari_liverct.compare.compare_files` (``mapping``,
        ``lesion_labels``, ``connectivity``, ``match``, ``tolerance_mm``, ``resample``...).
    workers, scheduler, client, processes
        As :func:`napari_liverct.survey.iter_survey`.
    progress
        True for a progress bar on standard error, or ``callable(done, total, row)``.
    max_px
        Longest side of a picture in pixels.

    Returns
    -------
    dict
        ``{"index": path, "survey": survey report, "evaluation": evaluate-style dict or
        None, "page": the data embedded in the page, "seconds": wall time}``.
    """
    from ..datasets.folder import dataset_inputs
    from ..outputs.guard import guard_output
    from ..outputs.units import atomic_folder

    final = Path(out_dir)
    inputs = dataset_inputs(dataset) + ([predictions] if predictions else [])
    guard_output(final, inputs, folder=True, replaces=True)
    check_report_target(final)
    with atomic_folder(final) as site:  # built beside the target, swapped in when complete
        res = _build(
            dataset,
            site,
            predictions=predictions,
            options=options,
            workers=workers,
            scheduler=scheduler,
            client=client,
            processes=processes,
            progress=progress,
            max_px=max_px,
            title=title,
        )
    res["index"] = final / "index.html"
    return res


def _build(
    dataset,
    out_dir,
    *,
    predictions=None,
    options: dict | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    processes: bool = True,
    progress: bool | Callable[[int, int, dict], None] = True,
    max_px: int = 288,
    title: str | None = None,
) -> dict:
    """:func:`build_report` into the (temporary) folder ``out_dir``."""
    from ..datasets.folder import load_dataset
    from ..survey import N_SAMPLES, SEED, dataset_report
    from ..survey.summary import report_to_json
    from .html import write_page
    from .page import class_info, page_data
    from .plots import summary_plots

    t0 = time.perf_counter()
    ds = load_dataset(dataset)
    if not ds.cases:
        raise ValueError(f"{ds.root}: no NIfTI cases found (expected dataset.json, imagesTr/ or NIfTI files)")
    out = Path(out_dir)
    (out / "cases").mkdir(parents=True, exist_ok=True)
    pred_for: dict[str, str | None] = {}
    extra: list[str] = []
    issues: list = []  # the dataset's own anomalies, as evaluate reports them
    opts = dict(options or {})
    if predictions is not None:
        from ..compare.evaluate import pair_cases

        pairs, extra, names = pair_cases(dataset, predictions, issues)
        pred_for = {p["id"]: p["pred"] for p in pairs}
        if names and "names" not in opts:  # as evaluate() does
            opts["names"] = names
    tasks = [
        dict(
            image=str(c.image),
            label=str(c.label) if c.label else None,
            case_id=c.id,
            split=c.split,
            pred=pred_for.get(c.id),
            options=opts,
            n_samples=N_SAMPLES,
            seed=SEED,
            max_px=max_px,
            evaluate=predictions is not None and c.id in pred_for,
        )
        for c in ds.cases
    ]
    results: list = [None] * len(tasks)
    dirs = [f"c{i:05d}_{_slug(c.id)}" for i, c in enumerate(ds.cases)]

    def keep(i, res):
        png = res.pop("png", {})
        d = out / "cases" / dirs[i]
        if png:
            d.mkdir(parents=True, exist_ok=True)
            for name, data in png.items():
                (d / name).write_bytes(data)
        results[i] = res

    # matplotlib's import (0.5 s) overlaps the tasks instead of delaying the plots after them
    import threading

    threading.Thread(target=_import_matplotlib, daemon=True).start()
    it = iter_report_cases(tasks, workers=workers, scheduler=scheduler, client=client, processes=processes)
    from ..parallel.tasks import drain

    def keep_row(item):
        i, res = item
        keep(i, res)
        return res["row"]

    drain(it, len(tasks), "report", progress, keep_row)

    rows = [r["row"] for r in results]
    survey = dataset_report(ds, rows, [r["samples"] for r in results])
    (out / "survey.json").write_text(report_to_json(survey))
    evaluation = None
    if predictions is not None:
        from ..compare.evaluate import evaluation_result
        from ..outputs.pathtext import text_safe

        ev_rows = [r["evaluation"] for r in results if r.get("evaluation") is not None]
        evaluation = text_safe(evaluation_result(dataset, predictions, ev_rows, extra, issues).to_json())
        (out / "evaluation.json").write_text(json.dumps(evaluation, indent=2, allow_nan=False) + "\n")
    plots = summary_plots(survey, [r["samples"] for r in results], evaluation, out / "img", class_info(results))
    data = page_data(ds, survey, results, dirs, evaluation, plots, title=title)
    index = write_page(out, data)
    seconds = time.perf_counter() - t0
    return {"index": index, "survey": survey, "evaluation": evaluation, "page": data, "seconds": seconds}
