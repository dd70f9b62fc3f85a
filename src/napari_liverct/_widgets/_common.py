"""Helpers shared by the widgets: a layer's stored-order array and its NIfTI affine."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..geometry import layer_world_affine, ras_affine_from_world
from ..layers import array_to_layer_data, layer_to_disk

if TYPE_CHECKING:
    import napari.layers


def layer_meta(layer: "napari.layers.Layer") -> dict:
    """The geometry part of a layer's state, as the writer and ``layer_to_disk`` expect."""
    return {
        "scale": np.asarray(layer.scale),
        "translate": np.asarray(layer.translate),
        "affine": np.asarray(layer.affine.affine_matrix),
        "rotate": np.asarray(layer.rotate),
        "shear": np.asarray(layer.shear),
        "metadata": layer.metadata,
    }


def layer_disk_view(layer: "napari.layers.Layer") -> tuple[np.ndarray, np.ndarray]:
    """``(array in the source file's axis order, voxel-to-RAS affine)`` of a layer (a view).

    Statistics and crops computed on this view report voxel indices exactly as the
    command line does on the file.  Layers not read by this plugin get the file
    order of their displayed array.
    """
    return layer_to_disk(layer.data, layer_meta(layer))


def layer_display_ras_affine(layer: "napari.layers.Layer") -> np.ndarray:
    """Voxel-to-RAS affine of the layer's *displayed* array (no reorientation)."""
    md = layer.metadata or {}
    return ras_affine_from_world(layer_world_affine(layer_meta(layer)), md.get("residual"))


def layer_data_like(
    layer: "napari.layers.Layer", data: np.ndarray, affine: np.ndarray, kind: str, **extra_metadata
) -> tuple:
    """LayerData for new stored-order ``data`` + RAS ``affine`` that stands in for ``layer``.

    Keeps the layer's name, header, source path, label names and other metadata; the
    geometry keys are recomputed (crop, image <-> labels conversion).
    """
    md = dict(layer.metadata or {})
    ld = array_to_layer_data(
        data, affine, kind=kind, name=layer.name, header=md.get("header"),
        source_path=md.get("source_path"), label_names=md.get("label_names"),
        extra_metadata=extra_metadata or None,
    )
    ld[1]["metadata"] = {**md, **ld[1]["metadata"]}
    return ld
