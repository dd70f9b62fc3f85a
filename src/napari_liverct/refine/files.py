"""Replay an edit log on files: what ``napari-liverct refine`` runs.

The corrected labels are written on the CT's grid (labels stored with flipped or permuted
axes are put on it first, without resampling), with the class names of the input labels
(file label table and sidecar ``<stem>.json``), and the log beside them
(``<stem>.edits.json``), the three files as one unit (:mod:`napari_liverct.outputs.group`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .log import log_path_for, log_text, read_log, replay

__all__ = ["refine_files", "read_case", "write_refined", "labels_base"]


def labels_base(labels_path) -> dict:
    """The ``base`` of a log: the labels file the edits start from (name and sha256)."""
    from ..segment.weights import sha256_file

    p = Path(labels_path)
    return {"labels_file": p.name, "labels_sha256": sha256_file(p)}


def read_case(ct_path, labels_path):
    """``(ct, affine, labels on the CT's grid, names)`` (ValueError naming the files)."""
    from ..geometry.grids import conform_to_grid
    from ..labels.tables import label_table_for
    from ..volumes.dispatch import read_volume

    ct = read_volume(ct_path)
    lab = read_volume(labels_path)
    data = np.asarray(ct.data)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    labels = np.asarray(lab.data)
    if labels.ndim == 4 and labels.shape[3] == 1:
        labels = labels[..., 0]
    if data.ndim != 3 or labels.ndim != 3:
        raise ValueError(f"{ct_path}, {labels_path}: refine needs a 3D CT and 3D labels")
    if labels.dtype.kind == "f":  # labels saved as floats by some tools: fine when whole numbers
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)) or labels.min() < 0:
            raise ValueError(f"{labels_path}: these labels hold values that are not label numbers (not whole)")
        labels = labels.astype(np.uint8 if labels.max() < 256 else np.int32)
    elif labels.dtype.kind not in "iu":
        raise ValueError(f"{labels_path}: labels must be stored as integers, not {labels.dtype}")
    labels, _note = conform_to_grid(
        labels,
        lab.affine,
        data.shape,
        ct.affine,
        names=(str(labels_path), str(ct_path)),
        hint="refine does not resample",
    )
    header = lab.header
    summary_names = getattr(header, "label_names", None)  # NRRD/DICOM: names their reader found
    names = dict(summary_names) if summary_names else label_table_for(labels_path, header=header, present=labels).names
    return data, ct.affine, np.ascontiguousarray(labels), names


def write_refined(out, labels: np.ndarray, affine: np.ndarray, names: dict, log: dict, protected=()) -> list[Path]:
    """Write labels, their names sidecar and the log as one unit."""
    from ..outputs.group import atomic_write_group
    from ..segment.files import label_header
    from ..volumes.nifti import nifti_stem, write_nifti

    out = Path(out)
    named = {int(k): str(v) for k, v in names.items() if int(k) != 0}
    path, write_labels = write_nifti(out, labels, affine, header=label_header(named), protected=protected, defer=True)
    side = out.with_name(nifti_stem(out) + ".json")
    side_text = json.dumps({"labels": {"0": "background", **{str(k): v for k, v in sorted(named.items())}}}, indent=2)
    text = log_text(log)
    return atomic_write_group(
        [
            (path, write_labels),
            (side, lambda tmp: Path(tmp).write_text(side_text + "\n", encoding="utf-8")),
            (log_path_for(out), lambda tmp: Path(tmp).write_text(text, encoding="utf-8")),
        ]
    )


def refine_files(ct_path, labels_path, edits_path, out, *, threads: int | None = None) -> dict:
    """Replay the log ``edits_path`` on ``labels_path`` (over the CT ``ct_path``) and write the
    result to ``out``; returns a summary row.  ``out`` may be none of the three inputs."""
    from ..outputs.guard import guard_output
    from ..volumes.nifti import is_nifti_path, nifti_stem

    ct_path, labels_path, edits_path, out = Path(ct_path), Path(labels_path), Path(edits_path), Path(out)
    if not is_nifti_path(out):
        raise ValueError(f"{out}: the output name must end in .nii or .nii.gz")
    for target in (out, out.with_name(nifti_stem(out) + ".json"), log_path_for(out)):
        guard_output(target, [ct_path, labels_path, edits_path])
    t0 = time.perf_counter()
    log = read_log(edits_path)
    ct, affine, labels, names = read_case(ct_path, labels_path)
    new, done, notes = replay(ct, affine, labels, log, threads=threads)
    new = np.asarray(new, dtype=labels.dtype)
    write_refined(out, new, affine, names, done, protected=(ct_path, labels_path))
    return {
        "out": str(out),
        "edits": len(log["edits"]),
        "changed_voxels": int((new != labels).sum()),
        "notes": notes,
        "seconds": round(time.perf_counter() - t0, 2),
    }
