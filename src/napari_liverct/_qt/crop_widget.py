"""Crop foreground widget: MONAI CropForegroundd semantics on napari layers.

The widget gathers the settings and shows the box; the box, the grid rule, apply and undo
live in its model, :class:`napari_liverct._napari.crop_session.CropSession`.  Nothing is
written to disk.
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

from .._napari.crop_session import CropSession, CropSettings, box_reaches_outside, outline_shapes
from .._napari.pick import layer_choices, output_kind, tag_output
from ..crop.foreground import parse_per_axis
from ._common import ScrollableContainer

if TYPE_CHECKING:
    import napari
    import napari.layers

__all__ = ["CropWidget", "box_reaches_outside"]  # box_reaches_outside: re-exported from the session

RULE_DEFAULT = "value > 0 (MONAI default)"
RULE_THRESHOLD = "value > threshold (HU)"
RULE_LABELS = "labels > 0 (labels layer)"
PREVIEW_NAME = "crop box (preview)"
PAD_ZERO = "0 (MONAI default)"
PAD_MIN = "image minimum (air)"


class CropWidget(ScrollableContainer):
    """Crop image and labels layers to the foreground, keeping world positions."""

    def __init__(self, viewer: napari.viewer.Viewer):
        # scrollable: 14 rows must not force the window taller than the screen when
        # docked under another widget
        super().__init__(labels=True, scrollable=True)
        self._viewer = viewer
        self.session = CropSession(viewer)
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
        return layer_choices(self._viewer, "volume")()

    def _labels_layers(self, _w=None) -> list:
        return layer_choices(self._viewer, "labels")()

    def _on_layers_changed(self, event=None) -> None:
        if event is not None and output_kind(event.value) == "crop_preview":
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

    # ----------------------------------------------------------------- core (the session)
    def same_grid_layers(self, source) -> list:
        """The source and every labels layer on its grid, up to axis flips/permutations."""
        return self.session.same_grid_layers(source, [ly for _, ly in self._volume_layers()])

    def left_out(self, targets) -> list[str]:
        """Labels layers not cropped with the box, each with the reason (never silently)."""
        return self.session.left_out(self.source_layer.value, targets, [ly for _, ly in self._volume_layers()])

    def settings(self) -> CropSettings:
        """The settings the controls show; raises ValueError on unusable text."""
        rule_labels = None
        if self.rule.value == RULE_LABELS:
            rule_labels = self.rule_labels_layer.value
            if rule_labels is None:
                raise ValueError("choose the labels layer whose labels > 0 define the foreground")
        return CropSettings(
            threshold=float(self.threshold_hu.value) if self.rule.value == RULE_THRESHOLD else None,
            rule_labels=rule_labels,
            margin=parse_per_axis(self.margin_text.value, float, "margin"),
            k_divisible=parse_per_axis(self.k_divisible_text.value, int, "k_divisible"),
            allow_smaller=bool(self.allow_smaller.value),
            pad_min=self.pad_with.value == PAD_MIN,
        )

    def compute_box(self) -> tuple[np.ndarray, np.ndarray]:
        """The box (stored order) for the current settings; raises with a clear message."""
        if self.source_layer.value is None:
            raise ValueError("choose a source layer")
        return self.session.compute_box(self.source_layer.value, self.settings())

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
        for layer in self._viewer.layers:
            if output_kind(layer) == "crop_preview":
                return layer
        if not create:
            return None
        layer = self._viewer.add_shapes(
            ndim=3,
            name=PREVIEW_NAME,
            edge_color="yellow",
            face_color="transparent",
            edge_width=1.5,
            metadata=tag_output(None, "crop_preview"),
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
        dims = self._viewer.dims
        outline = outline_shapes(src, self._box, dims.ndisplay, dims.ndim, dims.displayed, dims.point)
        if outline is None:
            layer.data = []
            layer.visible = False
            return
        shapes, kinds = outline
        layer.scale, layer.translate = np.asarray(src.scale)[-3:], np.asarray(src.translate)[-3:]
        layer.data = []
        layer.add(shapes, shape_type=kinds, edge_color="yellow", face_color="transparent", edge_width=1.5)
        layer.visible = True

    # ----------------------------------------------------------------- apply / undo
    def apply(self, *_) -> list:
        """Crop every chosen layer with the box; returns the layers changed or added."""
        from .work import notify_error

        try:
            if self.source_layer.value is None:
                raise ValueError("choose a source layer")
            targets = list(self.target_layers.value)
            skipped = self.left_out(targets)
            out, (start, end) = self.session.apply(
                self.source_layer.value, targets, self.settings(), bool(self.into_new_layers.value)
            )
        except ValueError as exc:
            self.box_info.value = f"⚠ {exc}"
            notify_error("Crop", exc)
            return []
        self.undo_button.enabled = self.session.can_undo
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
        self.session.undo()
        self.undo_button.enabled = self.session.can_undo
        self.update_preview()
