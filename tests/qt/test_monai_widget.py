"""The MONAI pipeline widget adds its sample layers where the original voxels are (real viewer)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("monai")


@pytest.mark.gui
def test_monai_widget_adds_sample_layers_in_place(make_napari_viewer, phantom_files):
    from napari_liverct._qt.monai_widget import MonaiPipelineWidget
    from napari_liverct.io.reader import read_nifti_layers

    viewer = make_napari_viewer()
    img_path, _ = phantom_files
    for data, kwargs, kind in read_nifti_layers(str(img_path)):
        (viewer.add_image if kind == "image" else viewer.add_labels)(data, **kwargs)
    orig_labels = next(ly for ly in viewer.layers if ly._type_string == "labels")
    widget = MonaiPipelineWidget(viewer)
    widget.use_spacing.value = True
    widget.pixdim.value = "3 3 4"
    widget.margin_text.value = "2"
    added = widget.run(blocking=True)
    assert [ly.name for ly in added] == ["liver (MONAI)", "liver_label (MONAI)"]
    assert "foreground_start_coord" in widget.meta_info.value
    new_labels = added[1]

    def centroid(layer):
        idx = np.argwhere(np.asarray(layer.data) == 2)
        return np.array([layer.data_to_world(i) for i in idx[:: max(1, len(idx) // 400)]]).mean(0)

    assert np.linalg.norm(centroid(new_labels) - centroid(orig_labels)) < 2.5  # < half of 5 mm
    assert len(viewer.layers) == 4
    widget.run(blocking=True)  # running again replaces the MONAI layers
    assert len(viewer.layers) == 4
