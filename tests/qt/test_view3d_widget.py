"""GUI tests of the 3D tumour view and the snapshot command (real rendering under Xvfb)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from nibabel.affines import apply_affine
from scipy import ndimage

from napari_liverct.geometry.grids import ras_to_world

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
    from napari_liverct._qt.view3d_widget import View3DWidget

    viewer = make_napari_viewer(show=True)  # napari 0.9 renders empty 3D canvases when hidden
    viewer.open(str(phantom_files[0]), plugin="napari-liverct")  # pairs liver_label.nii.gz
    widget = View3DWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.image_combo.value.name == "liver"
    assert widget.labels_combo.value.name == "liver_label"
    widget.resolution.setCurrentText("full")
    widget.render_mode.setCurrentText("volume (exact)")
    return viewer, widget


def _tumour_discs(shape, cam, ph, scale=1.0):
    """Screen discs where each phantom tumour projects, seen from the feet (anterior up).

    A true (unmirrored) view from the feet shows the patient's left (world L
    increasing) on the right and posterior (world P) downwards; napari's zoom is
    pixels per world mm, the camera centre is at the canvas centre.
    """
    h, w = shape[:2]
    zoom, centre = cam.zoom, np.asarray(cam.center)
    rows, cols = np.mgrid[0:h, 0:w]
    out = []
    for c_ras, radius in ph.tumours:
        _s, p, l = ras_to_world(np.asarray(c_ras))
        d = np.hypot(rows - (h / 2 + zoom * (p - centre[1])), cols - (w / 2 + zoom * (l - centre[2])))
        out.append((d <= scale * radius * zoom, d <= radius * zoom + 2.5 * 2.2 * zoom + 3))  # + staircase
    return out


def _check_tumours_project(viewer, ph):
    """Look from the feet; every tumour is green where it projects and nowhere else."""
    from napari_liverct._napari.scene3d import camera_of

    cam = camera_of(viewer)
    cam.set_view_direction((1.0, 0.0, 0.0), (0.0, -1.0, 0.0))
    shot = viewer.screenshot(canvas_only=True)
    green = _green(shot)
    union = np.zeros(green.shape, bool)
    for (core, disc), (c_ras, _r) in zip(_tumour_discs(shot.shape, cam, ph, 0.5), ph.tumours):
        assert green[core].mean() > 0.8, f"tumour at {c_ras} not seen where it projects"
        union |= disc
    assert green.sum() > 100
    assert green[~union].sum() == 0, "tumour colour where no tumour projects"
    assert _liver(shot).sum() > 2000
    return shot, green


def test_3d_tumours_project_where_expected_and_tumours_only(viewer_widget, small_phantom):
    viewer, widget = viewer_widget
    widget.show_3d()
    assert viewer.dims.ndisplay == 3
    assert widget.view.mode == "volume"
    assert widget.view.liver.rendering == "iso_categorical"
    widget.view.image.visible = False  # judge the label colours alone
    shot, green = _check_tumours_project(viewer, small_phantom)
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


def test_3d_surfaces_mode_tumours_liver_clipping(viewer_widget, small_phantom, qtbot):
    from napari_liverct._napari import scene3d as scene

    viewer, widget = viewer_widget
    # auto: this machine renders with Mesa llvmpipe (software), where the phantom's
    # 1.02 M voxels are above the surfaces threshold
    widget.render_mode.setCurrentText("auto")
    assert scene.software_gl(viewer)
    assert widget._mode() == "surfaces"
    assert scene.auto_render_mode((160, 160, 40), software=False) == "volume"
    widget.render_mode.setCurrentText("surfaces (fast)")
    assert widget.show_3d() is not None  # the meshes are built in a worker thread
    qtbot.waitUntil(lambda: widget.view is not None, timeout=10000)
    view = widget.view
    assert view.mode == "surfaces" and viewer.dims.ndisplay == 3
    assert sorted(lay.metadata["tumour"] for lay in view.surfaces) == [False, True]
    assert type(view.surfaces[0]).__name__ == "Surface"
    assert not viewer.layers["liver_label"].visible  # the source is hidden
    # fast while moving: the CT volume is hidden during camera moves, back when idle
    assert view.image.visible
    cam = scene.camera_of(viewer)
    cam.angles = tuple(np.asarray(cam.angles, float) + (0.0, 10.0, 0.0))
    assert not view.image.visible
    qtbot.waitUntil(lambda: view.image.visible, timeout=3000)
    view.image.visible = False
    shot, green = _check_tumours_project(viewer, small_phantom)
    # the liver is translucent: the tumours show through it, tinted
    widget.set_tumours_only(True)
    shot2 = viewer.screenshot(canvas_only=True)
    assert _liver(shot2).sum() == 0
    assert _green(shot2).sum() >= green.sum()
    widget.set_tumours_only(False)
    # clipping applies to the surfaces: keep world L >= -75 mm (patient's left of
    # the plane); tumours entirely right of it vanish, the others stay
    scene.set_clipping(view.layers, 2, -75.0, keep_above=True)
    shot3 = viewer.screenshot(canvas_only=True)
    green3 = _green(shot3)
    kept = removed = 0
    for (core, _disc), (c_ras, r) in zip(_tumour_discs(shot3.shape, cam, small_phantom, 0.5), small_phantom.tumours):
        l_mm = ras_to_world(np.asarray(c_ras))[2]
        if l_mm - r > -75.0 + 3:
            assert green3[core].mean() > 0.8, f"tumour at {c_ras} clipped away"
            kept += 1
        elif l_mm + r < -75.0 - 3:
            assert green3[core].sum() == 0, f"tumour at {c_ras} not clipped"
            removed += 1
    assert kept >= 1 and removed >= 1
    # the meshes are cached: showing the view again reuses them
    cache, lab = widget.model.meshes, widget.labels_layer
    meshes = cache.get(lab, widget.shown_labels())
    assert meshes is not None
    widget.show_3d(blocking=True)
    assert cache.get(lab, widget.shown_labels()) is meshes
    widget.show_2d()
    assert [lay.name for lay in viewer.layers] == ["liver", "liver_label"]


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
    from napari_liverct._napari.scene3d import camera_of

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


def test_surfaces_layers_and_export(viewer_widget, tmp_path, phantom_files):
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
    from napari_liverct.outputs.guard import OutputClashError

    link = tmp_path / "labels_link.stl"  # a hard link to the labels file the layer was read from
    os.link(phantom_files[1], link)
    with pytest.raises(OutputClashError, match="a hard link: the same file"):
        widget.export_surfaces(link, "LPS")
    out = widget.export_surfaces(tmp_path / "s.stl", "LPS")
    assert trimesh.load(out, force="mesh").volume > 0
