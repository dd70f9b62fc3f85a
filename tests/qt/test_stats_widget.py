"""The statistics widget in a real napari viewer (Xvfb): same numbers as the CLI, navigation."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest

from napari_liverct.geometry.grids import ras_to_world
from napari_liverct.io.reader import read_nifti_layers
from napari_liverct.outputs.guard import OutputClashError
from napari_liverct.stats import stats_for_files

pytestmark = pytest.mark.gui


@pytest.fixture
def viewer_with_widget(make_napari_viewer, phantom_files, qtbot):
    from napari_liverct._qt.stats_widget import StatsWidget

    viewer = make_napari_viewer()
    img_p, lab_p = phantom_files
    for data, kwargs, kind in read_nifti_layers(str(img_p), pair=False) + read_nifti_layers(str(lab_p), pair=False):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    widget = StatsWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return viewer, widget, img_p, lab_p


def _run(widget, qtbot):
    widget.compute()
    qtbot.waitUntil(lambda: widget.result is not None, timeout=30000)


def test_widget_matches_cli_and_navigates(viewer_with_widget, qtbot, tmp_path):
    viewer, widget, img_p, lab_p = viewer_with_widget
    assert widget.image_combo.value is viewer.layers[0]
    assert widget.labels_combo.value is viewer.layers[1]
    _run(widget, qtbot)
    ref = stats_for_files(img_p, lab_p).to_json()
    res = widget.result.to_json()
    for key in ("bbox_min", "bbox_max", "voxels"):
        assert [r[key] for r in res["labels"]] == [r[key] for r in ref["labels"]]
    for key in ("volume_ml", "mean", "std", "median", "p05", "p95"):
        assert [r[key] for r in res["labels"]] == pytest.approx([r[key] for r in ref["labels"]])
    assert [r["volume_ml"] for r in res["lesions"]] == pytest.approx([r["volume_ml"] for r in ref["lesions"]])
    assert res["tumour_burden"] == pytest.approx(ref["tumour_burden"])
    assert widget.label_table.rowCount() == 2 and widget.lesion_table.rowCount() == 3

    # features of the labels layer (napari's features table) carry the per-label results
    feats = viewer.layers[1].features
    liver = feats[feats["index"] == 1].iloc[0]
    assert liver["name"] == "liver" and liver["voxels"] == ref["labels"][0]["voxels"]
    assert liver["median"] == pytest.approx(ref["labels"][0]["median"])

    # clicking lesion row 2 moves the slice to its centroid (world S, P, L mm)
    widget.lesion_table.selectRow(2)
    target = ras_to_world(np.array(ref["lesions"][2]["centroid_mm"]))
    scale = np.asarray(viewer.layers[0].scale)
    # napari snaps the point to its slice grid: within half a voxel of the centroid
    assert np.all(np.abs(np.asarray(viewer.dims.point[-3:]) - target) <= scale / 2 + 1e-6)
    # the voxel under the new point (on the slice shown) is tumour: the slice goes through the lesion
    idx = np.round(np.asarray(viewer.layers[1].world_to_data(viewer.dims.point))).astype(int)
    assert viewer.layers[1].data[tuple(idx)] == 2
    points = widget._points
    assert points is not None and points.selected_data == {2}
    np.testing.assert_allclose(points.data[2], target, atol=1e-6)
    assert not np.allclose(points.border_color[2], points.border_color[0])

    viewer.dims.ndisplay = 3
    widget.lesion_table.selectRow(0)
    np.testing.assert_allclose(
        viewer.scene.camera.center, ras_to_world(np.array(ref["lesions"][0]["centroid_mm"])), atol=1e-6
    )

    out = widget.export_csv(str(tmp_path / "stats.csv"))
    rows = list(csv.DictReader(open(out)))
    # the export never replaces a file a layer was read from (the output guard, issue 23)
    _, _, img_p, lab_p = viewer_with_widget
    before = lab_p.read_bytes()
    with pytest.raises(OutputClashError, match=re.escape(f"refusing to write {lab_p}: it is the input {lab_p}")):
        widget.export_csv(str(lab_p))
    assert lab_p.read_bytes() == before
    assert [r["kind"] for r in rows].count("lesion") == 3
    assert widget.result.histograms is not None and set(widget.result.histograms[1]) == {1, 2}


def test_widget_follows_layer_list_and_reports_grid_mismatch(viewer_with_widget, qtbot):
    viewer, widget, _, _ = viewer_with_widget
    other = viewer.add_labels(np.zeros((5, 5, 5), np.uint8), name="other")
    assert any(c is other for c in widget.labels_combo.choices)
    widget.labels_combo.value = other
    widget.compute()
    assert widget.result is None and "same grid" in widget.summary.text() and "other" in widget.summary.text()
    viewer.layers.remove(other)
    assert not any(c is other for c in widget.labels_combo.choices)


def _click(widget, qtbot, button):
    from qtpy.QtCore import Qt

    widget.result = None
    qtbot.mouseClick(button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.result is not None, timeout=30000)


def test_organ_and_lesion_labels_drive_burden_and_lesions(viewer_with_widget, qtbot):
    """Issue 10: the user's organ/lesion choice, not label 2, drives the lesion table and burden."""
    _viewer, widget, _img, _lab = viewer_with_widget
    assert (widget.organ_text.value, widget.lesion_text.value) == ("1", "2")  # from the names liver/tumour
    _click(widget, qtbot, widget.run_button)
    assert widget.lesion_table.rowCount() == 3 and "tumour burden" in widget.summary.text()
    # no lesion class: no lesion table, no burden
    widget.lesion_text.value = ""
    _click(widget, qtbot, widget.run_button)
    assert widget.result.lesions == () and widget.result.tumour_burden is None
    assert widget.lesion_table.rowCount() == 0
    assert "no lesion labels chosen" in widget.summary.text() and "% of the" not in widget.summary.text()
    # the other way round (the user says the liver is the lesion): whatever they say is used
    widget.organ_text.value, widget.lesion_text.value = "2", "1"
    _click(widget, qtbot, widget.run_button)
    assert len(widget.result.lesions) >= 1 and all(r.label == 1 for r in widget.result.lesions)
    widget.organ_text.value = "x"
    widget.run_button.native.click()
    assert "organ labels" in widget.summary.text()


def test_many_classes_no_default_lesion_and_legend_outside(make_napari_viewer, qtbot, tmp_path):
    import nibabel as nib

    from napari_liverct._qt._histogram import MAX_LEGEND_ENTRIES
    from napari_liverct._qt.stats_widget import StatsWidget

    lab = np.zeros((40, 40, 10), np.uint8)
    for v in range(1, 31):
        i, j = divmod(v - 1, 6)
        lab[2 + i * 6 : 6 + i * 6, 2 + j * 6 : 6 + j * 6, 2:8] = v
    rng = np.random.default_rng(0)  # CT-like: thousands of distinct values
    img = (np.where(lab > 0, 40 + lab, -1000) + rng.normal(0, 30, lab.shape)).astype(np.int16)
    nib.save(nib.Nifti1Image(img, np.eye(4)), tmp_path / "ct.nii.gz")
    nib.save(nib.Nifti1Image(lab, np.eye(4)), tmp_path / "seg_total.nii.gz")
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "ct.nii.gz"), plugin="napari-liverct")
    viewer.open(str(tmp_path / "seg_total.nii.gz"), plugin="napari-liverct", layer_type="labels")
    widget = StatsWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.labels_combo.value = viewer.layers["seg_total"]
    assert widget.lesion_text.value == ""  # label 2 is not a tumour by default
    _click(widget, qtbot, widget.run_button)
    assert widget.result.lesions == () and widget.result.tumour_burden is None
    assert widget.label_table.rowCount() == 30
    canvas = widget.histogram
    canvas.figure.canvas.draw()
    leg = canvas.axes.get_legend()
    assert len(leg.get_texts()) <= MAX_LEGEND_ENTRIES + 2
    r = canvas.figure.canvas.get_renderer()
    lb, ab = leg.get_window_extent(r), canvas.axes.get_window_extent(r)
    assert lb.x0 >= ab.x1 - 1, "legend covers the plot"
    assert lb.x1 <= canvas.figure.bbox.x1 + 1, "legend cut off"
