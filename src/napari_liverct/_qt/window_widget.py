"""CT window presets and image <-> labels conversion for the selected layers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, Container, Label, PushButton

from .._napari.case_layers import AUTO_LIMITS, WINDOW_SET_BY
from .._napari.layer_utils import layer_data_like, layer_disk_view
from .._napari.pick import layer_choices
from ..display.layers import CT_WINDOWS, PERCENTILE_WINDOW, choose_window, window_limits

if TYPE_CHECKING:
    import napari

PERCENTILE = f"{PERCENTILE_WINDOW[0]:g}-{PERCENTILE_WINDOW[1]:g} % (MR, any)"
#: The plugin's own choice by modality and content (:func:`napari_liverct.display.layers.choose_window`).
AUTO = "auto (by content)"
PRESETS = [*CT_WINDOWS, PERCENTILE, "full range", AUTO]


def preset_limits(name: str, data) -> tuple[float, float]:
    """Contrast limits of a preset; "full range" is the data's min and max; the
    percentile preset is :data:`napari_liverct.display.layers.PERCENTILE_WINDOW` of a strided sample."""
    if name == "full range":
        arr = np.asarray(data)
        return float(arr.min()), float(arr.max())
    if name == PERCENTILE:
        chosen = choose_window(np.asarray(data), modality="other")
        if chosen is None:
            arr = np.asarray(data)
            return float(arr.min()), float(arr.max()) + 1.0
        return chosen[1]
    return window_limits(name)


def apply_window(layer, name: str) -> tuple[float, float]:
    """Set a CT window on an Image layer, widening the slider range when needed.

    A preset is the user's window (the Dataset browser keeps it for the next cases);
    :data:`AUTO` hands the choice back to the plugin (chosen again for each case).
    """
    if name == AUTO:
        chosen = choose_window(np.asarray(layer.data), layer.metadata.get("modality"))
        data = np.asarray(layer.data)
        name, (lo, hi) = chosen if chosen is not None else ("full range", (float(data.min()), float(data.max()) + 1.0))
        layer.metadata.pop(WINDOW_SET_BY, None)
        layer.metadata[AUTO_LIMITS] = (lo, hi)
    else:
        lo, hi = preset_limits(name, layer.data)
        layer.metadata[WINDOW_SET_BY] = "user"
    rlo, rhi = layer.contrast_limits_range
    layer.contrast_limits_range = (min(rlo, lo), max(rhi, hi))
    layer.contrast_limits = (lo, hi)
    layer.metadata["ct_window"] = name
    return lo, hi


def convert_layer(viewer, layer, kind: str):
    """Replace ``layer`` by the same data and geometry as ``kind`` ("image" or "labels").

    Raises
    ------
    ValueError
        When float data with non-integral values would become labels.
    """
    disk, affine = layer_disk_view(layer)
    data, kwargs, layer_type = layer_data_like(layer, disk, affine, kind)
    from napari.layers import Layer

    new = Layer.create(data, kwargs, layer_type)
    index = viewer.layers.index(layer)
    viewer.layers.remove(layer)
    viewer.layers.insert(index, new)
    return new


class DisplayWidget(Container):
    """CT window presets (abdomen, liver, bone, lung, percentile, full range, auto) and layer type switch."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer
        self._image = ComboBox(label="image", choices=layer_choices(viewer, "image", min_ndim=1), nullable=True)
        self._preset = ComboBox(choices=PRESETS, value="abdomen", label="CT window")
        self._apply = PushButton(text="Apply window")
        self._any = ComboBox(label="layer", choices=layer_choices(viewer, "volume", min_ndim=1), nullable=True)
        self._to_labels = PushButton(text="Open as labels")
        self._to_image = PushButton(text="Open as image")
        self._status = Label(value="")
        self.extend([self._image, self._preset, self._apply, self._any, self._to_labels, self._to_image, self._status])
        self._apply.changed.connect(self._on_apply)
        self._preset.changed.connect(self._on_apply)
        self._to_labels.changed.connect(lambda: self._on_convert("labels"))
        self._to_image.changed.connect(lambda: self._on_convert("image"))
        from ._common import fit_dock_title

        fit_dock_title(self.native, "CT window and layer type")

    def _on_apply(self, *_):
        layer = self._image.value
        if layer is None:
            self._status.value = "No image layer"
            return
        lo, hi = apply_window(layer, self._preset.value)
        chosen = layer.metadata.get("ct_window")
        what = self._preset.value if chosen == self._preset.value else f"{self._preset.value}: {chosen}"
        self._status.value = f"{layer.name}: {what} [{lo:g}, {hi:g}]"

    def _on_convert(self, kind: str):
        layer = self._any.value
        if layer is None:
            return
        try:
            new = convert_layer(self._viewer, layer, kind)
        except ValueError as exc:
            self._status.value = str(exc)
            from .work import notify_error

            notify_error(f"Open as {kind}", exc)
            return
        self._status.value = f"{new.name} is now {kind}"
