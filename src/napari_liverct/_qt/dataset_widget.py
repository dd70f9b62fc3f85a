"""Dataset browser and survey widget (MSD / nnU-Net / plain folders).

Tab "Cases": pick a folder or dataset.json, filter, open a case (image + labels,
replacing the previous case's layers), previous/next.  What the user set stays from
case to case: the image's colormap and gamma, each layer's visibility and opacity, and
the window when the user set it (a preset of the window widget, the contrast slider);
a window the plugin chose is chosen again for each case (a chest CT after an
abdominal one opens in its own window).  The cases around the open one (``radius``
before and after) are read ahead in the background into a bounded cache
(:class:`napari_liverct.io.prefetch.CaseCache`), so Next shows its case at once.
Tab "Survey" (:mod:`._survey_tab`): the survey, its table and plots, exports, report.
All logic lives in :mod:`napari_liverct.datasets.folder` and :mod:`napari_liverct.survey`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .._napari.case_layers import replace_case_layers
from ..datasets.datalist import decathlon_datalist
from ..datasets.folder import Case, Dataset, load_dataset
from ..io.prefetch import CaseCache
from ._survey_tab import SurveyTab
from .work import WidgetWork, notify_error

if TYPE_CHECKING:
    import napari

__all__ = ["DatasetWidget"]

#: Default read-ahead radius (cases before and after the open one).
PREFETCH_RADIUS = 1
#: Delay between showing a case and reading its neighbours (ms).
PREFETCH_DELAY_MS = 150


class DatasetWidget(SurveyTab, QWidget):
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
        self.cache = CaseCache(_read_case, radius=PREFETCH_RADIUS)
        #: swap the next case's data into the shown layers (False: remove and add layers)
        self.swap_in_place = True

        tabs = QTabWidget()
        tabs.addTab(self._build_cases_tab(), "Cases")
        tabs.addTab(self._build_survey_tab(), "Survey")
        self.tabs = tabs
        lay = QVBoxLayout(self)
        lay.addWidget(tabs)
        # a survey's Dask cluster lives inside its worker's generator: stop it with the window
        self.opening = WidgetWork(self, "Dataset browser", status=self.status.setText)
        self.workers = self.opening.guard
        self.surveying = WidgetWork(self, "Survey", status=self.summary_label.setText, guard=self.workers)
        self.reporting = WidgetWork(
            self, "Report", status=self.summary_label.setText, run_button=self.report_btn, guard=self.workers
        )
        from ._common import fit_dock_title

        fit_dock_title(self, "Dataset browser")
        self.destroyed.connect(self.cache.close)
        from qtpy.QtCore import QTimer

        self._prefetch_timer = QTimer(self)
        self._prefetch_timer.setSingleShot(True)
        self._prefetch_timer.timeout.connect(lambda: self._prefetch_around(self.current) if self.current else None)

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
        row = QHBoxLayout()
        row.addWidget(QLabel("read ahead (cases each side)"))
        self.radius_spin = QSpinBox()
        self.radius_spin.setRange(0, 5)
        self.radius_spin.setValue(self.cache.radius)
        self.radius_spin.setToolTip("cases before and after the open one read in the background (0: off)")
        self.radius_spin.valueChanged.connect(self._set_radius)
        row.addWidget(self.radius_spin)
        row.addStretch(1)
        lay.addLayout(row)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
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
        except (ValueError, OSError) as exc:
            self.info.setText(f"<b>Cannot open dataset</b>: {exc}")
            notify_error("Dataset browser", exc)
            return None
        self.dataset, self.source = ds, Path(path)
        self.cache.clear()
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

    def _set_radius(self, radius: int) -> None:
        self.cache.radius = int(radius)
        if radius <= 0:
            self.cache.clear()
        elif self.current is not None:
            self._prefetch_around(self.current)

    def _prefetch_around(self, case: Case) -> None:
        cases = self.visible_cases()
        if case in cases and not self.workers.closed:
            self.cache.prefetch(cases, cases.index(case))

    def open_case(self, case: Case, background: bool = True):
        """Show a case's image and labels in place of the previous case's layers.

        A case read ahead is shown at once (None is returned).  Otherwise, with
        ``background`` the files are read in a ``thread_worker`` (returned); without,
        synchronously.  Then the cases around it are read ahead.
        """
        cached = self.cache.get(case) if self.cache.radius > 0 else None
        if cached is not None or not background:
            self._pending = None
            self._open_worker = None
            self._show_case(case, cached if cached is not None else self.cache.load(case))
            return None
        box: list = []  # the worker, known once started

        def done(layer_data):
            if box and box[0] is self._open_worker:  # a later click wins over a slower earlier read
                self._pending = None
                self._show_case(case, layer_data)

        def failed(exc):
            if box and box[0] is self._open_worker:
                self._pending = None
                self.status.setText(f"<b>Cannot open {case.id}</b>: {exc}")

        self._pending = case
        worker = self.opening.start(
            self.cache.load, case, on_done=done, on_error=failed, busy=f"opening {case.id}…", activity="Open case"
        )
        box.append(worker)
        self._open_worker = worker
        return worker

    def _show_case(self, case: Case, layer_data: list[tuple]) -> None:
        for w in self.cache.warnings_of(case):  # raised while reading, shown here in the main thread
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        before = _world_extent([lyr for lyr in self._case_layers if lyr in self.viewer.layers])
        new = replace_case_layers(self.viewer, self._case_layers, layer_data, case.id, self.swap_in_place)
        self._case_layers = new
        self.current = case
        after = _world_extent(new)
        # a case with another field of view would show partly off the canvas, on a slice
        # clamped to its first or last: frame it and go to its middle slice
        if (
            before is None
            or after is None
            or before.shape != after.shape
            or np.any(np.abs(after - before) > 0.1 * np.maximum(before[1] - before[0], 1e-6))
        ):
            self.viewer.reset_view()
            if after is not None:
                self._middle_slice(after)
        cases = self.visible_cases()
        if case in cases:
            self.case_list.setCurrentRow(cases.index(case))
        rel = lambda p: f"{p.parent.name}/{p.name}"  # noqa: E731
        self.status.setText(f"{case.id}: {rel(case.image)}" + (f" + {rel(case.label)}" if case.label else ""))
        # read ahead once the new case is painted: a read started now would hold the
        # GIL while napari slices and draws it (the timer dies with the widget)
        self._prefetch_timer.start(PREFETCH_DELAY_MS)

    def _middle_slice(self, extent: np.ndarray) -> None:
        point = list(self.viewer.dims.point)
        offset = len(point) - extent.shape[1]
        for axis in self.viewer.dims.not_displayed:
            if axis >= offset:
                point[axis] = float((extent[0, axis - offset] + extent[1, axis - offset]) / 2)
        self.viewer.dims.point = point

    def _open_from_table(self, row: int, _col: int) -> None:
        if self.report is None or self.dataset is None:
            return
        cid = self.table.item(row, 0).text()
        for c in self.dataset.cases:
            if c.id == cid:
                self.open_case(c)
                return


def _world_extent(layers) -> np.ndarray | None:
    """World (min, max) corners of the union of ``layers``, or None without layers."""
    boxes = [np.asarray(lyr.extent.world, float) for lyr in layers]
    if not boxes or len({b.shape for b in boxes}) != 1:
        return None
    return np.stack([np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)])


def _read_case(case: Case) -> list[tuple]:
    """LayerData of a case's image and labels (run in a worker thread)."""
    from ..io.reader import read_nifti_layers

    layers = read_nifti_layers(case.image, kind="image", pair=False)
    if case.label is not None:
        layers += read_nifti_layers(case.label, kind="labels", pair=False)
    return layers
