"""Correct draft: click on the canvas to add, delete, split, merge or relabel lesions; grow or
fill between slices from strokes painted with napari's own brush; undo and redo whole edits.

A thin face on :mod:`napari_liverct.refine` through :class:`~.._napari.correct_session.CorrectSession`:
every edit goes into the chosen labels layer (one merged map), runs in a worker
(:class:`~.work.WidgetWork`), is logged in RAS mm and the log is saved after each edit.
Opening labels whose saved log was made on that very file offers to replay it.  After each
edit the Statistics table, the 3D view's lesion navigator and Compare (when a ground truth
is chosen there) recompute on the edited layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox, FloatSpinBox, Label, PushButton, SpinBox

from .._napari.correct_layers import points_layer, strokes_layer
from .._napari.pick import layer_choices
from ._common import ScrollableContainer, fit_dock_title
from .followers import Followers
from .work import WidgetWork

if TYPE_CHECKING:
    import napari

__all__ = ["CorrectWidget", "MODES"]

MODES = ("off", "add lesion", "delete lesion", "split lesion", "merge lesions", "relabel liver/lesion")
STROKES_KIND = "refine_strokes"
POINTS_KIND = "refine_points"
#: Fill between slices: what the user sees -> the world axis letter the log stores
FILL_AXES = {"S-I (axial slices)": "S", "A-P (coronal slices)": "A", "R-L (sagittal slices)": "R"}


class CorrectWidget(ScrollableContainer):
    """Edits of a labels layer over its CT (see the module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True, scrollable=True)
        self._viewer = viewer
        self.session = None
        self.strokes = None
        self.points = None
        self._pending: list = []  # RAS mm points of a split or merge being collected
        self._pending_world: list = []  # the same, as clicked (napari world), for the points layer
        self._retune = None  # a sensitivity asked for while an edit was computing (the latest wins)
        self._saved = None
        self.ct_combo = ComboBox(label="CT", choices=layer_choices(viewer, "image"), nullable=True)
        self.labels_combo = ComboBox(label="labels", choices=layer_choices(viewer, "labels"), nullable=True)
        self.liver_spin = SpinBox(label="liver label", value=1, min=0, max=65535)
        self.lesion_spin = SpinBox(label="lesion label", value=2, min=1, max=65535)
        self.start_button = PushButton(text="Start correcting")
        self.replay_button = PushButton(text="Replay saved edits", enabled=False)
        self.mode = ComboBox(label="click mode", choices=list(MODES), value="off")
        self.threshold = FloatSpinBox(label="sensitivity (probability)", value=0.5, min=0.05, max=0.95, step=0.05)
        self.apply_button = PushButton(text="Split / merge at the clicked points", enabled=False)
        self.cancel_button = PushButton(text="Cancel the clicked points", enabled=False)
        self.grow_label = ComboBox(label="strokes for", choices=["lesion", "liver"], value="lesion")
        self.grow_button = PushButton(text="Grow from strokes", enabled=False)
        self.fill_axis = ComboBox(label="fill along", choices=list(FILL_AXES), value="S-I (axial slices)")
        self.fill_button = PushButton(text="Fill between slices", enabled=False)
        self.undo_button = PushButton(text="Undo", enabled=False)
        self.redo_button = PushButton(text="Redo", enabled=False)
        self.status = Label(value="Pick the CT and the labels, then Start correcting.")
        from qtpy.QtWidgets import QSizePolicy

        self.status.native.setWordWrap(True)
        self.status.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.native.setMinimumWidth(120)
        self.extend(
            [
                self.ct_combo,
                self.labels_combo,
                self.liver_spin,
                self.lesion_spin,
                self.start_button,
                self.replay_button,
                self.mode,
                self.threshold,
                self.apply_button,
                self.cancel_button,
                self.grow_label,
                self.grow_button,
                self.fill_axis,
                self.fill_button,
                self.undo_button,
                self.redo_button,
                self.status,
            ]
        )
        self.work = WidgetWork(self, "Correct draft", status=self._say)
        self.followers = Followers(viewer, self.native)
        self.start_button.changed.connect(lambda *_: self.start())
        self.replay_button.changed.connect(lambda *_: self.replay_saved())
        self.apply_button.changed.connect(lambda *_: self.apply_points())
        self.cancel_button.changed.connect(lambda *_: self._clear_points("points cancelled"))
        self.threshold.changed.connect(lambda *_: self.retune())
        self.grow_button.changed.connect(lambda *_: self.grow())
        self.fill_button.changed.connect(lambda *_: self.fill())
        self.undo_button.changed.connect(lambda *_: self.undo())
        self.redo_button.changed.connect(lambda *_: self.redo())
        self.mode.changed.connect(lambda *_: self._mode_changed())
        self.labels_combo.changed.connect(lambda *_: self._labels_changed())
        for event in ("inserted", "removed", "reordered"):
            getattr(viewer.layers.events, event).connect(self._refresh)
        self.native.destroyed.connect(self._disconnect)
        self.native.setMinimumHeight(260)
        fit_dock_title(self.native, "Correct draft")
        self._refresh()
        self._preload()

    # -- layers ------------------------------------------------------------------------------
    def _disconnect(self, *_) -> None:
        for event in ("inserted", "removed", "reordered"):
            try:
                getattr(self._viewer.layers.events, event).disconnect(self._refresh)
            except (RuntimeError, TypeError):
                pass

    def _refresh(self, *_) -> None:
        self.reset_choices()
        for combo in (self.ct_combo, self.labels_combo):
            layers = [c for c in combo.choices if c is not None]
            if combo.value is None and layers:
                combo.value = layers[-1]

    def _labels_changed(self) -> None:
        from .._napari.layer_utils import default_label_roles

        organ, lesion = default_label_roles(self.labels_combo.value)
        self.liver_spin.value = organ[0] if organ else 1
        self.lesion_spin.value = lesion[0] if lesion else 2

    def _say(self, text: str) -> None:
        self.status.value = text

    def _preload(self) -> None:
        """Load ITK's modules in the background: their first use costs seconds."""
        import threading

        def load():
            try:
                from ..refine.strokes import itk_module

                itk = itk_module()
                itk.FastGrowCut, itk.MorphologicalContourInterpolator  # noqa: B018
            except Exception:  # noqa: BLE001 - Grow/Fill report it when used
                pass

        threading.Thread(target=load, daemon=True).start()

    # -- session ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start (or restart) correcting the chosen labels layer over the chosen CT."""
        from .._napari.correct_session import CorrectSession, saved_log_for

        ct, labels = self.ct_combo.value, self.labels_combo.value
        if ct is None or labels is None:
            self.work.refuse("pick a CT image layer and a labels layer")
            return
        try:
            self.session = CorrectSession(ct, labels, int(self.liver_spin.value), int(self.lesion_spin.value))
        except ValueError as exc:
            self.work.refuse(exc)
            return
        if self._on_mouse not in labels.mouse_drag_callbacks:
            labels.mouse_drag_callbacks.append(self._on_mouse)
        self._make_strokes_layer()
        self._make_points_layer()
        self._saved = saved_log_for(labels)
        self.replay_button.enabled = self._saved is not None
        for b in (self.grow_button, self.fill_button):
            b.enabled = True
        self._buttons()
        found = (
            f" Found {len(self._saved['edits'])} saved edits of this file: press Replay saved edits."
            if self._saved
            else ""
        )
        self._say(f"Correcting '{labels.name}'; the edit log is saved to {self.session.log_path}.{found}")

    def _make_strokes_layer(self) -> None:
        if self.strokes is None or self.strokes not in self._viewer.layers:
            s = self.session
            self.strokes = strokes_layer(self._viewer, s.labels_layer, s.labels.shape, s.affine, STROKES_KIND)

    def _make_points_layer(self) -> None:
        """One Points layer, reused, showing the points clicked for a split or merge."""
        if self.points is None or self.points not in self._viewer.layers:
            self.points = points_layer(self._viewer, self.session.labels_layer, POINTS_KIND)

    def _show_points(self, world: list) -> None:
        import numpy as np

        if self.session is None:
            return
        self._make_points_layer()
        self.points.data = np.asarray(world, float).reshape(-1, 3)
        self._viewer.layers.selection.active = self.session.labels_layer

    def _clear_points(self, why: str | None = None) -> None:
        self._pending, self._pending_world = [], []
        self.apply_button.enabled = self.cancel_button.enabled = False
        if self.points is not None and self.points in self._viewer.layers and len(self.points.data):
            self._show_points([])
        if why:
            self._say(why)

    def _mode_changed(self) -> None:
        self._clear_points()
        if self.session is not None and self.mode.value != "off":
            layer = self.session.labels_layer
            layer.mode = "pan_zoom"
            self._viewer.layers.selection.active = layer

    # -- clicks ---------------------------------------------------------------------------------
    def _on_mouse(self, layer, event):
        """A click (press and release without a drag) of the left button in a click mode."""
        if self.mode.value == "off" or event.button != 1 or layer.mode != "pan_zoom":
            return
        position = list(event.position)
        yield
        dragged = False
        while event.type == "mouse_move":
            dragged = True
            yield
        if not dragged:
            self.click(position)

    def click(self, world_position) -> None:
        """What a click at napari world ``world_position`` does in the current mode."""
        from .._napari.correct_session import world_to_ras
        from ..refine.log import edit_entry

        s = self.session
        if s is None:
            return
        residual = (s.labels_layer.metadata or {}).get("residual")
        point = s.snap(world_to_ras(world_position, residual))
        mode = self.mode.value
        if mode in ("split lesion", "merge lesions"):
            self._pending.append(point)
            self._pending_world.append(list(world_position)[-3:])
            self._show_points(self._pending_world)
            self.apply_button.enabled = len(self._pending) >= (1 if mode == "split lesion" else 2)
            self.cancel_button.enabled = True
            self._say(f"{len(self._pending)} point(s) for {mode.split()[0]}; press the button when done")
            return
        if mode == "add lesion":
            entry = edit_entry("add_lesion", point_ras_mm=point, threshold=float(self.threshold.value))
        elif mode == "delete lesion":
            entry = edit_entry("delete_lesion", point_ras_mm=point)
        else:
            here, liver, lesion = s.value_at(point), s.roles["liver"], s.roles["lesion"]
            entry = edit_entry("relabel", point_ras_mm=point, to=liver if here == lesion else lesion)
        self.run(entry)

    def apply_points(self) -> None:
        from ..refine.log import edit_entry

        op = "split_lesion" if self.mode.value == "split lesion" else "merge_lesions"
        kwargs = {"parts": 2} if op == "split_lesion" and len(self._pending) == 1 else {}
        entry = edit_entry(op, points_ras_mm=self._pending, **kwargs)
        self._clear_points()
        self.run(entry)

    def _stroke_entry(self, op: str):
        from ..refine.log import edit_entry

        s = self.session
        label = s.roles["lesion"] if self.grow_label.value == "lesion" else s.roles["liver"]
        fg = s.stroke_points(self.strokes, 1)
        if op == "grow":
            return edit_entry(
                "grow", label=label, foreground_ras_mm=fg, background_ras_mm=s.stroke_points(self.strokes, 2)
            )
        return edit_entry("interpolate", label=label, drawn_ras_mm=fg, axis=FILL_AXES[self.fill_axis.value])

    def grow(self) -> None:
        if self.session is not None:
            self.run(self._stroke_entry("grow"), clear_strokes=True)

    def fill(self) -> None:
        if self.session is not None:
            self.run(self._stroke_entry("interpolate"), clear_strokes=True)

    # -- running ----------------------------------------------------------------------------------
    def run(self, entry: dict, clear_strokes: bool = False):
        """Compute one edit in a worker, then write it into the layer; returns the worker."""
        if self.work.running:
            self.work.refuse("an edit is still being computed; wait for it")
            return None
        import time

        t0 = time.perf_counter()

        def done(result):
            step = self.session.commit(entry, result)
            if step is not None and clear_strokes and self.strokes is not None:
                self.strokes.data[...] = 0
                self.strokes.refresh()
            self._buttons()
            self._say(f"{result.summary} ({time.perf_counter() - t0:.1f} s)")
            if step is not None:
                self.live_update()

        return self.work.start(
            self.session.compute, entry, on_done=done, on_finish=self._retune_pending, busy=f"{entry['op']} ..."
        )

    def retune(self):
        """The sensitivity changed: re-extract the last added lesion from its kept tile
        probability (no network run), replacing that add as one undoable edit.  While an edit
        computes, the latest value waits for it.  Returns the worker (None when nothing to do)."""
        s = self.session
        if s is None or s.tuning is None or self.mode.value != "add lesion":
            return None
        if self.work.running:
            self._retune = float(self.threshold.value)
            return None
        import time

        t0 = time.perf_counter()

        def done(out):
            if out is None:
                return
            entry, result = out
            step = s.commit_rethreshold(entry, result)
            self._buttons()
            what = result.summary if step is not None else f"nothing at sensitivity {entry['threshold']:g}"
            self._say(f"{what} (re-thresholded the same tile in {time.perf_counter() - t0:.2f} s)")
            self.live_update()

        return self.work.start(
            s.rethreshold,
            float(self.threshold.value),
            on_done=done,
            on_finish=self._retune_pending,
            busy="re-thresholding ...",
        )

    def _retune_pending(self) -> None:
        if self._retune is not None:
            self._retune = None
            self.retune()

    def undo(self) -> None:
        if self.session is not None and not self.work.running and self.session.undo() is not None:
            self._buttons()
            self._say(f"undone; {len(self.session.undo_stack)} edit(s) in the log")
            self.live_update()

    def redo(self) -> None:
        if self.session is not None and not self.work.running and self.session.redo() is not None:
            self._buttons()
            self._say(f"redone; {len(self.session.undo_stack)} edit(s) in the log")
            self.live_update()

    def _buttons(self) -> None:
        s = self.session
        self.undo_button.enabled = bool(s and s.undo_stack)
        self.redo_button.enabled = bool(s and s.redo_stack)

    def replay_saved(self):
        """Replay the saved log found for these labels, each edit an undoable step."""
        from ..refine.log import iter_replay

        if self.session is None or self._saved is None:
            return None
        log, s = self._saved, self.session
        self._saved = None
        self.replay_button.enabled = False

        def commit(item):
            entry, result = item
            s.commit(entry, result)

        def finished(_):
            self._buttons()
            self._say(f"replayed {len(log['edits'])} saved edits")
            self.live_update()

        def steps():
            yield from iter_replay(s.ct, s.affine, s.labels.copy(), log, threads=2)

        return self.work.start(steps, on_yield=commit, on_done=finished, busy="replaying the saved edits ...")

    # -- the other widgets follow ---------------------------------------------------------------------
    def live_update(self) -> int:
        """Ask every widget showing the edited layer (Statistics, Compare with a ground truth,
        3D view) to recompute, once (:class:`~.followers.Followers`); returns how many follow."""
        layer = self.session.labels_layer if self.session is not None else None
        return self.followers.update(layer)
