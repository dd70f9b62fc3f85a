"""Compare segmentations widget: a prediction against its ground truth, in napari (issue 12).

Thin Qt layer: the worker body (the core's ``compare_volumes``, the function
``napari-liverct compare`` calls, then the errors maps and the distance surface as
LayerData) is :func:`~napari_liverct._napari.compare_run.run_comparison`; what the
viewer shows afterwards (errors in 2D, the distance surface in 3D, the compared
layers hidden until asked for) is :class:`~napari_liverct._napari.compare_view.CompareView`.
The widget shows the CLI's per-class and per-lesion tables (a lesion row click moves
the viewer to it), the legend, and exports the CLI's CSV / JSON.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, LineEdit, PushButton
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import (
    QLabel,
    QProgressBar,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .._napari.compare_run import (
    CLASS_TABLE,
    ERROR_MODES,
    LESION_TABLE,
    CompareOutcome,
    fmt_cell,
    run_comparison,
    summary_text,
)
from .._napari.compare_view import CompareView, legend_html
from .._napari.layer_utils import format_label_list, layer_disk_view, layer_label_names, parse_label_list
from .._napari.pick import compare_pair, layer_choices
from ..compare import error_maps
from ..compare.classes import suggest_map
from ..compare.results import CaseComparison
from ..constants import CONNECTIVITIES, DEFAULT_CONNECTIVITY, DEFAULT_MATCH, DEFAULT_TOLERANCE_MM, MATCH_RULES
from . import _controls as ui
from ._common import export_text

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

__all__ = ["CompareWidget", "CLASS_TABLE", "LESION_TABLE", "ERROR_MODES", "fmt_cell", "STALE"]

#: Appended to the distance surface's name when the prediction was edited after it was made
STALE = " (before the last edit: press Compare)"


class _Messages(QObject):
    """Step messages from inside ``compare_arrays`` (worker thread) to the progress bar."""

    message = Signal(str)


class CompareWidget(QWidget):
    """Dockable comparison of a prediction Labels layer with a ground-truth Labels layer."""

    def __init__(self, viewer: napari.viewer.Viewer, parent=None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.outcome: CompareOutcome | None = None
        self.display = display = CompareView(viewer)  # the errors layer, the surface, the inputs hidden
        self.destroyed.connect(lambda *_: display.close())
        self._compared: list = []
        self._worker = None
        self._defaults_for = None

        # layer pickers typed by annotation, as in the napari plugin template
        self.gt_combo = ComboBox(label="ground truth", choices=layer_choices(viewer, "labels"), nullable=True)
        self.pred_combo = ComboBox(label="prediction", choices=layer_choices(viewer, "labels"), nullable=True)
        self.map_text = LineEdit(label="class map P:G", value="")
        self.map_text.tooltip = (
            "prediction value P compared with ground-truth class G, e.g. '5:1, 6:2' "
            "(TotalSegmentator liver 5 against MSD liver 1); empty: same values"
        )
        self.foreground_check = CheckBox(text="foreground = any non-zero", value=False)
        self.lesion_text = LineEdit(label="lesion classes", value="")
        self.lesion_text.tooltip = (
            "ground-truth classes whose connected components are lesions "
            "(default: the classes named tumour/lesion); empty: no lesion analysis"
        )
        self.connectivity_combo = ComboBox(
            label="connectivity", choices=list(CONNECTIVITIES), value=DEFAULT_CONNECTIVITY
        )
        self.match_combo = ComboBox(label="matching", choices=list(MATCH_RULES), value=DEFAULT_MATCH)
        self.match_combo.tooltip = "overlap: any overlap detects a lesion (LiTS); iou50: one-to-one IoU >= 0.5"
        self.tolerance_spin = FloatSpinBox(
            label="NSD tolerance mm", value=DEFAULT_TOLERANCE_MM, min=0.0, max=100.0, step=0.5
        )
        self.surface_combo = ComboBox(label="surface class", choices=self._surface_choices, nullable=True)
        self.surface_combo.tooltip = "class whose predicted surface is coloured by distance to the truth (3D)"
        self.resample_check = CheckBox(text="resample prediction if the grids differ", value=False)
        self.mode_combo = ComboBox(label="errors layer", choices=list(ERROR_MODES), value="by voxel")
        self.run_button = PushButton(text="Compare")
        self.csv_button = PushButton(text="Export CSV...", enabled=False)
        self.json_button = PushButton(text="Export JSON...", enabled=False)
        self.options_button = PushButton(text="Options \u25b8")
        self.inputs_check = CheckBox(text="show the compared layers", value=False)
        self.inputs_check.tooltip = (
            "after Compare the ground truth and the prediction are hidden, so that every colour on "
            "the screen is one of the legend's; tick to see them again"
        )
        self.option_widgets = Container(
            widgets=[
                self.map_text,
                self.foreground_check,
                self.lesion_text,
                self.connectivity_combo,
                self.match_combo,
                self.tolerance_spin,
                self.resample_check,
            ]
        )
        self.option_widgets.visible = False
        self.controls = Container(
            widgets=[
                self.gt_combo,
                self.pred_combo,
                self.surface_combo,
                self.mode_combo,
                Container(widgets=[self.run_button, self.options_button], layout="horizontal", labels=False),
                self.option_widgets,
                Container(widgets=[self.csv_button, self.json_button], layout="horizontal", labels=False),
                self.inputs_check,
            ]
        )
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.summary = QLabel("Pick the ground truth and the prediction and press Compare.")
        self.summary.setWordWrap(True)
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        self.class_table = ui.read_only_table(row_numbers=True, headers=[h for h, _ in CLASS_TABLE])
        self.lesion_table = ui.read_only_table(row_numbers=True, headers=[h for h, _ in LESION_TABLE])
        self.tabs = QTabWidget()
        self.tabs.addTab(self.class_table, "Classes")
        self.tabs.addTab(self.lesion_table, "Lesions")
        layout = QVBoxLayout(self)
        for w in (self.controls.native, self.progress, self.summary, self.legend, self.tabs):
            layout.addWidget(w)

        self._messages = _Messages()
        self._messages.message.connect(self._on_message)
        self.run_button.changed.connect(lambda *_: self.compute())
        self.csv_button.changed.connect(lambda *_: self.export("csv"))
        self.json_button.changed.connect(lambda *_: self.export("json"))
        self.mode_combo.changed.connect(lambda *_: self._show_errors())
        self.inputs_check.changed.connect(lambda value: self.display.set_inputs_visible(bool(value)))
        self.options_button.changed.connect(lambda *_: self.toggle_options())
        self.gt_combo.changed.connect(lambda *_: self._fill_defaults())
        self.pred_combo.changed.connect(lambda *_: self._fill_defaults())
        self.lesion_table.currentCellChanged.connect(lambda row, *_: self.go_to_lesion(row))
        for event in ("inserted", "removed", "reordered"):
            getattr(viewer.layers.events, event).connect(self.reset_choices)
        from .work import WidgetWork

        self.work = WidgetWork(
            self, "Compare", status=self.summary.setText, progress=self.progress, run_button=self.run_button
        )
        self.workers = self.work.guard
        self._show_legend()
        self.reset_choices()

    # ------------------------------------------------------------------ inputs
    def _surface_choices(self, _widget=None) -> list:
        names = layer_label_names(self.gt_combo.value) if hasattr(self, "gt_combo") else {}
        return [(f"{v} {n}", int(v)) for v, n in sorted(names.items()) if int(v) != 0]

    def reset_choices(self, event=None) -> None:
        """Follow the layer list (napari also calls this when the widget is docked)."""
        self.controls.reset_choices()  # the errors layer is the plugin's own output: never offered
        labels = [c for c in self.gt_combo.choices if c is not None]
        gt, pred = compare_pair(labels, self.gt_combo.value, self.pred_combo.value)
        if labels:
            self.gt_combo.value, self.pred_combo.value = gt, pred
        self._fill_defaults()

    def _fill_defaults(self) -> None:
        """Lesion classes, surface class and class map from the layers' class names (never by value)."""
        from .._napari.compat import unwrap
        from ..labels.tables import lesion_label_ids, organ_label_ids

        gt, pred = self.gt_combo.value, self.pred_combo.value
        key = (id(unwrap(gt)) if gt is not None else None, id(unwrap(pred)) if pred is not None else None)
        if key == self._defaults_for:
            return
        self._defaults_for = key
        gnames, pnames = layer_label_names(gt), layer_label_names(pred)
        self.lesion_text.value = format_label_list(lesion_label_ids(gnames))
        self.map_text.value = ", ".join(suggest_map(gnames, pnames))
        self.surface_combo.reset_choices()
        organ = organ_label_ids(gnames)
        values = [v for _, v in self._surface_choices()]
        self.surface_combo.value = organ[0] if organ and organ[0] in values else (values[0] if values else None)

    def toggle_options(self, show: bool | None = None) -> None:
        """Show or hide the comparison options (class map, lesions, matching, tolerance)."""
        show = self.option_widgets.native.isHidden() if show is None else bool(show)
        self.option_widgets.native.setVisible(show)
        self.options_button.text = "Options \u25be" if show else "Options \u25b8"

    def options(self) -> dict:
        """The comparison options as typed (ValueError with a readable message)."""
        from ..compare import parse_map

        text = self.map_text.value.strip()
        mapping = parse_map([t for t in text.replace(";", ",").replace(" ", ",").split(",") if t]) if text else {}
        return {
            "mapping": mapping,
            "foreground": bool(self.foreground_check.value),
            "lesion_labels": parse_label_list(self.lesion_text.value, "lesion classes"),
            "connectivity": int(self.connectivity_combo.value),
            "match": str(self.match_combo.value),
            "tolerance": float(self.tolerance_spin.value),
            "resample": bool(self.resample_check.value),
            "surface_label": self.surface_combo.value,
        }

    # ------------------------------------------------------------------ compute
    def compute(self, *_args, live: bool = False) -> None:
        """Start the comparison in a worker thread (the viewer stays responsive).  ``live``: a
        recompute after an edit of the prediction (Correct draft): the figures and the errors
        layer (updated in place) without the distance surface or the progress bar, so that
        they follow the edit within a second; the surface is marked out of date."""
        from ..geometry.grids import grid_mismatch, reorient_onto

        gt_layer, pred_layer = self.gt_combo.value, self.pred_combo.value
        if gt_layer is None or pred_layer is None:
            self.work.refuse("pick a ground-truth and a prediction Labels layer")
            return
        if gt_layer is pred_layer:
            self.work.refuse("the ground truth and the prediction are the same layer")
            return
        try:
            opts = self.options()
        except ValueError as exc:
            self.work.refuse(exc)
            return
        gt, gaff = layer_disk_view(gt_layer)
        pred, paff = layer_disk_view(pred_layer)
        for arr, layer in ((gt, gt_layer), (pred, pred_layer)):
            if arr.ndim != 3:
                self.work.refuse(f"layer '{layer.name}' is not 3D (shape {arr.shape})")
                return
        if not opts["resample"] and reorient_onto(pred, paff, gt.shape, gaff) is None:
            # checked here (cheap: affines only), so the expected error is a message, not a worker failure
            why = grid_mismatch(gt.shape, gaff, pred.shape, paff)
            self.work.refuse(
                f"'{gt_layer.name}' (ground truth) and '{pred_layer.name}' (prediction) are not "
                f"on the same grid ({why}); tick 'resample prediction' under Options to resample it onto the "
                "ground truth (nearest neighbour)."
            )
            return
        md = gt_layer.metadata or {}
        names = layer_label_names(gt_layer)
        opts["files"] = (
            md.get("source_path") or gt_layer.name,
            (pred_layer.metadata or {}).get("source_path") or pred_layer.name,
        )
        messages = self._messages
        opts["surface"] = not live

        def say(text: str) -> None:
            if live:
                return
            try:
                messages.message.emit(text)
            except RuntimeError:  # the widget was closed while the worker ran
                pass

        self._compared = [gt_layer, pred_layer]
        self._worker = self.work.start(
            run_comparison,
            gt,
            gaff,
            pred,
            paff,
            names,
            opts,
            say,
            (gt_layer.name, pred_layer.name),
            md.get("residual"),
            on_done=self._on_live_result if live else self._on_result,
            busy="Comparing...",
            activity=None if live else "Compare",
            progress=not live,
        )

    def _on_message(self, text: str) -> None:
        self.progress.setFormat(f"metrics: {text} (%v/%m)")

    def _on_result(self, outcome: CompareOutcome) -> None:
        self.outcome = outcome
        self.csv_button.enabled = self.json_button.enabled = True
        self.progress.setVisible(False)
        self._fill_tables()
        surf = outcome.surface
        surf_ld = surf.layer_data(outcome.residual) if surf is not None and len(surf.faces) else None
        self.display.show(self._errors_data(), surf_ld, self._compared)
        self.inputs_check.value = False
        self._show_legend()

    def _on_live_result(self, outcome: CompareOutcome) -> None:
        """A live recompute: new figures and errors layer; the layers stay as they are shown."""
        display = self.display
        if display.errors is None or display.errors not in display.viewer.layers:
            self._on_result(outcome)
            return
        old = self.outcome
        self.outcome = outcome
        self._fill_tables()
        display.show_errors(self._errors_data())
        surf = display.surface
        if surf is not None and surf in display.viewer.layers:
            if not surf.name.endswith(STALE):
                surf.name = f"{surf.name}{STALE}"
            self.outcome = replace(outcome, surface=old.surface if old is not None else None)
        self._show_legend()

    @property
    def result(self) -> CaseComparison | None:
        return self.outcome.result if self.outcome is not None else None

    # ------------------------------------------------------------------ display
    def _fill_tables(self) -> None:
        res = self.result
        ui.fill_table(self.class_table, res.class_rows(), CLASS_TABLE, lambda r, k: fmt_cell(k, r.get(k)), _status_cell)
        ui.fill_table(
            self.lesion_table, res.lesion_rows(), LESION_TABLE, lambda r, k: fmt_cell(k, r.get(k)), _status_cell
        )
        self.summary.setText(summary_text(res))
        les = res.lesions
        if les is not None and les.lesions:
            self.tabs.setCurrentWidget(self.lesion_table)

    def _show_errors(self) -> None:
        """The errors layer in the chosen mode."""
        if self.outcome is not None:
            self.display.show_errors(self._errors_data())
        self._show_legend()

    def _errors_data(self) -> tuple:
        by_lesion = self.mode_combo.value == "by lesion" and self.outcome.lesion_layer is not None
        return self.outcome.lesion_layer if by_lesion else self.outcome.voxel_layer

    @property
    def errors_layer(self):
        return self.display.errors

    @property
    def surface_layer(self):
        return self.display.surface

    def _show_legend(self) -> None:
        surf = self.outcome.surface if self.outcome is not None else None
        self.legend.setText(legend_html(self.mode_combo.value == "by lesion", surf))

    # ------------------------------------------------------------------ navigation / export
    def go_to_lesion(self, row: int) -> None:
        """Move the sliders to lesion ``row``'s slice and centre the camera on it (2D and 3D)."""
        from .._napari.navigate import go_to_lesion

        res = self.result
        if res is None or res.lesions is None or not 0 <= row < len(res.lesions.lesions):
            return
        les = res.lesions.lesions[row]
        # a wider view than the 3D navigator's (at least 12 cm across): the errors
        # around the lesion matter too
        fill = min(0.4, max(float(les.diameter_mm or 0.0), 1.0) / 120.0)
        go_to_lesion(self.viewer, les.centroid_ras, les.diameter_mm, residual=self.outcome.residual, fill=fill)

    def export(self, fmt: str, path: str | None = None) -> str | None:
        """Write the CLI's CSV or JSON (``napari-liverct compare --format csv|json``)."""
        from ..compare.report import comparison_to_csv, comparison_to_json

        if self.result is None:
            return None
        make = lambda: comparison_to_csv(self.result) if fmt == "csv" else comparison_to_json(self.result) + "\n"  # noqa: E731
        filters = "CSV (*.csv)" if fmt == "csv" else "JSON (*.json)"
        return export_text(self, self.viewer, path, "Export comparison", f"compare.{fmt}", filters, make)


def _status_cell(item, row, key) -> None:
    """A lesion's match status in its errors colour, with its name."""
    if key == "status" and row.get(key) in error_maps.STATUS_COLORS:
        from qtpy.QtGui import QColor

        item.setBackground(QColor.fromRgbF(*error_maps.STATUS_COLORS[row[key]][:3], 0.45))
        item.setText(f"{row[key]} ({error_maps.STATUS_NAMES[row[key]]})")
