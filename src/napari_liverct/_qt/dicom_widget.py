"""DICOM series: choose the series of a folder to open, and save a labels layer as a DICOM-SEG.

The series dialog of the issue, docked: a folder (typed or browsed), its image series
largest first (:func:`napari_liverct.volumes.dicom.list_series`; the one a plain drag and
drop opens is marked), "Open series" for the selected one.  Below, "Save as DICOM SEG"
writes the chosen labels layer on the DICOM series its image came from
(:func:`napari_liverct._napari.dicom_seg.save_layer_as_seg`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    import napari

__all__ = ["DicomWidget"]


class DicomWidget(QWidget):
    """Series chooser and DICOM-SEG saver (see the module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = viewer
        self._series: list = []
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder of DICOM files")
        self.browse_btn = QPushButton("Browse…")
        self.list_btn = QPushButton("List series")
        self.series_list = QListWidget()
        self.open_btn = QPushButton("Open series")
        self.open_btn.setEnabled(False)
        self.labels_combo = QComboBox()
        self.out = QLineEdit()
        self.out.setPlaceholderText("segmentation.dcm")
        self.out_btn = QPushButton("…")
        self.save_btn = QPushButton("Save as DICOM SEG")
        self.status = QLabel("")
        self.status.setWordWrap(True)

        lay = QVBoxLayout(self)
        box = QGroupBox("Open a DICOM series")
        b = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(self.browse_btn)
        b.addLayout(row)
        b.addWidget(self.list_btn)
        b.addWidget(self.series_list)
        b.addWidget(self.open_btn)
        lay.addWidget(box)
        box2 = QGroupBox("Save a labels layer as DICOM SEG")
        b2 = QVBoxLayout(box2)
        b2.addWidget(self.labels_combo)
        row2 = QHBoxLayout()
        row2.addWidget(self.out, 1)
        row2.addWidget(self.out_btn)
        b2.addLayout(row2)
        b2.addWidget(self.save_btn)
        lay.addWidget(box2)
        lay.addWidget(self.status)
        lay.addStretch(1)

        self.browse_btn.clicked.connect(lambda _=False: self._browse())
        self.list_btn.clicked.connect(lambda _=False: self.list_series())
        self.open_btn.clicked.connect(lambda _=False: self.open_selected())
        self.out_btn.clicked.connect(lambda _=False: self._choose_out())
        self.save_btn.clicked.connect(lambda _=False: self.save_seg())
        self.series_list.currentRowChanged.connect(lambda row: self.open_btn.setEnabled(row >= 0))
        viewer.layers.events.inserted.connect(self._refresh_labels)
        viewer.layers.events.removed.connect(self._refresh_labels)
        self._refresh_labels()
        from ._common import fit_dock_title

        fit_dock_title(self, "DICOM series and SEG")

    # ------------------------------------------------------------------ series
    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "DICOM folder", self.folder.text())
        if folder:
            self.folder.setText(folder)
            self.list_series()

    def list_series(self) -> None:
        """Fill the list with the folder's image series (largest first; '*' the default)."""
        from ..volumes.dicom import default_series, list_series

        self.series_list.clear()
        self._series = []
        try:
            found = list_series(self.folder.text())
        except (ValueError, OSError) as exc:
            self.status.setText(f"⚠ {exc}")
            return
        if not found:
            self.status.setText(f"⚠ no DICOM image series in {self.folder.text()}")
            return
        chosen = default_series(found)
        self._series = found
        for s in found:
            self.series_list.addItem(("* " if s is chosen else "  ") + s.line())
        self.series_list.setCurrentRow(found.index(chosen))
        self.status.setText(f"{len(found)} series; '*' is the one a drag and drop opens (the largest CT series)")

    def open_selected(self) -> None:
        """Open the selected series as an image layer (the plugin's reader, with its UID)."""
        from ..io.reader import read_nifti_layers
        from .work import notify_error

        row = self.series_list.currentRow()
        if row < 0 or row >= len(self._series):
            return
        uid = self._series[row].uid
        try:
            lds = read_nifti_layers(self.folder.text(), kind="image", series_uid=uid)
        except (ValueError, OSError) as exc:
            self.status.setText(f"⚠ {exc}")
            notify_error("Open DICOM series", exc)
            return
        for data, kwargs, _ in lds:
            self.viewer.add_image(data, **kwargs)
        self.status.setText(f"opened series {uid or '(no SeriesInstanceUID)'}")

    # ------------------------------------------------------------------ SEG
    def _refresh_labels(self, _event=None) -> None:
        from .._napari.pick import pick_layers

        current = self.labels_combo.currentText()
        self.labels_combo.clear()
        for ly in pick_layers(self.viewer, "labels"):
            self.labels_combo.addItem(ly.name)
        if current:
            self.labels_combo.setCurrentText(current)

    def _choose_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save DICOM SEG", self.out.text(), "DICOM (*.dcm)")
        if path:
            self.out.setText(path)

    def save_seg(self) -> None:
        """Save the chosen labels layer as a DICOM-SEG on its image's series."""
        from .._napari.dicom_seg import save_layer_as_seg, series_image_for
        from ..volumes.seg import ORIGINS
        from .work import notify_error

        name = self.labels_combo.currentText()
        if not name or name not in self.viewer.layers:
            self.status.setText("⚠ choose a labels layer")
            return
        if not self.out.text():
            self.status.setText("⚠ choose where to save the DICOM SEG (…)")
            return
        layer = self.viewer.layers[name]
        image = series_image_for(self.viewer, layer)
        if image is None:
            self.status.setText(f"⚠ '{name}' is not on the grid of an image read from a DICOM series")
            return
        try:
            out, origin = save_layer_as_seg(Path(self.out.text()), layer, image)
        except (ValueError, OSError) as exc:
            self.status.setText(f"⚠ {exc}")
            notify_error("Save as DICOM SEG", exc)
            return
        self.status.setText(f"saved {out}: on the series of '{image.name}', {ORIGINS[origin]} ({origin})")
