"""Pure tests of napari_liverct.display.mesh: meshes in RAS/world mm, smoothing, decimation, export."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from nibabel.affines import apply_affine

from napari_liverct.display.downsample import downsample_affine
from napari_liverct.display.layers import array_to_layer_data
from napari_liverct.display.mesh import (
    SurfaceMesh,
    export_meshes,
    label_surfaces,
    lesion_camera,
    mask_surface,
)
from napari_liverct.geometry.grids import RAS_TO_WORLD

SPACING = (1.5, 1.2, 2.0)


def _lps_affine(shape, spacing=SPACING):
    aff = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
    aff[:3, 3] = [40.0, -12.0, 7.0]
    return aff


def _sphere(shape, centre_ijk, radius_mm, spacing=SPACING):
    i, j, k = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip((i, j, k), centre_ijk, spacing))
    return d2 <= radius_mm**2


@pytest.fixture(scope="module")
def sphere():
    shape = (40, 44, 30)
    centre = (19.0, 23.0, 14.0)
    r = 14.0
    return _sphere(shape, centre, r), _lps_affine(shape), centre, r


def test_mesh_is_closed_outward_and_in_ras(sphere):
    mask, aff, centre, r = sphere
    verts, faces = mask_surface(mask, aff)
    mesh = trimesh.Trimesh(verts, faces, process=True)
    assert mesh.is_watertight
    assert mesh.volume > 0  # outward normals
    voxel_ml = mask.sum() * np.prod(SPACING) / 1000
    assert mesh.volume / 1000 == pytest.approx(voxel_ml, rel=0.05)
    centre_ras = apply_affine(aff, centre)
    dist = np.linalg.norm(verts - centre_ras, axis=1)
    # every vertex lies on the sphere within one voxel
    assert np.all(np.abs(dist - r) < max(SPACING))


def test_negative_determinant_affine_keeps_outward_winding(sphere):
    mask, aff, _c, _r = sphere
    flipped = aff.copy()
    flipped[:3, 2] *= -1  # left-handed voxel axes
    verts, faces = mask_surface(mask, flipped)
    assert trimesh.Trimesh(verts, faces).volume > 0


def test_world_vertices_overlay_the_napari_layer(sphere):
    mask, aff, centre, _r = sphere
    (mesh,) = label_surfaces(mask.astype(np.uint8), aff, smooth_iterations=0)
    # where napari draws the sphere: displayed array + the layer's scale/translate
    view, kwargs, _ = array_to_layer_data(mask.astype(np.uint8), aff, kind="labels", name="m")
    centre_disp = np.argwhere(np.asarray(view) > 0).mean(0)
    centre_world = centre_disp * np.asarray(kwargs["scale"]) + np.asarray(kwargs["translate"])
    world = mesh.world_vertices()
    mid = (world.max(0) + world.min(0)) / 2
    np.testing.assert_allclose(mid, centre_world, atol=0.5 * max(SPACING))


def test_smoothing_keeps_volume_and_rounds_the_surface(sphere):
    mask, aff, centre, r = sphere
    c = apply_affine(aff, centre)
    v0, f0 = mask_surface(mask, aff)
    v1, f1 = mask_surface(mask, aff, smooth_iterations=20)
    vol0 = trimesh.Trimesh(v0, f0).volume
    vol1 = trimesh.Trimesh(v1, f1).volume
    assert vol1 == pytest.approx(vol0, rel=0.03)
    err0 = np.std(np.linalg.norm(v0 - c, axis=1))
    err1 = np.std(np.linalg.norm(v1 - c, axis=1))
    assert err1 < 0.8 * err0  # closer to a true sphere


def test_decimation_and_step_size_reduce_faces(sphere):
    mask, aff, _c, _r = sphere
    v0, f0 = mask_surface(mask, aff)
    v1, f1 = mask_surface(mask, aff, decimate=0.75)
    v2, f2 = mask_surface(mask, aff, step_size=2)
    assert len(f1) < 0.35 * len(f0)
    assert len(f2) < 0.5 * len(f0)
    for v, f in ((v1, f1), (v2, f2)):
        assert trimesh.Trimesh(v, f).volume == pytest.approx(trimesh.Trimesh(v0, f0).volume, rel=0.08)
    with pytest.raises(ValueError, match="decimate"):
        mask_surface(mask, aff, decimate=1.5)


def test_label_surfaces_of_phantom(small_phantom):
    ph = small_phantom
    meshes = label_surfaces(ph.labels, ph.affine, smooth_iterations=0)
    assert [m.label for m in meshes] == [1, 2]
    assert [m.name for m in meshes] == ["liver", "tumour"]
    vox_ml = np.prod(ph.spacing) / 1000
    for m in meshes:
        assert m.volume_ml == pytest.approx((ph.labels == m.label).sum() * vox_ml, rel=0.05)
    assert label_surfaces(np.zeros((4, 4, 4), np.uint8), np.eye(4)) == []


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".stl"])
@pytest.mark.parametrize("cs", ["LPS", "RAS"])
def test_export_coordinates(tmp_path, sphere, suffix, cs):
    mask, aff, _c, _r = sphere
    verts, faces = mask_surface(mask, aff)
    mesh = SurfaceMesh(verts, faces, 2, "tumour", (0.15, 0.9, 0.25, 1.0))
    path = export_meshes(tmp_path / f"out{suffix}", [mesh], coordinate_system=cs)
    back = trimesh.load(path, force="mesh", process=False)
    expected = verts * (np.array([-1, -1, 1]) if cs == "LPS" else 1)
    # compare as point sets (STL duplicates vertices per face)
    lo, hi = np.asarray(back.vertices).min(0), np.asarray(back.vertices).max(0)
    np.testing.assert_allclose(lo, expected.min(0), atol=1e-3)
    np.testing.assert_allclose(hi, expected.max(0), atol=1e-3)
    assert back.volume == pytest.approx(trimesh.Trimesh(verts, faces).volume, rel=1e-3)
    if suffix == ".obj":
        assert f"SPACE={cs}" in path.read_text()[:300]


def test_export_errors(tmp_path, sphere):
    mask, aff, _c, _r = sphere
    mesh = SurfaceMesh(*mask_surface(mask, aff))
    with pytest.raises(ValueError, match="out.vtk"):
        export_meshes(tmp_path / "out.vtk", mesh)
    with pytest.raises(ValueError, match="coordinate_system"):
        export_meshes(tmp_path / "out.stl", mesh, coordinate_system="XYZ")
    with pytest.raises(ValueError, match="no surface"):
        export_meshes(tmp_path / "out.stl", SurfaceMesh(np.zeros((0, 3)), np.zeros((0, 3), int)))


def test_lps_export_is_what_ras_to_world_implies(sphere):
    """LPS export = world (S, P, L) reversed: the same physical points as napari shows."""
    mask, aff, _c, _r = sphere
    mesh = SurfaceMesh(*mask_surface(mask, aff))
    lps = mesh.to_trimesh("LPS").vertices
    world = np.c_[mesh.vertices, np.ones(len(mesh.vertices))] @ RAS_TO_WORLD.T
    np.testing.assert_allclose(lps, world[:, 2::-1], atol=1e-9)


def test_lesion_camera_and_downsample_affine():
    centre, zoom = lesion_camera((1.0, 2.0, 3.0), 40.0, (600, 800), fill=0.5)
    assert centre == (1.0, 2.0, 3.0)
    assert zoom * 40.0 == pytest.approx(0.5 * 600)
    _c, zoom_small = lesion_camera((0, 0, 0), 2.0, (600, 800), fill=0.5, min_diameter_mm=15)
    assert zoom_small * 15 == pytest.approx(300)
    aff = _lps_affine((10, 10, 10))
    ds = downsample_affine(aff, 2)
    for n in ([0, 0, 0], [3, 1, 4]):
        np.testing.assert_allclose(apply_affine(ds, n), apply_affine(aff, 2 * np.asarray(n)))


def test_block_fraction_and_downsampled_surface_stay_aligned():
    """Pure check (kept here with the fast view it serves): block means and mesh position."""
    import trimesh

    from napari_liverct.display.downsample import block_fraction
    from napari_liverct.display.mesh import mask_surface

    rng = np.random.default_rng(0)
    m = rng.random((7, 9, 5)) > 0.5
    got = block_fraction(m, 2)
    pad = np.zeros((8, 10, 6), bool)
    pad[:7, :9, :5] = m
    expected = np.array(
        [
            [[pad[2 * i : 2 * i + 2, 2 * j : 2 * j + 2, 2 * k : 2 * k + 2].mean() for k in range(3)] for j in range(5)]
            for i in range(4)
        ]
    )
    np.testing.assert_allclose(got, expected)
    # an off-centre ball (radius 12 voxels) with an anisotropic oblique-free affine:
    # the block-downsampled mesh encloses the ball's volume and is centred on it
    shape, centre, radius = (64, 60, 50), np.array([30.3, 27.6, 22.1]), 12.0
    ijk = np.indices(shape).reshape(3, -1).T
    ball = (np.linalg.norm(ijk - centre, axis=1) <= radius).reshape(shape)
    affine = np.diag([0.8, -0.7, 2.0, 1.0])
    affine[:3, 3] = (10.0, 20.0, -30.0)
    true_mm3 = ball.sum() * abs(np.linalg.det(affine[:3, :3]))
    centre_mm = apply_affine(affine, np.argwhere(ball).mean(0))
    for f in (2, 3):
        mesh = trimesh.Trimesh(*mask_surface(ball, affine, downsample=f), process=False)
        assert abs(mesh.volume / true_mm3 - 1) < 0.06
        # a block-centre offset error would shift it by (f - 1) / 2 voxels (>= 0.35 mm)
        np.testing.assert_allclose(mesh.center_mass, centre_mm, atol=0.05)
