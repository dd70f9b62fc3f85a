"""One way to pick layers: by kind and dimension, never the plugin's own output layers (tagged, not named)."""

from __future__ import annotations

import numpy as np
import pytest
from napari.components import ViewerModel

from napari_liverct._napari.pick import OUTPUT_KEY, layer_choices, output_kind, pick_layers, tag_output


def test_pick_layers_by_kind_without_the_plugins_own_outputs():
    viewer = ViewerModel()
    ct = viewer.add_image(np.zeros((4, 5, 6), np.int16), name="ct")
    flat = viewer.add_image(np.zeros((5, 6)), name="a 2D picture")
    seg = viewer.add_labels(np.zeros((4, 5, 6), np.uint8), name="seg")
    # the plugin's own layers: found by their tag whatever their name says
    view = viewer.add_labels(np.zeros((4, 5, 6), np.uint8), name="seg", metadata=tag_output(None, "view3d"))
    monai = viewer.add_image(np.zeros((4, 5, 6)), name="ct", metadata=tag_output({"monai_key": "image"}, "monai"))
    box = viewer.add_shapes(ndim=3, name="box", metadata=tag_output(None, "crop_preview"))
    assert pick_layers(viewer, "image") == [ct]
    assert pick_layers(viewer, "labels") == [seg]
    assert pick_layers(viewer, "volume") == [ct, seg]
    assert pick_layers(viewer, "image", min_ndim=2) == [ct, flat]
    assert box not in pick_layers(viewer, "any", min_ndim=1)
    assert [output_kind(ly) for ly in (ct, view, monai, box)] == [None, "view3d", "monai", "crop_preview"]
    assert monai.metadata["monai_key"] == "image" and monai.metadata[OUTPUT_KEY] == "monai"
    assert layer_choices(viewer, "labels")(None) == [("seg", seg)]
    with pytest.raises(ValueError, match="kind"):
        pick_layers(viewer, "points")
