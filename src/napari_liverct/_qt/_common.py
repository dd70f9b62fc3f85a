"""Qt-side helpers shared by the widgets: worker lifetime, dock layout, worker imports."""

from __future__ import annotations

from magicgui.widgets import Container


# ---------------------------------------------------------------- worker lifetime
class WorkerGuard:
    """Stops a widget's napari thread workers when the widget or its window goes away.

    A ``thread_worker`` still running when Qt tears the window down emits into
    deleted widgets, and a worker (or a Dask cluster inside a survey generator)
    alive at interpreter exit can crash it ("Segmentation fault" at exit).  The
    guard asks every tracked worker to quit (generator workers stop at their next
    ``yield``; a survey's ``with dask_client()`` block then closes its cluster)
    and waits for them, when

    * the top-level window holding the widget is closed (event filter on
      ``widget.window()``, installed when the widget is first shown/docked),
    * the widget is destroyed,
    * the application is about to quit.
    """

    def __init__(self, widget, timeout_ms: int = 15000) -> None:
        import weakref

        from qtpy.QtCore import QObject
        from qtpy.QtWidgets import QApplication

        self._workers: list = []
        self._closers: dict = {}
        #: True once the window closed / the widget was destroyed: late results are dropped.
        self.closed = False
        self._timeout_ms = int(timeout_ms)
        # weak references only: the guard must not keep the widget or the viewer's
        # window alive (napari's tests check that no QtViewer leaks)
        self._widget = weakref.ref(widget)
        self._window = lambda: None
        guard_ref = weakref.ref(self)

        class _Filter(QObject):
            def eventFilter(self, obj, event):  # noqa: N802 - Qt API
                from qtpy.QtCore import QEvent

                guard = guard_ref()
                if guard is None:
                    return False
                kind = event.type()
                if kind == QEvent.Type.Close and obj is guard._window():
                    guard.stop_all()
                elif kind in (QEvent.Type.Show, QEvent.Type.ParentChange) and obj is guard._widget():
                    guard.attach_window()
                return False

        self._filter = _Filter()
        widget.installEventFilter(self._filter)
        widget.destroyed.connect(self.stop_all)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop_all)
            widget.destroyed.connect(lambda *_: _safe_disconnect(app.aboutToQuit, self.stop_all))

    def attach_window(self) -> None:
        """Watch the widget's current top-level window for its Close event."""
        import weakref

        widget = self._widget()
        try:
            win = widget.window() if widget is not None else None
        except RuntimeError:  # already deleted
            return
        if win is None or win is widget or win is self._window():
            return
        old = self._window()
        if old is not None:
            try:
                old.removeEventFilter(self._filter)
            except RuntimeError:
                pass
        self._window = weakref.ref(win)
        win.installEventFilter(self._filter)

    def track(self, worker, on_stop=None):
        """Remember ``worker`` until it finishes; returns it.

        ``on_stop`` (optional, idempotent) runs in the main thread once the worker
        has stopped, also after a cancel: superqt's generator workers leave an
        aborted generator suspended, so whatever it holds open (a survey's Dask
        cluster in a ``with`` block) stays open until ``on_stop`` closes it.
        """
        self._workers.append(worker)
        if on_stop is not None:
            self._closers[id(worker)] = on_stop

        def forget(*_args, wk=worker):
            if wk in self._workers:
                self._workers.remove(wk)
            closer = self._closers.pop(id(wk), None)
            if closer is not None:
                _call_quietly(closer)

        worker.finished.connect(forget)
        return worker

    def stop_all(self, *_args) -> int:
        """Ask every tracked worker to quit and wait for it; returns how many were alive."""
        import time

        from qtpy.QtCore import QThreadPool

        self.closed = True
        alive = [w for w in self._workers if not _started_and_done(w)]
        for w in self._workers:
            # results must not reach a widget that is being torn down
            for name in ("returned", "yielded", "errored"):
                try:
                    getattr(w, name).disconnect()
                except (TypeError, RuntimeError, AttributeError):  # nothing connected / gone
                    pass
        for w in alive:
            try:
                w.quit()
            except RuntimeError:  # its Qt object is already gone
                pass
        if alive:
            deadline = time.monotonic() + self._timeout_ms / 1000.0
            pool = QThreadPool.globalInstance()
            while any(getattr(w, "is_running", False) for w in alive) and time.monotonic() < deadline:
                pool.waitForDone(50)
        for closer in list(self._closers.values()):
            _call_quietly(closer)
        self._closers.clear()
        self._workers.clear()
        return len(alive)


def _call_quietly(fn) -> None:
    import warnings

    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - shutting down: report, never raise
        warnings.warn(f"napari-liverct: cleaning up a worker failed: {exc}", RuntimeWarning, stacklevel=2)


def _started_and_done(worker) -> bool:
    """True for a worker that ran and finished (or was never started)."""
    try:
        return not getattr(worker, "is_running", False)
    except RuntimeError:
        return True


def _safe_disconnect(signal, slot) -> None:
    try:
        signal.disconnect(slot)
    except (RuntimeError, TypeError):
        pass


# ---------------------------------------------------------------- layout
#: Room the dock's title bar needs beside its text (close / float / hide buttons, margins).
_DOCK_TITLE_CHROME_PX = 110


def fit_dock_title(widget, display_name: str, plugin: str = "napari-liverct") -> int:
    """Give ``widget`` the minimum width at which napari's dock title is not cut.

    napari titles a plugin dock "<display name> (<plugin>)"; at its default width
    the title read "CT window and layer type (na".  Returns the width set.
    """
    fm = widget.fontMetrics()
    need = fm.horizontalAdvance(f"{display_name} ({plugin})") + _DOCK_TITLE_CHROME_PX
    widget.setMinimumWidth(max(widget.minimumWidth(), need))
    return need


def preload_worker_imports() -> None:
    """Import in the main thread what the widgets' worker threads import lazily.

    Two workers importing ``scipy.spatial`` at the same time (statistics and the
    3D surfaces, both started at once) failed with "cannot import name
    'euclidean' from partially initialized module 'scipy.spatial.distance'".
    """
    import importlib

    for name in ("scipy.ndimage", "scipy.spatial", "scipy.spatial.distance", "skimage.measure", "trimesh"):
        try:
            importlib.import_module(name)
        except ImportError:  # optional extras; the worker reports a clear error
            pass


class ScrollableContainer(Container):
    """A magicgui container that scrolls when docked (pass ``scrollable=True``).

    napari docks ``.native``, and magicgui's ``scrollable=True`` alone would leave the
    form unscrolled in the dock, so ``.native`` is the scroll area around the form.
    """

    @property
    def native(self):
        return self.root_native_widget


def export_text(widget, viewer, path, title: str, name: str, filters: str, make_text) -> str | None:
    """A widget's export: ask for a file (unless ``path`` is given), refuse the viewer's own
    inputs (``guard_export``) and write ``make_text()`` there as a unit.  Returns the path
    written, or None when the user cancelled the dialog."""
    if path is None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(widget, title, name, filters)
        if not path:
            return None
    from .._napari.layer_utils import guard_export
    from ..outputs.units import atomic_write_text

    guard_export(path, viewer)
    atomic_write_text(path, make_text(), newline="")  # a unit: never a half-written export
    return str(path)
