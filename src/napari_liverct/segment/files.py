"""Segment NIfTI files and whole datasets: the functions the CLI and Dask tasks call.

The labels are written on the image's own grid and affine, atomically, with the class
names twice: in the file's label table (a Caret XML extension with ``<VolumeType>Label``,
the form TotalSegmentator writes and :func:`napari_liverct.labels.tables.label_table_from_header`
reads) and in a sidecar ``<stem>.json`` beside it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .pipeline import CLASS_NAMES, iter_segment
from .plausibility import DraftCheck, ImplausibleDraftError

__all__ = [
    "MODEL_NOTE",
    "draft_check_of",
    "iter_segment_cases",
    "label_header",
    "segment_case",
    "segment_file",
    "write_labels",
]

MODEL_NOTE = (
    "draft from pyliverlesionseg 0.3 (KU Leuven, Apache-2.0; 2019-2022 Keras U-Nets) run by napari-liverct; "
    "not a diagnosis"
)


def label_header(names: dict[int, str]):
    """A NIfTI-1 header with intent 'label' and a Caret XML label table naming ``names``."""
    from ..labels.tables import header_with_label_table

    hdr = header_with_label_table(None, names)
    hdr["descrip"] = b"napari-liverct draft (pyliverlesionseg 0.3)"
    return hdr


def write_labels(
    path, labels: np.ndarray, affine: np.ndarray, *, protected=(), info: dict | None = None, check=None
) -> Path:
    """Write ``labels`` (uint8) and the sidecar ``<stem>.json``, each atomically (the labels
    file names its classes itself, so it never depends on the sidecar).  ``check`` (a
    :class:`~napari_liverct.segment.plausibility.DraftCheck`) goes into the sidecar as
    ``plausibility``."""
    from ..outputs.units import atomic_write_text
    from ..volumes.nifti import nifti_stem, write_nifti

    path = Path(path)
    names = dict(CLASS_NAMES)
    write_nifti(path, np.asarray(labels, dtype=np.uint8), affine, header=label_header(names), protected=protected)
    side = path.with_name(nifti_stem(path) + ".json")
    doc = {"labels": {"0": "background", **{str(k): v for k, v in names.items()}}, "note": MODEL_NOTE}
    if info:
        doc["segmentation"] = info
    if check is not None:
        doc["plausibility"] = check.to_json()
    text = json.dumps(doc, indent=2) + "\n"
    atomic_write_text(side, text)
    return path


def _read_ct(image) -> tuple[np.ndarray, np.ndarray, tuple]:
    """The CT's array, affine and, for a DICOM series, its files in slice order."""
    from ..volumes.dispatch import read_volume

    vol = read_volume(image)
    data = np.asarray(vol.data)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"{image}: segmentation needs a 3D CT volume, this one has shape {data.shape}")
    return data, vol.affine, vol.sources


def segment_file(
    image, out, *, lesions: bool = True, threads: int | None = None, progress=None, out_format: str | None = None
) -> dict:
    """Segment the CT ``image`` and write the labels to ``out``; returns a summary row.

    ``progress(stage, done, total)`` is called at every network evaluation.  ``out``
    ending in ``.dcm`` (or ``out_format="dicom-seg"``) writes a DICOM-SEG on the source
    series (``image`` must be a DICOM series), type AUTOMATIC.
    """
    from ..outputs.guard import guard_output
    from ..volumes.nifti import is_nifti_path

    image, out = Path(image), Path(out)
    as_seg = out_format == "dicom-seg" or out.suffix.lower() == ".dcm"
    if not as_seg and not is_nifti_path(out):
        raise ValueError(f"{out}: the output name must end in .nii or .nii.gz (or .dcm for a DICOM-SEG)")
    guard_output(out, [image])
    t0 = time.perf_counter()
    data, affine, sources = _read_ct(image)
    if as_seg and not sources:
        raise ValueError(f"{out}: a DICOM-SEG needs a DICOM series as input (not resampled); {image} is not one")
    gen = iter_segment(data, affine, lesions=lesions, threads=threads)
    try:
        while True:
            try:
                step = next(gen)
            except StopIteration as stop:
                result = stop.value
                break
            if progress is not None:
                progress(step.stage, step.done, step.total)
    except ImplausibleDraftError as exc:  # name the file; nothing is written
        raise ImplausibleDraftError(f"{image}: {exc}; nothing written to {out.name}", exc.check, exc.labels) from None
    info = {k: v for k, v in result.info.items() if k != "crop_box"}
    if as_seg:
        from ..volumes.seg import write_seg

        write_seg(out, result.labels, dict(CLASS_NAMES), sources, origin="draft", protected=(image,))
    else:
        write_labels(
            out, result.labels, affine, protected=(image,), info={"input": image.name, **info}, check=result.check
        )
    vox_ml = float(abs(np.linalg.det(affine[:3, :3]))) / 1000.0
    return {
        "image": str(image),
        "out": str(out),
        "liver_ml": round(float((result.labels == 1).sum() + (result.labels == 2).sum()) * vox_ml, 2),
        "tumour_ml": round(float((result.labels == 2).sum()) * vox_ml, 2),
        "lesion_tiles": result.info.get("lesion_tiles"),
        "seconds": round(time.perf_counter() - t0, 2),
        "warnings": [f.to_json() for f in result.check.warnings],
    }


def draft_check_of(labels_path) -> DraftCheck | None:
    """The plausibility findings a draft's sidecar ``<stem>.json`` records, or None when the
    file has no such sidecar (not a draft of this package, or an older one)."""
    from ..volumes.nifti import nifti_stem

    side = Path(labels_path).with_name(nifti_stem(Path(labels_path)) + ".json")
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("plausibility"), dict):
        return None
    try:
        return DraftCheck.from_json(doc["plausibility"])
    except (KeyError, TypeError):
        return None


def segment_case(case_id: str, image: str, out: str, lesions: bool, threads: int | None) -> dict:
    """One case of a dataset run (a Dask task): never raises, failures become the row's error."""
    try:
        row = segment_file(image, out, lesions=lesions, threads=threads)
        return {"id": case_id, "error": None, **row}
    except Exception as exc:  # noqa: BLE001 - one bad case must not stop the others
        row = {"id": case_id, "image": image, "out": out, "error": f"{type(exc).__name__}: {exc}"}
        if isinstance(exc, ImplausibleDraftError):
            row["findings"] = [f.to_json() for f in exc.check.findings]
        return row


def iter_segment_cases(
    cases: Sequence,
    out_dir,
    *,
    lesions: bool = True,
    threads: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> Iterator[tuple[int, dict]]:
    """Segment every case (``Case`` objects) into ``out_dir/<case id>.nii.gz`` on Dask
    (:func:`napari_liverct.parallel.tasks.run_tasks`); yield ``(index, row)`` as cases finish.
    One worker by default: each case already uses every CPU thread it is given."""
    from ..parallel.tasks import run_tasks

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(c.id, str(c.image), str(out_dir / f"{c.id}.nii.gz")) for c in cases]
    n = min(int(workers or 1), max(1, len(jobs)))
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // n)

    def failed(i: int, exc: BaseException) -> dict:
        cid, img, out = jobs[i]
        return {"id": cid, "image": img, "out": out, "error": f"the task failed on its worker ({exc})"}

    yield from run_tasks(
        segment_case,
        [((cid, img, out, lesions, threads), {}) for cid, img, out in jobs],
        what="segment",
        on_failure=failed,
        workers=n,
        scheduler=scheduler,
    )
