"""Real medical files written by other tools, from the cache ``scripts/fetch_data.py`` fills.

``real("totalsegmentator/example_ct.nii.gz")`` returns the path. When the cache is
missing the test is skipped with the command that fills it, except under CI, where a
missing real file is a failure (the set-up step must have fetched it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from napari_liverct.segment.weights import data_dir


def real(relpath: str) -> Path:
    path = data_dir() / relpath
    if not path.exists():
        msg = f"real file {path} missing: run 'python scripts/fetch_data.py' (scripts/setup.sh does)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


# The abdominal CT of the totalsegmentator 2.18.0 sdist and its 'fast' model output
# (liver = label 5 in example_seg_fast_force_split.nii.gz; not manual truth).
EXAMPLE_CT = "totalsegmentator/example_ct.nii.gz"
EXAMPLE_SEG_FAST = "totalsegmentator/example_seg_fast_force_split.nii.gz"
EXAMPLE_LIVER = "totalsegmentator/example_seg_fast/liver.nii.gz"

# pyradiomics 3.1.0 sdist's data/: chest CTs (NRRD, int16 HU) with a tumour label each.
LUNG2_IMAGE = "pyradiomics/lung2_image.nrrd"
LUNG2_LABEL = "pyradiomics/lung2_label.nrrd"


def read_nrrd_ras(path):
    """``(array in index order i, j, k, voxel-to-RAS affine)`` of a NRRD file, read by SimpleITK
    (whose world is LPS)."""
    import numpy as np
    import SimpleITK as sitk

    img = sitk.ReadImage(str(path))
    arr = np.ascontiguousarray(np.transpose(sitk.GetArrayFromImage(img), (2, 1, 0)))
    direction = np.array(img.GetDirection(), dtype=float).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = direction @ np.diag(img.GetSpacing())
    affine[:3, 3] = img.GetOrigin()
    return arr, np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
