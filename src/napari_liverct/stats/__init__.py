"""Per-label and per-lesion statistics in physical units (pure numpy / cc3d).

All arrays are in the order stored in the NIfTI file (``i, j, k``) and ``affine`` is
the file's voxel-to-RAS+ affine.  Every ``centroid_mm`` is in **RAS+ millimetres**
(the nibabel / 3D Slicer convention; napari world coordinates are obtained with
:func:`napari_liverct.geometry.grids.ras_to_world`).  Voxel indices (``bbox_min``,
``bbox_max``, ``centroid_voxel``, ``slice_range``) index the stored array.

Nothing here imports napari, Qt, torch or MONAI.  Where things are: :mod:`.lesions` (components,
per-lesion rows, diameters), :mod:`._engine` (per-label and image statistics in one pass),
:mod:`.recist` (RECIST 1.1 diameters, targets, response), :mod:`.compute` (the whole result: :func:`stats_on_grid`, the one entry point of the CLI and the
widget), :mod:`.results` (the typed rows and result), :mod:`.files` (from NIfTI files), :mod:`.tables` (output).
"""

from __future__ import annotations

from ..geometry.grids import grid_mismatch
from ._engine import PERCENTILES_IMAGE, image_stats, label_stats, voxel_volume_ml
from .compute import (
    burden_from_counts,
    iter_stats_on_grid,
    stats_on_grid,
    tumour_burden,
)
from .files import lesions_for_file, resample_labels_nearest, response_for_files, stats_for_files
from .lesions import lesion_components, lesion_label_map, lesion_stats, max_diameter_mm, si_axis
from .recist import TargetRule, choose_targets, recist_diameters, slice_axis
from .response import RecistResponse, recist_response
from .results import ImageStats, LabelStats, LesionStats, StatsResult

__all__ = [
    "lesion_components",
    "lesion_stats",
    "lesion_label_map",
    "max_diameter_mm",
    "tumour_burden",
    "image_stats",
    "label_stats",
    "voxel_volume_ml",
    "si_axis",
    "stats_on_grid",
    "iter_stats_on_grid",
    "StatsResult",
    "ImageStats",
    "LabelStats",
    "LesionStats",
    "grid_mismatch",
    "resample_labels_nearest",
    "burden_from_counts",
    "stats_for_files",
    "PERCENTILES_IMAGE",
    "recist_diameters",
    "recist_response",
    "RecistResponse",
    "TargetRule",
    "choose_targets",
    "slice_axis",
    "lesions_for_file",
    "response_for_files",
]
