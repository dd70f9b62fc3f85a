"""The Survey tab of the Dataset browser: run the survey, show table and plots, export.

:class:`SurveyTab` is a mixin of :class:`napari_liverct._qt.dataset_widget.DatasetWidget`
(it uses the widget's ``dataset``, its ``surveying`` and ``reporting`` work (:class:`WidgetWork`) and
``_open_from_table``): it runs
:func:`napari_liverct.survey.iter_survey` in a napari thread worker (local worker
processes or a Dask scheduler address) and writes the HTML report.
"""

from __future__ import annotations

import os
from pathlib import Path

from qtpy.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from ._survey_view import TABLE_COLUMNS, fill_table, fmt, plot_survey

__all__ = ["SurveyTab"]


class SurveyTab:
    """Survey tab methods of the Dataset browser (a mixin over a QWidget)."""

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

    # ----------------------------------------------------------------- survey
    def _run_or_cancel(self) -> None:
        if self.surveying.cancel():
            self.summary_label.setText("cancelling…")
            return
        self.run_survey()

    def run_survey(self, scheduler: str | None = None, workers: int | None = None, client=None):
        """Start the survey of the loaded dataset in a thread worker (returned)."""
        if self.dataset is None or not self.dataset.cases:
            self.surveying.refuse("open a dataset first")
            return None
        scheduler = scheduler if scheduler is not None else (self.scheduler_edit.text().strip() or None)
        workers = workers or self.workers_spin.value()
        cases = list(self.dataset.cases)
        self.progress.setRange(0, len(cases))
        self.progress.setValue(0)
        # the generator is ours, so that a cancelled or interrupted survey can be
        # closed (its `with dask_client()` then shuts the local cluster down)
        gen = _survey_gen(self.dataset, scheduler, workers, client)

        def run():
            return (yield from gen)

        where = scheduler or f"{min(workers, len(cases))} local worker processes"
        self.run_btn.setText("Cancel")
        # superqt stops an aborted generator without closing it: close it right
        # there, in the worker's thread (Dask's client must exit in the context it
        # entered), so the local cluster shuts down at cancel / viewer close
        self._worker = self.surveying.start(
            run,
            on_yield=self._on_progress,
            on_done=self.set_report,
            on_finish=self._on_finished,
            on_stop=gen.close,
            on_abort_in_thread=gen.close,
            busy=f"surveying {len(cases)} cases on {where}…",
            activity="Survey",
        )
        return self._worker

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
        from ..outputs.guard import guard_output
        from ..outputs.units import atomic_write_text

        path = Path(path)
        guard_output(path, self.dataset.input_paths() if self.dataset is not None else [])
        atomic_write_text(
            path, report_to_csv(self.report) if path.suffix.lower() == ".csv" else report_to_json(self.report)
        )
        return path

    def _pick_report_dir(self) -> None:
        out = QFileDialog.getExistingDirectory(self, "Write the HTML QC report into")
        if out:
            self.write_report(out)

    def write_report(self, out_dir: str | os.PathLike, scheduler: str | None = None, workers: int | None = None):
        """Write the HTML QC report of the loaded dataset into ``out_dir`` in a ``thread_worker``
        (the same :func:`napari_liverct.report.build_report` as ``napari-liverct report``)."""
        from ..report import build_report

        if self.dataset is None or not self.dataset.cases:
            self.reporting.refuse("open a dataset first")
            return None
        scheduler = scheduler if scheduler is not None else (self.scheduler_edit.text().strip() or None)
        workers = workers or self.workers_spin.value()
        root = self.dataset.json_path or self.dataset.root
        out_dir = Path(out_dir)

        def done(_result):
            self.summary_label.setText(f"report written: {out_dir / 'index.html'}")

        return self.reporting.start(
            build_report,
            root,
            out_dir,
            workers=workers,
            scheduler=scheduler,
            progress=False,
            on_done=done,
            busy=f"writing the report of {len(self.dataset.cases)} cases into {out_dir}…",
            activity="Write report",
        )

    def _pick_export(self, fmt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export survey as {fmt.upper()}", f"survey.{fmt}", filter=f"{fmt.upper()} (*.{fmt})"
        )
        if path:
            self.summary_label.setText(f"written {self.export_report(path)}")


def _survey_gen(dataset, scheduler, workers, client):
    """Generator for the survey thread_worker: yields progress, returns the report (the
    CLI's: :func:`napari_liverct.survey.dataset_report`)."""
    from ..survey import dataset_report, iter_survey

    cases = list(dataset.cases)
    rows: list = [None] * len(cases)
    samples: list = [None] * len(cases)
    it = iter_survey(cases, workers=workers, scheduler=scheduler, client=client)
    try:
        for done, (i, row, smp) in enumerate(it, 1):
            rows[i], samples[i] = row, smp
            yield done, len(cases), row.id
    finally:
        it.close()  # closes the Dask cluster of an unfinished survey now, not at garbage collection
    return dataset_report(dataset, rows, samples)
