"""Issue 17's "done when", in a real viewer (Xvfb): a bare CT, Segment, then 3D, Crop, brush, save, Compare.

Each test opens TotalSegmentator's example CT (example_ct_sm, no labels beside it), docks
"Segment liver (offline)" from the plugin's manifest and clicks Segment (liver only). The
real liver network runs once per distinct input patch (the suite's network cache,
tests/conftest.py and napari_liverct.segment.netcache). The brush is napari's, clicked with the mouse on the canvas where the voxel is
shown. Oracles: numpy on the layers' arrays (nonzero box, Dice), the draft's world
position from its scale/translate and nibabel's affine of the CT, the saved file read
back with nibabel, TotalSegmentator's own liver (label 5 of example_seg_fast.nii.gz, on
the same grid as example_ct_sm) as the ground truth.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from painting import brush_click, world_of
from qtpy.QtCore import Qt
from scipy import ndimage

from realdata import real

pytestmark = pytest.mark.gui

EXAMPLE_CT_SM = "totalsegmentator/example_ct_sm.nii.gz"
SEG_FAST_SM = "totalsegmentator/example_seg_fast.nii.gz"  # example_ct_sm's grid, label table: 5 liver
PLUGIN = "napari-liverct"


@pytest.fixture
def drafted(make_napari_viewer, qtbot):
    """(viewer, CT layer, draft layer) after clicking Segment (liver only) on the bare example CT."""
    viewer = make_napari_viewer(show=True)  # napari 0.9 renders empty 3D canvases when hidden
    viewer.window._qt_window.resize(1400, 900)
    viewer.open(str(real(EXAMPLE_CT_SM)), plugin=PLUGIN)
    assert [type(ly).__name__ for ly in viewer.layers] == ["Image"]  # a CT with no labels
    image = viewer.layers[0]
    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment liver (offline)")
    assert seg.image_layer.value is image
    seg.with_lesions.native.setChecked(False)
    seg.threads.value = 2
    qtbot.mouseClick(seg.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not seg.running, timeout=300_000)
    assert seg.status.value.startswith("done"), seg.status.value
    # a liver-only run does not claim "0 tumour voxels" (no tumour was looked for)
    assert "tumour network was not run" in seg.status.value and "tumour voxels" not in seg.status.value
    qtbot.wait(50)
    for label in (seg.status.native, seg.note.native):  # the wrapped text is shown whole, not clipped
        assert label.height() >= label.heightForWidth(label.width()), label.text()
    draft = viewer.layers[f"{image.name} liver draft"]
    assert (np.asarray(draft.data) == 1).sum() > 10_000
    return viewer, image, draft


def _file_index(world, affine) -> np.ndarray:
    """Voxel indices in a NIfTI file of world (S, P, L) points: RAS = (-L, -P, S), then inv(affine)."""
    world = np.atleast_2d(world)
    ras = np.c_[-world[:, 2], -world[:, 1], world[:, 0], np.ones(len(world))]
    return np.rint((ras @ np.linalg.inv(affine).T)[:, :3]).astype(int)


def test_3d_view_draws_the_draft_where_it_projects_and_back_to_2d(drafted, qtbot):
    from napari_liverct._napari.scene3d import camera_of

    viewer, image, draft = drafted
    before = np.array(draft.data, copy=True)
    _, view = viewer.window.add_plugin_dock_widget(PLUGIN, "3D tumour view")
    view.labels_combo.value = draft
    assert view.organ_edit.text() == "1" and view.lesion_edit.text() == "2"  # from the names
    view.btn_3d.click()
    qtbot.waitUntil(lambda: view.view is not None and viewer.dims.ndisplay == 3, timeout=60_000)
    cam = camera_of(viewer)
    cam.set_view_direction((1.0, 0.0, 0.0), (0.0, -1.0, 0.0))  # from the feet, anterior up
    qtbot.wait(300)
    shot = viewer.screenshot(canvas_only=True)
    rgb = np.asarray(shot)[..., :3].astype(int)
    red = (rgb[..., 0] > rgb[..., 1] + 25) & (rgb[..., 0] > rgb[..., 2] + 25)  # the liver's colour
    # where the draft's liver projects: each screen pixel back to world (P, L), then to a voxel
    h, w = red.shape
    rows, cols = np.mgrid[0:h, 0:w]
    zoom, centre = cam.zoom, np.asarray(cam.center)
    p = centre[1] + (rows - h / 2) / zoom
    left = centre[2] + (cols - w / 2) / zoom
    j = np.rint((p - draft.translate[1]) / draft.scale[1]).astype(int)
    k = np.rint((left - draft.translate[2]) / draft.scale[2]).astype(int)
    proj = (before == 1).any(axis=0)
    inside = (j >= 0) & (j < proj.shape[0]) & (k >= 0) & (k < proj.shape[1])
    footprint = np.zeros_like(red)
    footprint[inside] = proj[j[inside], k[inside]]
    assert footprint.sum() > 20_000, "the liver should fill a good part of the canvas"
    assert red[footprint].mean() > 0.9, "the liver is not drawn where it projects"
    assert red[~ndimage.binary_dilation(footprint, iterations=3)].sum() < 0.01 * red.sum()

    view.btn_2d.click()
    assert viewer.dims.ndisplay == 2
    assert [ly.name for ly in viewer.layers] == [image.name, draft.name]
    assert image.visible and draft.visible
    np.testing.assert_array_equal(draft.data, before)


def test_crop_to_the_draft_box_and_undo(drafted):
    from napari_liverct._qt.crop_widget import RULE_LABELS

    viewer, image, draft = drafted
    ct0, draft0 = np.array(image.data, copy=True), np.array(draft.data, copy=True)
    t_ct, t_draft = np.array(image.translate), np.array(draft.translate)
    _, crop = viewer.window.add_plugin_dock_widget(PLUGIN, "Crop foreground")
    crop.source_layer.value = image
    crop.rule.value = RULE_LABELS
    crop.rule_labels_layer.value = draft
    assert {ly.name for ly in crop.target_layers.value} == {image.name, draft.name}

    # the box numpy gives, in the displayed order and in the file's (stored) order
    nz = np.argwhere(draft0 > 0)
    lo, hi = nz.min(axis=0), nz.max(axis=0) + 1
    corners = world_of(draft, np.array([lo, hi - 1]))
    ijk = _file_index(corners, nib.load(real(EXAMPLE_CT_SM)).affine)
    start, end = ijk.min(axis=0), ijk.max(axis=0) + 1
    assert f"foreground_start_coord: {start.tolist()}" in crop.box_info.value, crop.box_info.value
    assert f"foreground_end_coord: {end.tolist()}" in crop.box_info.value

    crop.apply_button.native.click()
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    np.testing.assert_array_equal(image.data, ct0[box])
    np.testing.assert_array_equal(draft.data, draft0[box])
    for layer in (image, draft):  # the cropped layers stay where they were in world mm
        np.testing.assert_allclose(world_of(layer, [[0, 0, 0]])[0], corners[0], atol=1e-6)
    assert crop.undo_button.enabled

    crop.undo_button.native.click()
    np.testing.assert_array_equal(image.data, ct0)
    np.testing.assert_array_equal(draft.data, draft0)
    np.testing.assert_allclose(image.translate, t_ct)
    np.testing.assert_allclose(draft.translate, t_draft)


def test_brush_then_save_selected_layer_keeps_the_ct_affine(drafted, qtbot, tmp_path):
    from napari_liverct.labels.tables import label_table_from_header

    viewer, image, draft = drafted
    before = np.array(draft.data, copy=True)
    z = int(viewer.dims.current_step[0])
    rim = np.argwhere(ndimage.binary_dilation(before[z] == 1) & (before[z] == 0))  # just outside the liver
    inner = np.argwhere(ndimage.binary_erosion(before[z] == 1, iterations=3))  # well inside
    outside, liver = (z, *rim[len(rim) // 2]), (z, *inner[len(inner) // 2])
    viewer.layers.selection.active = draft
    draft.mode = "paint"
    draft.brush_size = 1
    for voxel, value in ((outside, 1), (liver, 2)):  # liver the network missed, and a lesion
        draft.selected_label = value
        brush_click(viewer, qtbot, draft, voxel)
    qtbot.wait(50)
    changed = np.argwhere(np.asarray(draft.data) != before)
    assert sorted(map(tuple, changed.tolist())) == sorted([tuple(map(int, outside)), tuple(map(int, liver))])
    assert draft.data[outside] == 1 and draft.data[liver] == 2

    # File > Save Selected Layers...: napari's save through the plugin's npe2 writer
    viewer.layers.selection = {draft}
    out = tmp_path / "draft.nii.gz"
    written = viewer.layers.save(str(out), selected=True, plugin=PLUGIN)
    assert [str(p) for p in written] == [str(out)]
    src, got = nib.load(real(EXAMPLE_CT_SM)), nib.load(out)
    assert got.shape == src.shape
    np.testing.assert_allclose(got.affine, src.affine, atol=1e-5)
    saved = np.asarray(got.dataobj)
    for voxel, value in ((outside, 1), (liver, 2)):
        i, j, k = _file_index(world_of(draft, [voxel]), src.affine)[0]
        assert saved[i, j, k] == value
    for value in (0, 1, 2):
        assert (saved == value).sum() == (np.asarray(draft.data) == value).sum()
    names = label_table_from_header(got.header).names
    assert names[1] == "liver" and names[2] == "liver tumour"


def test_compare_with_totalsegmentator_liver(drafted, qtbot):
    from napari_liverct._qt.compare_widget import CLASS_TABLE, CompareWidget, fmt_cell

    viewer, image, draft = drafted
    _, cmp = viewer.window.add_plugin_dock_widget(PLUGIN, "Compare segmentations")  # before the truth is open
    viewer.open(str(real(SEG_FAST_SM)), plugin=PLUGIN)
    gt = viewer.layers["example_seg_fast"]
    assert type(gt).__name__ == "Labels" and gt.metadata["label_names"][5] == "liver"
    # the draft is the prediction, TotalSegmentator's map the truth, whichever was docked or opened first
    # (the draft used to be taken as the ground truth: 5:1, sensitivity and precision swapped)
    late = CompareWidget(viewer)
    viewer.window.add_dock_widget(late, name="Compare (docked later)")
    for widget in (cmp, late):
        assert widget.gt_combo.value is gt and widget.pred_combo.value is draft
        assert widget.map_text.value == "1:5"  # the draft's 'liver' to the truth's 'liver', by name
    cmp.run_button.native.click()
    qtbot.waitUntil(lambda: cmp.outcome is not None, timeout=120_000)

    np.testing.assert_allclose(gt.scale, draft.scale)
    np.testing.assert_allclose(gt.translate, draft.translate)
    a, b = np.asarray(gt.data) == 5, np.asarray(draft.data) == 1
    dice = 2 * (a & b).sum() / (a.sum() + b.sum())
    assert (np.asarray(nib.load(real(SEG_FAST_SM)).dataobj) == 5).sum() == a.sum()
    rows = cmp.result.class_rows()
    assert [(r["label"], r["name"]) for r in rows] == [(5, "liver")]
    assert rows[0]["dice"] == pytest.approx(dice, abs=1e-12)
    assert rows[0]["sensitivity"] == pytest.approx((a & b).sum() / a.sum(), abs=1e-12)  # truth's liver found
    col = [key for _, key in CLASS_TABLE].index("dice")
    assert cmp.class_table.item(0, col).text() == fmt_cell("dice", dice)
    assert dice > 0.85  # the bar against TotalSegmentator's liver
