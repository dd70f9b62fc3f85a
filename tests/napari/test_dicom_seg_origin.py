"""Which algorithm type a DICOM-SEG of a labels layer records: the draft as Segment made it
(AUTOMATIC), the draft after a person's edit (SEMIAUTOMATIC), anything else (MANUAL)."""

from __future__ import annotations

import numpy as np
from napari.layers import Labels

from napari_liverct._napari.dicom_seg import seg_origin
from napari_liverct._napari.draft_layer import remember


def test_seg_origin_follows_the_drafts_history():
    data = np.zeros((4, 8, 8), np.uint8)
    data[1:3, 2:6, 2:6] = 1
    assert seg_origin(Labels(data.copy(), metadata={})) == "manual"
    draft = Labels(data.copy(), metadata={"draft_of": "CT"})
    assert seg_origin(draft) == "edited"  # no record of what Segment produced: not the network's as-is
    remember(draft, ("liver",))
    assert seg_origin(draft) == "draft"
    draft.paint((2, 7, 7), 1, refresh=False)  # napari's brush, one voxel outside the liver
    assert seg_origin(draft) == "edited"
