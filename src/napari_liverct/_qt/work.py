"""One way to run work from a widget: a napari thread worker, its progress, Cancel, and
exactly one notification per error.

Every dock widget of the plugin that runs something longer than a click starts it with
:meth:`WidgetWork.start` and refuses an input with :meth:`WidgetWork.refuse`:

- the work runs in napari's thread worker (:func:`napari.qt.threading.create_worker`), so
  it is listed in napari's activity dock and its warnings reach the notification manager;
- ``yielded`` moves the widget's progress bar (``(done, total, text)`` tuples unless the
  widget passes its own ``on_yield``); Run is disabled and Cancel enabled while it runs;
- :meth:`WidgetWork.cancel` asks the worker to quit (a generator stops at its next
  ``yield``);
- an error is reported once (:func:`notify_error`): a refusal of the input (a
  ``ValueError`` -- the project's bad-input errors all derive from it --, an ``OSError``,
  missing network weights) as one notification with its message and no traceback; any
  other exception (a bug) as one notification with its traceback.  napari's own worker
  would notify the error (with the traceback) *and* superqt would re-raise it in the main
  thread: a second pop-up under napari's exception hook, and without one (a widget made
  from plain Python, no ``napari.run()``) PyQt6 aborts the process on the exception
  escaping the slot;
- closing the viewer or the widget while the work runs stops it (:class:`WorkerGuard`);
  whatever the worker sends after that is dropped.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from superqt.utils import FunctionWorker, GeneratorWorker

from ._common import WorkerGuard, preload_worker_imports

__all__ = ["WidgetWork", "is_refusal", "notify_error"]


def _refusals() -> tuple[type[BaseException], ...]:
    from ..segment.weights import WeightsMissingError

    return (ValueError, OSError, WeightsMissingError)


def is_refusal(exc: BaseException) -> bool:
    """True for an error that refuses the input (shown without a traceback)."""
    return isinstance(exc, _refusals())


def notify_error(what: str, exc: BaseException) -> None:
    """One notification for ``exc``: the message for a refusal, the traceback for a bug."""
    from napari.utils.notifications import notification_manager, show_error

    if is_refusal(exc):
        show_error(f"{what}: {exc}")
    else:
        notification_manager.receive_error(type(exc), exc, exc.__traceback__)


def _relay_warning(args: tuple) -> None:
    from napari.utils.notifications import notification_manager

    notification_manager.receive_warning(*args)


class _QuietFunctionWorker(FunctionWorker):
    """napari's function worker without its own error notification (:class:`WidgetWork` reports it)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.warned.connect(_relay_warning)


class _QuietGeneratorWorker(GeneratorWorker):
    """napari's generator worker without its own error notification."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.warned.connect(_relay_warning)


def _native(widget):
    return getattr(widget, "native", widget) if widget is not None else None


def _set_enabled(button, flag: bool) -> None:
    if button is None:
        return
    if hasattr(button, "setEnabled"):
        button.setEnabled(flag)
    else:  # a magicgui widget
        button.enabled = flag


class WidgetWork:
    """The work a widget runs: one at a time per :class:`WidgetWork` (a widget may hold several
    sharing one :class:`WorkerGuard`).

    ``status(text)`` shows a line in the widget; ``progress`` is a ``QProgressBar`` (or a
    magicgui ``ProgressBar``) shown while the work runs when ``hide_progress``;
    ``run_button`` is disabled and ``cancel_button`` enabled while it runs.
    """

    def __init__(
        self,
        widget,
        what: str,
        *,
        status: Callable[[str], Any] | None = None,
        progress=None,
        run_button=None,
        cancel_button=None,
        hide_progress: bool = True,
        guard: WorkerGuard | None = None,
    ) -> None:
        self.what = what
        self.guard = guard if guard is not None else WorkerGuard(_native(widget))
        self._status = status
        self._progress = _native(progress)
        self._run, self._cancel = run_button, cancel_button
        self._hide_progress = hide_progress
        #: the running worker (None when idle)
        self.worker = None

    @property
    def closed(self) -> bool:
        """True once the widget or its window is gone: nothing is shown any more."""
        return self.guard.closed

    @property
    def running(self) -> bool:
        return self.worker is not None

    def say(self, text: str) -> None:
        if self._status is not None and not self.closed:
            try:
                self._status(text)
            except RuntimeError:  # the Qt label is already deleted
                pass

    def refuse(self, exc: BaseException | str) -> None:
        """A refused input, found before any work started: the status line and one notification."""
        if isinstance(exc, str):
            exc = ValueError(exc)
        self.say(f"⚠ {exc}")
        notify_error(self.what, exc)

    def _guarded(self, fn):
        def call(*args):
            if not self.closed:
                fn(*args)

        return call

    def start(
        self,
        fn: Callable,
        *args,
        on_yield: Callable | None = None,
        on_done: Callable | None = None,
        on_error: Callable | None = None,
        on_abort: Callable | None = None,
        on_finish: Callable | None = None,
        on_stop: Callable | None = None,
        on_abort_in_thread: Callable | None = None,
        busy: str | None = None,
        activity: str | None = None,
        progress: bool = True,
        **kwargs,
    ):
        """Run ``fn(*args, **kwargs)`` (a function or a generator function) in a thread worker.

        ``on_done(result)``, ``on_yield(value)``, ``on_error(exc)`` (after the one
        notification and the status line, which it may reword), ``on_abort()`` (after Cancel), ``on_finish()`` run in the main
        thread and never after the widget closed; ``on_stop`` is the guard's clean-up (see
        :meth:`WorkerGuard.track`); ``on_abort_in_thread`` runs in the worker's thread when it
        stops after Cancel (a survey closes its Dask client in the context that opened it).  ``busy`` is the status line while it runs, ``activity``
        the description in napari's activity dock; ``progress=False`` leaves the progress bar
        alone (a quick recompute that would only make the window repaint).  Returns the started worker.
        """
        from napari.qt.threading import create_worker

        preload_worker_imports()
        cls = _QuietGeneratorWorker if inspect.isgeneratorfunction(fn) else _QuietFunctionWorker
        worker = create_worker(
            fn,
            *args,
            _start_thread=False,
            _worker_class=cls,
            _ignore_errors=True,
            _progress={"desc": activity} if activity else None,
            **kwargs,
        )
        if on_yield is not None:
            worker.yielded.connect(self._guarded(on_yield))
        elif progress and self._progress is not None and isinstance(worker, GeneratorWorker):
            worker.yielded.connect(self._guarded(self.show_progress))
        if on_done is not None:
            worker.returned.connect(self._guarded(on_done))
        worker.errored.connect(self._guarded(lambda exc: self._failed(exc, on_error)))
        if on_abort is not None and isinstance(worker, GeneratorWorker):
            worker.aborted.connect(self._guarded(on_abort))
        if on_abort_in_thread is not None and isinstance(worker, GeneratorWorker):
            from qtpy.QtCore import Qt

            worker.aborted.connect(on_abort_in_thread, Qt.ConnectionType.DirectConnection)
        worker.finished.connect(self._guarded(lambda: self._finished(worker, on_finish)))
        self.guard.track(worker, on_stop=on_stop)
        self.worker = worker
        _set_enabled(self._run, False)
        _set_enabled(self._cancel, True)
        if progress and self._progress is not None:
            self._progress.setValue(0)
            self._progress.setVisible(True)
        if busy:
            self.say(busy)
        worker.start()
        return worker

    def show_progress(self, info) -> None:
        """Default ``on_yield``: ``(done, total, text)`` on the progress bar."""
        done, total, text = info
        bar = self._progress
        bar.setMaximum(int(total))
        bar.setValue(int(done))
        bar.setFormat(f"{text} (%v/%m)")

    def cancel(self) -> bool:
        """Ask the running worker to stop (at its next ``yield``); False when nothing runs."""
        if self.worker is None:
            return False
        _set_enabled(self._cancel, False)
        self.worker.quit()
        return True

    def report(self, exc: BaseException) -> None:
        """The work failed with ``exc``: the status line and one notification."""
        self.say(f"⚠ {self.what} failed: {exc}")
        notify_error(self.what, exc)

    def _failed(self, exc: BaseException, on_error) -> None:
        self.report(exc)
        if on_error is not None:  # may say more in the status line
            on_error(exc)

    def _finished(self, worker, on_finish) -> None:
        if worker is not self.worker:  # a later start replaced it
            return
        self.worker = None
        _set_enabled(self._run, True)
        _set_enabled(self._cancel, False)
        if self._progress is not None and self._hide_progress:
            self._progress.setVisible(False)
        if on_finish is not None:
            on_finish()
