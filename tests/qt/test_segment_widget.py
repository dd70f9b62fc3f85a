"""The "Segment liver (offline)" widget in a real napari viewer (Xvfb), clicking its buttons.

The first test runs the real liver network on a real CT (TotalSegmentator's example_ct_sm);
the cancel test uses a slow stand-in network so that Cancel lands between two lesion tiles.
Oracles: the image layer's own world geometry and the file's affine (nibabel), the
statistics of the core on the saved draft.
"""

from __future__ import annotations

import time

import nibabel as nib
import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_liverct.io.reader import read_nifti_layers
from napari_liverct.segment import pipeline as pl
from realdata import real
from standin import lesion_constant, liver_box

pytestmark = pytest.mark.gui

EXAMPLE_CT_SM = "totalsegmentator/example_ct_sm.nii.gz"


def _dock(viewer):
    from napari_liverct._qt.segment_widget import SegmentWidget

    widget = SegmentWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Segment liver (offline)")
    return widget


def test_segment_button_adds_a_liver_draft_the_other_widgets_use(make_napari_viewer, qtbot, tmp_path):
    ct = real(EXAMPLE_CT_SM)
    viewer = make_napari_viewer()
    for data, kwargs, kind in read_nifti_layers(str(ct), pair=False):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    image = viewer.layers[0]
    widget = _dock(viewer)
    assert widget.image_layer.value is image
    assert "draft" in widget.note.value and "2019" in widget.note.value
    widget.with_lesions.native.setChecked(False)
    widget.threads.value = 2
    qtbot.mouseClick(widget.run_button.native, Qt.MouseButton.LeftButton)
    assert widget.running and widget.cancel_button.enabled and not widget.run_button.enabled
    qtbot.waitUntil(lambda: not widget.running, timeout=600_000)
    assert widget.status.value.startswith("done"), widget.status.value

    draft = viewer.layers[f"{image.name} liver draft"]
    assert draft.__class__.__name__ == "Labels"
    np.testing.assert_allclose(draft.scale, image.scale)
    np.testing.assert_allclose(draft.translate, image.translate)
    assert draft.data.shape == image.data.shape
    assert set(np.unique(draft.data)) == {0, 1}
    assert draft.metadata["label_names"][1] == "liver" and draft.metadata["label_names"][2] == "liver tumour"

    # saved through the plugin's writer: the CT's own grid and affine, the names in the file
    from napari_liverct._napari.layer_utils import layer_meta
    from napari_liverct.display.layers import save_layer

    out = save_layer(tmp_path / "draft.nii.gz", draft.data, layer_meta(draft))
    src, got = nib.load(ct), nib.load(out)
    assert got.shape == src.shape
    np.testing.assert_allclose(got.affine, src.affine, atol=1e-5)
    from napari_liverct.labels.tables import label_table_from_header

    assert label_table_from_header(got.header).names[1] == "liver"

    # the statistics widget measures the draft: its liver voxels are the layer's
    from napari_liverct._qt.stats_widget import StatsWidget

    stats = StatsWidget(viewer)
    viewer.window.add_dock_widget(stats)
    stats.reset_choices()
    stats.image_combo.value = image
    stats.labels_combo.value = draft
    qtbot.mouseClick(stats.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: stats.result is not None, timeout=120_000)
    liver = [r for r in stats.result.labels if r.label == 1][0]
    assert liver.voxels == int((np.asarray(draft.data) == 1).sum())
    assert liver.name == "liver"

    # the crop widget offers it as a labels layer
    from napari_liverct._qt.crop_widget import CropWidget

    crop = CropWidget(viewer)
    crop.reset_choices()
    assert draft in [c[1] if isinstance(c, tuple) else c for c in crop._labels_layers(None)]


def test_cancel_stops_between_tiles(make_napari_viewer, qtbot, small_phantom, monkeypatch):
    calls = {"lesion": 0}

    def slow_network(model, patch, monitor=None):
        if model == "liver":  # a liver box in the middle of the output patch
            return liver_box()
        calls["lesion"] += 1
        time.sleep(0.6)
        return lesion_constant(0.9)  # every tile "tumour": a partial result would show

    monkeypatch.setattr(pl, "run_network", slow_network)
    viewer = make_napari_viewer()
    ph = small_phantom
    from napari_liverct.display.layers import array_to_layer_data

    data, kwargs, _ = array_to_layer_data(ph.image, ph.affine, kind="image", name="phantom")
    image = viewer.add_image(data, **kwargs)
    widget = _dock(viewer)
    assert widget.image_layer.value is image and widget.with_lesions.value
    qtbot.mouseClick(widget.run_button.native, Qt.MouseButton.LeftButton)
    # liver done and at least one tile in, but not all
    qtbot.waitUntil(lambda: widget.progress.value >= 2 and widget.progress.max > 3, timeout=60_000)
    total = widget.progress.max - 1
    qtbot.mouseClick(widget.cancel_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.status.value.startswith("cancelled"), widget.status.value
    assert calls["lesion"] < total  # it stopped before the end
    draft = viewer.layers["phantom liver draft"]
    assert set(np.unique(draft.data)) == {0, 1}  # the liver, no partial tumours
    assert widget.run_button.enabled and not widget.cancel_button.enabled


def test_the_bar_moves_while_the_liver_network_runs(make_napari_viewer, qtbot, small_phantom, monkeypatch):
    """Issue 22.6: the bar sat at 0 % through the liver step.  A stand-in liver pass of 30
    convolutions (0.1 s each) reports through the pipeline's monitor; the bar, read while it
    runs, takes several values strictly between empty and the liver's full share."""

    def slow_liver(model, patch, monitor=None):
        monitor.total = 30
        for k in range(30):
            monitor.reached(k)
            time.sleep(0.1)
        return np.zeros(pl.LIVER_OUT, np.float32)  # no liver: the run ends after the liver

    monkeypatch.setattr(pl, "run_network", slow_liver)
    viewer = make_napari_viewer()
    from napari_liverct.display.layers import array_to_layer_data

    data, kwargs, _ = array_to_layer_data(small_phantom.image, small_phantom.affine, kind="image", name="phantom")
    viewer.add_image(data, **kwargs)
    widget = _dock(viewer)
    qtbot.mouseClick(widget.run_button.native, Qt.MouseButton.LeftButton)
    seen = set()
    deadline = time.time() + 60
    while widget.running and time.time() < deadline:
        seen.add((widget.progress.value, widget.progress.max))
        qtbot.wait(50)
    assert not widget.running
    inside = {v for v, m in seen if 0 < v < m}
    assert len(inside) >= 3, sorted(seen)
