"""Dataset browser and survey widget (MSD / nnU-Net / plain folders).

Tab "Cases": pick a folder or dataset.json, filter, open a case (image + labels,
replacing the previous case's layers but keeping the image's window, colormap and
each layer's visibility/opacity), previous/next.  Tab "Survey": run
:func:`napari_liverct.survey.iter_survey` in a napari ``thread_worker`` (local worker
processes or a Dask scheduler address), show a table and plots, export CSV/JSON.
All logic lives in :mod:`napari_liverct.dataset` and :mod:`napari_liverct.survey`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from qtpy.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .._napari.compat import layer_kind
from ..dataset import Case, Dataset, decathlon_datalist, load_dataset
from ._common import WorkerGuard
from ._survey_view import TABLE_COLUMNS, fill_table, fmt, plot_survey

if TYPE_CHECKING:
    import napari

__all__ = ["DatasetWidget"]

_IMAGE_KEEP = ("contrast_limits", "colormap", "gamma", "visible", "opacity", "blending")
_LABELS_KEEP = ("visible", "opacity", "blending")


class DatasetWidget(QWidget):
    """Browse the cases of a dataset and survey it (see the module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = viewer
        self.dataset: Dataset | None = None
        self.source: Path | None = None
        self.current: Case | None = None
        self.report: dict | None = None
        self._case_layers: list = []
        self._worker = None
        self._open_worker = None
        self._pending: Case | None = None

        tabs = QTabWidget()
        tabs.addTab(self._build_cases_tab(), "Cases")
        tabs.addTab(self._build_survey_tab(), "Survey")
        self.tabs = tabs
        lay = QVBoxLayout(self)
        lay.addWidget(tabs)
        # a survey's Dask cluster lives inside its worker's generator: stop it with the window
        self.workers = WorkerGuard(self)
        from ._common import fit_dock_title

        fit_dock_title(self, "Dataset browser")

    # ----------------------------------------------------------------- layout
    def _build_cases_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        row = QHBoxLayout()
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("dataset folder or dataset.json")
        self.path_edit.returnPressed.connect(lambda: self.load(self.path_edit.text()))
        folder_btn = QPushButton("Folder…")
        folder_btn.clicked.connect(lambda _checked=False: self._pick_folder())
        json_btn = QPushButton("json…")
        json_btn.clicked.connect(lambda _checked=False: self._pick_json())
        row.addWidget(self.path_edit)
        row.addWidget(folder_btn)
        row.addWidget(json_btn)
        lay.addLayout(row)
        self.info = QLabel("no dataset")
        self.info.setWordWrap(True)
        lay.addWidget(self.info)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("filter (case id or split)")
        self.filter_edit.textChanged.connect(self._refresh_list)
        lay.addWidget(self.filter_edit)
        self.case_list = QListWidget()
        self.case_list.itemDoubleClicked.connect(lambda _item: self.open_selected())
        lay.addWidget(self.case_list)
        nav = QHBoxLayout()
        self.prev_btn = QPushButton("◀ Previous")
        self.open_btn = QPushButton("Open")
        self.next_btn = QPushButton("Next ▶")
        # clicked(bool) would pass `checked` into the slot: drop it explicitly
        self.prev_btn.clicked.connect(lambda _checked=False: self.previous_case())
        self.open_btn.clicked.connect(lambda _checked=False: self.open_selected())
        self.next_btn.clicked.connect(lambda _checked=False: self.next_case())
        for b in (self.prev_btn, self.open_btn, self.next_btn):
            nav.addWidget(b)
        lay.addLayout(nav)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        return w

    def _build_survey_tab(self) -> QWidget:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        w = QWidget()
        lay = QVBoxLayout(w)
        form = QFormLayout()
        self.scheduler_edit = QLineEdit()
        self.scheduler_edit.setPlaceholderText("tcp://host:8786 (empty: local worker processes)")
        form.addRow("Dask scheduler", self.scheduler_edit)
        self.workers_spin = QSpinBox()
        self.workers_spin.setRange(1, max(64, os.cpu_count() or 1))
        self.workers_spin.setValue(os.cpu_count() or 1)
        form.addRow("local workers", self.workers_spin)
        lay.addLayout(form)
        row = QHBoxLayout()
        self.run_btn = QPushButton("Run survey")
        self.run_btn.clicked.connect(lambda _checked=False: self._run_or_cancel())
        self.progress = QProgressBar()
        row.addWidget(self.run_btn)
        row.addWidget(self.progress)
        lay.addLayout(row)
        self.summary_label = QLabel("")
        lay.addWidget(self.summary_label)
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(TABLE_COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.cellDoubleClicked.connect(lambda row, col: self._open_from_table(row, col))
        lay.addWidget(self.table, stretch=2)
        self.figure = Figure(figsize=(5, 2.4), dpi=90, layout="constrained")  # re-laid out at every size
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(160)
        lay.addWidget(self.canvas, stretch=2)
        row = QHBoxLayout()
        self.csv_btn = QPushButton("Export CSV…")
        self.json_btn = QPushButton("Export JSON…")
        self.csv_btn.clicked.connect(lambda _checked=False: self._pick_export("csv"))
        self.json_btn.clicked.connect(lambda _checked=False: self._pick_export("json"))
        for b in (self.csv_btn, self.json_btn):
            b.setEnabled(False)
            row.addWidget(b)
        self.report_btn = QPushButton("Write report…")
        self.report_btn.setToolTip("write the HTML QC report of this dataset (napari-liverct report) into a folder")
        self.report_btn.clicked.connect(lambda _checked=False: self._pick_report_dir())
        row.addWidget(self.report_btn)
        lay.addLayout(row)
        return w

    # ---------------------------------------------------------------- dataset
    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Dataset folder")
        if path:
            self.load(path)

    def _pick_json(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "dataset.json", filter="JSON (*.json)")
        if path:
            self.load(path)

    def load(self, path: str | os.PathLike) -> Dataset | None:
        """List the cases of a folder or dataset.json; errors are shown, not raised."""
        try:
            ds = load_dataset(path)
        except ValueError as exc:
            self.info.setText(f"<b>Cannot open dataset</b>: {exc}")
            return None
        self.dataset, self.source = ds, Path(path)
        self.path_edit.setText(str(path))
        splits = {s: sum(c.split == s for c in ds.cases) for s in ("training", "test", "unlabelled")}
        parts = ", ".join(f"{n} {s}" for s, n in splits.items() if n)
        self.info.setText(f"{ds.name} ({ds.layout}): {len(ds.cases)} cases ({parts or 'none'})")
        self._refresh_list()
        return ds

    def visible_cases(self) -> list[Case]:
        """The cases matching the filter text (case-insensitive, on id and split)."""
        if self.dataset is None:
            return []
        text = self.filter_edit.text().strip().lower()
        return [c for c in self.dataset.cases if text in c.id.lower() or text == c.split]

    def _refresh_list(self) -> None:
        self.case_list.clear()
        cases = self.visible_cases()
        for c in cases:
            self.case_list.addItem(f"{c.id}  [{c.split}{'' if c.label else ', no labels'}]")
        if self.current in cases:
            self.case_list.setCurrentRow(cases.index(self.current))

    def data_dicts(self, split: str = "training") -> list[dict]:
        """MONAI data dicts of the loaded dataset (``monai.data.load_decathlon_datalist`` form)."""
        if self.source is None:
            return []
        return decathlon_datalist(self.source, split)

    # ------------------------------------------------------------ open cases
    def open_selected(self) -> None:
        """Open the case selected in the list."""
        row = self.case_list.currentRow()
        cases = self.visible_cases()
        if 0 <= row < len(cases):
            self.open_case(cases[row])

    def _step(self, delta: int) -> None:
        cases = self.visible_cases()
        if not cases:
            return
        here = self._pending or self.current  # a case still loading counts as the current one
        i = cases.index(here) + delta if here in cases else (0 if delta > 0 else len(cases) - 1)
        if 0 <= i < len(cases):
            self.case_list.setCurrentRow(i)
            self.open_case(cases[i])

    def next_case(self) -> None:
        """Open the next case of the (filtered) list."""
        self._step(+1)

    def previous_case(self) -> None:
        """Open the previous case of the (filtered) list."""
        self._step(-1)

    def open_case(self, case: Case, background: bool = True):
        """Read a case's image and labels, then replace the previous case's layers.

        With ``background`` the files are read in a ``thread_worker`` (returned);
        otherwise synchronously.
        """
        self.status.setText(f"opening {case.id}…")
        if not background:
            self._pending = None
            self._open_worker = None
            self._show_case(case, _read_case(case))
            return None
        from napari.qt.threading import create_worker

        worker = create_worker(_read_case, case, _ignore_errors=True)
        self._pending, self._open_worker = case, worker
        self.workers.track(worker)

        def done(layer_data, wk=worker):
            if wk is self._open_worker:  # a later click wins over a slower earlier read
                self._pending = None
                self._show_case(case, layer_data)

        def failed(exc, wk=worker):
            if wk is self._open_worker:
                self._pending = None
                self.status.setText(f"<b>Cannot open {case.id}</b>: {exc}")

        worker.returned.connect(done)
        worker.errored.connect(failed)
        worker.start()
        return worker

    def _show_case(self, case: Case, layer_data: list[tuple]) -> None:
        old = [lyr for lyr in self._case_layers if lyr in self.viewer.layers]
        state = {}
        for lyr in old:
            kind = layer_kind(lyr)
            keep = _IMAGE_KEEP if kind == "image" else _LABELS_KEEP
            st = {k: getattr(lyr, k) for k in keep}
            if "colormap" in st:
                st["colormap"] = st["colormap"].name
            state.setdefault(kind, st)
        index = min((self.viewer.layers.index(lyr) for lyr in old), default=len(self.viewer.layers))
        for lyr in old:
            self.viewer.layers.remove(lyr)
        new = []
        for data, kwargs, kind in layer_data:
            kwargs = dict(kwargs)
            kwargs["name"] = case.id if kind == "image" else f"{case.id}_label"
            if kind in state:
                kwargs.update(state[kind])
            layer = getattr(self.viewer, f"add_{kind}")(data, **kwargs)
            self.viewer.layers.move(self.viewer.layers.index(layer), min(index, len(self.viewer.layers) - 1))
            index += 1
            new.append(layer)
        self._case_layers = new
        self.current = case
        if not old:
            self.viewer.reset_view()
        cases = self.visible_cases()
        if case in cases:
            self.case_list.setCurrentRow(cases.index(case))
        rel = lambda p: f"{p.parent.name}/{p.name}"  # noqa: E731
        self.status.setText(f"{case.id}: {rel(case.image)}" + (f" + {rel(case.label)}" if case.label else ""))

    def _open_from_table(self, row: int, _col: int) -> None:
        if self.report is None or self.dataset is None:
            return
        cid = self.table.item(row, 0).text()
        for c in self.dataset.cases:
            if c.id == cid:
                self.open_case(c)
                return

    # ----------------------------------------------------------------- survey
    def _run_or_cancel(self) -> None:
        if self._worker is not None:
            self._worker.quit()
            self.summary_label.setText("cancelling…")
            return
        self.run_survey()

    def run_survey(self, scheduler: str | None = None, workers: int | None = None, client=None):
        """Start the survey of the loaded dataset in a ``thread_worker`` (returned)."""
        from napari.qt.threading import create_worker

        if self.dataset is None or not self.dataset.cases:
            self.summary_label.setText("open a dataset first")
            return None
        scheduler = scheduler if scheduler is not None else (self.scheduler_edit.text().strip() or None)
        workers = workers or self.workers_spin.value()
        cases, names = list(self.dataset.cases), self.dataset.label_names
        self.progress.setRange(0, len(cases))
        self.progress.setValue(0)
        # the generator is ours, so that a cancelled or interrupted survey can be
        # closed (its `with dask_client()` then shuts the local cluster down)
        gen = _survey_gen(cases, names, scheduler, workers, client)

        def run():
            return (yield from gen)

        worker = create_worker(run, _ignore_errors=True)
        # superqt stops an aborted generator without closing it: close it right
        # there, in the worker's thread (Dask's client must exit in the context it
        # entered), so the local cluster shuts down at cancel / viewer close
        from qtpy.QtCore import Qt

        worker.aborted.connect(gen.close, Qt.ConnectionType.DirectConnection)
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(self.set_report)
        worker.errored.connect(lambda exc: self.summary_label.setText(f"<b>Survey failed</b>: {exc}"))
        worker.finished.connect(self._on_finished)
        self._worker = self.workers.track(worker, on_stop=gen.close)
        self.run_btn.setText("Cancel")
        where = scheduler or f"{min(workers, len(cases))} local worker processes"
        self.summary_label.setText(f"surveying {len(cases)} cases on {where}…")
        worker.start()
        return worker

    def _on_progress(self, msg: tuple) -> None:
        done, total, cid = msg
        self.progress.setValue(done)
        self.progress.setFormat(f"%v/%m  {cid}")

    def _on_finished(self) -> None:
        self._worker = None
        if self.summary_label.text() == "cancelling…":
            self.summary_label.setText("survey cancelled")
        self.run_btn.setText("Run survey")

    def set_report(self, report: dict) -> None:
        """Show a survey report: summary line, table, plots; enable export."""
        self.report = report
        s = report["summary"]
        sp = s.get("spacing") or {}
        orients = ", ".join(f"{k} {n}" for k, n in (s.get("orientations") or {}).items())
        self.summary_label.setText(
            f"{s['n_cases']} cases, {s['n_failed']} failed, {len(report['anomalies'])} anomalies\n"
            f"median spacing {fmt(sp.get('median'))} mm; orientations: {orients}"
        )
        fill_table(self.table, report)
        plot_survey(self.figure, report)
        self.canvas.draw_idle()
        for b in (self.csv_btn, self.json_btn):
            b.setEnabled(True)

    def export_report(self, path: str | os.PathLike) -> Path:
        """Write the last report to ``path`` (CSV for ``.csv``, otherwise JSON)."""
        from ..survey.summary import report_to_csv, report_to_json

        if self.report is None:
            raise ValueError("no survey to export: run the survey first")
        path = Path(path)
        path.write_text(report_to_csv(self.report) if path.suffix.lower() == ".csv" else report_to_json(self.report))
        return path

    def _pick_report_dir(self) -> None:
        out = QFileDialog.getExistingDirectory(self, "Write the HTML QC report into")
        if out:
            self.write_report(out)

    def write_report(self, out_dir: str | os.PathLike, scheduler: str | None = None, workers: int | None = None):
        """Write the HTML QC report of the loaded dataset into ``out_dir`` in a ``thread_worker``
        (the same :func:`napari_liverct.report.build_report` as ``napari-liverct report``)."""
        from napari.qt.threading import create_worker

        from ..report import build_report

        if self.dataset is None or not self.dataset.cases:
            self.summary_label.setText("open a dataset first")
            return None
        scheduler = scheduler if scheduler is not None else (self.scheduler_edit.text().strip() or None)
        workers = workers or self.workers_spin.value()
        root = self.dataset.json_path or self.dataset.root
        out_dir = Path(out_dir)
        self.report_btn.setEnabled(False)
        self.summary_label.setText(f"writing the report of {len(self.dataset.cases)} cases into {out_dir}…")

        def done(_result):
            self.report_btn.setEnabled(True)
            self.summary_label.setText(f"report written: {out_dir / 'index.html'}")

        def failed(exc):
            self.report_btn.setEnabled(True)
            self.summary_label.setText(f"<b>Report failed</b>: {exc}")

        worker = create_worker(
            build_report, root, out_dir, workers=workers, scheduler=scheduler, progress=False, _ignore_errors=True
        )
        worker.returned.connect(done)
        worker.errored.connect(failed)
        self.workers.track(worker)
        worker.start()
        return worker

    def _pick_export(self, fmt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export survey as {fmt.upper()}", f"survey.{fmt}", filter=f"{fmt.upper()} (*.{fmt})"
        )
        if path:
            self.summary_label.setText(f"written {self.export_report(path)}")


def _read_case(case: Case) -> list[tuple]:
    """LayerData of a case's image and labels (run in a worker thread)."""
    from ..io.reader import read_nifti_layers

    layers = read_nifti_layers(case.image, kind="image", pair=False)
    if case.label is not None:
        layers += read_nifti_layers(case.label, kind="labels", pair=False)
    return layers


def _survey_gen(cases, label_names, scheduler, workers, client):
    """Generator for the survey thread_worker: yields progress, returns the report."""
    from ..survey import iter_survey
    from ..survey.summary import build_report

    rows: list = [None] * len(cases)
    samples: list = [None] * len(cases)
    it = iter_survey(cases, workers=workers, scheduler=scheduler, client=client)
    try:
        for done, (i, row, smp) in enumerate(it, 1):
            rows[i], samples[i] = row, smp
            yield done, len(cases), row.get("id")
    finally:
        it.close()  # closes the Dask cluster of an unfinished survey now, not at garbage collection
    return build_report(rows, samples, label_names)
