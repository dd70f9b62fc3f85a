"""Compare segmentations widget: a prediction against its ground truth, in napari (issue 12).

Both Labels layers are compared on the ground truth's *stored* grid: each layer's
stored-order view and affine (``layer_disk_view``), the prediction brought onto the
ground truth's grid by :func:`napari_liverct.geometry.conform_to_grid` (a zero-copy
view when the grids differ only by axis flips/permutations; nearest-neighbour
resampling only when asked), then :func:`napari_liverct.compare.compare_arrays`, the
function ``napari-liverct compare`` calls, so the numbers equal the CLI's on the files.

The work runs in a napari ``thread_worker`` with progress.  Results:

* per-class and per-lesion tables (the CLI's columns); clicking a lesion row moves
  the viewer to it (:func:`~napari_liverct._napari.scene3d.go_to_lesion`, in 2D
  and 3D);
* an ``errors`` Labels layer, by voxel or by lesion (see
  :mod:`~napari_liverct._napari.compare_layers`), with its legend in ``features``
  (shown on hover) and in the widget;
* a Surface layer: the prediction's surface of one class coloured by its signed
  distance to the ground truth's surface in mm, with napari's colour bar;
* CSV / JSON export, the same text as ``napari-liverct compare --format csv|json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, LineEdit, PushButton, create_widget
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import (
    QFileDialog,
    QLabel,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .._napari import compare_layers as cl
from .._napari.layer_utils import format_label_list, layer_disk_view, layer_label_names, parse_label_list
from ..compare.report import CLASS_COLUMNS, LESION_COLUMNS
from ..compare.results import CaseComparison
from ..constants import CONNECTIVITIES, DEFAULT_CONNECTIVITY, DEFAULT_MATCH, DEFAULT_TOLERANCE_MM, MATCH_RULES

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

__all__ = ["CompareWidget", "CLASS_TABLE", "LESION_TABLE", "ERROR_MODES", "fmt_cell"]

#: (header, key) of the tables: a subset of the CLI's CSV columns, in its order.
CLASS_TABLE = [
    ("label", "label"),
    ("name", "name"),
    ("pred", "pred_values"),
    ("Dice", "dice"),
    ("IoU", "iou"),
    ("sens", "sensitivity"),
    ("prec", "precision"),
    ("gt mL", "gt_ml"),
    ("pred mL", "pred_ml"),
    ("dV %", "volume_diff_pct"),
    ("HD mm", "hd"),
    ("HD95 mm", "hd95"),
    ("ASSD mm", "assd"),
    ("NSD", "nsd"),
    ("TP", "tp"),
    ("FP", "fp"),
    ("FN", "fn"),
]
LESION_TABLE = [
    ("lesion", "id"),
    ("status", "status"),
    ("matched", "matched"),
    ("gt mL", "gt_ml"),
    ("pred mL", "pred_ml"),
    ("Dice", "dice"),
    ("diam mm", "diameter_mm"),
    ("merge", "merged"),
    ("split", "split"),
]
ERROR_MODES = ("by voxel", "by lesion")
assert all(k in CLASS_COLUMNS for _, k in CLASS_TABLE) and all(k in LESION_COLUMNS for _, k in LESION_TABLE)


def fmt_cell(key: str, v) -> str:
    """Table text of one value (3 decimals, mL 3, mm 2; nan / inf spelled out)."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else ""
    if isinstance(v, float):
        if np.isnan(v):
            return "nan"
        if np.isinf(v):
            return "inf" if v > 0 else "-inf"
        digits = 2 if key.endswith("_mm") or key in ("hd", "hd95", "assd", "volume_diff_pct") else 3
        return f"{v:.{digits}f}"
    return str(v)


@dataclass
class CompareOutcome:
    """What the worker hands back to the widget (layers as napari-free LayerData)."""

    result: CaseComparison
    voxel_layer: tuple
    lesion_layer: tuple | None
    surface: cl.DistanceSurface | None
    residual: np.ndarray | None


class _Messages(QObject):
    """Step messages from inside ``compare_arrays`` (worker thread) to the progress bar."""

    message = Signal(str)


def _run(gt, gaff, pred, paff, names, opts, say, layer_names, residual):
    """Generator run in the worker thread: yields (done, total, message), returns a CompareOutcome."""
    from ..compare import compare_volumes

    total = 4
    yield (0, total, "grids and metrics")
    # the one core comparison the CLI's compare_files runs too
    res, pred_on_gt = compare_volumes(
        gt,
        gaff,
        pred,
        paff,
        resample=opts["resample"],
        files=opts["files"],
        grid_names=(f"'{layer_names[1]}' (prediction)", f"'{layer_names[0]}' (ground truth)"),
        hint="tick 'resample prediction' to resample it onto the ground truth (nearest neighbour)",
        mapping=opts["mapping"],
        foreground=opts["foreground"],
        names=names,
        lesion_labels=opts["lesion_labels"],
        connectivity=opts["connectivity"],
        match=opts["match"],
        tolerance_mm=opts["tolerance"],
        progress=say,
    )
    yield (2, total, "errors layer")
    gm, pm = cl.class_index_maps(gt, pred_on_gt, res)
    meta = {"comparison": res.to_json()}
    err, feats = cl.voxel_errors(gm, pm, res)
    name = f"errors ({layer_names[1]} vs {layer_names[0]})"
    voxel_ld = cl.error_layer_data(
        err,
        gaff,
        name=name,
        features=feats,
        colors=cl.voxel_colors(len(res.classes)),
        metadata={**meta, "errors_mode": "by voxel"},
    )
    lesion_ld = None
    if res.lesions is not None:
        lerr, lfeats, lcolors = cl.lesion_errors(gm, pm, res)
        lesion_ld = cl.error_layer_data(
            lerr, gaff, name=name, features=lfeats, colors=lcolors, metadata={**meta, "errors_mode": "by lesion"}
        )
    yield (3, total, "surface distance")
    surf = None
    label = opts["surface_label"]
    if res.mode == "foreground":
        label = 1
    if label is not None:
        # an organ's surface encloses its lesions (no cavities around the tumours)
        lesions = [] if res.mode == "foreground" or label in opts["lesion_labels"] else opts["lesion_labels"]
        surf = cl.distance_surface(gm, pm, res, label, gaff, include=lesions)
    yield (4, total, "done")
    return CompareOutcome(res, voxel_ld, lesion_ld, surf, residual)


class CompareWidget(QWidget):
    """Dockable comparison of a prediction Labels layer with a ground-truth Labels layer."""

    def __init__(self, viewer: napari.viewer.Viewer, parent=None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.outcome: CompareOutcome | None = None
        self.errors_layer = None
        self.surface_layer = None
        self._worker = None
        self._defaults_for = None

        # layer pickers typed by annotation, as in the napari plugin template
        self.gt_combo = create_widget(label="ground truth", annotation="napari.layers.Labels")
        self.pred_combo = create_widget(label="prediction", annotation="napari.layers.Labels")
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
            ]
        )
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.summary = QLabel("Pick the ground truth and the prediction and press Compare.")
        self.summary.setWordWrap(True)
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        self.class_table = self._table([h for h, _ in CLASS_TABLE])
        self.lesion_table = self._table([h for h, _ in LESION_TABLE])
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
        self.options_button.changed.connect(lambda *_: self.toggle_options())
        self.gt_combo.changed.connect(lambda *_: self._fill_defaults())
        self.pred_combo.changed.connect(lambda *_: self._fill_defaults())
        self.lesion_table.currentCellChanged.connect(lambda row, *_: self.go_to_lesion(row))
        for event in ("inserted", "removed", "reordered"):
            getattr(viewer.layers.events, event).connect(self.reset_choices)
        from ._common import WorkerGuard

        self.workers = WorkerGuard(self)
        self._show_legend()
        self.reset_choices()

    @staticmethod
    def _table(headers: list[str]) -> QTableWidget:
        t = QTableWidget(0, len(headers))
        t.setHorizontalHeaderLabels(headers)
        t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        t.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        t.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        return t

    # ------------------------------------------------------------------ inputs
    def _surface_choices(self, _widget=None) -> list:
        names = layer_label_names(self.gt_combo.value) if hasattr(self, "gt_combo") else {}
        return [(f"{v} {n}", int(v)) for v, n in sorted(names.items()) if int(v) != 0]

    def reset_choices(self, event=None) -> None:
        """Follow the layer list (napari also calls this when the widget is docked)."""
        own = {id(x) for x in (self.errors_layer,) if x is not None}
        self.controls.reset_choices()
        labels = [c for c in self.gt_combo.choices if c is not None and id(c) not in own]
        if labels:
            if self.gt_combo.value is None or id(self.gt_combo.value) in own:
                self.gt_combo.value = labels[0]
            if (
                self.pred_combo.value is None
                or self.pred_combo.value is self.gt_combo.value
                or id(self.pred_combo.value) in own
            ):
                others = [c for c in labels if c is not self.gt_combo.value]
                self.pred_combo.value = others[-1] if others else labels[0]
        self._fill_defaults()

    def _fill_defaults(self) -> None:
        """Lesion classes, surface class and class map from the layers' class names (never by value)."""
        from .._napari.compat import unwrap
        from ..labels import lesion_label_ids, organ_label_ids

        gt, pred = self.gt_combo.value, self.pred_combo.value
        key = (id(unwrap(gt)) if gt is not None else None, id(unwrap(pred)) if pred is not None else None)
        if key == self._defaults_for:
            return
        self._defaults_for = key
        gnames, pnames = layer_label_names(gt), layer_label_names(pred)
        self.lesion_text.value = format_label_list(lesion_label_ids(gnames))
        self.map_text.value = ", ".join(cl.suggest_map(gnames, pnames))
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
    def compute(self, *_args) -> None:
        """Start the comparison in a worker thread (the viewer stays responsive)."""
        from napari.qt.threading import thread_worker

        from ..geometry import grid_mismatch, reorient_onto

        gt_layer, pred_layer = self.gt_combo.value, self.pred_combo.value
        if gt_layer is None or pred_layer is None:
            self.summary.setText("Pick a ground-truth and a prediction Labels layer.")
            return
        if gt_layer is pred_layer:
            self.summary.setText("The ground truth and the prediction are the same layer.")
            return
        try:
            opts = self.options()
        except ValueError as exc:
            self.summary.setText(str(exc))
            return
        gt, gaff = layer_disk_view(gt_layer)
        pred, paff = layer_disk_view(pred_layer)
        for arr, layer in ((gt, gt_layer), (pred, pred_layer)):
            if arr.ndim != 3:
                self.summary.setText(f"Layer '{layer.name}' is not 3D (shape {arr.shape}).")
                return
        if not opts["resample"] and reorient_onto(pred, paff, gt.shape, gaff) is None:
            # checked here (cheap: affines only), so the expected error is a message, not a worker failure
            why = grid_mismatch(gt.shape, gaff, pred.shape, paff)
            self.summary.setText(
                f"Comparison failed: '{gt_layer.name}' (ground truth) and '{pred_layer.name}' (prediction) are not "
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

        def say(text: str) -> None:
            try:
                messages.message.emit(text)
            except RuntimeError:  # the widget was closed while the worker ran
                pass

        worker = thread_worker(_run)(
            gt, gaff, pred, paff, names, opts, say, (gt_layer.name, pred_layer.name), md.get("residual")
        )
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(self._on_result)
        worker.errored.connect(self._on_error)
        self.run_button.enabled = False
        self.progress.setVisible(True)
        self.progress.setValue(0)
        self.summary.setText("Comparing...")
        self._worker = self.workers.track(worker)
        worker.start()

    def _on_message(self, text: str) -> None:
        self.progress.setFormat(f"metrics: {text} (%v/%m)")

    def _on_progress(self, info) -> None:
        done, total, message = info
        self.progress.setMaximum(total)
        self.progress.setValue(done)
        self.progress.setFormat(f"{message} (%v/%m)")

    def _on_error(self, exc) -> None:
        self.run_button.enabled = True
        self.progress.setVisible(False)
        self.summary.setText(f"Comparison failed: {exc}")

    def _on_result(self, outcome: CompareOutcome) -> None:
        self.outcome = outcome
        self.run_button.enabled = True
        self.csv_button.enabled = self.json_button.enabled = True
        self.progress.setVisible(False)
        self._fill_tables()
        self._show_errors()
        self._show_surface()

    @property
    def result(self) -> CaseComparison | None:
        return self.outcome.result if self.outcome is not None else None

    # ------------------------------------------------------------------ display
    def _fill_tables(self) -> None:
        res = self.result
        for table, rows, cols in (
            (self.class_table, res.class_rows(), CLASS_TABLE),
            (self.lesion_table, res.lesion_rows(), LESION_TABLE),
        ):
            table.blockSignals(True)
            table.setRowCount(len(rows))
            for i, row in enumerate(rows):
                for j, (_, key) in enumerate(cols):
                    item = QTableWidgetItem(fmt_cell(key, row.get(key)))
                    if key == "status" and row.get(key) in cl.STATUS_COLORS:
                        from qtpy.QtGui import QColor

                        item.setBackground(QColor.fromRgbF(*cl.STATUS_COLORS[row[key]][:3], 0.45))
                        item.setText(f"{row[key]} ({cl.STATUS_NAMES[row[key]]})")
                    table.setItem(i, j, item)
            table.resizeColumnsToContents()
            table.blockSignals(False)
        parts = [f"{len(res.classes)} class(es), {res.mode} mode; NSD at {res.tolerance_mm:g} mm"]
        les = res.lesions
        if les is not None:
            parts.append(
                f"lesions ({les.connectivity}-connected, {les.match}): {les.n_gt} true, {les.n_pred} "
                f"predicted; TP {les.tp}, missed {les.fn}, false {les.fp}; F1 {fmt_cell('f1', les.f1)}; "
                f"merges {les.merges}, splits {les.splits}; PQ {fmt_cell('pq', les.pq)}"
            )
        else:
            parts.append("no lesion classes: no lesion analysis")
        parts += [f"note: {n}" for n in res.notes]
        parts.append(f"{res.seconds:.2f} s")
        self.summary.setText("; ".join(parts))
        if les is not None and les.lesions:
            self.tabs.setCurrentWidget(self.lesion_table)

    def _show_errors(self) -> None:
        """Add (or update) the errors layer in the chosen mode."""
        if self.outcome is None:
            self._show_legend()
            return
        ld = self.outcome.voxel_layer
        if self.mode_combo.value == "by lesion" and self.outcome.lesion_layer is not None:
            ld = self.outcome.lesion_layer
        data, kwargs, _kind = ld
        layer = self.errors_layer
        if layer is None or layer not in self.viewer.layers:
            self.errors_layer = self.viewer.add_labels(data, **kwargs)
        else:
            layer.data = data
            layer.colormap = kwargs["colormap"]
            layer.features = kwargs["features"]
            layer.metadata = kwargs["metadata"]
            layer.name = kwargs["name"]
            layer.refresh()
        self._show_legend()

    def _show_legend(self) -> None:
        def swatch(rgba, text):
            r, g, b = (int(255 * c) for c in rgba[:3])
            return f"<span style='color:rgb({r},{g},{b})'>&#9632;</span>&nbsp;{text}"

        if self.mode_combo.value == "by lesion":
            items = [swatch(cl.STATUS_COLORS[s], f"{n} lesion") for s, n in cl.STATUS_NAMES.items()]
        else:
            items = [swatch(cl.KIND_COLORS[k], n) for k, n in cl.ERROR_KINDS.items()]
        text = "errors: " + " &nbsp; ".join(items)
        surf = self.outcome.surface if self.outcome is not None else None
        if surf is not None and len(surf.faces):
            lim = surf.limit
            text += (
                f"<br>surface ({surf.name}): <span style='color:rgb(33,102,172)'>&#9632;</span> "
                f"-{lim:g} mm inside &nbsp;&#9632; 0 &nbsp;<span style='color:rgb(178,24,43)'>&#9632;</span> "
                f"+{lim:g} mm outside the truth (colour bar in 3D)"
            )
        self.legend.setText(text)

    def _show_surface(self) -> None:
        surf = self.outcome.surface
        if self.surface_layer is not None and self.surface_layer in self.viewer.layers:
            self.viewer.layers.remove(self.surface_layer)
        self.surface_layer = None
        if surf is None or len(surf.faces) == 0:
            self._show_legend()
            return
        data, kwargs, _ = surf.layer_data(self.outcome.residual)
        self.surface_layer = self.viewer.add_surface(data, **kwargs)
        if hasattr(self.surface_layer, "colorbar"):
            self.surface_layer.colorbar.visible = True
        from .._napari.surfaces import fix_surface_visual

        fix_surface_visual(self.viewer, self.surface_layer)  # lit from the viewer's side in 3D
        self._show_legend()
        if self.errors_layer is not None:
            self.viewer.layers.selection.active = self.errors_layer

    # ------------------------------------------------------------------ navigation / export
    def lesion_target(self, row: int) -> dict | None:
        """``{"centroid_world", "max_diameter_mm", "id"}`` of lesion row ``row`` (0-based), or None."""
        from ..geometry import ras_to_world

        res = self.result
        if res is None or res.lesions is None or not 0 <= row < len(res.lesions.lesions):
            return None
        les = res.lesions.lesions[row]
        world = ras_to_world(np.asarray(les.centroid_ras, float), self.outcome.residual)
        return {"id": les.id, "centroid_world": [float(v) for v in world], "max_diameter_mm": les.diameter_mm}

    def go_to_lesion(self, row: int) -> None:
        """Move the sliders to lesion ``row``'s slice and centre the camera on it (2D and 3D)."""
        from .._napari.scene3d import go_to_lesion

        target = self.lesion_target(row)
        if target is None:
            return
        # a wider view than the 3D navigator's (at least 12 cm across): the errors
        # around the lesion matter too
        fill = min(0.4, max(float(target["max_diameter_mm"] or 0.0), 1.0) / 120.0)
        go_to_lesion(self.viewer, target, marker=True, fill=fill)
        if self.errors_layer is not None and self.errors_layer in self.viewer.layers:
            self.viewer.layers.selection.active = self.errors_layer

    def export(self, fmt: str, path: str | None = None) -> str | None:
        """Write the CLI's CSV or JSON (``napari-liverct compare --format csv|json``)."""
        from ..compare.report import comparison_to_csv, comparison_to_json

        if self.result is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Export comparison", f"compare.{fmt}", "CSV (*.csv)" if fmt == "csv" else "JSON (*.json)"
            )
            if not path:
                return None
        text = comparison_to_csv(self.result) if fmt == "csv" else comparison_to_json(self.result) + "\n"
        from ..outputs import atomic_write_text

        atomic_write_text(path, text, newline="")  # a unit: never a half-written export
        return str(path)
