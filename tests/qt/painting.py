"""Where a voxel of an axis-aligned layer is, in world mm and on the canvas, and napari's
brush clicked there with the mouse (the way a user corrects a draft)."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt


def world_of(layer, idx) -> np.ndarray:
    """World (S, P, L) mm of voxel indices (N, 3) of an axis-aligned layer."""
    assert np.allclose(layer.affine.affine_matrix, np.eye(4)) and np.allclose(layer.rotate, np.eye(3))
    return np.asarray(idx, float) * np.asarray(layer.scale) + np.asarray(layer.translate)


def click_world(viewer, qtbot, world) -> None:
    """A left press and release on the canvas where the 2D view shows napari world ``world``
    (S, P, L) mm, on the displayed slice (the caller puts the slider there)."""
    from qtpy.QtCore import QPoint

    world, cam = np.asarray(world, float), viewer.camera
    canvas = viewer.window._qt_viewer.canvas.native
    row = canvas.height() / 2 + cam.zoom * (world[1] - cam.center[1])
    col = canvas.width() / 2 + cam.zoom * (world[2] - cam.center[2])
    assert 0 <= row < canvas.height() and 0 <= col < canvas.width()
    pos = QPoint(int(round(col)), int(round(row)))
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=pos)


def brush_click(viewer, qtbot, layer, voxel) -> None:
    """A left click of the brush on the canvas, where the 2D view shows ``voxel`` (displayed axes 1, 2)."""
    assert viewer.dims.displayed == (1, 2) and int(viewer.dims.current_step[0]) == voxel[0]
    click_world(viewer, qtbot, world_of(layer, [voxel])[0])
