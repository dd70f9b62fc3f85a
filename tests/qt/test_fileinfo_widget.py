"""Issue 19: the File information panel in a real viewer, checked against nibabel's header."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication

from realdata import EXAMPLE_SEG_FAST, real

CTA = "totalsegmentator/aorta_report/test_result/models/ct.nii.gz"


def _fmt_row(row) -> str:
    return "  ".join(f"{v:>10.4f}" for v in row)


def test_file_information_follows_the_selected_layer_and_copies_json(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1600, 1000)
    ct_path, seg_path = real(CTA), real(EXAMPLE_SEG_FAST)
    [ct] = viewer.open(ct_path, plugin="napari-liverct")
    [seg] = viewer.open(seg_path, plugin="napari-liverct", layer_type="labels")
    dock, panel = viewer.window.add_plugin_dock_widget("napari-liverct", "File information")

    viewer.layers.selection.active = ct
    hdr = nib.load(ct_path).header
    text = panel.text.toPlainText()
    assert ct.name in panel.title.text()
    assert f"dimensions: {' x '.join(map(str, hdr.get_data_shape()))}" in text
    unit = hdr.get_xyzt_units()[0]
    unit = "units not set in the header: read as mm" if unit == "unknown" else unit
    assert f"spacing: {' x '.join(f'{float(v):g}' for v in hdr.get_zooms())} ({unit})" in text
    assert f"orientation: {''.join(nib.aff2axcodes(nib.load(ct_path).affine))}" in text
    used = "sform" if int(hdr["sform_code"]) > 0 else ("qform" if int(hdr["qform_code"]) > 0 else "pixdim")
    assert f"affine used: {used}" in text
    for row in hdr.get_sform():  # the sform as nibabel reads it, row by row
        assert _fmt_row(row) in text
    assert f"datatype: {int(hdr['datatype'])} {nib.nifti1.data_type_codes.niistring[int(hdr['datatype'])]}" in text

    QApplication.clipboard().clear()
    qtbot.mouseClick(panel.copy_btn, Qt.MouseButton.LeftButton)
    copied = json.loads(QApplication.clipboard().text())
    assert copied["dimensions"] == list(hdr.get_data_shape())
    assert np.allclose(copied["spacing"], hdr.get_zooms())
    assert np.allclose(copied["affine"], nib.load(ct_path).affine, atol=1e-4)
    assert copied["affine_used"] == used and copied["file"] == str(ct_path)

    viewer.layers.selection.active = seg
    shdr = nib.load(seg_path).header
    text = panel.text.toPlainText()
    assert seg.name in panel.title.text()
    assert f"dimensions: {' x '.join(map(str, shdr.get_data_shape()))}" in text
    assert "5: liver" in text and "LabelTable" in text
    for _ in range(3):
        QApplication.processEvents()
    assert dock.isVisible() and panel.text.isVisible()
    out = os.environ.get("LIVERCT_WIDGET_SHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        viewer.window.screenshot(str(Path(out) / "file_information.png"), canvas_only=False)
    qtbot.mouseClick(panel.copy_btn, Qt.MouseButton.LeftButton)
    copied = json.loads(QApplication.clipboard().text())
    assert copied["label_table"]["labels"]["5"] == "liver"
    assert [e["code"] for e in copied["extensions"]] == [e.get_code() for e in shdr.extensions]

    # a layer that did not come from a file says so, and there is nothing to copy
    viewer.layers.selection.active = viewer.add_points([[0, 0, 0]], name="marks")
    assert "not read from a NIfTI, DICOM, NRRD or MetaImage file" in panel.text.toPlainText()
    assert not panel.copy_btn.isEnabled()
