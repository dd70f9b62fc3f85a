"""A real napari viewer under Xvfb: the pair is visible and the labels sit on the scan."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_liverct.labels.tables import LIVER_COLOR, TUMOUR_COLOR

pytestmark = pytest.mark.gui


def _ras_to_world(xyz):
    # independent restatement of the convention: world (S, P, L) = (z, -y, -x)
    return np.array([xyz[2], -xyz[1], -xyz[0]], float)


def _canvas_pixel(viewer, shot, world):
    """Canvas pixel (row, col) of a world point in the 2D view, from the camera alone."""
    h, w = shot.shape[:2]
    center = np.asarray(viewer.scene.camera.center)[-2:]
    zoom = viewer.scene.camera.zoom
    row = h / 2 + (world[1] - center[0]) * zoom
    col = w / 2 + (world[2] - center[1]) * zoom
    return int(round(row)), int(round(col))


def _closest(rgb, color):
    return float(np.abs(np.asarray(rgb[:3], float) / 255 - np.asarray(color[:3])).sum())


def test_pair_opens_aligned_and_visible(make_napari_viewer, phantom_files, small_phantom):
    img_path, _ = phantom_files
    viewer = make_napari_viewer(show=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. napari's non-orthogonal slicing warning
        viewer.open(str(img_path), plugin="napari-liverct")
    assert [type(l).__name__ for l in viewer.layers] == ["Image", "Labels"]
    image, labels = viewer.layers
    assert labels.name == "liver_label"
    # labels above image, same world extent
    np.testing.assert_allclose(image.extent.world, labels.extent.world)
    centre_ras, radius = small_phantom.tumours[0]
    world = _ras_to_world(centre_ras)
    viewer.dims.point = (world[0], viewer.dims.point[1], viewer.dims.point[2])
    viewer.reset_view()
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert shot.std() > 10, "blank screenshot"
    r, c = _canvas_pixel(viewer, shot, world)
    tumour_px = shot[r, c]
    assert _closest(tumour_px, TUMOUR_COLOR) < _closest(tumour_px, LIVER_COLOR)
    assert tumour_px[1] > tumour_px[0] + 40  # green over the scan
    # a liver point: between the tumour and the liver's centre, outside every tumour
    liver_ras = (centre_ras[0] - radius - 6, centre_ras[1], centre_ras[2])
    r2, c2 = _canvas_pixel(viewer, shot, _ras_to_world(liver_ras))
    liver_px = shot[r2, c2]
    assert liver_px[0] > liver_px[1] + 30  # reddish liver overlay
    # patient's right (liver) is on the screen's left; air outside the body is black
    assert c < shot.shape[1] / 2
    assert shot[2, shot.shape[1] // 2, :3].max() < 20
    # the scan itself is visible: soft tissue on the patient's left is mid-grey
    tissue_ras = (-40.0, 0.0, centre_ras[2])
    r3, c3 = _canvas_pixel(viewer, shot, _ras_to_world(tissue_ras))
    grey = shot[r3, c3, :3].astype(int)
    assert 60 < grey.mean() < 220 and np.ptp(grey) < 20


def test_display_widget_presets_and_conversion(make_napari_viewer, phantom_files):
    from napari_liverct._qt.window_widget import DisplayWidget

    img_path, lab_path = phantom_files
    viewer = make_napari_viewer(show=True)
    viewer.open(str(img_path), plugin="napari-liverct")
    image, labels = viewer.layers
    widget = DisplayWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._image.value = image
    widget._preset.value = "liver"
    assert tuple(image.contrast_limits) == (-45.0, 105.0)
    widget._preset.value = "full range"
    assert tuple(image.contrast_limits) == (float(image.data.min()), float(image.data.max()))
    before = labels.data_to_world((3, 4, 5))
    widget._any.value = labels
    widget._to_image.changed.emit(True)
    converted = viewer.layers["liver_label"]
    assert type(converted).__name__ == "Image"
    np.testing.assert_allclose(converted.data_to_world((3, 4, 5)), before)
    assert viewer.layers.index(converted) == 1


def test_every_manifest_widget_docks_through_napari(make_napari_viewer):
    """napari injects the viewer by annotation: each widget must dock from the Plugins menu."""
    import npe2

    viewer = make_napari_viewer()
    manifest = npe2.PluginManager.instance().get_manifest("napari-liverct")
    names = [w.display_name for w in manifest.contributions.widgets]
    assert "File information" in names and len(names) == len(set(names)) >= 9
    for name in names:
        dock, widget = viewer.window.add_plugin_dock_widget("napari-liverct", name)
        assert widget is not None, name


def test_dropping_image_and_labels_together_adds_each_once(make_napari_viewer, phantom_files):
    """A drop of both files (napari opens them one by one) must not pair the labels twice."""
    img_path, lab_path = phantom_files
    for order in ([img_path, lab_path], [lab_path, img_path]):
        viewer = make_napari_viewer()
        viewer.open([str(p) for p in order], plugin="napari-liverct")
        assert sorted(type(l).__name__ for l in viewer.layers) == ["Image", "Labels"], order
    viewer = make_napari_viewer()
    viewer.open(str(img_path), plugin="napari-liverct")  # the image alone still brings its labels
    assert [l.name for l in viewer.layers] == ["liver", "liver_label"]
