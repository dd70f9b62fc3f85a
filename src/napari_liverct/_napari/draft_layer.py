"""The draft's Labels layer and the rule that protects the user's edits (issue 22).

The rule, as a 3D Slicer or ITK-SNAP user expects it (Segment never throws work away):

1. Segment never removes or replaces a layer.  A new draft goes to a new layer
   (``"<CT> liver draft"``, or ``"... (2)"``, ``"(3)"`` when that name is taken).
2. When the CT already has a liver-only draft made in this session and the tumours are
   asked for, only the lesion network runs, and it searches the liver *as the layer holds
   it now* (the user's corrections included: labels 1 and 2 count as liver).
3. Its tumours are written into that layer only where the layer still holds the liver the
   draft put there (value 1, unchanged since the draft was produced): a voxel the user
   painted or erased keeps the user's value.  "Edited" is known by comparing the layer with
   the draft as it was produced, kept here (not in the layer's metadata, which is saved).
   A layer made by the same run (liver shown first, tumours added when the tiles are
   done) takes every tumour voxel the run found, as the command line writes the draft,
   except voxels the user painted while the tiles ran.
4. The write is one step of the layer's own undo history (``Labels.data_setitem``): napari's
   undo (Ctrl+Z on the layer) takes it back whole.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from .compat import unwrap

__all__ = ["DraftRecord", "draft_for", "new_draft_name", "record_of", "remember", "add_tumours"]

LIVER, TUMOUR = 1, 2


@dataclass
class DraftRecord:
    """What Segment produced in a layer: its data then (display order) and the stages run."""

    produced: np.ndarray
    stages: tuple[str, ...]


#: layer -> DraftRecord, for the drafts made in this session (dropped with the layer)
_RECORDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def remember(layer, stages: tuple[str, ...]) -> DraftRecord:
    """Keep ``layer``'s data as Segment produced it (the reference for "edited by the user")."""
    record = DraftRecord(np.array(layer.data, copy=True), tuple(stages))
    _RECORDS[unwrap(layer)] = record  # the layer, not a plugin's per-access proxy of it
    return record


def record_of(layer) -> DraftRecord | None:
    """The record of ``layer`` if Segment made it in this session, else None."""
    return _RECORDS.get(unwrap(layer))


def draft_for(viewer, source) -> tuple[object, DraftRecord] | None:
    """The latest draft of ``source`` made in this session that is still in the viewer, with
    its record; None when there is none (or its grid no longer matches the CT's)."""
    found = None
    for layer in viewer.layers:
        record = _RECORDS.get(unwrap(layer))
        if record is None or (layer.metadata or {}).get("draft_of") != source.name:
            continue
        if np.shape(layer.data) != np.shape(source.data) or record.produced.shape != np.shape(layer.data):
            continue
        found = (layer, record)
    return found


def new_draft_name(viewer, source) -> str:
    """``"<CT> liver draft"``, or the first ``"<CT> liver draft (N)"`` not taken."""
    base = f"{source.name} liver draft"
    names = {layer.name for layer in viewer.layers}
    if base not in names:
        return base
    n = 2
    while f"{base} ({n})" in names:
        n += 1
    return f"{base} ({n})"


def add_tumours(layer, record: DraftRecord, labels: np.ndarray, *, liver_only: bool = True) -> tuple[int, int]:
    """Write ``labels == 2`` (display order, the layer's grid) into ``layer`` by rule 3 above,
    as one undoable step; returns ``(voxels written, tumour voxels left to the user's edits)``.

    ``liver_only=False`` (the layer was made by this same run) writes every untouched voxel
    the run found as tumour, as the command line writes the draft."""
    current = np.asarray(layer.data)
    found = np.asarray(labels) == TUMOUR
    untouched = current == record.produced
    write = found & untouched & ((current == LIVER) if liver_only else True)
    kept = int((found & ~untouched).sum())
    idx = np.nonzero(write)
    if idx[0].size:
        layer.data_setitem(idx, TUMOUR)
    record.produced[idx] = TUMOUR  # the draft as produced now holds them; edits stay edits
    record.stages = tuple(dict.fromkeys((*record.stages, "lesions")))
    return int(idx[0].size), kept
