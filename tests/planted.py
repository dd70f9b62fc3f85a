"""TotalSegmentator's example CT with its liver, and spheres to plant in it (issue 24's tests).

The example CT has no tumour and no manual labels: the correction tests plant spheres
(labels, or low-density spots in the CT) at known places in its real liver.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from napari_liverct.volumes.nifti import read_nifti
from realdata import EXAMPLE_CT, EXAMPLE_SEG_FAST, real


def example_liver():
    """``(ct, affine, liver mask, deepest liver voxel, spacing)`` of the example CT; the liver is
    TotalSegmentator's (label 5 of its 'fast' output, a model output)."""
    ct = read_nifti(real(EXAMPLE_CT))
    data, aff = np.asarray(ct.data), ct.affine
    liver = np.asarray(read_nifti(real(EXAMPLE_SEG_FAST)).data) == 5
    sp = np.sqrt((aff[:3, :3] ** 2).sum(0))
    inner = ndimage.distance_transform_edt(np.pad(liver, 1), sampling=sp)[1:-1, 1:-1, 1:-1]
    deep = np.array(np.unravel_index(np.argmax(inner), liver.shape))
    return data, aff, liver, deep, sp


def ball(shape, centre, spacing, radius_mm) -> np.ndarray:
    """Voxels whose centre lies within ``radius_mm`` of voxel ``centre``."""
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    return np.sqrt(sum(((g - c) * s) ** 2 for g, c, s in zip(grid, centre, spacing))) <= radius_mm


def to_ras(affine, voxel) -> np.ndarray:
    """RAS mm of a voxel index."""
    return (np.asarray(affine) @ np.r_[np.asarray(voxel, float), 1.0])[:3]
