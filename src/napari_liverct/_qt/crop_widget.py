"""Crop foreground widget: MONAI CropForegroundd semantics on napari layers.

The box is computed on each layer's stored-order view (``layer_disk_view``), so it is
reported exactly as MONAI's ``foreground_start_coord`` / ``foreground_end_coord`` and
as ``napari-liverct crop`` prints it.  Cropped layers are rebuilt through
``layers.array_to_layer_data`` from the cropped stored view and the shifted affine,
so every voxel keeps its world position.  Nothing is written to disk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
    Select,
)

from .._napari.layer_utils import layer_data_like, layer_disk_view
from ..crop import (
    apply_box,
    box_is_empty,
    describe_rule,
    disk_box_to_display_box,
    empty_foreground_error,
    foreground_box,
    parse_per_axis,
)
from ..geometry import grid_mismatch, reorient_onto
from ._common import ScrollableContainer

if TYPE_CHECKING:
    import napari
    import napari.layers

__all__ = ["CropWidget", "box_reaches_outside"]

RULE_DEFAULT = "value > 0 (MONAI default)"
RULE_THRESHOLD = "value > threshold (HU)"
RULE_LABELS = "labels > 0 (labels layer)"
PREVIEW_NAME = "crop box (preview)"
PAD_ZERO = "0 (MONAI default)"
PAD_MIN = "image minimum (air)"


def box_reaches_outside(start, end, disk) -> bool:
    """True when the box needs padding (part of it lies outside the array)."""
    return bool(np.any(np.asarray(start) < 0) or np.any(np.asarray(end) > disk.shape[: len(start)]))


def _ornt(layer) -> np.ndarray:
    ornt = (layer.metadata or {}).get("ornt")
    return np.asarray(ornt) if ornt is not None else np.array([[0, 1], [1, 1], [2, 1]])


class CropWidget(ScrollableContainer):
    """Crop image and labels layers to the foreground, keeping world positions."""

    def __init__(self, viewer: napari.viewer.Viewer):
        # scrollable: 14 rows must not force the window taller than the screen when
        # docked under another widget
        super().__init__(labels=True, scrollable=True)
        self._viewer = viewer
        self._undo: list[tuple[str, list]] = []
        self._box: tuple[np.ndarray, np.ndarray] | None = None
        self._may_create = True  # only user actions add the preview layer, never layer events
        self.source_layer = ComboBox(label="source", choices=self._volume_layers, nullable=True)
        self.rule = ComboBox(label="foreground", choices=[RULE_DEFAULT, RULE_THRESHOLD, RULE_LABELS])
        self.threshold_hu = FloatSpinBox(label="threshold", value=-500.0, min=-1e5, max=1e5, step=50)
        self.rule_labels_layer = ComboBox(label="labels layer", choices=self._labels_layers, nullable=True)
        self.target_layers = Select(label="crop together", choices=self._volume_layers)
        self.margin_text = LineEdit(label="margin", value="0")
        self.k_divisible_text = LineEdit(label="k_divisible", value="1")
        self.allow_smaller = CheckBox(text="allow_smaller", value=False)
        self.pad_with = ComboBox(label="pad outside image", choices=[PAD_ZERO, PAD_MIN])
        self.into_new_layers = CheckBox(text="crop into new layers", value=False)
        self.show_preview = CheckBox(text="preview box", value=True)
        self.apply_button = PushButton(text="Crop")
        self.undo_button = PushButton(text="Undo crop", enabled=False)
        self.box_info = Label(value="")
        self.extend(
            [
                self.source_layer,
                self.rule,
                self.threshold_hu,
                self.rule_labels_layer,
                self.target_layers,
                self.margin_text,
                self.k_divisible_text,
                self.allow_smaller,
                self.pad_with,
                self.into_new_layers,
                self.show_preview,
                self.apply_button,
                self.undo_button,
                self.box_info,
            ]
        )
        self.box_info.native.setWordWrap(True)
        self.apply_button.changed.connect(self.apply)
        self.undo_button.changed.connect(self.undo)
        self.source_layer.changed.connect(self._on_source_changed)
        for w in (
            self.rule,
            self.threshold_hu,
            self.rule_labels_layer,
            self.margin_text,
            self.k_divisible_text,
            self.allow_smaller,
            self.show_preview,
        ):
            w.changed.connect(self.update_preview)
        self.rule.changed.connect(self._sync_rule_widgets)
        viewer.layers.events.inserted.connect(self._on_layers_changed)
        viewer.layers.events.removed.connect(self._on_layers_changed)
        viewer.dims.events.current_step.connect(self._redraw)
        viewer.dims.events.ndisplay.connect(self._redraw)
        viewer.dims.events.order.connect(self._redraw)
        self.native.destroyed.connect(self._disconnect)
        from ._common import fit_dock_title

        self.native.setMinimumHeight(180)  # a handful of rows stay visible when stacked
        self.native.widget().layout().addStretch(1)  # rows packed at the top, not spread out
        self.target_layers.native.setMaximumHeight(90)  # a few layer names, not half the dock
        fit_dock_title(self.native, "Crop foreground")
        self._sync_rule_widgets()
        self._on_layers_changed()

    def _disconnect(self, *_) -> None:
        """Stop listening to the viewer when the dock widget is destroyed."""
        ev = self._viewer
        for emitter, cb in (
            (ev.layers.events.inserted, self._on_layers_changed),
            (ev.layers.events.removed, self._on_layers_changed),
            (ev.dims.events.current_step, self._redraw),
            (ev.dims.events.ndisplay, self._redraw),
            (ev.dims.events.order, self._redraw),
        ):
            emitter.disconnect(cb)

    # ----------------------------------------------------------------- choices
    def _volume_layers(self, _w=None) -> list:
        from napari.layers import Image, Labels

        return [
            (ly.name, ly)
            for ly in self._viewer.layers
            if isinstance(ly, (Image, Labels)) and ly.ndim >= 3 and ly.name != PREVIEW_NAME
        ]

    def _labels_layers(self, _w=None) -> list:
        from napari.layers import Labels

        return [(ly.name, ly) for ly in self._viewer.layers if isinstance(ly, Labels) and ly.ndim >= 3]

    def _on_layers_changed(self, event=None) -> None:
        if event is not None and getattr(event.value, "name", None) == PREVIEW_NAME:
            return
        self._may_create = event is None
        try:
            self._refresh_choices()
        finally:
            self._may_create = True

    def _refresh_choices(self) -> None:
        self.reset_choices()
        from napari.layers import Image

        active = self._viewer.layers.selection.active
        if self.source_layer.value is None or self.source_layer.value not in self._viewer.layers:
            images = [ly for _, ly in self._volume_layers() if isinstance(ly, Image)]
            pick = active if isinstance(active, Image) else (images[0] if images else None)
            if pick is not None:
                self.source_layer.value = pick
        if self.rule_labels_layer.value is None and self._labels_layers():
            self.rule_labels_layer.value = self._labels_layers()[0][1]
        self._on_source_changed()

    def _sync_rule_widgets(self, *_):
        self.threshold_hu.visible = self.rule.value == RULE_THRESHOLD
        self.rule_labels_layer.visible = self.rule.value == RULE_LABELS

    def _on_source_changed(self, *_):
        src = self.source_layer.value
        if src is not None:
            self.target_layers.value = self.same_grid_layers(src)
        self.update_preview()

    # ----------------------------------------------------------------- core
    @staticmethod
    def _grid(layer) -> tuple[tuple, np.ndarray]:
        disk, ras = layer_disk_view(layer)
        return tuple(disk.shape[:3]), ras

    def same_grid_layers(self, source) -> list:
        """The source and every labels layer on its grid, up to axis flips/permutations."""
        from napari.layers import Labels

        out = [source]
        for _, ly in self._volume_layers():
            if ly is source or not isinstance(ly, Labels):
                continue
            if self._on_source_grid(ly, source) is not None:
                out.append(ly)
        return out

    def _on_source_grid(self, layer, source):
        """``(stored array viewed on the source's grid, note)`` or None on another grid."""
        disk, ras = layer_disk_view(layer)
        sdisk, sras = layer_disk_view(source)
        return reorient_onto(disk, ras, sdisk.shape[:3], sras)

    def left_out(self, targets) -> list[str]:
        """Labels layers not cropped with the box, each with the reason (never silently)."""
        from napari.layers import Labels

        src = self.source_layer.value
        out = []
        for _, ly in self._volume_layers():
            if not isinstance(ly, Labels) or ly is src or any(ly is t for t in targets):
                continue
            if self._on_source_grid(ly, src) is None:
                s, r = self._grid(ly)
                shape, ras = self._grid(src)
                out.append(f"{ly.name!r} ({grid_mismatch(s, r, shape, ras)})")
            else:
                out.append(f"{ly.name!r} (not chosen)")
        return out

    def compute_box(self) -> tuple[np.ndarray, np.ndarray]:
        """The box (stored order) for the current settings; raises with a clear message."""
        src = self.source_layer.value
        if src is None:
            raise ValueError("choose a source layer")
        margin = parse_per_axis(self.margin_text.value, float, "margin")
        k = parse_per_axis(self.k_divisible_text.value, int, "k_divisible")
        disk, ras = layer_disk_view(src)
        threshold, name = None, src.name
        if self.rule.value == RULE_THRESHOLD:
            threshold = float(self.threshold_hu.value)
        elif self.rule.value == RULE_LABELS:
            lab = self.rule_labels_layer.value
            if lab is None:
                raise ValueError("choose the labels layer whose labels > 0 define the foreground")
            found = self._on_source_grid(lab, src)  # the one grid rule (flips/permutations are the same grid)
            if found is None:
                raise ValueError(f"labels layer {lab.name!r} is not on the grid of {src.name!r}")
            disk, name = found[0], lab.name
        start, end = foreground_box(
            disk, threshold=threshold, margin=margin, k_divisible=k, allow_smaller=bool(self.allow_smaller.value)
        )
        if box_is_empty(start, end):
            raise empty_foreground_error(name, describe_rule(threshold), start.tolist())
        return start, end

    def update_preview(self, *_) -> None:
        """Recompute the box and redraw the outline (live preview)."""
        try:
            self._box = self.compute_box() if self.source_layer.value is not None else None
        except ValueError as exc:
            self._box = None
            self.box_info.value = f"⚠ {exc}"
        else:
            if self._box is not None:
                s, e = self._box
                self.box_info.value = (
                    f"foreground_start_coord: {s.tolist()}\n"
                    f"foreground_end_coord: {e.tolist()}\n"
                    f"shape: {(e - s).tolist()} (stored order)"
                )
        self._draw_preview(create=self._may_create)

    def _redraw(self, *_) -> None:
        self._draw_preview(create=False)

    def _preview_layer(self, create: bool):
        if PREVIEW_NAME in self._viewer.layers:
            return self._viewer.layers[PREVIEW_NAME]
        if not create:
            return None
        layer = self._viewer.add_shapes(
            ndim=3, name=PREVIEW_NAME, edge_color="yellow", face_color="transparent", edge_width=1.5
        )
        self._viewer.layers.selection.active = self.source_layer.value
        return layer

    def _draw_preview(self, *_, create: bool = True) -> None:
        show = bool(self.show_preview.value) and self._box is not None
        layer = self._preview_layer(create=show and create)
        if layer is None:
            return
        if not show or self.source_layer.value not in self._viewer.layers:
            layer.data = []
            layer.visible = False
            return
        src = self.source_layer.value
        disk, _ = layer_disk_view(src)
        dstart, dend = disk_box_to_display_box(*self._box, _ornt(src), disk.shape[:3])
        # vertices in the source's display-index space (voxel edges at +-0.5), placed
        # with the source's scale/translate: slice positions are then whole indices
        lo, hi = dstart - 0.5, dend - 0.5
        layer.scale, layer.translate = np.asarray(src.scale)[-3:], np.asarray(src.translate)[-3:]
        if self._viewer.dims.ndisplay == 3:
            shapes = []
            for axis in range(3):
                a, b = [d for d in range(3) if d != axis]
                for va in (lo[a], hi[a]):
                    for vb in (lo[b], hi[b]):
                        p, q = np.empty(3), np.empty(3)
                        p[axis], q[axis] = lo[axis], hi[axis]
                        p[a] = q[a] = va
                        p[b] = q[b] = vb
                        shapes.append(np.array([p, q]))
            kinds = ["line"] * len(shapes)
        else:
            extra = self._viewer.dims.ndim - 3
            shown = [d - extra for d in list(self._viewer.dims.displayed)[-2:]]
            ax = [d for d in range(3) if d not in shown][0]
            z = int(np.round(np.asarray(src.world_to_data(self._viewer.dims.point))[-3:][ax]))
            if not dstart[ax] <= z < dend[ax]:
                layer.data = []
                layer.visible = False
                return
            ya, xa = shown
            rect = np.zeros((4, 3))
            rect[:, ax] = z
            rect[:, ya] = [lo[ya], lo[ya], hi[ya], hi[ya]]
            rect[:, xa] = [lo[xa], hi[xa], hi[xa], lo[xa]]
            shapes, kinds = [rect], ["rectangle"]
        layer.data = []
        layer.add(shapes, shape_type=kinds, edge_color="yellow", face_color="transparent", edge_width=1.5)
        layer.visible = True

    # ----------------------------------------------------------------- apply / undo
    def _cropped_layer_data(self, layer, start, end) -> tuple:
        from napari.layers import Labels

        kind = "labels" if isinstance(layer, Labels) else "image"
        found = self._on_source_grid(layer, self.source_layer.value)
        if found is None:
            raise ValueError(
                f"layer {layer.name!r} is not on the grid of {self.source_layer.value.name!r}; it cannot share the box"
            )
        disk, _ = found  # flipped/permuted storage: viewed on the source's grid, no resampling
        ras = layer_disk_view(self.source_layer.value)[1]
        pad = 0
        if kind == "image" and self.pad_with.value == PAD_MIN and box_reaches_outside(start, end, disk):
            pad = np.min(disk)
        cropped, new_ras = apply_box(disk, ras, start, end, pad_value=pad)
        if kind == "labels":  # painting the crop must not change the kept original
            cropped = np.array(cropped, copy=True)
        crops = list((layer.metadata or {}).get("crops", []))
        crops.append({"start": start.tolist(), "end": end.tolist()})
        return layer_data_like(layer, cropped, new_ras, kind, crops=crops)

    def apply(self, *_) -> list:
        """Crop every chosen layer with the box; returns the layers changed or added."""
        from napari.utils.notifications import show_warning

        try:
            start, end = self.compute_box()
            targets = list(self.target_layers.value)
            if not targets:
                raise ValueError("choose at least one layer to crop")
            lds = [(ly, self._cropped_layer_data(ly, start, end)) for ly in targets]
            skipped = self.left_out(targets)
        except ValueError as exc:
            self.box_info.value = f"⚠ {exc}"
            show_warning(str(exc))
            return []
        out = []
        if self.into_new_layers.value:
            for ly, (data, kwargs, kind) in lds:
                kwargs["name"] = f"{ly.name} (cropped)"
                add = self._viewer.add_image if kind == "image" else self._viewer.add_labels
                out.append(add(data, **kwargs))
            self._undo.append(("new", out))
        else:
            saved = []
            for ly, (data, kwargs, _) in lds:
                saved.append(
                    (
                        ly,
                        ly.data,
                        np.array(ly.scale),
                        np.array(ly.translate),
                        np.array(ly.affine.affine_matrix),
                        ly.metadata,
                    )
                )
                ly.affine = np.eye(ly.ndim + 1)
                ly.data = data
                ly.scale, ly.translate = kwargs["scale"], kwargs["translate"]
                ly.metadata = kwargs["metadata"]
                out.append(ly)
            self._undo.append(("inplace", saved))
        self.undo_button.enabled = True
        self.box_info.value = (
            f"cropped {len(out)} layer(s): foreground_start_coord "
            f"{start.tolist()}, foreground_end_coord {end.tolist()}, shape "
            f"{(end - start).tolist()} (stored order)" + (f"; not cropped: {', '.join(skipped)}" if skipped else "")
        )
        self._box = None
        self._draw_preview()
        return out

    def undo(self, *_) -> None:
        """Restore the data and geometry before the last crop (or remove its new layers)."""
        if not self._undo:
            return
        kind, items = self._undo.pop()
        if kind == "new":
            for ly in items:
                if ly in self._viewer.layers:
                    self._viewer.layers.remove(ly)
        else:
            for ly, data, scale, translate, affine, metadata in items:
                ly.data = data
                ly.scale, ly.translate = scale, translate
                ly.affine = affine
                ly.metadata = metadata
        self.undo_button.enabled = bool(self._undo)
        self.update_preview()
