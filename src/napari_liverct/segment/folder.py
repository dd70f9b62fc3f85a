"""A whole dataset through the offline draft: the cases to segment and the folder loop, like
:func:`napari_liverct.survey.run.survey` and :func:`napari_liverct.compare.evaluate` for their
analyses.  The command line and any other face call :func:`segment_dataset`; it writes
``<case>.nii.gz`` (+ ``<case>.json``) per case through :func:`iter_segment_cases` on Dask and
returns the ``segment_summary.json`` document, which the caller writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..datasets.folder import load_dataset
from ..outputs.guard import guard_output
from ..parallel.tasks import drain
from ..volumes.nifti import is_nifti_path
from .files import iter_segment_cases

__all__ = ["SUMMARY_NAME", "dataset_cases", "segment_dataset"]

SUMMARY_NAME = "segment_summary.json"


def dataset_cases(src, out) -> list:
    """The cases of the dataset ``src``, once ``out`` passed the output guard for every file
    the run will write there (checked before any work starts)."""
    src, out = Path(src), Path(out)
    if is_nifti_path(out):
        raise ValueError(f"{out}: for a dataset, --out is a folder (it gets <case>.nii.gz per case)")
    ds = load_dataset(src)
    cases = [c for c in ds.cases if c.split in ("training", "test", "unlabelled")]
    if not cases:
        raise ValueError(f"{ds.root}: no NIfTI cases found (expected dataset.json, imagesTr/ or NIfTI files)")
    written = [n for c in cases for n in (f"{c.id}.nii.gz", f"{c.id}.json")] + [SUMMARY_NAME]
    guard_output(out, [src, *ds.input_paths()], folder=True, files=written)
    return cases


def segment_dataset(
    cases: Sequence,
    out,
    *,
    lesions: bool = True,
    threads: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool | Callable[[int, int, dict], None] = True,
) -> dict:
    """Draft every case into ``out``; the summary: ``{"out", "n_cases", "n_failed", "n_warned",
    "cases"}`` with the rows in the order of ``cases`` (a failed case's row has its ``error``,
    and ``findings`` when the draft was implausible).  Never raises for one bad case."""
    rows: list[dict | None] = [None] * len(cases)

    def keep(item):
        i, row = item
        rows[i] = row
        return row

    it = iter_segment_cases(cases, out, lesions=lesions, threads=threads, workers=workers, scheduler=scheduler)
    drain(it, len(cases), "segment", progress, keep)
    failed = sum(1 for r in rows if r.get("error"))
    warned = sum(1 for r in rows if r.get("warnings"))
    return {"out": str(out), "n_cases": len(cases), "n_failed": failed, "n_warned": warned, "cases": rows}
