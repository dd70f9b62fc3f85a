"""What the viewer shows after "Compare": exactly what the legend explains.

* The two compared Labels layers (ground truth and prediction) are hidden: under the
  errors layer their own colours would read as error colours (a matched tumour in
  the tumour layer's blue looks like the legend's "extra (FP)" blue).  They come
  back on request (:meth:`CompareView.set_inputs_visible`), and are shown again as
  they were when the comparison's layers are removed.
* In 2D the errors layer is shown and the distance surface hidden (a surface has no
  meaning on a slice); in 3D the distance surface is shown and the errors volume
  hidden, so the surface is not buried under label volumes.
* :func:`colour_clashes` lists the visible layers whose colours are close to an
  errors colour (the widget's test checks there is none).

No Qt here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..compare.error_maps import ERROR_KINDS, KIND_COLORS, STATUS_COLORS, STATUS_NAMES
from .pick import tag_output
from .surfaces import fix_surface_visual

if TYPE_CHECKING:
    import napari

__all__ = ["CompareView", "colour_clashes", "legend_html", "CLASH_DISTANCE"]

#: Two RGB colours (0-1) closer than this (Euclidean) are taken for one another: the
#: issue's tumour blue (0.1, 0.1, 1) and the FP blue (0.1, 0.45, 1) are 0.35 apart.
CLASH_DISTANCE = 0.45


class CompareView:
    """The errors layer, the distance surface and the hidden inputs of one comparison."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.errors = None
        self.surface = None
        self.inputs: list = []  # the compared layers this view hid
        self.inputs_visible = False
        viewer.dims.events.ndisplay.connect(self.apply)
        viewer.layers.events.removed.connect(self._removed)

    def close(self) -> None:
        """Stop following the viewer (the widget is gone)."""
        for emitter, cb in (
            (self.viewer.dims.events.ndisplay, self.apply),
            (self.viewer.layers.events.removed, self._removed),
        ):
            try:
                emitter.disconnect(cb)
            except Exception:  # noqa: BLE001 - the viewer may be gone already
                pass

    def _removed(self, event) -> None:
        """The user deleted the errors layer: the compared layers are shown again as they were."""
        if event.value is self.errors:
            self.errors = None
            for lay in self.inputs:
                if lay in self.viewer.layers:
                    lay.visible = True
            self.inputs = []

    def show(self, errors_ld: tuple, surface_ld: tuple | None, inputs) -> None:
        """The layers of a new comparison: errors layer, distance surface; the compared ``inputs`` hidden."""
        self.show_errors(errors_ld)
        layers = self.viewer.layers
        if self.surface is not None and self.surface in layers:
            layers.remove(self.surface)
        self.surface = None
        if surface_ld is not None:
            sdata, skwargs, _ = surface_ld
            skwargs = {**skwargs, "metadata": tag_output(skwargs.get("metadata"), "compare_distance")}
            self.surface = self.viewer.add_surface(sdata, **skwargs)
            if hasattr(self.surface, "colorbar"):
                self.surface.colorbar.visible = True
            fix_surface_visual(self.viewer, self.surface)  # lit from the viewer's side in 3D
        for lay in self.inputs:  # a new comparison: the old inputs as they were
            if lay in layers and lay not in inputs:
                lay.visible = True
        self.inputs = [lay for lay in inputs if lay is not None]
        self.inputs_visible = False
        self.viewer.layers.selection.active = self.errors
        self.apply()

    def show_errors(self, errors_ld: tuple) -> None:
        """Add the errors layer, or give the existing one new content (by voxel / by lesion)."""
        data, kwargs, _kind = errors_ld
        if self.errors is None or self.errors not in self.viewer.layers:
            kwargs = {**kwargs, "metadata": tag_output(kwargs.get("metadata"), "compare_errors")}
            self.errors = self.viewer.add_labels(data, **kwargs)
        else:
            lay = self.errors
            lay.data = data
            if not _same_colormap(lay.colormap, kwargs["colormap"]):  # a new colour map relinks the shader
                lay.colormap = kwargs["colormap"]
            lay.features = kwargs["features"]
            lay.metadata, lay.name = kwargs["metadata"], kwargs["name"]
            lay.refresh()
        self.apply()

    def set_inputs_visible(self, flag: bool) -> None:
        """Show (True) or hide the compared layers again."""
        self.inputs_visible = bool(flag)
        self.apply()

    def apply(self, event=None) -> None:
        """Visibility by display: errors in 2D, the distance surface in 3D; inputs as asked."""
        layers = self.viewer.layers
        three_d = self.viewer.dims.ndisplay == 3
        if self.errors is not None and self.errors in layers:
            self.errors.visible = not three_d
        if self.surface is not None and self.surface in layers:
            self.surface.visible = three_d
        for lay in self.inputs:
            if lay in layers:
                lay.visible = self.inputs_visible


def _same_colormap(current, new) -> bool:
    """Whether a labels layer's colour map already gives the colours of ``new`` (a dict of
    value -> RGBA, or a colour map with ``color_dict``)."""
    want = getattr(new, "color_dict", new)
    have = getattr(current, "color_dict", None)
    if not isinstance(want, dict) or have is None:
        return False
    keys = {k for k in want if k is not None}
    if keys != {k for k in have if k is not None}:
        return False
    return all(np.allclose(np.asarray(have[k], float), np.asarray(want[k], float)) for k in keys)


def _layer_colours(layer) -> list[np.ndarray]:
    """RGB colours (0-1) a visible layer paints with (labels present, points borders/faces, surface ends)."""
    kind = type(layer).__name__
    out = []
    if kind == "Labels":
        from .layer_utils import label_color, labels_present

        out = [np.asarray(label_color(layer, v)[:3]) for v in labels_present(layer)]
    elif kind == "Points" and len(layer.data):
        for arr in (layer.border_color, layer.face_color):
            out += [np.asarray(c[:3]) for c in np.asarray(arr) if c[3] > 0]
    elif kind == "Surface":
        cmap = layer.colormap
        out = [np.asarray(cmap.map(np.array([t]))[0][:3]) for t in (0.0, 1.0)]
    return out


def colour_clashes(viewer: napari.viewer.Viewer, errors_layer, kinds=KIND_COLORS) -> list[tuple[str, tuple, tuple]]:
    """``(layer name, its RGB, errors RGB)`` for visible layers painting close to an errors colour."""
    out = []
    for lay in viewer.layers:
        if lay is errors_layer or not lay.visible:
            continue
        for c in _layer_colours(lay):
            for k in kinds.values():
                if np.linalg.norm(c - np.asarray(k[:3])) < CLASH_DISTANCE:
                    out.append((lay.name, tuple(np.round(c, 2)), tuple(k[:3])))
    return out


def _swatch(rgb, text: str) -> str:
    r, g, b = (int(round(255 * c)) for c in rgb[:3])
    return f"<span style='color:rgb({r},{g},{b})'>&#9632;</span>&nbsp;{text}"


def legend_html(by_lesion: bool, surface=None) -> str:
    """The widget's legend: the errors colours (2D) and the distance surface's (3D)."""
    if by_lesion:
        items = [_swatch(STATUS_COLORS[s], f"{n} lesion") for s, n in STATUS_NAMES.items()]
    else:
        items = [_swatch(KIND_COLORS[k], n) for k, n in ERROR_KINDS.items()]
    text = "2D, errors: " + " &nbsp; ".join(items)
    if surface is not None and len(surface.faces):
        from napari.utils.colormaps import ensure_colormap

        from ..compare.error_maps import DISTANCE_COLORMAP

        lo, hi = ensure_colormap(DISTANCE_COLORMAP).map(np.array([0.0, 1.0]))[:, :3]
        lim = surface.limit
        text += (
            f"<br>3D, surface ({surface.name}): {_swatch(lo, f'-{lim:g} mm inside')} &nbsp;&#9632; 0 &nbsp;"
            f"{_swatch(hi, f'+{lim:g} mm outside the truth')} (colour bar)"
        )
    return text + "<br>the compared layers are hidden: 'show the compared layers' brings them back"
