"""npe2 writers: Image and Labels layers -> NIfTI with their current world geometry."""

from __future__ import annotations

import sys
from typing import Any

from ..display.layers import save_layer
from ..labels.tables import LabelTable
from ..outputs.guard import guard_output


def write_single_layer(path: str, data: Any, meta: dict) -> list[str]:
    """Save one Image or Labels layer to ``.nii`` / ``.nii.gz``.

    The file's axis order and header come from the file the layer was read from
    (``meta['metadata']``); the affine is rebuilt from the layer's current scale and
    translate, so a cropped layer reopens exactly where napari showed it.  The source
    file is never overwritten unless ``layer.metadata['allow_overwrite_source']`` is
    True, and a file another layer of the viewer was read from never
    (:func:`napari_liverct.outputs.guard.guard_output`).  Writing is atomic (temporary
    file, then rename).  A labels layer's class names and colours go into the file's own
    label table (:func:`layer_label_table`), whatever they came from.
    """
    md = meta.get("metadata") or {}
    allow = bool(md.get("allow_overwrite_source", False))
    guard_output(path, _other_sources(md.get("source_path")))  # never over another layer's file
    table = layer_label_table(meta)
    return [str(save_layer(path, data, meta, overwrite_source=allow, label_table=table))]


def layer_label_table(meta: dict) -> LabelTable | None:
    """A labels layer's class names and colours as the layer holds them now, for the file's
    label table; None for an image layer.

    Names: ``metadata["label_names"]`` (from the file's table, a sidecar, dataset.json, the
    liver task defaults or the draft), with the names in the layer's ``features`` table
    ("index" / "name", where napari lets the user edit them) taking precedence; ``label N``
    placeholders are never written as names.  Colours: the layer's colormap (the user may
    have changed one) for every named value.
    """
    from ..labels.tables import named_labels

    md = meta.get("metadata") or {}
    cmap = meta.get("colormap")
    color_dict = getattr(cmap, "color_dict", None)
    if color_dict is None and isinstance(cmap, dict):
        color_dict = cmap
    names = named_labels(md.get("label_names") or {})
    names.update(named_labels(_feature_names(meta.get("features"))))
    if not names:  # an image layer, or labels nobody named
        return None
    colors = {k: tuple(float(c) for c in color_dict[k]) for k in names if color_dict is not None and k in color_dict}
    return LabelTable(names, "the layer's names", colors)


def _feature_names(features) -> dict:
    """``{index: name}`` from a features table with "index" and "name" columns, else ``{}``."""
    try:
        index, name = list(features["index"]), list(features["name"])
    except (KeyError, TypeError, IndexError):
        return {}
    return {i: n for i, n in zip(index, name) if isinstance(n, str)}


def _other_sources(own) -> list[str]:
    """The files the current viewer's other layers were read from (public napari API only)."""
    if "napari" not in sys.modules:
        return []
    import napari

    viewer = napari.current_viewer()
    if viewer is None:
        return []
    sources = [(layer.metadata or {}).get("source_path") for layer in viewer.layers]
    return [s for s in sources if s and s != own]
