"""Regression tests for the 3D view defects of issue 10, clicking the real controls.

* "Back to 2D" passed ``clicked(bool)``'s False as napari's display mode;
* label 2 was a tumour by default; volume mode drew only labels 1 and 2 and
  surfaces mode added one layer per class;
* napari's private-attribute FutureWarning when the view is used from its dock.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from qtpy.QtCore import Qt

pytestmark = pytest.mark.gui


def _add_pair(viewer, phantom_files):
    viewer.open(str(phantom_files[0]), plugin="napari-liverct")  # pairs liver_label.nii.gz


def _dock_3d(viewer):
    """Dock the 3D view as napari does for a user (the widget gets a PublicOnlyProxy viewer)."""
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-liverct", "3D tumour view")
    return widget


def _multiclass(tmp_path, n_classes=61, lesion_name=None):
    """A small map with ``n_classes`` blobs; names from a dataset.json (no liver, no tumour)."""
    import json

    import nibabel as nib

    shape = (48, 48, 24)
    lab = np.zeros(shape, np.uint8)
    side = int(np.ceil(n_classes**0.5))
    for v in range(1, n_classes + 1):
        i, j = divmod(v - 1, side)
        lab[2 + i * 5 : 6 + i * 5, 2 + j * 5 : 6 + j * 5, 6:18] = v
    rng = np.random.default_rng(0)  # CT-like: thousands of distinct values
    img = (np.where(lab > 0, 60, -900) + rng.normal(0, 30, shape)).astype(np.int16)
    names = {"0": "background", **{str(v): f"organ_{v}" for v in range(1, n_classes + 1)}}
    if lesion_name:
        names["2"] = lesion_name
    folder = tmp_path / "multi"
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    (folder / "dataset.json").write_text(json.dumps({"labels": names, "modality": {"0": "CT"}}))
    aff = np.diag([2.0, 2.0, 3.0, 1.0])
    nib.save(nib.Nifti1Image(img, aff), folder / "imagesTr" / "m.nii.gz")
    nib.save(nib.Nifti1Image(lab, aff), folder / "labelsTr" / "m.nii.gz")
    return folder / "imagesTr" / "m.nii.gz", folder / "labelsTr" / "m.nii.gz"


def test_back_to_2d_button_click_restores_the_2d_view(make_napari_viewer, phantom_files, qtbot):
    viewer = make_napari_viewer(show=True)
    _add_pair(viewer, phantom_files)
    widget = _dock_3d(viewer)
    widget.resolution.setCurrentText("full")
    widget.render_mode.setCurrentText("volume (exact)")
    qtbot.mouseClick(widget.btn_3d, Qt.MouseButton.LeftButton)
    assert viewer.dims.ndisplay == 3
    assert not viewer.layers["liver"].visible
    qtbot.mouseClick(widget.btn_2d, Qt.MouseButton.LeftButton)  # clicked(bool) -> False
    assert viewer.dims.ndisplay == 2
    assert [lay.name for lay in viewer.layers] == ["liver", "liver_label"]
    assert all(lay.visible for lay in viewer.layers)
    shot = viewer.screenshot(canvas_only=True)
    assert shot[..., :3].std() > 10, "black canvas after Back to 2D"
    # every other button and toggle of the widget survives a real click too
    for button in (widget.btn_next, widget.btn_prev, widget.btn_show_roles, widget.btn_show_all):
        button.click()
    widget.tumours_only.click()
    assert widget.tumours_only.isChecked()
    widget.tumours_only.click()
    widget.btn_2d.click()  # twice in a row, and from 2D
    assert viewer.dims.ndisplay == 2


def test_3d_view_uses_no_private_napari_api(make_napari_viewer, phantom_files, qtbot):
    viewer = make_napari_viewer(show=True)
    _add_pair(viewer, phantom_files)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        widget = _dock_3d(viewer)
        assert type(widget.viewer).__name__ == "PublicOnlyProxy"  # as napari hands it to plugins
        widget.resolution.setCurrentText("full")
        for mode in ("surfaces (fast)", "volume (exact)", "auto"):
            widget.render_mode.setCurrentText(mode)
            widget.btn_3d.click()
            qtbot.waitUntil(lambda: widget.view is not None, timeout=20000)
            widget.btn_next.click()
            widget.btn_2d.click()
        widget.btn_surf.click()
        qtbot.waitUntil(lambda: bool(widget.meshes), timeout=20000)
    private = [str(w.message) for w in caught if "Private attribute access" in str(w.message)]
    assert private == []


def test_label_2_is_not_a_tumour_and_every_class_is_drawn(make_napari_viewer, tmp_path, qtbot):
    img_p, lab_p = _multiclass(tmp_path, 61)
    viewer = make_napari_viewer(show=True)
    viewer.open(str(img_p), plugin="napari-liverct")
    lab = next(lay for lay in viewer.layers if type(lay).__name__ == "Labels")
    widget = _dock_3d(viewer)
    widget.labels_combo.value = lab
    assert widget.lesion_labels() == []  # no class is named tumour/lesion
    assert widget.shown_labels() == list(range(1, 62))
    widget.resolution.setCurrentText("full")
    widget.render_mode.setCurrentText("volume (exact)")
    widget.btn_3d.click()
    view = widget.view
    assert view.tumours is None and view.lesion_labels == []
    cmap = view.liver.colormap.color_dict
    for v in (1, 2, 37, 61):  # every class drawn, each in the labels layer's own colour
        np.testing.assert_allclose(np.asarray(cmap[v])[:3], np.asarray(lab.get_color(v))[:3], atol=1e-6)
    # the navigator has nothing to walk (label 2 is organ_2 here)
    widget.btn_next.click()
    assert widget.lesions == [] and "no lesion class" in widget.lesion_label.text()
    widget.btn_2d.click()
    # surfaces: one layer for all 61 classes, not 61 layers
    widget.render_mode.setCurrentText("surfaces (fast)")
    widget.btn_3d.click()
    qtbot.waitUntil(lambda: widget.view is not None, timeout=30000)
    assert len(widget.view.surfaces) == 1 and not widget.view.surfaces[0].metadata["tumour"]
    assert sorted(widget.view.surfaces[0].metadata["labels"]) == list(range(1, 62))
    widget.btn_2d.click()
    # the user's choice: show only 5 and 7, lesion = 7
    widget.set_shown_labels([5, 7])
    widget.lesion_edit.setText("7")
    widget.lesion_edit.editingFinished.emit()
    widget.render_mode.setCurrentText("volume (exact)")
    widget.btn_3d.click()
    view = widget.view
    assert set(view.tumours.colormap.color_dict) - {0, None} == {7}
    assert set(view.liver.colormap.color_dict) - {0, None} == {5}
    widget.btn_next.click()
    assert len(widget.lesions) == 1 and widget.lesion_label.text().startswith("lesion 1/1")
    widget.btn_2d.click()


def test_named_lesion_class_is_the_default_lesion(make_napari_viewer, tmp_path):
    img_p, _lab_p = _multiclass(tmp_path, 4, lesion_name="lung tumour")
    viewer = make_napari_viewer(show=True)
    viewer.open(str(img_p), plugin="napari-liverct")
    widget = _dock_3d(viewer)
    assert widget.lesion_labels() == [2] and widget.organ_labels() == []
    widget.btn_next.click()
    assert len(widget.lesions) == 1
