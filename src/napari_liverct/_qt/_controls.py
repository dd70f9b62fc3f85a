"""Small Qt building blocks of the dock widgets: form rows, button rows, the label check list, tables."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSlider,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

__all__ = [
    "combo",
    "slider",
    "spin",
    "form",
    "buttons",
    "LabelChecklist",
    "disconnect_all",
    "ScrollDock",
    "fill_table",
]


def combo(items, tip: str = "") -> QComboBox:
    box = QComboBox()
    box.addItems([str(i) for i in items])
    box.setToolTip(tip)
    return box


def slider(value: int, lo: int = 0, hi: int = 100) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    s.setValue(value)
    return s


def spin(box, lo, hi, value):
    box.setRange(lo, hi)
    box.setValue(value)
    return box


def form(layout, *rows) -> QFormLayout:
    """Add a form of ``(label or None, widget)`` rows to ``layout``."""
    f = QFormLayout()
    for label, widget in rows:
        f.addRow(widget) if label is None else f.addRow(label, widget)
    layout.addLayout(f)
    return f


def buttons(layout, *texts) -> list[QPushButton]:
    """A row of push buttons added to ``layout``."""
    row, out = QHBoxLayout(), []
    for text in texts:
        out.append(QPushButton(text))
        row.addWidget(out[-1])
    layout.addLayout(row)
    return out


class LabelChecklist(QListWidget):
    """One checkable row per label value, with its name and a swatch of its layer colour."""

    def fill(self, values, names: dict, colors: dict) -> None:
        """Rows for ``values`` (all ticked); ``names``/``colors`` by value (RGBA 0-1)."""
        self.blockSignals(True)
        self.clear()
        for v in values:
            item = QListWidgetItem(f"{v}  {names.get(v, f'label {v}')}")
            item.setData(Qt.ItemDataRole.UserRole, int(v))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            pix = QPixmap(12, 12)
            pix.fill(QColor.fromRgbF(*colors[v][:3]))
            item.setIcon(QIcon(pix))
            self.addItem(item)
        self.blockSignals(False)

    def checked(self) -> list[int]:
        """Values ticked."""
        return [
            int(self.item(i).data(Qt.ItemDataRole.UserRole))
            for i in range(self.count())
            if self.item(i).checkState() == Qt.CheckState.Checked
        ]

    def check_only(self, values) -> None:
        """Tick exactly ``values`` (None: all)."""
        keep = None if values is None else {int(v) for v in values}
        for i in range(self.count()):
            item = self.item(i)
            on = keep is None or int(item.data(Qt.ItemDataRole.UserRole)) in keep
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)


def disconnect_all(connections) -> None:
    """Disconnect (emitter, callback) pairs from napari's event emitters (widget destroyed)."""
    for emitter, cb in connections:
        try:
            emitter.disconnect(cb)
        except Exception:  # noqa: BLE001 - the viewer may be gone already
            pass


class ScrollDock(QWidget):
    """A dock widget whose controls sit in a vertical scroll area (``self.content_layout``).

    Docked under another widget the dock gets short, and a plain layout would squash
    every row to a few pixels; the dock is made wide enough for the rows and a
    scroll bar, so there is no horizontal scrolling (combo boxes do not widen the
    dock to fit long layer names).
    """

    def __init__(self, title: str, parent=None) -> None:
        from ._common import fit_dock_title

        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setMinimumHeight(200)  # a useful handful of rows even when stacked
        self._content = QWidget()
        self.scroll.setWidget(self._content)
        outer.addWidget(self.scroll)
        fit_dock_title(self, title)
        self.content_layout = QVBoxLayout(self._content)

    def finish_layout(self) -> None:
        """Call once the rows are added: narrow combo boxes, width to fit."""
        self.content_layout.addStretch(1)
        for box in self._content.findChildren(QComboBox):
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(8)
        self._fit_width()

    def _fit_width(self) -> None:
        need = self._content.minimumSizeHint().width() + self.scroll.verticalScrollBar().sizeHint().width() + 4
        if need > self.minimumWidth():
            self.setMinimumWidth(need)

    def showEvent(self, event):  # noqa: N802 - Qt API
        self._fit_width()
        super().showEvent(event)


def read_only_table(headers: list[str], row_numbers: bool = True):
    """A table of results: not editable, whole rows selected one at a time."""
    from qtpy.QtWidgets import QTableWidget

    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.verticalHeader().setVisible(row_numbers)
    t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    t.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
    return t


def fill_table(table, rows, columns, text, decorate=None) -> None:
    """Fill a QTableWidget: a row per item of ``rows``, a column per ``(header, key)`` of
    ``columns``; ``text(row, key)`` is a cell's text and ``decorate(item, row, key)``, when
    given, styles a cell (a tick, a colour, a tip).  Its signals are blocked while it fills."""
    table.blockSignals(True)
    table.setRowCount(len(rows))
    for i, row in enumerate(rows):
        for j, (_, key) in enumerate(columns):
            item = QTableWidgetItem(text(row, key))
            if decorate is not None:
                decorate(item, row, key)
            table.setItem(i, j, item)
    table.resizeColumnsToContents()
    table.blockSignals(False)
