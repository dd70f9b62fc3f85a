"""A labels layer on a DICOM series, saved as a DICOM-SEG (napari side, no Qt).

The image layer read from a DICOM series carries its files in slice order
(``metadata["dicom_sources"]``); a labels layer on the same grid (a draft from "Segment
liver (offline)", a file opened beside it, a layer painted from scratch) is saved on
that series with :func:`napari_liverct.volumes.seg.write_seg_on_series`.  The segment
algorithm type follows the layer's history: a draft as the network left it is
AUTOMATIC, a draft a person painted on SEMIAUTOMATIC (:func:`seg_origin`), anything
else MANUAL.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..geometry.grids import reorient_onto
from .layer_utils import layer_disk_view
from .pick import is_draft, pick_layers

__all__ = ["dicom_images", "series_image_for", "seg_origin", "save_layer_as_seg"]


def dicom_images(viewer) -> list:
    """The image layers read from a DICOM series (a DICOM-SEG can reference them)."""
    return [ly for ly in pick_layers(viewer, "image") if (ly.metadata or {}).get("dicom_sources")]


def series_image_for(viewer, labels_layer):
    """The DICOM image layer ``labels_layer`` lies on: the draft's own image, else the first on its grid."""
    images = dicom_images(viewer)
    md = labels_layer.metadata or {}
    for ly in images:
        if md.get("draft_of") == ly.name:
            return ly
    data, affine = layer_disk_view(labels_layer)
    for ly in images:
        imd = ly.metadata
        if (
            reorient_onto(np.broadcast_to(False, data.shape[:3]), affine, imd["stored_shape"], imd["affine"])
            is not None
        ):
            return ly
    return None


def seg_origin(layer) -> str:
    """``"draft"`` (AUTOMATIC), ``"edited"`` (SEMIAUTOMATIC) or ``"manual"`` (MANUAL).

    A draft is what Segment made in this session (``metadata['draft_of']`` and its record,
    :func:`napari_liverct._napari.draft_layer.record_of`); it is edited when its data differs
    from the draft as produced.  A draft without its record (Segment's record is gone) is
    taken as edited: nothing shows it is the network's output as it was.
    """
    from .draft_layer import record_of

    if not is_draft(layer):
        return "manual"
    record = record_of(layer)
    if record is None or not np.array_equal(np.asarray(layer.data), record.produced):
        return "edited"
    return "draft"


def save_layer_as_seg(path, labels_layer, image_layer) -> tuple[Path, str]:
    """Write ``labels_layer`` as a DICOM-SEG on the series of ``image_layer``; ``(path, origin)``."""
    from ..labels.tables import label_names_for
    from ..volumes.seg import write_seg_on_series

    imd = image_layer.metadata or {}
    sources = imd.get("dicom_sources")
    if not sources:
        raise ValueError(f"'{image_layer.name}' was not read from a DICOM series: a DICOM-SEG cannot reference it")
    data, affine = layer_disk_view(labels_layer)
    if data.ndim != 3:
        raise ValueError(f"'{labels_layer.name}' has {data.ndim} dimensions; a DICOM-SEG holds a 3D labels layer")
    names = dict((labels_layer.metadata or {}).get("label_names") or {}) or label_names_for(None, present=data)
    origin = seg_origin(labels_layer)
    out, _ = write_seg_on_series(
        path,
        np.asarray(data),
        affine,
        names,
        imd["stored_shape"],
        imd["affine"],
        sources,
        origin=origin,
    )
    return out, origin
