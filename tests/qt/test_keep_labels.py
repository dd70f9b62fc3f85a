"""Segment again never destroys the user's labels (issue 22 item 3), in a real viewer (Xvfb).

The flow a user follows: Segment (liver only), correct the draft with napari's brush
(mouse clicks on the canvas), then Segment again with the tumours: the same layer object
stays, only the lesion network runs, inside the liver as corrected, and its tumours land
only on liver voxels the user did not touch; napari's undo (Ctrl+Z on the canvas) takes
them back whole; a further Segment writes a new layer and leaves the first one alone.

Stand-in networks (tests/standin.py): this test is about the layer rule, not the networks
(the real liver network runs in tests/qt/test_draft_flow.py).  The lesion stand-in says
"tumour" wherever a tile reaches.  Oracles: numpy on the layer's array before and after.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from painting import brush_click
from qtpy.QtCore import Qt
from scipy import ndimage

from napari_liverct.display.layers import array_to_layer_data
from napari_liverct.segment import pipeline as pl

pytestmark = pytest.mark.gui

PLUGIN = "napari-liverct"


def _shot(widget, name: str) -> None:
    """The widget as a person sees it, when LIVERCT_SHOTS names a folder (for the report)."""
    from qtpy.QtWidgets import QApplication

    for _ in range(5):  # the wrapped status is laid out
        QApplication.processEvents()
    label = widget.status.native
    assert label.height() >= label.heightForWidth(label.width()), label.text()  # shown whole, not clipped
    folder = os.environ.get("LIVERCT_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        widget.native.grab().save(str(Path(folder) / name))


def _segment(qtbot, seg) -> None:
    qtbot.mouseClick(seg.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not seg.running, timeout=120_000)
    qtbot.wait(300)
    assert seg.status.value.startswith("done"), seg.status.value


def test_brush_edits_survive_a_second_segment_and_undo_takes_the_tumours_back(
    make_napari_viewer, qtbot, tiny_phantom, standin_calls
):
    ph = tiny_phantom
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1200, 800)
    data, kwargs, _ = array_to_layer_data(ph.image, ph.affine, kind="image", name="ct")
    image = viewer.add_image(data, **kwargs)
    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment liver (offline)")
    seg.with_lesions.native.setChecked(False)
    _segment(qtbot, seg)
    assert standin_calls == ["liver"] * len(pl.LIVER_OFFSETS)  # one liver pass per patch position
    draft = viewer.layers["ct liver draft"]
    produced = np.array(draft.data, copy=True)
    assert set(np.unique(produced)) == {0, 1}

    # correct it with the brush: liver the draft missed, a liver voxel that is not liver
    z = int(np.argmax((produced == 1).sum(axis=(1, 2))))  # the slice with the most liver
    viewer.dims.set_current_step(0, z)
    viewer.reset_view()
    rim = np.argwhere(ndimage.binary_dilation(produced[z] == 1) & (produced[z] == 0))
    inner = np.argwhere(ndimage.binary_erosion(produced[z] == 1, iterations=3))
    added, erased = (z, *rim[len(rim) // 2]), (z, *inner[len(inner) // 2])
    viewer.layers.selection.active = draft
    draft.mode = "paint"
    draft.brush_size = 1
    for voxel, value in ((added, 1), (erased, 0)):
        draft.selected_label = value
        brush_click(viewer, qtbot, draft, voxel)
    qtbot.wait(50)
    edited = np.array(draft.data, copy=True)
    changed = sorted(map(tuple, np.argwhere(edited != produced).tolist()))
    assert changed == sorted([tuple(map(int, added)), tuple(map(int, erased))])

    # Segment again, tumours too, with the real button
    layers_before = list(viewer.layers)
    seg.with_lesions.native.setChecked(True)
    standin_calls.clear()
    _segment(qtbot, seg)
    _shot(seg, "segment_second_run.png")
    assert "liver" not in standin_calls and standin_calls.count("lesion") >= 1  # only the missing stage ran
    assert list(viewer.layers) == layers_before and viewer.layers["ct liver draft"] is draft
    after = np.asarray(draft.data)
    assert after[added] == 1 and after[erased] == 0  # the user's voxels, as painted
    # tumour exactly where the lesion stage found it, on liver the user did not touch
    from napari_liverct._napari.layer_utils import layer_disk_view

    ct, affine = layer_disk_view(image)
    liver_now = layer_disk_view(draft)[0]  # stored order; after == edited + tumours
    found = pl.segment(ct, affine, lesions=True, liver=np.isin(liver_now, (1, 2))).labels == 2
    found_shown = array_to_layer_data(found.astype(np.uint8), affine, kind="labels", name="f", label_names={1: "t"})[0]
    expected = np.where((found_shown == 1) & (edited == 1) & (edited == produced), 2, edited)
    np.testing.assert_array_equal(after, expected)
    assert (after == 2).sum() > 1000
    assert "your edits are kept" in seg.status.value
    assert f"{int((after == 2).sum())} tumour voxels added" in seg.status.value

    # napari's undo, pressed on the canvas with the draft active: the tumours go, the edits stay
    viewer.layers.selection.active = draft
    canvas = viewer.window._qt_viewer.canvas.native
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.wait(50)
    np.testing.assert_array_equal(draft.data, edited)

    # a third Segment: the draft has had both stages, so the new draft goes to a new layer
    # and the corrected one is untouched
    standin_calls.clear()
    _segment(qtbot, seg)
    assert [ly.name for ly in viewer.layers] == ["ct", "ct liver draft", "ct liver draft (2)"]
    np.testing.assert_array_equal(draft.data, edited)
    # untouched, the new layer holds what the command line writes: the whole draft of the CT
    full = pl.segment(ct, affine, lesions=True).labels
    full_shown = array_to_layer_data(full, affine, kind="labels", name="f", label_names={1: "t"})[0]
    np.testing.assert_array_equal(viewer.layers["ct liver draft (2)"].data, full_shown)
    assert "'ct liver draft' kept as it was" in seg.status.value


def test_a_refused_second_segment_changes_nothing(make_napari_viewer, qtbot, tiny_phantom, standin_calls):
    """The user erased the whole liver, then asks for tumours: refused once, layer unchanged."""
    from napari.utils.notifications import notification_manager

    ph = tiny_phantom
    viewer = make_napari_viewer()
    data, kwargs, _ = array_to_layer_data(ph.image, ph.affine, kind="image", name="ct")
    viewer.add_image(data, **kwargs)
    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment liver (offline)")
    seg.with_lesions.native.setChecked(False)
    _segment(qtbot, seg)
    draft = viewer.layers["ct liver draft"]
    draft.data_setitem(np.nonzero(np.asarray(draft.data) == 1), 0)  # everything erased (one undo step)
    seg.with_lesions.native.setChecked(True)
    start = len(notification_manager.records)
    qtbot.mouseClick(seg.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.wait(300)
    _shot(seg, "segment_refused.png")
    notes = notification_manager.records[start:]
    assert len(notes) == 1 and "holds no liver" in notes[0].message and "ct liver draft" in notes[0].message
    assert not seg.running and [ly.name for ly in viewer.layers] == ["ct", "ct liver draft"]
    assert not np.asarray(draft.data).any()
