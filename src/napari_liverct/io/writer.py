"""npe2 writers: Image and Labels layers -> NIfTI with their current world geometry."""

from __future__ import annotations

import sys
from typing import Any

from ..layers import save_layer
from ..output_guard import guard_output


def write_single_layer(path: str, data: Any, meta: dict) -> list[str]:
    """Save one Image or Labels layer to ``.nii`` / ``.nii.gz``.

    The file's axis order and header come from the file the layer was read from
    (``meta['metadata']``); the affine is rebuilt from the layer's current scale and
    translate, so a cropped layer reopens exactly where napari showed it.  The source
    file is never overwritten unless ``layer.metadata['allow_overwrite_source']`` is
    True, and a file another layer of the viewer was read from never
    (:func:`napari_liverct.output_guard.guard_output`).  Writing is atomic (temporary
    file, then rename).
    """
    md = meta.get("metadata") or {}
    allow = bool(md.get("allow_overwrite_source", False))
    guard_output(path, _other_sources(md.get("source_path")))  # never over another layer's file
    return [str(save_layer(path, data, meta, overwrite_source=allow))]


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
