"""Crop widget in a real napari viewer: world positions, undo, new layers, preview, empty."""

from __future__ import annotations

import numpy as np
import pytest

from napari_liverct._napari.layer_utils import layer_disk_view
from napari_liverct._qt.crop_widget import (
    PAD_MIN,
    PAD_ZERO,
    PREVIEW_NAME,
    RULE_LABELS,
    RULE_THRESHOLD,
    CropWidget,
)
from napari_liverct.crop.foreground import foreground_box
from napari_liverct.io.reader import read_nifti_layers


def _open(viewer, path):
    layers = []
    for data, kwargs, kind in read_nifti_layers(str(path)):
        add = viewer.add_image if kind == "image" else viewer.add_labels
        layers.append(add(data, **kwargs))
    return layers


def _world_of(layer, idx):
    return np.array([np.asarray(layer.data_to_world(i)) for i in idx])


@pytest.mark.gui
def test_crop_in_place_keeps_world_positions_and_undo(make_napari_viewer, phantom_files):
    viewer = make_napari_viewer()
    img_path, _ = phantom_files
    layers = _open(viewer, img_path)
    image = next(ly for ly in layers if ly._type_string == "image")
    labels = next(ly for ly in layers if ly._type_string == "labels")
    widget = CropWidget(viewer)
    assert widget.source_layer.value is image
    assert set(widget.target_layers.value) == {image, labels}
    widget.rule.value = RULE_THRESHOLD
    widget.threshold_hu.value = -500
    widget.margin_text.value = "2 0 1"
    widget.k_divisible_text.value = "4"

    disk, _ = layer_disk_view(image)
    start, end = foreground_box(np.asarray(disk), threshold=-500, margin=(2, 0, 1), k_divisible=4)
    before = {ly.name: (ly.data.copy(), np.array(ly.scale), np.array(ly.translate)) for ly in layers}
    # world position of some voxels (by value) before cropping
    pick = np.argwhere(image.data > 100)[::500]
    world_before = _world_of(image, pick)
    values_before = image.data[tuple(pick.T)]

    # live preview: a rectangle in 2D on the current slice, 12 edges in 3D
    preview = viewer.layers[PREVIEW_NAME]
    assert preview.visible and preview.shape_type == ["rectangle"]
    viewer.dims.ndisplay = 3
    assert preview.shape_type == ["line"] * 12
    outline = np.array([preview.data_to_world(v) for shape in preview.data for v in shape])
    viewer.dims.ndisplay = 2
    assert "foreground_start_coord: " + str(start.tolist()) in widget.box_info.value

    widget.apply()
    assert image.data.shape != before[image.name][0].shape
    disk_after, _ = layer_disk_view(image)
    assert disk_after.shape == tuple((end - start).tolist())
    # the same voxels are at the same world positions, to 1e-6 mm
    for w, v in zip(world_before, values_before):
        idx = np.round(np.asarray(image.world_to_data(w))).astype(int)
        np.testing.assert_allclose(np.asarray(image.data_to_world(idx)), w, atol=1e-6)
        assert image.data[tuple(idx)] == v
    # labels cropped with the same box: still aligned with the image voxel for voxel
    assert labels.data.shape == image.data.shape
    np.testing.assert_allclose(labels.translate, image.translate, atol=1e-9)
    assert image.metadata["crops"][-1] == {"start": start.tolist(), "end": end.tolist()}
    # the preview outline was exactly the outer voxel boundary of the cropped volume
    edges = np.array([image.data_to_world(np.array(c) - 0.5) for c in ([0, 0, 0], list(image.data.shape))])
    np.testing.assert_allclose(np.sort(edges, 0), [outline.min(0), outline.max(0)], atol=1e-4)

    widget.undo()
    for ly in layers:
        data, scale, translate = before[ly.name]
        np.testing.assert_array_equal(ly.data, data)
        np.testing.assert_array_equal(ly.scale, scale)
        np.testing.assert_array_equal(ly.translate, translate)


@pytest.mark.gui
def test_crop_into_new_layers_labels_rule(make_napari_viewer, phantom_files):
    viewer = make_napari_viewer()
    img_path, _ = phantom_files
    layers = _open(viewer, img_path)
    labels = next(ly for ly in layers if ly._type_string == "labels")
    widget = CropWidget(viewer)
    widget.rule.value = RULE_LABELS
    widget.rule_labels_layer.value = labels
    widget.into_new_layers.value = True
    widget.allow_smaller.value = True
    n = len(viewer.layers)
    new = widget.apply()
    assert len(new) == 2 and len(viewer.layers) == n + 2
    assert all(ly in viewer.layers for ly in layers)
    new_labels = next(ly for ly in new if ly._type_string == "labels")
    # the crop is the bounding box of labels > 0 (plain numpy on the displayed array)
    idx = np.argwhere(labels.data > 0)
    assert new_labels.data.shape == tuple(idx.max(0) - idx.min(0) + 1)
    np.testing.assert_allclose(new_labels.data_to_world([0, 0, 0]), labels.data_to_world(idx.min(0)), atol=1e-6)
    new_labels.data[...] = 0  # painting the new layer leaves the original alone
    assert labels.data.max() == 2
    widget.undo()
    assert len(viewer.layers) == n


@pytest.mark.gui
def test_empty_foreground_adds_nothing(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.full((6, 8, 9), -1000, np.int16), name="air")
    widget = CropWidget(viewer)
    n = len(viewer.layers)
    assert widget.apply() == []
    assert "empty foreground" in widget.box_info.value and "air" in widget.box_info.value
    assert len(viewer.layers) == n and viewer.layers["air"].data.shape == (6, 8, 9)


@pytest.mark.gui
@pytest.mark.parametrize("pad", [PAD_ZERO, PAD_MIN])
def test_box_outside_the_image_is_padded(make_napari_viewer, pad):
    viewer = make_napari_viewer()
    data = np.full((8, 9, 10), -1000, np.int16)
    data[0:3, 4:6, 5:9] = 50  # touches the first border
    layer = viewer.add_image(data, name="ct")
    widget = CropWidget(viewer)
    widget.margin_text.value = "2"
    widget.into_new_layers.value = True
    (new,) = widget.apply()
    # MONAI semantics (allow_smaller False): box [-2, 2, 3] .. [5, 8, 11]
    assert new.data.shape == (7, 6, 8)
    expected = np.full((7, 6, 8), 0 if pad == PAD_ZERO else -1000, np.int16)
    expected[2:, :, :7] = data[0:5, 2:8, 3:10]
    if pad == PAD_MIN:
        widget.undo()
        widget.pad_with.value = pad
        (new,) = widget.apply()
    np.testing.assert_array_equal(new.data, expected)
    np.testing.assert_allclose(new.data_to_world([2, 0, 0]), layer.data_to_world([0, 2, 3]), atol=1e-6)
