"""What the draft refuses (issue 22 item 5): a segmentation opened as an image is named as
labels, not as an MR; an MR is named as not Hounsfield units; real CTs pass.

Real files: TotalSegmentator's example CT and its own segmentation of it (read with nibabel),
the segmentation also as float (as an "open as image" of a float label file gives).
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from napari_liverct.segment.inputs import NotACTError, check_ct
from napari_liverct.segment.pipeline import iter_segment
from realdata import real


def test_a_real_ct_passes():
    check_ct(np.asanyarray(nib.load(real("totalsegmentator/example_ct_sm.nii.gz")).dataobj))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_a_real_segmentation_is_refused_as_labels(dtype):
    seg = np.asanyarray(nib.load(real("totalsegmentator/example_seg_fast.nii.gz")).dataobj).astype(dtype)
    with pytest.raises(NotACTError) as err:
        check_ct(seg, "layer 'example_seg_fast'")
    msg = str(err.value)
    present = np.unique(seg[::4, ::4, ::4])
    assert msg.startswith("layer 'example_seg_fast' holds label values (")
    assert f"({present[0]:g}, {present[1]:g}," in msg and "open it as labels" in msg.lower()
    assert "MR" not in msg and "Hounsfield" not in msg


def test_an_mr_is_refused_for_its_units():
    mr = np.random.default_rng(0).gamma(2.0, 200.0, (30, 40, 40)).astype(np.float32)
    with pytest.raises(NotACTError, match="Hounsfield") as err:
        check_ct(mr, "t1")
    assert f"lowest value is {float(mr[::2, ::2, ::2].min()):g}" in str(err.value) and "MR" in str(err.value)


def test_the_pipeline_refuses_the_same_way():
    seg = np.zeros((20, 20, 10), np.uint8)
    seg[5:10, 5:10, 2:6] = 1
    with pytest.raises(NotACTError, match="label values"):
        next(iter_segment(seg, np.eye(4)))
    with pytest.raises(NotACTError, match="3D"):
        next(iter_segment(np.zeros((5, 5)), np.eye(4)))
