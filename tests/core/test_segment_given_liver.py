"""The lesion stage alone, inside a liver given by the caller (a liver the user corrected):
``iter_segment(..., liver=mask)`` runs no liver network, searches the dilated mask, and gives
what the full run gives when the mask is the full run's own liver.

Stand-in networks (tests/standin.py): the rule is about which voxels the lesion stage looks
at, not about the networks.  Oracles: numpy on the label arrays.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_liverct.segment import pipeline as pl


def test_the_full_runs_own_liver_gives_the_full_result(small_phantom, standin_calls):
    ph = small_phantom
    full = pl.segment(ph.image, ph.affine, lesions=True)
    assert standin_calls.count("liver") == len(pl.LIVER_OFFSETS) and (full.labels == 2).any()  # one pass per patch
    standin_calls.clear()
    liver_only = pl.segment(ph.image, ph.affine, lesions=False)
    standin_calls.clear()
    given = pl.segment(ph.image, ph.affine, lesions=True, liver=liver_only.labels > 0)
    assert "liver" not in standin_calls and standin_calls.count("lesion") == full.info["lesion_tiles"]
    assert given.info["liver_given"] and given.info["liver_seconds"] == 0.0
    np.testing.assert_array_equal(given.labels, full.labels)


def test_the_lesion_search_follows_the_liver_given(small_phantom, standin_calls):
    """Two different livers: the tumour voxels (here: wherever a tile reached) surround each."""
    ph = small_phantom
    boxes = []
    for lo, hi in (((40, 40, 8), (80, 80, 20)), ((90, 90, 20), (130, 130, 32))):
        liver = np.zeros(ph.image.shape, bool)
        liver[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = True
        res = pl.segment(ph.image, ph.affine, lesions=True, liver=liver)
        assert "liver" not in standin_calls
        np.testing.assert_array_equal(res.labels[liver & (res.labels != 2)], 1)  # the liver given is the liver
        assert not ((res.labels == 1) & ~liver).any()
        tumour = np.argwhere(res.labels == 2)
        assert len(tumour)
        assert (tumour.min(axis=0) <= lo).all() and (tumour.max(axis=0) >= np.array(hi) - 1).all()
        boxes.append((tumour.min(axis=0), tumour.max(axis=0)))
    assert not np.array_equal(boxes[0][0], boxes[1][0])


def test_a_mask_on_another_grid_is_refused(small_phantom, standin_calls):
    ph = small_phantom
    with pytest.raises(ValueError, match="not the same grid"):
        pl.segment(ph.image, ph.affine, liver=np.ones((3, 3, 3), bool))
