"""Compare segmentations widget in a real viewer (Xvfb); its layer building is tested in tests/core/test_error_maps.py."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest


# ------------------------------------------------------------------ GUI: the widget in a real viewer
@pytest.fixture
def compare_files(tmp_path, small_phantom):
    """Ground truth (MSD layout with dataset.json) and a prediction that shifts the liver by one
    voxel, misses the smallest tumour and invents one; the prediction is stored with axis 0 flipped."""
    import cc3d

    ph = small_phantom
    gt = ph.labels.astype(np.uint8)
    cc, n = cc3d.connected_components(gt == 2, connectivity=26, return_N=True)
    sizes = np.bincount(cc.ravel())[1:]
    smallest = int(np.argmin(sizes)) + 1
    pred = np.roll(gt, 1, axis=1)
    missed = cc == smallest
    pred[np.roll(missed, 1, axis=1)] = 1
    liver = np.argwhere((gt == 1) & (np.roll(gt, 1, axis=1) == 1))
    # an invented tumour well inside the liver and away from the true tumours
    far = np.ones(len(liver), bool)
    for t in range(1, n + 1):
        c = np.argwhere(cc == t).mean(axis=0)
        far &= np.linalg.norm((liver - c) * ph.spacing, axis=1) > 40
    centre = liver[far][len(liver[far]) // 2]
    i, j, k = np.indices(gt.shape)
    ball = ((i - centre[0]) * 2.2) ** 2 + ((j - centre[1]) * 2.2) ** 2 + ((k - centre[2]) * 5.0) ** 2 <= 7.0**2
    pred[ball & (pred == 1)] = 2
    root = tmp_path / "Task03_Liver"
    (root / "labelsTr").mkdir(parents=True)
    (root / "dataset.json").write_text(
        json.dumps({"labels": {"0": "background", "1": "liver", "2": "cancer"}, "modality": {"0": "CT"}})
    )
    gt_path = root / "labelsTr" / "liver_7.nii.gz"
    nib.save(nib.Nifti1Image(gt, ph.affine), gt_path)
    flip = ph.affine.copy()
    flip[:3, 0] *= -1
    flip[:3, 3] = ph.affine[:3, :3] @ [gt.shape[0] - 1, 0, 0] + ph.affine[:3, 3]
    pred_path = tmp_path / "predictions" / "liver_7.nii.gz"
    pred_path.parent.mkdir()
    nib.save(nib.Nifti1Image(np.ascontiguousarray(pred[::-1]), flip), pred_path)
    return gt_path, pred_path, missed, ball & (pred == 2)


def _cli_json(capsys, gt_path, pred_path):
    from napari_liverct.cli import main

    capsys.readouterr()
    assert main(["compare", str(gt_path), str(pred_path), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _cli_csv(capsys, gt_path, pred_path):
    from napari_liverct.cli import main

    capsys.readouterr()
    assert main(["compare", str(gt_path), str(pred_path), "--format", "csv"]) == 0
    return capsys.readouterr().out


@pytest.mark.gui
def test_compare_widget_matches_cli_and_navigates(make_napari_viewer, qtbot, compare_files, capsys, tmp_path):
    from qtpy.QtCore import Qt

    from napari_liverct._napari.scene3d import camera_of
    from napari_liverct._qt.compare_widget import CLASS_TABLE, CompareWidget, fmt_cell
    from napari_liverct.geometry.grids import ras_to_world
    from napari_liverct.io.reader import read_nifti_layers

    gt_path, pred_path, _missed, _invented = compare_files
    viewer = make_napari_viewer()
    for path in (gt_path, pred_path):
        for data, kwargs, _kind in read_nifti_layers(str(path), kind="labels", pair=False):
            kwargs["name"] = "truth" if path == gt_path else "prediction"
            viewer.add_labels(data, **kwargs)
    gt_layer, pred_layer = viewer.layers["truth"], viewer.layers["prediction"]
    widget = CompareWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.gt_combo.value is gt_layer and widget.pred_combo.value is pred_layer
    assert widget.lesion_text.value == "2"  # from the name "cancer", not from the value
    assert widget.surface_combo.value == 1 and widget.map_text.value == ""

    widget.run_button.native.click()
    qtbot.waitUntil(lambda: widget.outcome is not None, timeout=60000)
    ref = _cli_json(capsys, gt_path, pred_path)
    got = widget.result.to_json()
    assert got["classes"] == ref["classes"]
    assert got["lesions"] == ref["lesions"]
    assert got["nnunet"]["metrics"] == ref["nnunet"]["metrics"]
    # the per-class table shows the CLI's numbers
    for i, row in enumerate(ref["classes"]):
        for j, (_, key) in enumerate(CLASS_TABLE):
            val = row[key]
            val = " ".join(map(str, val)) if isinstance(val, list) else val
            want = fmt_cell(key, val) if val is not None else widget.class_table.item(i, j).text()
            assert widget.class_table.item(i, j).text() == want, (i, key)
    # a missed and a false lesion, with their status in the table
    rows = ref["lesions"]["lesions"]
    status = [r["status"] for r in rows]
    assert status.count("FN") == 1 and status.count("FP") == 1 and status.count("TP") == 2
    fn_row, fp_row = status.index("FN"), status.index("FP")
    assert widget.lesion_table.item(fn_row, 1).text() == "FN (missed)"
    assert widget.lesion_table.item(fp_row, 1).text() == "FP (false)"

    # errors layer by voxel: FN / FP exactly where numpy says, on the displayed arrays
    err_layer = widget.errors_layer
    assert err_layer is not None and err_layer.data.shape == gt_layer.data.shape
    g, p, e = np.asarray(gt_layer.data), np.asarray(pred_layer.data), np.asarray(err_layer.data).astype(int)
    kind = np.where(e > 0, (e - 1) % 4 + 1, 0)
    assert np.array_equal(kind == 2, (g > 0) & (p == 0))
    assert np.array_equal(kind == 3, (g == 0) & (p > 0))
    assert np.array_equal(kind == 1, (g > 0) & (g == p))
    assert np.array_equal(kind == 4, (g > 0) & (p > 0) & (g != p))
    np.testing.assert_allclose(err_layer.scale, gt_layer.scale)
    np.testing.assert_allclose(err_layer.translate, gt_layer.translate)
    assert "liver: missed (FN)" in list(err_layer.features["name"])
    # napari's status bar names the error under the mouse (features of the hovered value)
    fn_voxel = np.argwhere((kind == 2) & (g == 1))[0]
    where = np.asarray(err_layer.data_to_world(fn_voxel), float)
    viewer.dims.point = tuple(where)  # the status is read on the slice shown
    status = err_layer.get_status(tuple(where), world=True)
    text = status["coordinates"] if isinstance(status, dict) else str(status)
    assert "liver: missed (FN)" in text, text

    # by lesion: the missed lesion is painted where the true lesion is
    widget.mode_combo.value = "by lesion"
    e = np.asarray(err_layer.data)
    fn_mask = e == fn_row + 1
    assert fn_mask.any() and np.all(g[fn_mask] == 2)
    assert np.all(p[e == fp_row + 1] == 2) and not np.any(g[e == fp_row + 1] == 2)

    # clicking the missed lesion's row moves the 2D slice to it
    table = widget.lesion_table
    item = table.item(fn_row, 0)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualItemRect(item).center())
    target = ras_to_world(np.asarray([rows[fn_row][k] for k in ("centroid_ras",)][0], float))
    scale = np.asarray(gt_layer.scale)
    assert np.all(np.abs(np.asarray(viewer.dims.point[-3:]) - target) <= scale / 2 + 1e-6)
    idx = np.round(np.asarray(gt_layer.world_to_data(viewer.dims.point))).astype(int)
    assert gt_layer.data[tuple(idx)] == 2 and e[tuple(idx)] == fn_row + 1

    # the distance surface: symmetric limits, colour bar on
    surf = widget.surface_layer
    assert surf is not None and surf.contrast_limits[0] == -surf.contrast_limits[1]
    assert surf.colorbar.visible
    # in 3D the camera centres on a clicked lesion
    viewer.dims.ndisplay = 3
    item = table.item(fp_row, 0)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualItemRect(item).center())
    np.testing.assert_allclose(
        camera_of(viewer).center, ras_to_world(np.asarray(rows[fp_row]["centroid_ras"])), atol=1e-6
    )

    # exports are the CLI's text
    out_csv = widget.export("csv", str(tmp_path / "c.csv"))
    assert open(out_csv).read() == _cli_csv(capsys, gt_path, pred_path)
    out_json = json.loads(open(widget.export("json", str(tmp_path / "c.json"))).read())
    assert out_json["classes"] == ref["classes"] and out_json["lesions"] == ref["lesions"]

    # a second run with other options (IoU >= 0.5, 6-connectivity, tau 1 mm) replaces the layers
    # and still equals the CLI with the same options
    first = widget.outcome
    widget.match_combo.value, widget.connectivity_combo.value, widget.tolerance_spin.value = "iou50", 6, 1.0
    widget.run_button.native.click()
    qtbot.waitUntil(lambda: widget.outcome is not first, timeout=60000)
    from napari_liverct.cli import main

    capsys.readouterr()
    main(
        [
            "compare",
            str(gt_path),
            str(pred_path),
            "--format",
            "json",
            "--match",
            "iou50",
            "--connectivity",
            "6",
            "--tolerance",
            "1",
        ]
    )
    ref2 = json.loads(capsys.readouterr().out)
    got2 = widget.result.to_json()
    assert got2["classes"] == ref2["classes"] and got2["lesions"] == ref2["lesions"]
    assert got2["lesions"]["match"] == "iou50" and got2["classes"][0]["tolerance_mm"] == 1.0
    kinds = [type(lay).__name__ for lay in viewer.layers]
    assert kinds.count("Surface") == 1 and sum(lay.name.startswith("errors") for lay in viewer.layers) == 1


@pytest.mark.gui
def test_compare_widget_grid_mismatch_and_resample(make_napari_viewer, qtbot):
    """Different grids: a readable error naming both layers; with 'resample' it runs and says so."""
    from napari_liverct._qt.compare_widget import CompareWidget
    from napari_liverct.display.layers import array_to_layer_data

    gt = np.zeros((20, 20, 10), np.uint8)
    gt[5:15, 5:15, 2:8] = 1
    fine = np.zeros((40, 40, 10), np.uint8)
    fine[10:30, 10:30, 2:8] = 1  # the same box on a grid twice as fine in-plane
    viewer = make_napari_viewer()
    for data, aff, name in (
        (gt, np.diag([2.0, 2.0, 3.0, 1.0]), "truth"),
        (fine, np.diag([1.0, 1.0, 3.0, 1.0]), "fine"),
    ):
        d, kw, _ = array_to_layer_data(data, aff, kind="labels", name=name, label_names={1: "liver"})
        viewer.add_labels(d, **kw)
    widget = CompareWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.gt_combo.value, widget.pred_combo.value = viewer.layers["truth"], viewer.layers["fine"]
    widget.run_button.native.click()
    qtbot.waitUntil(lambda: "not on the same grid" in widget.summary.text(), timeout=30000)
    assert "'fine' (prediction)" in widget.summary.text() and "'truth' (ground truth)" in widget.summary.text()
    assert widget.outcome is None and widget.run_button.enabled
    widget.options_button.native.click()
    assert not widget.option_widgets.native.isHidden()
    widget.resample_check.value = True
    widget.run_button.native.click()
    qtbot.waitUntil(lambda: widget.outcome is not None, timeout=30000)
    assert widget.result.resampled and "resampled" in widget.summary.text()
    assert widget.result.classes[0].dice > 0.8
