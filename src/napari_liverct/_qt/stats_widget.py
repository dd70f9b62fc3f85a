"""Statistics widget: image, per-label and per-lesion measurements in mL, mm and HU.

The figures come from :func:`napari_liverct.stats.iter_stats_on_grid`, the entry point
``napari-liverct stats`` calls too, on the layers' stored-order views
(:func:`~napari_liverct._napari.stats_layers.stats_inputs`), so they equal the CLI's on
the files.  Work runs in a napari ``thread_worker``; clicking a lesion row moves the
viewer to it and highlights it with a ring in a "lesions" Points layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from magicgui.widgets import CheckBox, ComboBox, Container, LineEdit, PushButton
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QLabel,
    QProgressBar,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .._napari.layer_utils import default_label_roles, format_label_list, parse_label_list
from .._napari.pick import layer_choices
from .._napari.stats_layers import lesion_rings, select_ring, stats_inputs, summary_text, write_label_features
from ..constants import CONNECTIVITIES, DEFAULT_CONNECTIVITY
from ..results.values import format_value
from . import _controls as ui
from ._common import export_text

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

    from ..stats.results import StatsResult

__all__ = ["StatsWidget", "LABEL_COLUMNS", "LESION_COLUMNS"]

#: (header, key) of the tables: the CLI's keys; centroids in RAS mm, as the CSV and the CLI give them.
LABEL_COLUMNS = [
    ("label", "label"),
    ("name", "name"),
    ("voxels", "voxels"),
    ("volume mL", "volume_ml"),
    ("share %", "share"),
    ("mean", "mean"),
    ("std", "std"),
    ("min", "min"),
    ("max", "max"),
    ("median", "median"),
    ("p05", "p05"),
    ("p95", "p95"),
    ("bbox min (i,j,k)", "bbox_min"),
    ("bbox max (i,j,k)", "bbox_max"),
    ("centroid RAS mm (x,y,z)", "centroid_mm"),
]
LESION_COLUMNS = [
    ("id", "id"),
    ("voxels", "voxels"),
    ("volume mL", "volume_ml"),
    ("max diameter mm", "max_diameter_mm"),
    ("centroid RAS mm (x,y,z)", "centroid_mm"),
    ("mean", "mean"),
    ("slices", "slice_range"),
    ("long axis mm", "long_axis_mm"),
    ("short axis mm", "short_axis_mm"),
    ("axial slice", "recist_slice"),
    ("target", "target"),
]
_TARGET_COLUMN = [k for _, k in LESION_COLUMNS].index("target")
#: Columns shown by default (the rest with "all columns", and in each row's tooltip):
#: all fifteen needed horizontal scrolling in a docked widget.
LABEL_BRIEF = ("label", "name", "volume_ml", "share", "mean", "std", "median")
LESION_BRIEF = ("id", "volume_ml", "long_axis_mm", "short_axis_mm", "target", "mean")


def _fmt(key: str, v) -> str:
    if key == "target":
        return "target" if v else ""
    if key == "share" and isinstance(v, float):  # a fraction, shown in percent
        return format_value(100 * v, 2, nonfinite="-")
    return format_value(v, 3 if key == "volume_ml" else 1, nonfinite="-")


class StatsWidget(QWidget):
    """Dockable statistics of an image layer and a labels layer (see module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer, parent=None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.result: StatsResult | None = None
        self._worker = None
        self._points = None
        self._labels_layer = None
        self._residual = None  # oblique residual of the grid the results are on

        self.image_combo = ComboBox(label="image", choices=layer_choices(viewer, "image"), nullable=True)
        self.labels_combo = ComboBox(label="labels", choices=layer_choices(viewer, "labels"), nullable=True)
        self.connectivity_combo = ComboBox(
            label="connectivity", choices=list(CONNECTIVITIES), value=DEFAULT_CONNECTIVITY
        )
        # which labels are the organ and which the lesions: from the class names by
        # default (possibly none), never "label 2"; burden = lesions / (organ + lesions)
        self.organ_text = LineEdit(label="organ labels", value="")
        self.lesion_text = LineEdit(label="lesion labels", value="")
        self.organ_text.tooltip = "label numbers of the organ, e.g. '1' (burden is relative to it)"
        self.lesion_text.tooltip = (
            "label numbers whose connected components are the lesions, e.g. '2'; "
            "empty: no lesion table and no tumour burden"
        )
        self.run_button = PushButton(text="Compute")
        self.export_button = PushButton(text="Export CSV...", enabled=False)
        self.all_columns = CheckBox(text="all columns (bounding boxes, centroids, percentiles)", value=False)
        self.resample_check = CheckBox(text="resample labels onto the image grid if they differ", value=False)
        self.resample_check.tooltip = (
            "labels stored with flipped or permuted axes are used as they are; only a "
            "real difference (spacing, origin, extent) needs nearest-neighbour resampling"
        )
        self.controls = Container(
            widgets=[
                self.image_combo,
                self.labels_combo,
                self.connectivity_combo,
                self.organ_text,
                self.lesion_text,
                self.resample_check,
                self.run_button,
                self.export_button,
                self.all_columns,
            ]
        )
        self._roles_for = None
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.summary = QLabel("Pick the layers and press Compute.")
        self.summary.setWordWrap(True)
        self.label_table = ui.read_only_table(row_numbers=False, headers=[h for h, _ in LABEL_COLUMNS])
        self.lesion_table = ui.read_only_table(row_numbers=False, headers=[h for h, _ in LESION_COLUMNS])
        from ._histogram import HistogramCanvas

        self.histogram = HistogramCanvas(self)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.label_table, "Labels")
        self.tabs.addTab(self.lesion_table, "Lesions")
        self.tabs.addTab(self.histogram, "Histogram")
        layout = QVBoxLayout(self)
        for w in (self.controls.native, self.progress, self.summary, self.tabs):
            layout.addWidget(w)

        self.run_button.changed.connect(lambda *_: self.compute())
        self.export_button.changed.connect(lambda *_: self.export_csv())
        self.labels_combo.changed.connect(lambda *_: self._fill_roles())
        self.all_columns.changed.connect(lambda *_: self._show_columns())
        from ._common import fit_dock_title

        fit_dock_title(self, "Statistics")
        self._show_columns()
        self.lesion_table.currentCellChanged.connect(lambda row, *_: self.go_to_lesion(row))
        self.lesion_table.itemChanged.connect(self._target_toggled)
        for event in ("inserted", "removed", "reordered"):
            getattr(viewer.layers.events, event).connect(self.reset_choices)
        from .work import WidgetWork

        self.work = WidgetWork(
            self, "Statistics", status=self.summary.setText, progress=self.progress, run_button=self.run_button
        )
        self.workers = self.work.guard
        self.reset_choices()

    def _show_columns(self) -> None:
        """Brief columns (fit the dock without scrolling) or all of them."""
        every = bool(self.all_columns.value)
        for table, cols, brief in (
            (self.label_table, LABEL_COLUMNS, LABEL_BRIEF),
            (self.lesion_table, LESION_COLUMNS, LESION_BRIEF),
        ):
            for j, (_h, key) in enumerate(cols):
                table.setColumnHidden(j, not (every or key in brief))
            table.resizeColumnsToContents()
            table.horizontalHeader().setStretchLastSection(not every)

    # ------------------------------------------------------------------ layer pickers
    def reset_choices(self, event=None) -> None:
        """Follow the layer list; prefer the active layer of each kind."""
        self.controls.reset_choices()
        active = self.viewer.layers.selection.active
        for combo in (self.image_combo, self.labels_combo):
            layers = [c for c in combo.choices if c is not None]
            if active is not None and any(active is layer for layer in layers):
                combo.value = active
            elif combo.value is None and layers:
                combo.value = layers[-1]
        self._fill_roles()

    def _fill_roles(self) -> None:
        """Default organ/lesion labels from the class names of a newly chosen labels layer."""
        from .._napari.compat import unwrap

        lab = self.labels_combo.value
        key = id(unwrap(lab)) if lab is not None else None
        if key == self._roles_for:
            return
        self._roles_for = key
        organ, lesion = default_label_roles(lab)
        self.organ_text.value = format_label_list(organ)
        self.lesion_text.value = format_label_list(lesion)

    def label_roles(self) -> tuple[list[int], list[int]]:
        """``(organ labels, lesion labels)`` as typed (ValueError with a readable message)."""
        return (
            parse_label_list(self.organ_text.value, "organ labels"),
            parse_label_list(self.lesion_text.value, "lesion labels"),
        )

    # ------------------------------------------------------------------ compute
    def compute(self, *_args, live: bool = False) -> None:
        """Start the computation in a worker thread (the viewer stays responsive); ``live``: a
        recompute after an edit (Correct draft), without the progress bar."""
        from ..stats import iter_stats_on_grid

        image_layer, labels_layer = self.image_combo.value, self.labels_combo.value
        try:
            inputs = stats_inputs(image_layer, labels_layer, bool(self.resample_check.value))
            organ, lesion = self.label_roles()
        except ValueError as exc:  # GridMismatchError included
            self.work.refuse(exc)
            return
        self._labels_layer, self._residual = labels_layer, inputs.residual
        self._worker = self.work.start(
            iter_stats_on_grid,
            inputs.image,
            inputs.labels,
            inputs.affine,
            inputs.names,
            int(self.connectivity_combo.value),
            organ_labels=organ,
            lesion_labels=lesion,
            grid_note=inputs.grid_note,
            histograms=True,
            on_done=self._on_result,
            activity=None if live else "Statistics",
            progress=not live,
        )

    def _on_result(self, value) -> None:
        self.result = value
        self.export_button.enabled = True
        self._fill_tables()
        if value.grid_note:
            self.summary.setText(f"{self.summary.text()}\n{value.grid_note}")
        self._write_features()
        self._update_points()
        self._plot_histogram()

    # ------------------------------------------------------------------ display
    def _fill_tables(self) -> None:
        res = self.result
        ui.fill_table(self.label_table, res.labels, LABEL_COLUMNS, _cell_text, _row_tip(LABEL_COLUMNS))
        ui.fill_table(self.lesion_table, res.lesions, LESION_COLUMNS, _cell_text, _row_tip(LESION_COLUMNS))
        self.summary.setText(summary_text(res, self.labels_combo.value is not None))

    def _target_toggled(self, item) -> None:
        """A target tick changed: the result's targets and the sum of diameters follow."""
        if self.result is None or item.column() != _TARGET_COLUMN:
            return
        ids = [
            r.id
            for i, r in enumerate(self.result.lesions)
            if (it := self.lesion_table.item(i, _TARGET_COLUMN)) is not None
            and it.checkState() == Qt.CheckState.Checked
        ]
        self.result = self.result.with_targets(ids)
        self._fill_tables()
        if self.result.grid_note:
            self.summary.setText(f"{self.summary.text()}\n{self.result.grid_note}")

    def set_targets(self, ids) -> None:
        """Tick exactly the lesions ``ids`` as targets (as a user clicking the boxes)."""
        ids = {int(i) for i in ids}
        for i, r in enumerate(self.result.lesions if self.result is not None else ()):
            state = Qt.CheckState.Checked if r.id in ids else Qt.CheckState.Unchecked
            self.lesion_table.item(i, _TARGET_COLUMN).setCheckState(state)

    def _write_features(self) -> None:
        """Per-label results into the labels layer's ``features`` (napari's features table)."""
        if self._labels_layer is not None and self.result is not None:
            write_label_features(self._labels_layer, self.result)

    def _update_points(self) -> None:
        """A Points layer with a ring around every lesion (features = the lesion table)."""
        name = f"lesions ({self._labels_layer.name})" if self._labels_layer is not None else "lesions"
        lesions = self.result.lesions if self.result is not None else ()
        self._points = lesion_rings(self.viewer, self._points, lesions, self._residual, name)

    def _plot_histogram(self) -> None:
        if self.result is None or self.result.histograms is None:
            return
        edges, per_label, whole = self.result.histograms
        names = self.result.label_names()
        colors = {}
        if self._labels_layer is not None:
            for v in per_label:
                try:
                    colors[names.get(v, str(v))] = tuple(self._labels_layer.get_color(v))
                except Exception:  # noqa: BLE001 - colours are cosmetic
                    pass
        self.histogram.plot(edges, {names.get(v, str(v)): c for v, c in per_label.items()}, colors, whole)

    # ------------------------------------------------------------------ navigation / export
    def go_to_lesion(self, row: int) -> None:
        """Move the viewer to lesion ``row`` (0-based): slice through its centroid, camera on it."""
        lesions = self.result.lesions if self.result is not None else ()
        if not 0 <= row < len(lesions):
            return
        from .._napari.navigate import go_to_lesion

        les = lesions[row]
        # the ring of this widget's "lesions" layer marks it (no second marker); a wider view
        # than the 3D navigator's (at least 12 cm across): the organ around it matters too
        fill = min(0.4, max(float(les.max_diameter_mm or 0.0), 1.0) / 120.0)
        from .._napari.overlays import show_diameters
        from .._napari.view3d_model import lesion_focus

        go_to_lesion(
            self.viewer,
            lesion_focus(les, self.viewer.dims.ndisplay),
            les.max_diameter_mm,
            residual=self._residual,
            marker=False,
            fill=fill,
        )
        select_ring(self.viewer, self._points, row)
        if self._labels_layer is not None and self._labels_layer in self.viewer.layers:
            show_diameters(self.viewer, les, self._labels_layer, move_slider=False)
        if self.lesion_table.currentRow() != row:
            self.lesion_table.blockSignals(True)
            self.lesion_table.selectRow(row)
            self.lesion_table.blockSignals(False)

    def export_csv(self, path: str | None = None) -> str | None:
        """Write the results as CSV (the same columns as ``napari-liverct stats --format csv``)."""
        from ..stats.tables import stats_to_csv

        if self.result is None:
            return None
        make = lambda: stats_to_csv(self.result)  # noqa: E731
        return export_text(self, self.viewer, path, "Export statistics", "stats.csv", "CSV (*.csv)", make)


def _cell_text(row, key) -> str:
    return _fmt(key, getattr(row, key))


def _row_tip(columns):
    """Each cell's tip is its whole row; a target cell is a tick box (the user's RECIST choice)."""

    def decorate(item, row, key) -> None:
        item.setToolTip("\n".join(f"{h}: {_cell_text(row, k)}" for h, k in columns))
        if key == "target":
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if row.target else Qt.CheckState.Unchecked)

    return decorate
