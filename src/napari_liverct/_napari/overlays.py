"""2D measurement overlays: the RECIST diameters of a lesion, and the rule that hides 2D overlays in 3D.

* :func:`show_diameters` draws a lesion's long and short axis (RAS mm end points from
  :func:`napari_liverct.stats.lesion_stats`) as two lines of a Shapes layer named
  :data:`DIAMETERS_NAME`, each labelled with its length, and moves the slider to the
  lesion's RECIST slice so that they are on the slice shown.
* :func:`two_d_only` makes a layer a 2D overlay: hidden whenever the viewer shows 3D,
  shown again when it returns to 2D (if it was visible).  The lesion rings and numbers
  of the Statistics widget and the diameters are 2D overlays: in 3D a ring is a
  screen-facing disc (one cyan circle larger than the canvas on a real liver) and a line
  on one slice floats in the volume.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import numpy as np

from .compat import add_without_selecting, camera_of
from .layer_utils import world_position
from .pick import tag_output

if TYPE_CHECKING:
    import napari

    from ..stats.results import LesionStats

__all__ = ["DIAMETERS_NAME", "LONG_COLOR", "SHORT_COLOR", "show_diameters", "remove_diameters", "two_d_only"]

DIAMETERS_NAME = "RECIST diameters"
LONG_COLOR = np.array([1.0, 0.55, 0.0, 1.0])  # orange
SHORT_COLOR = np.array([1.0, 0.25, 1.0, 1.0])  # magenta: apart from the tumour green and the rings
#: Width of the lines in canvas pixels at the zoom the navigator sets.
LINE_PX = 3.0


def two_d_only(viewer: napari.viewer.Viewer, layer) -> None:
    """Hide ``layer`` while the viewer is in 3D, show it again in 2D (module docstring)."""
    vref, lref = weakref.ref(viewer), weakref.ref(layer)
    hidden = {"flag": False}

    def follow(event=None):
        v, lay = vref(), lref()
        if v is None or lay is None or lay not in v.layers:
            try:
                viewer.dims.events.ndisplay.disconnect(follow)
            except (TypeError, ValueError, RuntimeError):
                pass
            return
        if v.dims.ndisplay == 3 and lay.visible:
            hidden["flag"] = True
            lay.visible = False
        elif v.dims.ndisplay == 2 and hidden["flag"]:
            hidden["flag"] = False
            lay.visible = True

    viewer.dims.events.ndisplay.connect(follow)
    follow()


def show_diameters(viewer: napari.viewer.Viewer, lesion: LesionStats, ref_layer, *, move_slider: bool = True):
    """Draw the lesion's long (orange) and short (magenta) axis with their lengths; returns the layer.

    The lines are placed in the data coordinates of ``ref_layer`` (the labels layer the
    lesion was measured on) with its geometry, so napari slices them exactly as it
    slices the labels: they show on the lesion's RECIST slice.  With ``move_slider`` the
    slider goes to that slice.  A lesion without diameters (one voxel) removes the lines.
    """
    if lesion.long_axis_start_mm is None or not lesion.long_axis_mm:
        remove_diameters(viewer)
        return None
    import pandas as pd

    ends = [
        (lesion.long_axis_start_mm, lesion.long_axis_end_mm),
        (lesion.short_axis_start_mm, lesion.short_axis_end_mm),
    ]
    world = [world_position(np.array(pair, float), layer=ref_layer).reshape(2, 3) for pair in ends]
    lines = []
    for pair in world:
        data = np.array([ref_layer.world_to_data(p)[-3:] for p in pair], float)
        snapped = np.round(data)
        lines.append(np.where(np.abs(data - snapped) < 1e-6, snapped, data))  # slice indices exact
    features = pd.DataFrame(
        {"axis": ["long", "short"], "length_mm": [float(lesion.long_axis_mm), float(lesion.short_axis_mm or 0.0)]}
    )
    ndim = viewer.dims.ndim
    if move_slider and viewer.dims.ndisplay == 2:
        point = list(viewer.dims.point)
        for ax in range(3):  # every axis not shown goes to the lines (they lie in one slice)
            if ndim - 3 + ax not in viewer.dims.displayed:
                point[ndim - 3 + ax] = float(world[0][0][ax])
        viewer.dims.point = point
    step = float(np.min(np.abs(np.asarray(ref_layer.scale, float)[-3:])))
    width = LINE_PX / max(float(camera_of(viewer).zoom), 1e-6) / max(step, 1e-6)
    colors = np.stack([LONG_COLOR, SHORT_COLOR])
    text = {"string": "{axis} {length_mm:.1f} mm", "color": "white", "size": 11, "anchor": "upper_left"}
    if DIAMETERS_NAME in viewer.layers:
        viewer.layers.remove(DIAMETERS_NAME)  # the geometry may be another layer's
    from napari.layers import Shapes

    layer = Shapes(
        lines,
        shape_type="line",
        name=DIAMETERS_NAME,
        edge_color=colors,
        edge_width=width,
        features=features,
        text=text,
        opacity=1.0,
        scale=ref_layer.scale[-3:],
        translate=ref_layer.translate[-3:],
        rotate=np.asarray(ref_layer.rotate)[-3:, -3:],
        shear=np.asarray(ref_layer.shear)[-3:],
        affine=np.asarray(ref_layer.affine.affine_matrix)[-4:, -4:],
        metadata={**tag_output(None, "recist_lines"), "lesion_id": int(lesion.id)},
    )
    add_without_selecting(viewer, layer)
    two_d_only(viewer, layer)
    return layer


def remove_diameters(viewer: napari.viewer.Viewer) -> None:
    """Remove the diameters layer, if any."""
    if DIAMETERS_NAME in viewer.layers:
        viewer.layers.remove(DIAMETERS_NAME)
