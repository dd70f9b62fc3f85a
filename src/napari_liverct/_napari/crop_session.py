"""The crop widget's model: the box, the grid rule, apply and a typed undo, the preview outline.

As napari-animation keeps ``Animation`` apart from its widget, :class:`CropSession` holds
the state and the steps of cropping layers in a viewer, and the Qt widget
(:mod:`napari_liverct._qt.crop_widget`) only gathers the settings and shows results.
It needs a viewer but no Qt, so it is tested without widgets.

The box is computed on each layer's stored-order view (``layer_disk_view``), so it is
exactly MONAI's ``foreground_start_coord`` / ``foreground_end_coord`` and what
``napari-liverct crop`` prints.  Cropped layers are rebuilt through ``layer_data_like``
from the cropped stored view and the shifted affine, so every voxel keeps its world
position.  Nothing is written to disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..crop.foreground import apply_box, box_is_empty, describe_rule, empty_foreground_error, foreground_box
from ..crop.plan import disk_box_to_display_box
from ..geometry.grids import grid_mismatch, reorient_onto
from .layer_utils import layer_data_like, layer_disk_view

if TYPE_CHECKING:
    import napari

__all__ = ["CropSettings", "SavedLayer", "UndoStep", "CropSession", "box_reaches_outside", "outline_shapes"]


def box_reaches_outside(start, end, disk) -> bool:
    """True when the box needs padding (part of it lies outside the array)."""
    return bool(np.any(np.asarray(start) < 0) or np.any(np.asarray(end) > disk.shape[: len(start)]))


def _ornt(layer) -> np.ndarray:
    ornt = (layer.metadata or {}).get("ornt")
    return np.asarray(ornt) if ornt is not None else np.array([[0, 1], [1, 1], [2, 1]])


@dataclass(frozen=True)
class CropSettings:
    """What the user chose: the foreground rule and MONAI's box options.

    ``threshold`` None is MONAI's default rule (value > 0); ``rule_labels`` a labels layer
    whose labels > 0 are the foreground (then ``threshold`` must be None).
    """

    threshold: float | None = None
    rule_labels: object | None = None
    margin: float | tuple = 0.0
    k_divisible: int | tuple = 1
    allow_smaller: bool = False
    pad_min: bool = False  # pad an image with its minimum (air) instead of MONAI's 0


@dataclass
class SavedLayer:
    """A layer's data and geometry before a crop in place."""

    layer: object
    data: object
    scale: np.ndarray
    translate: np.ndarray
    affine: np.ndarray
    metadata: dict

    @classmethod
    def of(cls, layer) -> SavedLayer:
        return cls(
            layer,
            layer.data,
            np.array(layer.scale),
            np.array(layer.translate),
            np.array(layer.affine.affine_matrix),
            layer.metadata,
        )

    def restore(self) -> None:
        ly = self.layer
        ly.data = self.data
        ly.scale, ly.translate = self.scale, self.translate
        ly.affine = self.affine
        ly.metadata = self.metadata


@dataclass
class UndoStep:
    """One crop to undo: new layers to remove, or layers cropped in place to restore."""

    kind: Literal["new", "inplace"]
    added: list = field(default_factory=list)
    saved: list[SavedLayer] = field(default_factory=list)


class CropSession:
    """Cropping the layers of one viewer: box, apply, undo."""

    def __init__(self, viewer: napari.viewer.Viewer):
        self.viewer = viewer
        self.undo_stack: list[UndoStep] = []

    # ----------------------------------------------------------------- the grid rule
    @staticmethod
    def on_source_grid(layer, source):
        """``(stored array viewed on the source's grid, note)`` or None on another grid
        (the one rule of the CLI too: flipped or permuted storage is the same grid)."""
        disk, ras = layer_disk_view(layer)
        sdisk, sras = layer_disk_view(source)
        return reorient_onto(disk, ras, sdisk.shape[:3], sras)

    def same_grid_layers(self, source, layers) -> list:
        """The source and every labels layer among ``layers`` on its grid."""
        from napari.layers import Labels

        out = [source]
        for ly in layers:
            if ly is not source and isinstance(ly, Labels) and self.on_source_grid(ly, source) is not None:
                out.append(ly)
        return out

    def left_out(self, source, targets, layers) -> list[str]:
        """Labels layers not cropped with the box, each with the reason (never silently)."""
        from napari.layers import Labels

        out = []
        for ly in layers:
            if not isinstance(ly, Labels) or ly is source or any(ly is t for t in targets):
                continue
            if self.on_source_grid(ly, source) is None:
                s, r = layer_disk_view(ly)
                shape, ras = layer_disk_view(source)
                out.append(f"{ly.name!r} ({grid_mismatch(s.shape[:3], r, shape.shape[:3], ras)})")
            else:
                out.append(f"{ly.name!r} (not chosen)")
        return out

    # ----------------------------------------------------------------- box
    def compute_box(self, source, settings: CropSettings) -> tuple[np.ndarray, np.ndarray]:
        """The box (stored order) of ``source``; raises ValueError with a clear message."""
        if source is None:
            raise ValueError("choose a source layer")
        disk, _ras = layer_disk_view(source)
        name = source.name
        if settings.rule_labels is not None:
            lab = settings.rule_labels
            found = self.on_source_grid(lab, source)
            if found is None:
                raise ValueError(f"labels layer {lab.name!r} is not on the grid of {source.name!r}")
            disk, name = found[0], lab.name
        start, end = foreground_box(
            disk,
            threshold=settings.threshold,
            margin=settings.margin,
            k_divisible=settings.k_divisible,
            allow_smaller=bool(settings.allow_smaller),
        )
        if box_is_empty(start, end):
            raise empty_foreground_error(name, describe_rule(settings.threshold), start.tolist())
        return start, end

    # ----------------------------------------------------------------- apply / undo
    def cropped_layer_data(self, layer, source, start, end, pad_min: bool = False) -> tuple:
        """LayerData of ``layer`` cropped with the box of ``source``."""
        from napari.layers import Labels

        kind = "labels" if isinstance(layer, Labels) else "image"
        found = self.on_source_grid(layer, source)
        if found is None:
            raise ValueError(f"layer {layer.name!r} is not on the grid of {source.name!r}; it cannot share the box")
        disk, _ = found  # flipped/permuted storage: viewed on the source's grid, no resampling
        ras = layer_disk_view(source)[1]
        pad = np.min(disk) if kind == "image" and pad_min and box_reaches_outside(start, end, disk) else 0
        cropped, new_ras = apply_box(disk, ras, start, end, pad_value=pad)
        if kind == "labels":  # painting the crop must not change the kept original
            cropped = np.array(cropped, copy=True)
        crops = list((layer.metadata or {}).get("crops", []))
        crops.append({"start": start.tolist(), "end": end.tolist()})
        return layer_data_like(layer, cropped, new_ras, kind, crops=crops)

    def apply(self, source, targets, settings: CropSettings, into_new_layers: bool = False):
        """Crop every target with the box of ``source``: ``(layers changed or added, box)``.

        Everything is computed before any layer changes, so an error leaves the viewer as it was.
        """
        start, end = self.compute_box(source, settings)
        targets = list(targets)
        if not targets:
            raise ValueError("choose at least one layer to crop")
        lds = [(ly, self.cropped_layer_data(ly, source, start, end, settings.pad_min)) for ly in targets]
        out = []
        if into_new_layers:
            for ly, (data, kwargs, kind) in lds:
                kwargs["name"] = f"{ly.name} (cropped)"
                add = self.viewer.add_image if kind == "image" else self.viewer.add_labels
                out.append(add(data, **kwargs))
            self.undo_stack.append(UndoStep("new", added=out))
        else:
            saved = []
            for ly, (data, kwargs, _) in lds:
                saved.append(SavedLayer.of(ly))
                ly.affine = np.eye(ly.ndim + 1)
                ly.data = data
                ly.scale, ly.translate = kwargs["scale"], kwargs["translate"]
                ly.metadata = kwargs["metadata"]
                out.append(ly)
            self.undo_stack.append(UndoStep("inplace", saved=saved))
        return out, (start, end)

    @property
    def can_undo(self) -> bool:
        return bool(self.undo_stack)

    def undo(self) -> bool:
        """Restore the data and geometry before the last crop (or remove its new layers)."""
        if not self.undo_stack:
            return False
        step = self.undo_stack.pop()
        for ly in step.added:
            if ly in self.viewer.layers:
                self.viewer.layers.remove(ly)
        for saved in step.saved:
            saved.restore()
        return True


def outline_shapes(source, box, ndisplay: int, dims_ndim: int, displayed, point):
    """The box outline as Shapes data in the source's display-index space, or None when the
    current 2D slice does not cut the box: ``(shapes, shape_types)``.

    Vertices sit on voxel edges (+-0.5) so the outline frames the voxels; the Shapes layer
    takes the source's scale and translate.  In 3D: the 12 edges; in 2D: the rectangle of
    the displayed plane.
    """
    disk, _ = layer_disk_view(source)
    dstart, dend = disk_box_to_display_box(*box, _ornt(source), disk.shape[:3])
    lo, hi = dstart - 0.5, dend - 0.5
    if ndisplay == 3:
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
        return shapes, ["line"] * len(shapes)
    extra = dims_ndim - 3
    shown = [d - extra for d in list(displayed)[-2:]]
    ax = [d for d in range(3) if d not in shown][0]
    z = int(np.round(np.asarray(source.world_to_data(point))[-3:][ax]))
    if not dstart[ax] <= z < dend[ax]:
        return None
    ya, xa = shown
    rect = np.zeros((4, 3))
    rect[:, ax] = z
    rect[:, ya] = [lo[ya], lo[ya], hi[ya], hi[ya]]
    rect[:, xa] = [lo[xa], hi[xa], hi[xa], lo[xa]]
    return [rect], ["rectangle"]
