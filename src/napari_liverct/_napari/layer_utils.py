"""Helpers shared by the widgets: a layer's stored-order array and its NIfTI affine."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..display.layers import array_to_layer_data, layer_to_disk

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


def world_position(point_ras, layer: "napari.layers.Layer | None" = None, residual=None) -> np.ndarray:
    """Where the RAS+ mm point ``point_ras`` (N, 3) or (3,) is displayed: napari world ``(S, P, L)`` mm.

    The one conversion of the napari face: the core's results store coordinates
    once, in RAS mm (what a person reads in the tables, the CSV and the CLI); the
    camera, sliders and markers need the displayed world position, which also
    undoes the oblique ``residual`` of ``layer`` (``metadata["residual"]``) when given.
    """
    from ..geometry.grids import ras_to_world

    if residual is None and layer is not None:
        residual = (layer.metadata or {}).get("residual")
    return np.asarray(ras_to_world(np.asarray(point_ras, float), residual), float)


def layer_data_like(
    layer: "napari.layers.Layer", data: np.ndarray, affine: np.ndarray, kind: str, **extra_metadata
) -> tuple:
    """LayerData for new stored-order ``data`` + RAS ``affine`` that stands in for ``layer``.

    Keeps the layer's name, header, source path, label names and other metadata; the
    geometry keys are recomputed (crop, image <-> labels conversion).
    """
    md = dict(layer.metadata or {})
    ld = array_to_layer_data(
        data,
        affine,
        kind=kind,
        name=layer.name,
        header=md.get("header"),
        source_path=md.get("source_path"),
        label_names=md.get("label_names"),
        extra_metadata=extra_metadata or None,
    )
    ld[1]["metadata"] = {**md, **ld[1]["metadata"]}
    return ld


# ---------------------------------------------------------------- label roles
def layer_label_names(layer: "napari.layers.Labels | None") -> dict[int, str]:
    """The class names of a labels layer (``metadata["label_names"]``), else ``{}``."""
    if layer is None:
        return {}
    return {int(k): str(v) for k, v in dict((layer.metadata or {}).get("label_names") or {}).items()}


def labels_present(layer: "napari.layers.Labels", target: int = 2_000_000) -> list[int]:
    """Non-zero label values of a layer: its named classes plus those seen in a strided sample.

    Never a pass over the whole volume (a 61-class map of 512 x 512 x 600 voxels
    would take seconds); a class too small to be hit by the sample still appears
    when the layer's names list it.
    """
    data = layer.data
    n = int(np.prod(data.shape[-3:]))
    step = max(1, int(round((n / target) ** (1 / 3))))
    sl = (Ellipsis,) + tuple(slice(None, None, step) for _ in range(3))
    seen = {int(v) for v in np.unique(np.asarray(data[sl])) if v != 0}
    return sorted(seen | {k for k in layer_label_names(layer) if k != 0})


def default_label_roles(layer: "napari.layers.Labels | None") -> tuple[list[int], list[int]]:
    """``(organ labels, lesion labels)`` from a layer's class names; never a guess by value."""
    from ..labels.tables import lesion_label_ids, organ_label_ids

    names = layer_label_names(layer)
    return organ_label_ids(names), lesion_label_ids(names)


def parse_label_list(text: str, what: str = "labels") -> list[int]:
    """``"1, 5 7"`` -> ``[1, 5, 7]``; empty text -> ``[]``; anything else: ValueError."""
    import re

    parts = [p for p in re.split(r"[,\s;]+", str(text).strip()) if p]
    try:
        values = sorted({int(p) for p in parts})
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a list of label numbers (e.g. '2' or '2, 3')") from None
    if any(v <= 0 for v in values):
        raise ValueError(f"{what}: label numbers must be positive (0 is the background), not {text!r}")
    return values


def format_label_list(values) -> str:
    return ", ".join(str(int(v)) for v in values)


def label_color(layer, value: int) -> tuple[float, float, float, float]:
    """RGBA (0-1) the labels layer draws ``value`` with (its own colormap)."""
    try:
        c = np.asarray(layer.get_color(int(value)), float).ravel()
    except Exception:  # noqa: BLE001 - colours are cosmetic
        c = np.array([0.8, 0.8, 0.8, 1.0])
    if c.size < 4:
        c = np.r_[c[:3], 1.0]
    return tuple(float(x) for x in c[:4])


def guard_export(path, viewer, extra=()) -> None:
    """:func:`napari_liverct.outputs.guard.guard_output` for a widget's export: ``path`` must
    not be (or lie inside) any file a layer of ``viewer`` was read from, nor ``extra``."""
    from ..outputs.guard import guard_output

    sources = [(layer.metadata or {}).get("source_path") for layer in viewer.layers] if viewer is not None else []
    guard_output(path, [*sources, *extra])
