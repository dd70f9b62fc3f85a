"""File information: the header of the selected layer's NIfTI file, read-only, with copy-as-JSON.

What napari-nifti-viewer, 3D Slicer's Volume Information and ITK-SNAP's Image
Information show: dimensions, spacing, orientation codes, qform and sform codes and
matrices, datatype and scaling, extensions and the label table, and which of sform,
qform and pixdim the reader used, and why (:func:`napari_liverct.volumes.fileinfo.file_info`).
Follows the viewer's selected layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtGui import QFontDatabase
from qtpy.QtWidgets import QApplication, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from ..volumes.fileinfo import file_info, file_info_json, file_info_text

if TYPE_CHECKING:
    import napari

__all__ = ["FileInfoWidget"]


class FileInfoWidget(QWidget):
    """Read-only header panel of the selected layer (see the module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = viewer
        self.info: dict | None = None
        self.title = QLabel("no layer selected")
        self.title.setWordWrap(True)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)  # long "why" lines wrap
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        # a matrix row (4 columns of 12 characters) fits without wrapping
        matrix_px = self.text.fontMetrics().horizontalAdvance("0" * 54) + 40
        self.copy_btn = QPushButton("Copy as JSON")
        self.copy_btn.setEnabled(False)
        self.copy_btn.clicked.connect(lambda _checked=False: self.copy_json())
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.text, stretch=1)
        row = QHBoxLayout()
        row.addWidget(self.copy_btn)
        row.addStretch(1)
        lay.addLayout(row)
        viewer.layers.selection.events.active.connect(self._on_active)
        self.show_layer(viewer.layers.selection.active)
        from ._common import fit_dock_title

        fit_dock_title(self, "File information")
        self.setMinimumWidth(max(self.minimumWidth(), matrix_px))

    def _on_active(self, event=None) -> None:
        self.show_layer(self.viewer.layers.selection.active)

    def show_layer(self, layer) -> None:
        """Show the file information of ``layer`` (None: nothing selected)."""
        self.info = None
        self.copy_btn.setEnabled(False)
        if layer is None:
            self.title.setText("no layer selected")
            self.text.setPlainText("")
            return
        try:
            self.info = file_info(layer.metadata)
        except ValueError as exc:
            self.title.setText(f"<b>{layer.name}</b>")
            self.text.setPlainText(str(exc))
            return
        self.title.setText(f"<b>{layer.name}</b>")
        self.text.setPlainText(file_info_text(self.info))
        self.copy_btn.setEnabled(True)

    def copy_json(self) -> str | None:
        """Put the shown information on the clipboard as JSON; return the JSON."""
        if self.info is None:
            return None
        text = file_info_json(self.info)
        QApplication.clipboard().setText(text)
        return text
