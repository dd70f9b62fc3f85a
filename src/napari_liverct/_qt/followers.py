"""The widgets that follow an edited labels layer: after an edit, the Statistics table, Compare
(with a ground truth chosen) and the 3D view's lesion navigator docked in the same viewer
recompute on it, once each.  A widget still busy with an earlier edit is asked again when it
is done (edits in a row queue one recompute each)."""

from __future__ import annotations

import time

__all__ = ["Followers"]


class Followers:
    def __init__(self, viewer, parent_native) -> None:
        self._viewer = viewer
        self._parent = parent_native
        self._timer = None
        self.pending: list = []
        self.since = 0.0  # when the last edit was in the layer

    def of(self, layer) -> list:
        """Statistics, Compare and 3D view widgets docked in this viewer that show ``layer``."""
        from .compare_widget import CompareWidget
        from .stats_widget import StatsWidget
        from .view3d_widget import View3DWidget

        try:
            docks = list(self._viewer.window.dock_widgets.values())
        except (AttributeError, RuntimeError):
            return []
        out = []
        for w in docks:
            if isinstance(w, StatsWidget) and w.labels_combo.value is layer and w.result is not None:
                out.append(w)
            elif isinstance(w, CompareWidget) and w.pred_combo.value is layer and w.gt_combo.value not in (None, layer):
                out.append(w)
            elif isinstance(w, View3DWidget) and w.labels_layer is layer:
                out.append(w)
        return out

    def update(self, layer) -> int:
        """Ask every follower of ``layer`` to recompute; returns how many follow."""
        from qtpy.QtCore import QTimer

        self.since = time.perf_counter()
        self.pending = self.of(layer) if layer is not None else []
        if self._timer is None:
            self._timer = QTimer(self._parent)
            self._timer.setSingleShot(True)
            self._timer.timeout.connect(self._flush)
        self._timer.start(0)
        return len(self.pending)

    def _flush(self) -> None:
        from .view3d_widget import View3DWidget

        left = []
        for w in self.pending:
            work = getattr(w, "work", None)
            if work is not None and work.running:
                left.append(w)
            elif isinstance(w, View3DWidget):
                w.refresh_lesions()
            else:
                w.compute(live=True)
        self.pending = left
        if left:
            self._timer.start(200)
