"""The numbers and rules several parts of the package share, each defined once.

The CLI's choices and defaults, the widgets' combo boxes and the core's checks all read
them from here, so the two faces cannot drift apart.  Nothing is imported here.
"""

from __future__ import annotations

__all__ = [
    "GRID_TOL_MM",
    "ROBUST_PERCENTILES",
    "ROBUST_RANGE",
    "CONNECTIVITIES",
    "DEFAULT_CONNECTIVITY",
    "MATCH_RULES",
    "DEFAULT_MATCH",
    "DEFAULT_TOLERANCE_MM",
    "RECIST_MEASURABLE_MM",
    "RECIST_TARGETS_PER_ORGAN",
    "RECIST_TARGETS_TOTAL",
]

#: Two voxel grids are the same when their shapes match and no corner voxel centre is
#: more than this far (mm) from its counterpart (stats, crop, compare, survey, widgets).
GRID_TOL_MM = 1e-3

#: Robust intensity percentiles (nnU-Net's foreground 0.5 / 50 / 99.5): image statistics,
#: the survey's foreground intensities.
ROBUST_PERCENTILES = (0.5, 50.0, 99.5)
#: Their ends: the range of intensity histograms and of the CT window's percentile preset.
ROBUST_RANGE = (ROBUST_PERCENTILES[0], ROBUST_PERCENTILES[-1])

#: Lesion connectivity: 6 (faces) or 26 (faces, edges, corners; the default).
CONNECTIVITIES = (6, 26)
DEFAULT_CONNECTIVITY = 26

#: Lesion matching: any overlap (LiTS) or IoU >= 0.5 one-to-one (panoptica).
MATCH_RULES = ("overlap", "iou50")
DEFAULT_MATCH = "overlap"

#: Normalised surface Dice tolerance (mm).
DEFAULT_TOLERANCE_MM = 2.0

#: RECIST 1.1 target lesions (CT): measurable from this long axis (mm) on, at most this
#: many per organ and in all (:class:`napari_liverct.stats.recist.TargetRule`'s defaults,
#: and the CLI's, which need not import the statistics to print ``--help``).
RECIST_MEASURABLE_MM = 10.0
RECIST_TARGETS_PER_ORGAN = 2
RECIST_TARGETS_TOTAL = 5

#: ``layer.metadata[OUTPUT_KEY]`` names the kind of a layer the plugin made for display
#: ("view3d", "lesion_rings", "crop_preview", "monai", "compare_errors"...): such layers are
#: never offered as input (:func:`napari_liverct._napari.pick.pick_layers`).
OUTPUT_KEY = "liverct_output"
