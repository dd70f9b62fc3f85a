"""The survey of one case (nnU-Net's per-case fingerprint): a plain, picklable function that never raises."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..constants import GRID_TOL_MM, ROBUST_PERCENTILES
from ..volumes.volume import HeaderSummary
from .case import SurveyCase

#: Two grids are equal when shapes match and every affine entry differs by <= this (mm).
GRID_ATOL = GRID_TOL_MM
#: Foreground intensities sampled per case for the dataset percentiles (as nnU-Net).
N_SAMPLES = 10_000
SEED = 1234
_CHUNK = 1 << 24  # voxels per bincount chunk (bounds the int64 temporary to 128 MB)


def _affine_flags(affine: np.ndarray, header) -> tuple[bool, bool]:
    """(missing, identity): no sform/qform code, or an identity voxel-to-world affine.

    Formats other than NIfTI (DICOM, NRRD, MetaImage) always state their geometry.
    """
    if isinstance(header, HeaderSummary):
        return False, bool(np.allclose(affine, np.eye(4)))
    try:
        missing = int(header["sform_code"]) == 0 and int(header["qform_code"]) == 0
    except (KeyError, TypeError, ValueError):
        missing = True
    return missing, bool(np.allclose(affine, np.eye(4)))


def _ras_order(values: Sequence[float], affine: np.ndarray) -> list:
    """Reorder per-stored-axis values into RAS axis order (x, y, z)."""
    from nibabel.orientations import io_orientation

    ornt = io_orientation(affine)
    out = [None, None, None]
    for axis, (ras_axis, _flip) in enumerate(ornt[:3]):
        out[int(ras_axis)] = values[axis]
    return out


def _label_counts(lab: np.ndarray) -> dict[int, int]:
    """Voxel count per label value, in one pass without sorting."""
    flat = lab.ravel(order="K")
    if flat.size == 0:
        return {}
    lo, hi = int(flat.min()), int(flat.max())
    if 0 <= lo and hi - lo < 32:  # few values (the usual case): one vectorised compare each
        counts = {v: int(np.count_nonzero(flat == v)) for v in range(lo, hi + 1)}
        return {v: c for v, c in counts.items() if c}
    if lo < 0 or hi > 65535:
        vals, counts = np.unique(flat, return_counts=True)
        return {int(v): int(c) for v, c in zip(vals, counts)}
    total = np.zeros(hi + 1, dtype=np.int64)
    for start in range(0, flat.size, _CHUNK):
        total += np.bincount(flat[start : start + _CHUNK], minlength=hi + 1)
    return {int(v): int(c) for v, c in enumerate(total) if c}


def _f(x) -> float:
    return float(x)


def survey_case(
    image: str | os.PathLike,
    label: str | os.PathLike | None = None,
    case_id: str | None = None,
    split: str = "training",
    n_samples: int = N_SAMPLES,
    seed: int = SEED,
    lesion_labels: Sequence[int] | None = None,
    volumes: dict | None = None,
) -> tuple[SurveyCase, np.ndarray]:
    """Fingerprint of one case, read from disk (once: ``volumes`` may hold the
    :class:`~napari_liverct.volumes.nifti.NiftiVolume` of ``"image"`` / ``"label"`` already read).

    Parameters
    ----------
    image, label
        NIfTI paths (``label`` may be None).
    case_id, split
        Copied into the row.
    n_samples, seed
        Foreground intensities sampled for the dataset percentiles.
    lesion_labels
        Label values counted as lesions; None: classes whose name says tumour/lesion
        (names by :func:`napari_liverct.labels.tables.label_table_for`), and
        ``lesion_count`` is None when there is no such class.

    Returns
    -------
    (case, samples)
        ``case`` is a :class:`~napari_liverct.survey.case.SurveyCase` (``error`` holds the
        message when the image cannot be read, ``label_error`` when only the labels cannot); ``samples``
        is a float32 array of foreground intensities (empty when there are none).
        This function never raises for a bad file.
    """
    from ..geometry.grids import orientation_code
    from ..labels.tables import integral_labels
    from ..volumes.dispatch import read_volume
    from ..volumes.nifti import nifti_stem

    t0 = time.perf_counter()
    base: dict = {
        "id": case_id or nifti_stem(image),
        "split": split,
        "image": str(image),
        "label": str(label) if label else None,
    }
    empty = np.zeros(0, np.float32)
    volumes = volumes or {}
    try:
        vol = volumes["image"] if volumes.get("image") is not None else read_volume(image)
    except Exception as exc:  # noqa: BLE001 - reported in the case, the survey goes on
        error = str(exc) if str(image) in str(exc) else f"{image}: {exc}"
        return SurveyCase(**base, error=error, seconds=time.perf_counter() - t0), empty
    aff = vol.affine
    missing, identity = _affine_flags(aff, vol.header)
    spacing = [float(f"{v:.7g}") for v in vol.spacing]  # float32 header precision, no 2.2000000477
    shape = [int(s) for s in vol.spatial_shape]
    base.update(
        shape=shape,
        spacing=spacing,
        shape_ras=_ras_order(shape, aff),
        spacing_ras=_ras_order(spacing, aff),
        orientation=orientation_code(aff),
        dtype=str(vol.data.dtype),
        affine=aff.tolist(),
        affine_missing=missing,
        affine_identity=identity,
    )
    samples = empty
    if label:
        try:
            lvol = volumes["label"] if volumes.get("label") is not None else read_volume(label)
            lab = integral_labels(np.asarray(lvol.data), str(label))
        except Exception as exc:  # noqa: BLE001
            base["label_error"] = str(exc) if str(label) in str(exc) else f"{label}: {exc}"
            base["label_error_kind"] = "missing" if not Path(label).exists() else "unreadable"
        else:
            samples = _label_part(base, vol, lvol, lab, n_samples, seed, lesion_labels)
    return SurveyCase(**base, seconds=time.perf_counter() - t0), samples


def _label_part(
    row: dict, vol, lvol, lab: np.ndarray, n_samples: int, seed: int, lesion_labels: Sequence[int] | None = None
) -> np.ndarray:
    """Add the label fields to ``row`` (the case's fields, before it is made); return the foreground sample."""
    from ..geometry.grids import grid_mismatch, orientation_code, reorient_onto
    from ..labels.tables import label_table_for, lesion_label_ids
    from ..stats import lesion_components, voxel_volume_ml

    laff = lvol.affine
    lmissing, lidentity = _affine_flags(laff, lvol.header)
    lshape = [int(s) for s in lab.shape[:3]]
    row.update(
        label_shape=lshape,
        label_orientation=orientation_code(laff),
        label_affine_missing=lmissing,
        label_affine_identity=lidentity,
        grids_equal=grid_mismatch(lshape, laff, row["shape"], vol.affine, tol_mm=GRID_ATOL) is None,
        grid_max_diff_mm=float(np.abs(laff - vol.affine).max()),
    )
    counts = _label_counts(lab)
    voxel_ml = voxel_volume_ml(laff)
    row["label_values"] = sorted(counts)
    row["label_voxels"] = {str(v): c for v, c in counts.items()}
    row["volume_ml"] = {str(v): round(c * voxel_ml, 6) for v, c in counts.items() if v != 0}
    table = label_table_for(row.get("label"), lvol.header, present=sorted(counts))
    row["label_names_source"] = table.source
    row["lesion_labels"] = sorted(
        int(v) for v in (lesion_label_ids(table.names) if lesion_labels is None else lesion_labels)
    )
    lesion = [v for v in row["lesion_labels"] if counts.get(v)]
    row["lesion_count"] = (lesion_components(lab, lesion)[1] if lesion else 0) if row["lesion_labels"] else None
    row["fg_voxels"] = 0
    on_grid = reorient_onto(lab, laff, row["shape"], vol.affine, tol_mm=GRID_ATOL) if lab.ndim == 3 else None
    row["grids_equivalent"] = on_grid is not None
    if on_grid is None or vol.data.ndim != 3:
        return np.zeros(0, np.float32)
    lab, how = on_grid
    if how:
        row["grid_note"] = f"labels {how}"
    fg = np.asarray(vol.data)[lab > 0]
    row["fg_voxels"] = int(fg.size)
    if fg.size == 0:
        return np.zeros(0, np.float32)
    p = np.percentile(fg, ROBUST_PERCENTILES)
    row.update(
        fg_p00_5=_f(p[0]),
        fg_p50=_f(p[1]),
        fg_p99_5=_f(p[2]),
        fg_mean=_f(fg.mean(dtype=np.float64)),
        fg_std=_f(fg.std(dtype=np.float64)),
        fg_min=_f(fg.min()),
        fg_max=_f(fg.max()),
    )
    rng = np.random.default_rng(seed)
    return rng.choice(fg, size=n_samples, replace=True).astype(np.float32)
