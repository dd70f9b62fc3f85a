"""GUI tests of the 3D tumour view and the snapshot command (real rendering under Xvfb)."""

from __future__ import annotations

import numpy as np
import pytest
from nibabel.affines import apply_affine
from scipy import ndimage

from napari_liverct.geometry import ras_to_world

pytestmark = pytest.mark.gui


def _green(img):
    """Tumour colour (green dominant) mask of an RGB(A) screenshot."""
    rgb = np.asarray(img)[..., :3].astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return (g > r + 25) & (g > b + 25)


def _liver(img):
    rgb = np.asarray(img)[..., :3].astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return (r > g + 25) & (r > b + 25)


@pytest.fixture
def viewer_widget(make_napari_viewer, phantom_files):
    from napari_liverct._widgets.view3d_widget import View3DWidget

    viewer = make_napari_viewer(show=True)  # napari 0.9 renders empty 3D canvases when hidden
    viewer.open(str(phantom_files[0]), plugin="napari-liverct")  # pairs liver_label.nii.gz
    widget = View3DWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.image_combo.currentText() == "liver"
    assert widget.labels_combo.currentText() == "liver_label"
    widget.resolution.setCurrentText("full")
    return viewer, widget


def test_3d_tumours_project_where_expected_and_tumours_only(viewer_widget, small_phantom):
    from napari_liverct._widgets.view3d_scene import camera_of

    viewer, widget = viewer_widget
    widget.show_3d()
    assert viewer.dims.ndisplay == 3
    assert widget.view.liver.rendering == "iso_categorical"
    widget.view.image.visible = False  # judge the label colours alone
    cam = camera_of(viewer)
    # look from the feet, anterior up: a true (unmirrored) view shows the patient's
    # left (world L increasing) on the right and posterior (world P) downwards
    cam.set_view_direction((1.0, 0.0, 0.0), (0.0, -1.0, 0.0))
    shot = viewer.screenshot(canvas_only=True)
    h, w = shot.shape[:2]
    green = _green(shot)
    zoom, centre = cam.zoom, np.asarray(cam.center)
    rows, cols = np.mgrid[0:h, 0:w]
    union = np.zeros((h, w), bool)
    for c_ras, radius in small_phantom.tumours:
        s, p, l = ras_to_world(np.asarray(c_ras))
        row = h / 2 + zoom * (p - centre[1])
        col = w / 2 + zoom * (l - centre[2])
        d = np.hypot(rows - row, cols - col)
        core = d <= 0.5 * radius * zoom
        assert green[core].mean() > 0.8, f"tumour at {c_ras} not seen where it projects"
        union |= d <= radius * zoom + 2.5 * 2.2 * zoom + 3  # voxel staircase + a few pixels
    assert green.sum() > 100
    assert green[~union].sum() == 0, "tumour colour where no tumour projects"
    assert _liver(shot).sum() > 2000
    widget.set_tumours_only(True)
    shot2 = viewer.screenshot(canvas_only=True)
    assert _liver(shot2).sum() == 0
    assert _green(shot2).sum() >= green.sum()  # nothing in front of the tumours any more
    widget.set_tumours_only(False)
    # a clipping plane through the liver's centre changes what is seen
    widget.set_clipping(0, 0.5)
    assert not np.array_equal(viewer.screenshot(canvas_only=True), shot)
    widget.show_2d()
    assert viewer.dims.ndisplay == 2
    assert [lay.name for lay in viewer.layers] == ["liver", "liver_label"]
    assert all(lay.visible for lay in viewer.layers)


def _expected_centroids(ph):
    """Lesion centroids in world mm from scipy (26-connectivity), largest first."""
    cc, n = ndimage.label(ph.labels == 2, structure=np.ones((3, 3, 3)))
    sizes = ndimage.sum_labels(np.ones_like(cc), cc, index=np.arange(1, n + 1))
    order = np.argsort(-sizes, kind="stable")
    out = []
    for idx in order:
        ijk = np.argwhere(cc == idx + 1).mean(0)
        out.append(ras_to_world(apply_affine(ph.affine, ijk)))
    return out


def test_go_to_lesion_centres_camera(viewer_widget, small_phantom):
    from napari_liverct._widgets.view3d_scene import camera_of

    viewer, widget = viewer_widget
    expected = _expected_centroids(small_phantom)
    assert len(widget.refresh_lesions()) == len(expected) == 3
    voxel = np.array(small_phantom.spacing)[::-1]  # world (S, P, L) voxel size
    widget.show_3d()
    cam = camera_of(viewer)
    for n in (2, 1, 3):
        zoom_before = cam.zoom
        widget.go_to_lesion(n)
        assert np.all(np.abs(np.asarray(cam.center) - expected[n - 1]) <= voxel)
        assert cam.zoom != zoom_before
    widget.next_lesion()
    assert widget.current == 1
    widget.previous_lesion()
    assert widget.current == 3
    # 2D: the slider jumps to the lesion's axial slice
    widget.show_2d()
    widget.go_to_lesion(2)
    assert abs(viewer.dims.point[0] - expected[1][0]) <= voxel[0]
    with pytest.raises(ValueError, match="lesion 9"):
        widget.go_to_lesion(9)


def test_surfaces_layers_and_export(viewer_widget, tmp_path):
    import trimesh

    viewer, widget = viewer_widget
    widget.decimate.setValue(0.0)
    widget.build_surfaces(blocking=True)
    names = [lay.name for lay in viewer.layers]
    assert "liver surface" in names and "tumour surface" in names
    surf = viewer.layers["tumour surface"]
    lab = viewer.layers["liver_label"]
    # the surface sits on the labels in world mm: its bounding box matches the
    # tumour voxels' world bounding box within one voxel
    idx = np.argwhere(np.asarray(lab.data) == 2)
    world = np.array([lab.data_to_world(i) for i in (idx.min(0), idx.max(0))])
    verts = surf.data[0]
    np.testing.assert_allclose(verts.min(0), world.min(0), atol=np.max(np.abs(lab.scale)))
    np.testing.assert_allclose(verts.max(0), world.max(0), atol=np.max(np.abs(lab.scale)))
    out = widget.export_surfaces(tmp_path / "s.stl", "LPS")
    assert trimesh.load(out, force="mesh").volume > 0


def test_snapshot_cli_writes_slices_through_the_lesion(phantom_files, tmp_path, capsys):
    from PIL import Image

    from napari_liverct.cli import main

    img, _lab = phantom_files
    rc = main(["snapshot", str(img), "--out", str(tmp_path / "shots"), "--lesion", "2"])
    assert rc == 0
    printed = capsys.readouterr().out.split()
    names = ["axial.png", "coronal.png", "sagittal.png", "3d.png"]
    assert [p.split("/")[-1] for p in printed] == names
    for name in names:
        arr = np.asarray(Image.open(tmp_path / "shots" / name))
        assert arr[..., :3].std() > 10, f"{name} is blank"
        green = _green(arr)
        h, w = green.shape
        # the view is centred on lesion 2, so its tumour colour is at the centre
        box = green[int(0.4 * h) : int(0.6 * h), int(0.4 * w) : int(0.6 * w)]
        assert box.sum() > 20, f"{name}: the slice does not pass through lesion 2"
    assert main(["snapshot", str(img), "--out", str(tmp_path / "x"), "--lesion", "7"]) == 2
    assert "lesion 7 does not exist" in capsys.readouterr().err
