"""Issue 19.1-19.3 in a real viewer: real CTs browsed with the Dataset browser's buttons.

A folder of real files written by other tools: the thorax of TotalSegmentator's chest
CTA (lung), its abdominal CT with its segmentation, its MR, the upper-abdomen DICOM
series converted by dcm2niix, and the whole chest CTA.  Clicking Open / Next /
Previous, each case gets the window the plugin chooses for it alone (the same as
reading the file on its own), until the user sets one: then that one stays.  Cases
read ahead show at the click.  ``LIVERCT_WIDGET_SHOTS=DIR`` keeps the screenshots.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication

from napari_liverct._qt.window_widget import AUTO
from napari_liverct.display.layers import window_limits
from napari_liverct.io.reader import read_nifti_layers
from realdata import EXAMPLE_CT, EXAMPLE_SEG_FAST, real

TS = "totalsegmentator/"


def _shot(viewer, name):
    out = os.environ.get("LIVERCT_WIDGET_SHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        viewer.window.screenshot(str(Path(out) / f"{name}.png"), canvas_only=False)


@pytest.fixture(scope="module")
def real_folder(tmp_path_factory):
    if shutil.which("dcm2niix") is None:
        pytest.skip("dcm2niix not installed")
    root = tmp_path_factory.mktemp("realcts")
    cta = nib.as_closest_canonical(nib.load(real(TS + "aorta_report/test_result/models/ct.nii.gz")))
    # the thorax of the chest CTA: the slices between the lung apices and the domes (RAS, axis 2 = S)
    nib.save(cta.slicer[:, :, 60:150], root / "a_thorax.nii.gz")
    (root / "b_abdomen.nii.gz").symlink_to(real(EXAMPLE_CT))
    (root / "b_abdomen_seg.nii.gz").symlink_to(real(EXAMPLE_SEG_FAST))
    (root / "c_mr.nii.gz").symlink_to(real(TS + "example_mr_sm.nii.gz"))
    subprocess.run(
        ["dcm2niix", "-z", "y", "-f", "d_upper_abdomen", "-o", str(root), str(real(TS + "example_ct_dicom"))],
        check=True,
        capture_output=True,
    )
    (root / "d_upper_abdomen.json").unlink()  # dcm2niix's BIDS sidecar is not a label table
    (root / "e_chest_cta.nii.gz").symlink_to(real(TS + "aorta_report/test_result/models/ct.nii.gz"))
    return root


def _alone(path):
    """The window of the file read on its own (the reader, no browser)."""
    [(_d, kw, _k)] = read_nifti_layers(path, kind="image", pair=False)
    return kw["metadata"]["ct_window"], tuple(kw["contrast_limits"])


def _image(viewer, case_id):
    return viewer.layers[case_id]


def _assert_framed(viewer, layer):
    """The whole axial slice of ``layer`` is on the canvas (zoom and centre)."""
    from napari_liverct._napari.compat import scene_canvas

    w_px, h_px = scene_canvas(viewer).size
    ext = np.asarray(layer.extent.world, float)
    shown = list(viewer.dims.displayed)
    size = ext[1, shown] - ext[0, shown]
    on_screen = size * viewer.camera.zoom
    assert on_screen[0] <= h_px + 2 and on_screen[1] <= w_px + 2, f"{layer.name}: {on_screen} px on {w_px}x{h_px}"
    centre = (ext[0, shown] + ext[1, shown]) / 2
    assert np.allclose(np.asarray(viewer.camera.center)[-2:], centre, atol=0.05 * size.max()), layer.name
    z = viewer.dims.not_displayed[0]  # on the middle slice, not clamped to an end
    assert abs(viewer.dims.point[z] - (ext[0, z] + ext[1, z]) / 2) <= layer.scale[z], layer.name


def test_each_case_gets_its_own_window_until_the_user_sets_one(make_napari_viewer, real_folder, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1600, 1000)
    dock, w = viewer.window.add_plugin_dock_widget("napari-liverct", "Dataset browser")
    w.path_edit.setText(str(real_folder))
    qtbot.keyClick(w.path_edit, Qt.Key.Key_Return)
    ids = [c.id for c in w.dataset.cases]
    # the labelled case first (training), then the others in name order
    assert ids == ["b_abdomen", "a_thorax", "c_mr", "d_upper_abdomen", "e_chest_cta"]
    expected = {c.id: _alone(c.image) for c in w.dataset.cases}
    assert [expected[i][0] for i in ids] == [
        "abdomen",
        "lung",
        "percentile",
        "abdomen",
        "lung",
    ]  # the CTA runs neck to upper abdomen: lung in most of its slices

    w.case_list.setCurrentRow(0)
    qtbot.mouseClick(w.open_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.current is not None and w.current.id == "b_abdomen", timeout=30_000)
    assert tuple(_image(viewer, "b_abdomen").contrast_limits) == window_limits("abdomen")
    _shot(viewer, "browse_1_b_abdomen_abdomen")

    def read_ahead(case_id):  # the user looks at the case while the next one is read ahead
        case = next(c for c in w.dataset.cases if c.id == case_id)
        qtbot.waitUntil(lambda: w.cache.get(case) is not None, timeout=60_000)

    for n, case_id in enumerate(ids[1:4], 2):
        read_ahead(case_id)
        qtbot.mouseClick(w.next_btn, Qt.MouseButton.LeftButton)
        # read ahead: the case is on screen when the click returns, no waiting
        assert w.current.id == case_id and case_id in w.status.text()
        layer = _image(viewer, case_id)
        assert tuple(layer.contrast_limits) == pytest.approx(expected[case_id][1]), case_id
        assert layer.metadata["ct_window"] == expected[case_id][0]
        _assert_framed(viewer, layer)  # another field of view is framed, not cut off
        QApplication.processEvents()
        _shot(viewer, f"browse_{n}_{case_id}_{expected[case_id][0]}")
    assert [ly.name for ly in viewer.layers] == ["d_upper_abdomen"]

    # the user sets a window with the window widget's real controls: it stays from now on
    _d, display = viewer.window.add_plugin_dock_widget("napari-liverct", "CT window and layer type")
    display._image.value = _image(viewer, "d_upper_abdomen")
    display._preset.value = "liver"
    display._apply.native.click()
    assert tuple(_image(viewer, "d_upper_abdomen").contrast_limits) == window_limits("liver")
    read_ahead("e_chest_cta")
    qtbot.mouseClick(w.next_btn, Qt.MouseButton.LeftButton)
    assert w.current.id == "e_chest_cta"
    assert tuple(_image(viewer, "e_chest_cta").contrast_limits) == window_limits("liver")
    # ... and a window dragged by hand stays too, going back
    _image(viewer, "e_chest_cta").contrast_limits = (-300.0, 500.0)
    read_ahead("d_upper_abdomen")
    qtbot.mouseClick(w.prev_btn, Qt.MouseButton.LeftButton)
    assert w.current.id == "d_upper_abdomen"
    assert tuple(_image(viewer, "d_upper_abdomen").contrast_limits) == (-300.0, 500.0)
    _shot(viewer, "browse_6_user_window_kept")
    # "auto" hands the window back to the plugin: chosen again for this case and the next
    display._image.value = _image(viewer, "d_upper_abdomen")
    display._preset.value = AUTO
    assert tuple(_image(viewer, "d_upper_abdomen").contrast_limits) == expected["d_upper_abdomen"][1]
    assert "auto (by content): abdomen [-160, 240]" in display._status.value
    read_ahead("c_mr")
    qtbot.mouseClick(w.prev_btn, Qt.MouseButton.LeftButton)
    assert w.current.id == "c_mr"
    assert tuple(_image(viewer, "c_mr").contrast_limits) == pytest.approx(expected["c_mr"][1])


def test_abdomen_labels_open_with_the_case_and_painting_does_not_reach_the_cache(
    make_napari_viewer, real_folder, qtbot
):
    viewer = make_napari_viewer(show=True)
    _dock, w = viewer.window.add_plugin_dock_widget("napari-liverct", "Dataset browser")
    w.load(real_folder)
    w.case_list.setCurrentRow(0)
    qtbot.mouseClick(w.open_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.current is not None and w.current.id == "b_abdomen", timeout=30_000)
    labels = viewer.layers["b_abdomen_label"]
    seg = nib.load(real(EXAMPLE_SEG_FAST))
    assert labels.data.sum(dtype=np.int64) == np.asanyarray(seg.dataobj).sum(dtype=np.int64)
    labels.data[:] = 0  # the user wipes the labels
    qtbot.waitUntil(lambda: w.cache.get(w.dataset.cases[1]) is not None, timeout=60_000)
    qtbot.mouseClick(w.next_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.cache.get(w.dataset.cases[0]) is not None, timeout=60_000)
    qtbot.mouseClick(w.prev_btn, Qt.MouseButton.LeftButton)
    assert w.current.id == "b_abdomen"
    again = viewer.layers["b_abdomen_label"]
    assert again.data.sum(dtype=np.int64) == np.asanyarray(seg.dataobj).sum(dtype=np.int64)
