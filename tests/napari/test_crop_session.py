"""The crop widget's model without Qt (napari's ViewerModel): box, grid rule, apply, typed undo.

Oracles: MONAI's box rule written out in numpy on the stored array, and each voxel's world
position from the affine (``nibabel.affines.apply_affine``) before and after the crop.
"""

from __future__ import annotations

import numpy as np
import pytest
from nibabel.affines import apply_affine

from napari_liverct._napari.crop_session import CropSession, CropSettings, UndoStep
from napari_liverct.display.layers import array_to_layer_data
from napari_liverct.geometry.grids import ras_to_world

napari = pytest.importorskip("napari")


def _affine(spacing=(2.0, 1.5, 3.0), flip_x=False, shape=(20, 18, 12)):
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = (-10.0, 5.0, 30.0)
    if flip_x:  # the same grid stored with axis 0 reversed
        aff[:3, 0] *= -1
        aff[:3, 3] += np.array(spacing) * [shape[0] - 1, 0, 0]
    return aff


def _add(viewer, data, affine, kind, name):
    d, kw, k = array_to_layer_data(data, affine, kind=kind, name=name)
    return (viewer.add_image if k == "image" else viewer.add_labels)(d, **kw)


@pytest.fixture
def scene():
    rng = np.random.default_rng(0)
    shape = (20, 18, 12)
    img = np.zeros(shape, np.int16)
    img[4:15, 3:9, 2:10] = rng.integers(1, 500, (11, 6, 8))
    lab = np.zeros(shape, np.uint8)
    lab[6:10, 4:8, 3:6] = 1
    lab[11:13, 5:7, 7:9] = 2
    viewer = napari.components.ViewerModel()
    aff = _affine()
    image = _add(viewer, img, aff, "image", "ct")
    same = _add(viewer, lab, aff, "labels", "seg")
    flipped = _add(viewer, np.ascontiguousarray(lab[::-1]), _affine(flip_x=True), "labels", "seg flipped")
    other = _add(viewer, lab, _affine(spacing=(1.0, 1.5, 3.0)), "labels", "other grid")
    return viewer, img, lab, aff, image, same, flipped, other


def test_grid_rule_box_and_reasons(scene):
    viewer, img, lab, aff, image, same, flipped, other = scene
    session = CropSession(viewer)
    layers = list(viewer.layers)
    assert session.same_grid_layers(image, layers) == [image, same, flipped]
    reasons = session.left_out(image, [image, same], layers)
    assert reasons[0] == "'seg flipped' (not chosen)"
    corners = np.array([[i, j, k] for i in (0, 19) for j in (0, 17) for k in (0, 11)])
    apart = np.linalg.norm(apply_affine(aff, corners) - apply_affine(_affine(spacing=(1.0, 1.5, 3.0)), corners), axis=1)
    assert reasons[1] == f"'other grid' (affines differ: voxel positions up to {apart.max():g} mm apart)"
    # MONAI's default rule (value > 0) and the labels rule, on the stored array
    nz = np.argwhere(img > 0)
    start, end = session.compute_box(image, CropSettings())
    assert start.tolist() == nz.min(0).tolist() and end.tolist() == (nz.max(0) + 1).tolist()
    start, end = session.compute_box(image, CropSettings(rule_labels=flipped, margin=1.0))
    nz = np.argwhere(lab > 0)
    assert start.tolist() == (nz.min(0) - 1).tolist() and end.tolist() == (nz.max(0) + 2).tolist()
    with pytest.raises(ValueError, match="'other grid' is not on the grid of 'ct'"):
        session.compute_box(image, CropSettings(rule_labels=other))
    with pytest.raises(ValueError, match="empty foreground|no voxel"):
        session.compute_box(image, CropSettings(threshold=10_000.0))


def test_apply_in_place_keeps_world_positions_and_typed_undo_restores(scene):
    viewer, img, lab, aff, image, same, flipped, other = scene
    session = CropSession(viewer)
    before = {ly.name: (ly.data.copy(), np.array(ly.scale), np.array(ly.translate)) for ly in (image, flipped)}
    out, (start, end) = session.apply(image, [image, flipped], CropSettings())
    assert out == [image, flipped] and isinstance(session.undo_stack[-1], UndoStep)
    assert session.undo_stack[-1].kind == "inplace" and len(session.undo_stack[-1].saved) == 2
    for layer, stored in ((image, img), (flipped, lab)):
        # every kept voxel: same value at the same world point as in the file
        for ijk in ([0, 0, 0], (end - start - 1).tolist(), ((end - start) // 2).tolist()):
            src_ijk = np.asarray(ijk) + start
            world = ras_to_world(apply_affine(aff, src_ijk))
            data_idx = np.round(layer.world_to_data(world)).astype(int)
            assert layer.data[tuple(data_idx)] == stored[tuple(src_ijk)]
        assert layer.data.size == int(np.prod(end - start))
    assert session.undo() is True and not session.can_undo
    for ly in (image, flipped):
        data, scale, translate = before[ly.name]
        np.testing.assert_array_equal(ly.data, data)
        np.testing.assert_allclose(ly.scale, scale)
        np.testing.assert_allclose(ly.translate, translate)
    assert session.undo() is False


def test_apply_into_new_layers_and_errors_change_nothing(scene):
    viewer, img, lab, aff, image, same, flipped, other = scene
    session = CropSession(viewer)
    n, shown = len(viewer.layers), image.data.shape
    with pytest.raises(ValueError, match="'other grid' is not on the grid"):
        session.apply(image, [image, other], CropSettings())
    assert len(viewer.layers) == n and image.data.shape == shown and not session.can_undo
    out, _box = session.apply(image, [image, same], CropSettings(), into_new_layers=True)
    assert [ly.name for ly in out] == ["ct (cropped)", "seg (cropped)"] and len(viewer.layers) == n + 2
    assert image.data.shape == shown  # the originals are kept
    session.undo()
    assert len(viewer.layers) == n
