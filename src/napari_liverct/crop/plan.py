"""Planning a crop before anything is cut or written: which volumes share the box, where
the results go, and the box itself mapped onto what napari displays.

The CLI (``napari-liverct crop``) calls :func:`crop_files`; the crop widget's session
(:mod:`napari_liverct._napari.crop_session`) uses the same grid rule
(:func:`napari_liverct.geometry.grids.reorient_onto`: a volume stored with flipped or permuted
axes is on the same grid) and :func:`disk_box_to_display_box` for its outline.

Pure numpy: no napari, Qt, torch or MONAI import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .foreground import CropResult, crop_foreground

__all__ = ["CropFiles", "crop_files", "crop_output_path", "disk_box_to_display_box"]


def crop_output_path(out_dir: Path, src: str) -> Path:
    """``OUT_DIR/<stem>_crop.nii.gz`` for the input file ``src``."""
    from ..volumes.nifti import nifti_stem

    return Path(out_dir) / f"{nifti_stem(src)}_crop.nii.gz"


@dataclass
class CropFiles:
    """The crop of an image file (and its labels file), ready to be written.

    ``result`` holds the cropped arrays (``"image"``, ``"labels"``) and their affine;
    ``outputs`` the target of each input (image first); ``note`` what was done to put the
    labels on the image grid (None: nothing).
    """

    result: CropResult
    inputs: list[Path]
    outputs: list[Path]
    image_header: object
    labels_header: object | None
    note: str | None


def crop_files(
    image,
    labels=None,
    out_dir=".",
    *,
    source: str = "image",
    threshold: float | None = None,
    margin: float | Sequence[float] = 0,
    k_divisible: int | Sequence[int] = 1,
    allow_smaller: bool = False,
    resample_labels: bool = False,
    force_labels: bool = False,
) -> CropFiles:
    """Crop ``image`` (and ``labels``) to the foreground with one box, MONAI's ``CropForegroundd``.

    Checks first, reads after: two inputs that would be written to the same file, or an
    output that is an input, are refused before anything is read.  The labels must be on
    the image's grid up to axis flips or permutations (viewed, not resampled) unless
    ``resample_labels`` allows nearest-neighbour resampling.  ``source="labels"`` takes the
    foreground from labels > 0.  The labels must be a label map by the rule ``compare`` uses
    (:func:`napari_liverct.labels.tables.checked_label_map`; ``force_labels`` lifts the content rule).

    Raises
    ------
    ValueError
        Naming the file and the problem (grids, empty foreground, option combinations).
    """
    from ..geometry.grids import conform_to_grid
    from ..labels.tables import checked_label_map
    from ..outputs.guard import guard_output
    from ..volumes.dispatch import read_volume

    inputs = [Path(image)] + ([Path(labels)] if labels else [])
    outs = [crop_output_path(Path(out_dir), str(p)) for p in inputs]
    if len(set(outs)) != len(outs):
        raise ValueError(f"image and labels would both be written to {outs[0]}; rename one input")
    guard_output(out_dir, inputs, folder=True, files=[o.name for o in outs])
    source = source or "image"
    if source == "labels":
        if not labels:
            raise ValueError("--source labels needs --labels LABELS")
        if threshold is not None:
            raise ValueError("--threshold applies to the image; it cannot be used with --source labels")
    k = list(k_divisible) if np.ndim(k_divisible) else [k_divisible]
    if len(k) not in (1, 3):
        raise ValueError("--k-divisible takes one integer or three (one per axis)")
    img = read_volume(image)
    arrays = {"image": img.data}
    lab = None
    note = None
    if labels:
        lab = read_volume(labels)
        checked_label_map(lab.data, str(labels), force_labels)  # refused before any crop; written as stored
        arrays["labels"], note = conform_to_grid(
            lab.data,
            lab.affine,
            img.data.shape,
            img.affine,
            resample=bool(resample_labels),
            names=(str(labels), str(image)),
            hint="they cannot be cropped with one box; use --resample-labels to resample the labels "
            "onto the image grid (nearest neighbour)",
        )
    result = crop_foreground(
        arrays,
        img.affine,
        source,
        threshold=threshold,
        margin=margin,
        k_divisible=k if len(k) == 3 else k[0],
        allow_smaller=bool(allow_smaller),
        source_name=str(labels if source == "labels" else image),
    )
    return CropFiles(result, inputs, outs, img.header, lab.header if lab is not None else None, note)


def disk_box_to_display_box(
    start: Sequence[int], end: Sequence[int], ornt: np.ndarray, disk_shape: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Convert a box on the stored array into index ranges of the displayed array.

    Parameters
    ----------
    start, end
        Box in stored (file) voxel order, end exclusive.
    ornt
        nibabel orientation applied for display (``layer.metadata['ornt']``): row i
        says stored axis i becomes displayed axis ``ornt[i, 0]``, flipped if
        ``ornt[i, 1] == -1``.
    disk_shape
        Spatial shape of the stored array.

    Returns
    -------
    (start, end)
        Box on the displayed array such that ``display[start:end]`` holds exactly the
        voxels of ``disk[start:end]``.
    """
    start = np.asarray(start, np.int64)
    end = np.asarray(end, np.int64)
    ornt = np.asarray(ornt)
    n = len(start)
    dstart = np.zeros(n, np.int64)
    dend = np.zeros(n, np.int64)
    for i in range(n):
        axis, flip = int(ornt[i, 0]), int(ornt[i, 1])
        size = int(disk_shape[i])
        if flip == -1:
            dstart[axis], dend[axis] = size - end[i], size - start[i]
        else:
            dstart[axis], dend[axis] = start[i], end[i]
    return dstart, dend
