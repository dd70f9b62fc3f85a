"""The 3D view's state without Qt (issue 18): mesh cache, lesion cursor, the CT hidden while moving."""

from __future__ import annotations

import numpy as np
from napari.components import ViewerModel
from napari.layers import Image, Labels
from scipy import ndimage

from napari_liverct._napari.scene3d import View3DLayers
from napari_liverct._napari.view3d_model import LesionCursor, MeshCache, View3DModel


def _labels(seed: int = 0) -> np.ndarray:
    """Three separate cubes of label 2 (27, 8 and 1 voxels) inside a block of label 1."""
    lab = np.zeros((20, 20, 20), np.uint8)
    lab[2:18, 2:18, 2:18] = 1
    lab[4:7, 4:7, 4:7] = 2
    lab[10:12, 10:12, 10:12] = 2
    lab[15, 15, 15] = 2
    return lab


def test_lesion_cursor_walks_the_components_largest_first():
    lab = _labels()
    layer = Labels(lab, scale=(2.0, 1.0, 1.0), metadata={"label_names": {1: "liver", 2: "tumour"}})
    cursor = LesionCursor()
    lesions = cursor.refresh(layer, None, [2])
    cc, n = ndimage.label(lab == 2, structure=np.ones((3, 3, 3)))
    sizes = sorted(np.bincount(cc.ravel())[1:].tolist(), reverse=True)
    assert [les.voxels for les in lesions] == sizes == [27, 8, 1]
    assert cursor.text.startswith("3 lesion(s) of label 2")
    cursor.reset([])
    assert cursor.lesions == [] and "no lesion class" in cursor.text
    assert cursor.refresh(layer, None, []) == [] and "no lesion class" in cursor.text


def test_model_steps_through_lesions_and_keeps_the_selection():
    viewer = ViewerModel()
    lab = viewer.add_labels(_labels(), metadata={"label_names": {1: "liver", 2: "tumour"}})
    viewer.layers.selection.active = lab
    model = View3DModel(viewer)
    seen = [model.step(+1, lab, None, [2]).voxels for _ in range(4)]
    assert seen == [27, 8, 1, 27] and model.cursor.current == 1
    assert model.step(-1, lab, None, [2]).voxels == 1
    assert viewer.layers.selection.active is lab  # the ring never takes the selection
    marker = viewer.layers["lesion marker"]
    assert marker.size[0] == 5.0 * 1.25  # a 1-voxel lesion gets the 5 mm minimum ring
    model.hide()
    assert "lesion marker" not in viewer.layers


def test_mesh_cache_forgets_edited_labels():
    cache = MeshCache()
    layer = Labels(_labels())
    cache.put(layer, [1, 2], ["meshes"])
    assert cache.get(layer, [1, 2]) == ["meshes"] and cache.get(layer, [2]) is None
    layer.data = _labels()  # replaced labels: the meshes are stale
    assert cache.get(layer, [1, 2]) is None


def test_ct_hidden_while_the_camera_moves_then_shown():
    viewer = ViewerModel()
    model = View3DModel(viewer)
    ct = Image(np.zeros((4, 4, 4), np.float32))
    assert model.camera_moved() is False  # no view: nothing to do
    model.view = View3DLayers(image=ct, mode="surfaces")
    assert model.camera_moved() is True and not ct.visible  # restart the idle timer
    assert model.camera_moved() is True and not ct.visible
    model.camera_idle()
    assert ct.visible
    model.hide_ct_while_moving = False
    assert model.camera_moved() is False and ct.visible
    model.hide_ct_while_moving = True
    model.view = View3DLayers(image=ct, mode="volume")  # the exact view never hides the CT
    assert model.camera_moved() is False and ct.visible


def test_ct_factor_keeps_the_ct_fine_within_the_frame_budget():
    """The surfaces view's CT: finest of 1, 1/2, 1/4 with at most 160 voxels along its longest axis."""
    from napari_liverct._napari.view3d_model import CT_MAX_VOXELS_PER_AXIS, ct_factor

    assert CT_MAX_VOXELS_PER_AXIS == 160
    assert ct_factor((122, 101, 112)) == 1  # TotalSegmentator's example CT: full, not 31 x 26 x 28
    assert ct_factor((128, 128, 128)) == 1
    assert ct_factor((256, 256, 200)) == 2
    assert ct_factor((512, 512, 600)) == 4  # the README's budget case, as before
    assert ct_factor((448, 448, 96)) == 4
    assert ct_factor((2048, 2048, 10)) == 4  # never coarser than 1/4
    assert ct_factor((128, 128, 128), label_factor=2) == 2  # never finer than the labels' view


def test_navigator_lesions_keep_their_class_for_the_target_rule():
    """The navigator's list (several lesion classes) equals the statistics': class, target, diameters."""
    from napari_liverct._napari.layer_utils import layer_disk_view
    from napari_liverct._napari.navigate import lesion_list
    from napari_liverct.stats import stats_on_grid

    names = {2: "liver tumour", 3: "kidney tumour"}
    lab = np.zeros((120, 60, 10), np.uint8)
    for k, (x, cls) in enumerate([(10, 2), (35, 2), (60, 2), (85, 3), (105, 3)]):
        lab[x - 5 - k : x + 5 + k, 20:32, 3:7] = cls
    layer = Labels(lab, metadata={"label_names": names})
    disk, affine = layer_disk_view(layer)
    res = stats_on_grid(None, np.asarray(disk), affine, names=names)
    nav = lesion_list(layer, lesion_labels=[2, 3])
    assert sorted(r.label for r in nav if r.target) == [2, 2, 3, 3]
    assert [(r.label, r.target, r.long_axis_mm) for r in nav] == [
        (r.label, r.target, r.long_axis_mm) for r in res.lesions
    ]
