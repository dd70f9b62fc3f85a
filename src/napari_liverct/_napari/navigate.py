"""Lesion navigation in napari: the lesion list of a labels layer, the camera on a lesion, its ring.

Shared by the 3D tumour view, the Statistics and Compare widgets and the
``snapshot`` command.  Results hold their coordinates in RAS mm (the tables, the
CSV and the CLI show those); the one conversion to the displayed napari world
position is :func:`~napari_liverct._napari.layer_utils.world_position`.

The marker is a thin yellow ring (a Points layer named :data:`MARKER_NAME`) whose
diameter is :data:`MARKER_SIZE` times the lesion's largest diameter, so it lies just
outside the lesion whatever the zoom; its line is :data:`MARKER_LINE_PX` canvas pixels
wide at the zoom the navigator sets.  Placing it never changes the user's layer
selection (:func:`~napari_liverct._napari.compat.add_without_selecting`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..constants import OUTPUT_KEY
from ..display.mesh import lesion_camera
from ..geometry.grids import grid_mismatch, nonzero_box
from ..labels.tables import lesion_label_ids
from .compat import add_without_selecting, camera_of
from .layer_utils import layer_disk_view, layer_label_names, world_position

if TYPE_CHECKING:
    import napari

    from ..stats.results import LesionStats

__all__ = [
    "MARKER_NAME",
    "MARKER_SIZE",
    "MARKER_LINE_PX",
    "lesion_ids",
    "lesion_list",
    "go_to_lesion",
    "remove_marker",
    "frame_labels",
]

MARKER_NAME = "lesion marker"
#: Ring diameter / lesion's largest diameter: the ring lies just outside the lesion.
MARKER_SIZE = 1.25
#: Width of the ring's line in canvas pixels at the zoom :func:`go_to_lesion` sets.
MARKER_LINE_PX = 2.5
#: Lesions smaller than this get a ring of this diameter (still findable).
MARKER_MIN_MM = 5.0


def lesion_ids(labels_layer, lesion_labels=None) -> list[int]:
    """The lesion classes: ``lesion_labels`` when given, else those whose name says tumour/lesion."""
    if lesion_labels is not None:
        return sorted({int(v) for v in lesion_labels})
    return lesion_label_ids(layer_label_names(labels_layer))


def lesion_list(labels_layer, image_layer=None, label: int | None = None, lesion_labels=None) -> list[LesionStats]:
    """Lesions of a labels layer, as :func:`napari_liverct.stats.lesion_stats` gives them (RAS mm).

    The lesions are the connected components of ``label``, or of the union of
    ``lesion_labels`` (default: the classes named tumour/lesion).  No lesion class
    means no lesions (an empty list), never "label 2".  Lesion 1 is the largest.
    """
    from ..stats import lesion_stats

    values = [int(label)] if label is not None else lesion_ids(labels_layer, lesion_labels)
    if not values:
        return []
    disk, affine = layer_disk_view(labels_layer)
    image = None
    if image_layer is not None:
        idisk, iaff = layer_disk_view(image_layer)
        if grid_mismatch(idisk.shape, iaff, disk.shape, affine) is None:
            image = idisk
    # several classes: each lesion keeps its (dominant) class, the organ of the RECIST target rule
    return lesion_stats(image, np.asarray(disk), affine, label=values[0] if len(values) == 1 else values)


def go_to_lesion(
    viewer: napari.viewer.Viewer,
    centroid_ras,
    diameter_mm: float,
    *,
    residual=None,
    marker: bool = True,
    fill: float = 0.4,
) -> np.ndarray:
    """Centre and zoom the camera on a lesion and move the sliders to it (2D and 3D).

    ``centroid_ras`` is the lesion's centroid in RAS mm as the results store it,
    ``residual`` the oblique residual of its layer.  With ``marker`` a thin ring
    (module docstring) is placed around it.  Returns the world ``(S, P, L)`` centre.
    """
    c = world_position(centroid_ras, residual=residual)
    ndim = viewer.dims.ndim
    point = list(viewer.dims.point)
    for ax in range(3):
        point[ndim - 3 + ax] = float(c[ax])
    viewer.dims.point = point
    disp = [d - (ndim - 3) for d in viewer.dims.displayed]
    _center, zoom = lesion_camera(c, diameter_mm or 0.0, tuple(viewer.canvas.size), fill=fill)
    centre = [float(c[d]) for d in disp]
    cam = camera_of(viewer)
    cam.center = tuple(([0.0] * (3 - len(centre))) + centre)
    cam.zoom = zoom
    if marker:
        pos = c.copy()
        if viewer.dims.ndisplay == 2:  # on the slice actually shown (the slider snaps to voxels)
            snapped = np.asarray(viewer.dims.point, float)[-3:]
            for ax in range(3):
                if ax not in disp:
                    pos[ax] = snapped[ax]
        _place_marker(viewer, pos, max(float(diameter_mm or 0.0), MARKER_MIN_MM) * MARKER_SIZE, zoom)
    return c


def _place_marker(viewer, pos: np.ndarray, size_mm: float, zoom: float) -> None:
    line = MARKER_LINE_PX / max(float(zoom), 1e-6)  # world mm: napari scales absolute border widths
    if MARKER_NAME in viewer.layers:
        pts = viewer.layers[MARKER_NAME]
        pts.data = pos[None]
        pts.size = size_mm
        pts.border_width = line
        pts.visible = True
        return
    from napari.layers import Points

    marker = Points(
        pos[None],
        name=MARKER_NAME,
        size=size_mm,
        face_color="transparent",
        border_color="yellow",
        border_width=line,
        border_width_is_relative=False,
        metadata={OUTPUT_KEY: "lesion_marker"},
        out_of_slice_display=False,
        blending="translucent_no_depth",
    )
    add_without_selecting(viewer, marker)


def remove_marker(viewer: napari.viewer.Viewer) -> None:
    """Remove the lesion ring, if any (the user's selection is kept)."""
    if MARKER_NAME in viewer.layers:
        viewer.layers.remove(MARKER_NAME)


def frame_labels(viewer: napari.viewer.Viewer, labels_layer, fill: float = 0.8, values=None) -> None:
    """Centre the camera on the labelled voxels (``values``, default all) and zoom so they fill ``fill``."""
    data = np.asarray(labels_layer.data)
    mask = np.isin(data, list(values)) if values else data > 0
    if not mask.any():
        mask = data > 0
    box = nonzero_box(mask)
    if box is None:
        return
    lo = np.asarray(labels_layer.data_to_world([b.start for b in box]), float)[-3:]
    hi = np.asarray(labels_layer.data_to_world([b.stop - 1 for b in box]), float)[-3:]
    ext = np.abs(hi - lo) + np.abs(np.asarray(labels_layer.scale, float)[-3:])
    centre = (lo + hi) / 2
    h, w = viewer.canvas.size
    cam = camera_of(viewer)
    disp = [d - (viewer.dims.ndim - 3) for d in viewer.dims.displayed]
    if viewer.dims.ndisplay == 3:
        cam.center = tuple(centre)
        cam.zoom = fill * min(h, w) / float(ext.max())
    else:
        cam.center = tuple(float(centre[d]) for d in disp)
        cam.zoom = fill * min(h / ext[disp[0]], w / ext[disp[1]])
