"""npe2 writers: Image and Labels layers -> NIfTI with their current world geometry."""

from __future__ import annotations

from typing import Any

from ..layers import save_layer


def write_single_layer(path: str, data: Any, meta: dict) -> list[str]:
    """Save one Image or Labels layer to ``.nii`` / ``.nii.gz``.

    The file's axis order and header come from the file the layer was read from
    (``meta['metadata']``); the affine is rebuilt from the layer's current scale and
    translate, so a cropped layer reopens exactly where napari showed it.  The source
    file is never overwritten unless ``layer.metadata['allow_overwrite_source']`` is
    True.  Writing is atomic (temporary file, then rename).
    """
    allow = bool((meta.get("metadata") or {}).get("allow_overwrite_source", False))
    return [str(save_layer(path, data, meta, overwrite_source=allow))]
