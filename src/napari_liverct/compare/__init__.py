"""Compare a prediction with its ground truth: voxel, surface and lesion metrics.

Pure numpy / scipy / cc3d; no napari, Qt, torch or MONAI import.  Entry points:
:func:`compare_arrays` (two label arrays and an affine), :func:`compare_volumes` (two
label arrays each with its affine: grid check, optional nearest-neighbour resampling;
what the Compare widget runs), :func:`compare_files` (two NIfTI files, named by the
reader's rules, through :func:`compare_volumes`) and
:func:`napari_liverct.compare.evaluate.evaluate` (a folder of predictions on Dask).

Which definition each number uses
---------------------------------
Per ground-truth class (after the class mapping of :mod:`.classes`), with TP, FP, FN,
TN voxel counts:

* **Dice** = 2TP / (2TP + FP + FN), **IoU** = TP / (TP + FP + FN) (nnU-Net's
  ``compute_metrics``; the same counts and Dice); **sensitivity** = TP / (TP + FN),
  **precision** = TP / (TP + FP);
* **volumes** = voxel count x |det(affine)| / 1000 mL; **volume difference** =
  pred - gt (mL) and 100 x (pred - gt) / gt (%); **RAVD** = (pred - gt) / gt (signed,
  as in LiTS; its absolute value is the "relative absolute volume difference");
  **VS** (volumetric similarity) = 1 - |FN - FP| / (2TP + FP + FN);
* **HD**, **HD95**, **ASSD**, **NSD** at tau mm: MONAI's ``compute_hausdorff_distance``
  (``percentile=95`` for HD95), ``compute_average_surface_distance(symmetric=True)`` and
  ``compute_surface_dice`` with ``spacing`` (see :mod:`.surface`);
* **empty masks** (Metrics Reloaded): ground truth and prediction both empty -> Dice,
  IoU and all surface metrics NaN with ``both_empty=True`` (never 1, never 0); exactly
  one empty -> Dice = IoU = 0, HD = HD95 = ASSD = +inf, NSD = 0, with ``gt_empty`` or
  ``pred_empty``; sensitivity/precision/RAVD are NaN when their denominator is 0.

Lesions: :mod:`.lesions`.  Dataset aggregation: :mod:`napari_liverct.compare.evaluate`.
"""

from __future__ import annotations

from .case import (
    DEFAULT_TOLERANCE_MM,
    GridMismatchError,
    NotALabelMapError,
    compare_arrays,
    compare_files,
    compare_volumes,
)
from .classes import parse_map
from .lesions import MATCH_RULES, compare_lesions
from .results import CaseComparison, ClassMetrics, LesionRow, LesionSummary
from .surface import edge_voxels, surface_distances, surface_metrics

__all__ = [
    "compare_arrays",
    "compare_files",
    "compare_volumes",
    "NotALabelMapError",
    "compare_lesions",
    "parse_map",
    "surface_distances",
    "surface_metrics",
    "edge_voxels",
    "GridMismatchError",
    "CaseComparison",
    "ClassMetrics",
    "LesionRow",
    "LesionSummary",
    "MATCH_RULES",
    "DEFAULT_TOLERANCE_MM",
]
