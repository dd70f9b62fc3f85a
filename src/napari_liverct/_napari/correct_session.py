"""The "Correct draft" widget's model: one labels layer, its edits, undo/redo, the autosaved log.

:class:`CorrectSession` holds the CT and labels of two layers as stored-order views (the
core's arrays; writing into the labels view writes into the layer), applies finished
:class:`~napari_liverct.refine.EditResult` s to the layer (only the changed box), keeps
whole operations on an undo and a redo stack, and writes the edit log after every change
(:func:`~napari_liverct.outputs.units.atomic_write_text`: a crash loses at most the edit being
computed).  The log sits beside the labels file (``<stem>.edits.json``) or, for labels with
no file, in the data cache's ``edits/`` folder.  No Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..geometry.grids import WORLD_TO_RAS
from .layer_utils import layer_disk_view

if TYPE_CHECKING:
    import napari.layers

__all__ = ["CorrectSession", "Step", "world_to_ras", "saved_log_for"]


def world_to_ras(position, residual=None) -> np.ndarray:
    """napari world (S, P, L) mm as displayed -> RAS mm (undoing the oblique ``residual``)."""
    w = np.r_[np.asarray(position, float)[-3:], 1.0]
    if residual is not None:
        w = np.asarray(residual, float) @ w
    return (WORLD_TO_RAS @ w)[:3]


@dataclass
class Step:
    """One applied edit: its log entry and the labels box before and after."""

    entry: dict
    box: tuple
    old: np.ndarray
    new: np.ndarray


def _source(layer) -> Path | None:
    src = (layer.metadata or {}).get("source_path")
    return Path(src) if src and Path(src).is_file() else None


def saved_log_for(labels_layer) -> dict | None:
    """The saved log of edits on this labels layer's file, when one exists beside it and was
    made on exactly that file (its ``base`` sha256) with edits in it; else None."""
    from ..refine.files import labels_base
    from ..refine.log import EditLogError, log_path_for, read_log

    src = _source(labels_layer)
    if src is None or not log_path_for(src).is_file():
        return None
    try:
        log = read_log(log_path_for(src))
    except EditLogError:
        return None
    if not log["edits"] or log.get("base", {}).get("labels_sha256") != labels_base(src)["labels_sha256"]:
        return None
    return log


class CorrectSession:
    """Edits of ``labels_layer`` over ``ct_layer`` (same grid); see the module docstring."""

    def __init__(self, ct_layer: napari.layers.Image, labels_layer: napari.layers.Labels, liver: int, lesion: int):
        from ..geometry.grids import grid_mismatch
        from ..refine.files import labels_base
        from ..refine.log import log_path_for, new_log

        self.ct_layer, self.labels_layer = ct_layer, labels_layer
        self.ct, ct_aff = layer_disk_view(ct_layer)
        self.labels, self.affine = layer_disk_view(labels_layer)
        if self.ct.ndim != 3 or self.labels.ndim != 3:
            raise ValueError("Correct draft needs a 3D CT and 3D labels")
        why = grid_mismatch(self.ct.shape, ct_aff, self.labels.shape, self.affine)
        if why:
            raise ValueError(f"'{ct_layer.name}' and '{labels_layer.name}' are not on the same grid ({why})")
        src = _source(labels_layer)
        self.log = new_log(liver, lesion, base=labels_base(src) if src is not None else None)
        if src is not None:
            self.log_path = log_path_for(src)
        else:
            from ..segment.weights import data_dir

            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in labels_layer.name)
            self.log_path = data_dir() / "edits" / f"{safe}.edits.json"
        self.undo_stack: list[Step] = []
        self.redo_stack: list[Step] = []
        #: the tile probability of the last add_lesion click, keyed by the tile: the clicked
        #: voxel (RAS mm of its centre) and the undo depth the click was made at (the labels it saw)
        self.tiles: dict[tuple, object] = {}
        #: the add being tuned by the sensitivity: (its tile key); None when the last edit was not an add
        self.tuning: tuple | None = None

    @property
    def roles(self) -> dict:
        return self.log["roles"]

    def snap(self, ras) -> list[float]:
        """The centre (RAS mm) of the voxel nearest to ``ras``, so the log names that voxel."""
        v = np.linalg.solve(self.affine, np.r_[np.asarray(ras, float), 1.0])[:3]
        idx = np.clip(np.floor(v + 0.5), 0, np.array(self.labels.shape) - 1)
        return (self.affine @ np.r_[idx, 1.0])[:3].tolist()

    def value_at(self, ras) -> int:
        v = np.linalg.solve(self.affine, np.r_[np.asarray(ras, float), 1.0])[:3]
        return int(self.labels[tuple(np.floor(v + 0.5).astype(int))])

    def stroke_points(self, strokes_layer, value: int) -> list:
        """RAS mm centres of the voxels painted ``value`` in a strokes layer on this grid."""
        data, aff = layer_disk_view(strokes_layer)
        idx = np.argwhere(np.asarray(data) == value)
        return (aff @ np.c_[idx, np.ones(len(idx))].T).T[:, :3].tolist() if len(idx) else []

    # -- edits -----------------------------------------------------------------------------
    def _tile_key(self, entry: dict, depth: int | None = None) -> tuple:
        depth = len(self.undo_stack) if depth is None else depth
        return (tuple(entry["point_ras_mm"]), depth)

    def compute(self, entry: dict, **extra):
        """The result of one edit on the current labels (pure; run it in a worker).  An
        add_lesion keeps its tile's probability (:attr:`tiles`), so that a new sensitivity
        re-thresholds it (:meth:`rethreshold`) without a second network run."""
        from ..refine.log import apply_edit

        labels = np.array(self.labels)
        if entry["op"] == "add_lesion" and "probability" not in extra:
            from ..segment.tile import lesion_probability_at

            key = self._tile_key(entry)
            if key not in self.tiles:
                roles = self.roles
                mask = np.isin(labels, [roles["liver"], roles["lesion"]])
                self.tiles[key] = lesion_probability_at(self.ct, self.affine, entry["point_ras_mm"], mask, threads=2)
            extra["probability"] = self.tiles[key]
        return apply_edit(self.ct, self.affine, labels, entry, self.roles, threads=2, **extra)

    def rethreshold(self, threshold: float):
        """The add being tuned, at a new sensitivity, from its kept tile probability: returns
        ``(entry, result)`` computed on the labels before that add (pure; no network run), or
        None when the last edit is not an add at a point.  Commit it with
        :meth:`commit_rethreshold`."""
        from ..refine.log import apply_edit, edit_entry

        if self.tuning is None:
            return None
        point, depth = self.tuning
        top = self.undo_stack[-1] if len(self.undo_stack) == depth + 1 else None
        if len(self.undo_stack) not in (depth, depth + 1):
            return None
        labels = np.array(self.labels)
        if top is not None:
            labels[top.box] = top.old
        entry = edit_entry("add_lesion", point_ras_mm=list(point), threshold=float(threshold))
        prob = self.tiles[(point, depth)]
        return entry, apply_edit(self.ct, self.affine, labels, entry, self.roles, probability=prob)

    def commit_rethreshold(self, entry: dict, result) -> Step | None:
        """Replace the add being tuned by ``result`` (from :meth:`rethreshold`): one undoable
        step and one log entry, with the final threshold."""
        point, depth = self.tuning
        if len(self.undo_stack) == depth + 1:
            top = self.undo_stack.pop()
            self._put(top.box, top.old)
            self.log["edits"].pop()
        step = self.commit(entry, result)
        if step is None:
            self.save()  # the add found nothing at this threshold: it leaves the log
        self.tuning = (point, depth)
        return step

    def _put(self, box, values) -> None:
        self.labels[box] = values
        self.labels_layer.refresh()

    def commit(self, entry: dict, result) -> Step | None:
        """Write a finished edit into the layer, as one undoable step, and save the log."""
        from ..refine.log import edit_entry

        depth = len(self.undo_stack)
        key = self._tile_key(entry, depth) if entry["op"] == "add_lesion" else None
        self.tuning = key if key is not None and key in self.tiles else None
        self.tiles = {key: self.tiles[key]} if self.tuning else {}  # only the add being tuned keeps its tile
        if result.box is None:
            return None
        box = result.box
        step = Step(
            entry=edit_entry(**{**entry, "changed": result.changed}),
            box=box,
            old=np.array(self.labels[box]),
            new=np.array(result.labels[box]),
        )
        self._put(box, step.new)
        self.undo_stack.append(step)
        self.redo_stack.clear()
        self.log["edits"].append(step.entry)
        self.save()
        return step

    def undo(self) -> Step | None:
        if not self.undo_stack:
            return None
        self.tuning = None
        step = self.undo_stack.pop()
        self._put(step.box, step.old)
        self.log["edits"].pop()
        self.redo_stack.append(step)
        self.save()
        return step

    def redo(self) -> Step | None:
        if not self.redo_stack:
            return None
        self.tuning = None
        step = self.redo_stack.pop()
        self._put(step.box, step.new)
        self.log["edits"].append(step.entry)
        self.undo_stack.append(step)
        self.save()
        return step

    def save(self) -> Path:
        """The log, written as a unit (temporary, fsync, rename)."""
        from ..outputs.units import atomic_write_text
        from ..refine.log import log_text

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(self.log_path, log_text(self.log))
