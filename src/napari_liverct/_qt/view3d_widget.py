"""3D tumour view dock widget: 3D rendering, tumours only, clipping, lesion navigator, surfaces.

Thin Qt layer over :mod:`napari_liverct._napari.scene3d` (napari helpers) and
:mod:`napari_liverct.mesh` (pure meshes and export).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .._napari import scene3d as scene
from .._napari.compat import unwrap
from .._napari.layer_utils import (
    default_label_roles,
    format_label_list,
    label_color,
    labels_present,
    layer_label_names,
    parse_label_list,
)
from .._napari.surfaces import AUTO_SURFACE_VOXELS
from ..mesh import COORDINATE_SYSTEMS, export_meshes

if TYPE_CHECKING:
    import napari

_AXES = {"off": None, "S (axial)": 0, "P (coronal)": 1, "L (sagittal)": 2}
#: "3D rendering" choices -> view3d_scene mode (None: by volume size).
_MODES = {"auto": None, "volume (exact)": "volume", "surfaces (fast)": "surfaces"}
#: CT downsampling of the surfaces view with "3D resolution: auto"
#: (benchmarks/bench_render3d.py, 512 x 512 x 600, llvmpipe: ~0.4 s/frame at 1/4,
#: ~0.8 s at 1/2, 26 ms for the surfaces alone).
SURFACES_CT_FACTOR = 4
#: Idle time (ms) after the last camera move before the CT is shown again.
MOVING_IDLE_MS = 300


class View3DWidget(QWidget):
    """Dock widget for inspecting tumours in 3D (see the module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.view: scene.View3DLayers | None = None
        self.lesions: list[dict] = []
        self.current = 0
        self.meshes: list = []
        self._worker = None
        self._view_meshes: dict = {}  # (id(labels layer), id(data)) -> meshes of the fast view
        self._watched: set = set()
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.setInterval(MOVING_IDLE_MS)
        self._idle.timeout.connect(self._camera_idle)
        self._ct_hidden_moving = False
        self._software: bool | None = None  # software OpenGL? (asked once)

        # the controls sit in a scroll area: docked under another widget the dock
        # gets short, and a plain layout would squash every row to a few pixels
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        content = QWidget()
        scroll.setWidget(content)
        outer.addWidget(scroll)
        self.scroll = scroll
        scroll.setMinimumHeight(200)  # a useful handful of rows even when stacked
        from ._common import fit_dock_title

        fit_dock_title(self, "3D tumour view")
        lay = QVBoxLayout(content)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.image_combo, self.labels_combo = QComboBox(), QComboBox()
        form.addRow("Image", self.image_combo)
        form.addRow("Labels", self.labels_combo)
        self.resolution = QComboBox()
        self.resolution.addItems(["auto", "full", "1/2", "1/4"])
        self.resolution.setToolTip("downsampled 3D rendering stays interactive on large volumes")
        form.addRow("3D resolution", self.resolution)
        self.render_mode = QComboBox()
        self.render_mode.addItems(list(_MODES))
        self.render_mode.setToolTip(
            "volume: labels ray cast voxel by voxel (exact, slow without a GPU); surfaces: "
            "smoothed meshes of the labels (fast, built once); auto: surfaces above "
            f"{AUTO_SURFACE_VOXELS[0] / 1e6:g} M voxels with software OpenGL "
            f"(no GPU), above {AUTO_SURFACE_VOXELS[1] / 1e6:g} M with a GPU"
        )
        form.addRow("3D rendering", self.render_mode)
        self.hide_ct_moving = QCheckBox("Hide the CT while the camera moves")
        self.hide_ct_moving.setChecked(True)
        self.hide_ct_moving.setToolTip(
            "surfaces mode: the CT is ray cast in software (~0.4 s per frame on a large volume); "
            f"it is hidden while rotating/zooming and shown again {MOVING_IDLE_MS} ms after the last move"
        )
        form.addRow(self.hide_ct_moving)
        lay.addLayout(form)
        lay.addWidget(QLabel("<b>Labels</b> (default from the class names)"))
        roles = QFormLayout()
        self.organ_edit, self.lesion_edit = QLineEdit(), QLineEdit()
        self.organ_edit.setPlaceholderText("none, e.g. 1")
        self.lesion_edit.setPlaceholderText("none, e.g. 2")
        self.organ_edit.setToolTip("label numbers of the organ (comma separated)")
        self.lesion_edit.setToolTip(
            "label numbers drawn as opaque lesions and walked by the navigator; empty: no lesions "
            "(a label is never a tumour because of its number)"
        )
        roles.addRow("Organ labels", self.organ_edit)
        roles.addRow("Lesion labels", self.lesion_edit)
        lay.addLayout(roles)
        self.show_list = QListWidget()
        self.show_list.setToolTip("the labels drawn in 3D, each in its labels-layer colour")
        self.show_list.setMinimumHeight(70)
        self.show_list.setMaximumHeight(130)
        lay.addWidget(self.show_list)
        row0 = QHBoxLayout()
        self.btn_show_all = QPushButton("All")
        self.btn_show_roles = QPushButton("Organ + lesions")
        self.btn_show_none = QPushButton("None")
        for b in (self.btn_show_all, self.btn_show_roles, self.btn_show_none):
            row0.addWidget(b)
        lay.addLayout(row0)
        row = QHBoxLayout()
        self.btn_3d, self.btn_2d = QPushButton("Show in 3D"), QPushButton("Back to 2D")
        row.addWidget(self.btn_3d)
        row.addWidget(self.btn_2d)
        lay.addLayout(row)
        form2 = QFormLayout()
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(35)
        form2.addRow("Other labels opacity", self.opacity)
        self.tumours_only = QCheckBox("Lesions only")
        form2.addRow(self.tumours_only)
        self.clip_axis = QComboBox()
        self.clip_axis.addItems(list(_AXES))
        self.clip_pos = QSlider(Qt.Orientation.Horizontal)
        self.clip_pos.setRange(0, 100)
        self.clip_pos.setValue(50)
        self.clip_flip = QCheckBox("keep the other side")
        form2.addRow("Clip along", self.clip_axis)
        form2.addRow("Clip position", self.clip_pos)
        form2.addRow(self.clip_flip)
        lay.addLayout(form2)
        nav = QHBoxLayout()
        self.btn_prev, self.btn_next = QPushButton("◀ Previous"), QPushButton("Next ▶")
        nav.addWidget(self.btn_prev)
        nav.addWidget(self.btn_next)
        lay.addWidget(QLabel("<b>Lesions</b> (1 = largest)"))
        lay.addLayout(nav)
        self.lesion_label = QLabel("no lesions yet")
        self.lesion_label.setWordWrap(True)
        lay.addWidget(self.lesion_label)
        form3 = QFormLayout()
        self.smooth = QSpinBox()
        self.smooth.setRange(0, 100)
        self.smooth.setValue(15)
        self.decimate = QDoubleSpinBox()
        self.decimate.setRange(0.0, 0.95)
        self.decimate.setSingleStep(0.1)
        self.decimate.setValue(0.5)
        self.step = QSpinBox()
        self.step.setRange(1, 4)
        self.coords = QComboBox()
        self.coords.addItems(list(COORDINATE_SYSTEMS))
        form3.addRow("Smoothing passes", self.smooth)
        form3.addRow("Decimate (fraction removed)", self.decimate)
        form3.addRow("Marching-cubes step", self.step)
        form3.addRow("Export coordinates", self.coords)
        lay.addWidget(QLabel("<b>Surfaces</b>"))
        lay.addLayout(form3)
        row2 = QHBoxLayout()
        self.btn_surf, self.btn_export = QPushButton("Build surfaces"), QPushButton("Export…")
        row2.addWidget(self.btn_surf)
        row2.addWidget(self.btn_export)
        lay.addLayout(row2)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        lay.addStretch(1)
        # wide enough for the rows and a vertical scroll bar: no horizontal scrolling
        # (combo boxes do not widen the dock to fit long layer names)
        for combo in content.findChildren(QComboBox):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._content = content
        self._fit_width()

        # clicked(bool) passes `checked` (False) as the first argument: every slot
        # with a parameter (show_2d(ndisplay), show_3d(blocking)...) is wrapped in a
        # lambda that drops it (tests click the real buttons)
        self.btn_3d.clicked.connect(lambda _checked=False: self.show_3d())
        self.btn_2d.clicked.connect(lambda _checked=False: self.show_2d())
        self.opacity.valueChanged.connect(lambda v: self.set_liver_opacity(v / 100.0))
        self.tumours_only.toggled.connect(lambda flag: self.set_tumours_only(bool(flag)))
        for w in (self.clip_axis.currentIndexChanged, self.clip_pos.valueChanged, self.clip_flip.toggled):
            w.connect(lambda *_: self._apply_clipping())
        self.btn_prev.clicked.connect(lambda _checked=False: self.previous_lesion())
        self.btn_next.clicked.connect(lambda _checked=False: self.next_lesion())
        self.btn_surf.clicked.connect(lambda _checked=False: self.build_surfaces())
        self.btn_export.clicked.connect(lambda _checked=False: self._export_dialog())
        self.btn_show_all.clicked.connect(lambda _checked=False: self.set_shown_labels(None))
        self.btn_show_none.clicked.connect(lambda _checked=False: self.set_shown_labels([]))
        self.btn_show_roles.clicked.connect(
            lambda _checked=False: self.set_shown_labels(self.organ_labels() + self.lesion_labels())
        )
        self.labels_combo.currentTextChanged.connect(lambda _t: self._labels_changed())
        self.lesion_edit.editingFinished.connect(self._roles_changed)
        self.organ_edit.editingFinished.connect(self._roles_changed)
        self._roles_for = None  # id of the labels layer the role fields were filled for
        self._connections = []
        ev = viewer.layers.events
        for e in (ev.inserted, ev.removed, ev.reordered):
            e.connect(self._refresh_layers)
            self._connections.append((e, self._refresh_layers))
        cam = scene.camera_of(viewer)
        for name in ("angles", "zoom", "center"):
            getattr(cam.events, name).connect(self._camera_moved)
            self._connections.append((getattr(cam.events, name), self._camera_moved))
        from ._common import WorkerGuard

        self.workers = WorkerGuard(self)
        self.destroyed.connect(lambda *_, c=list(self._connections): _disconnect_all(c))
        self._refresh_layers()
        self._labels_changed()

    # -- layer choice ---------------------------------------------------------------
    def _refresh_layers(self, event=None) -> None:
        from napari.layers import Image, Labels

        for combo, kind in ((self.image_combo, Image), (self.labels_combo, Labels)):
            current = combo.currentText()
            names = [
                lay.name
                for lay in self.viewer.layers
                if isinstance(lay, kind) and not (lay.metadata or {}).get(scene.VIEW_TAG)
            ]
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            if current in names:
                combo.setCurrentText(current)
            combo.blockSignals(False)

        self._labels_changed()

    def _fit_width(self) -> None:
        need = self._content.minimumSizeHint().width() + self.scroll.verticalScrollBar().sizeHint().width() + 4
        if need > self.minimumWidth():
            self.setMinimumWidth(need)

    def showEvent(self, event):  # noqa: N802 - Qt API
        self._fit_width()
        super().showEvent(event)

    # -- label roles and the labels shown -------------------------------------------
    def _labels_changed(self) -> None:
        """Fill the role fields (from the class names) and the label list for a new labels layer."""
        lab = self.labels_layer
        if lab is None:
            self._roles_for = None
            self.show_list.clear()
            return
        if self._roles_for == id(lab):
            return
        self._roles_for = id(lab)
        organ, lesion = default_label_roles(lab)
        self.organ_edit.setText(format_label_list(organ))
        self.lesion_edit.setText(format_label_list(lesion))
        names = layer_label_names(lab)
        self.show_list.blockSignals(True)
        self.show_list.clear()
        for v in labels_present(lab):
            item = QListWidgetItem(f"{v}  {names.get(v, f'label {v}')}")
            item.setData(Qt.ItemDataRole.UserRole, int(v))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            pix = QPixmap(12, 12)
            pix.fill(QColor.fromRgbF(*label_color(lab, v)[:3]))
            item.setIcon(QIcon(pix))
            self.show_list.addItem(item)
        self.show_list.blockSignals(False)
        self.lesions = []
        self.current = 0
        self.lesion_label.setText(
            "no lesions yet" if lesion else "no lesion class: name one in 'Lesion labels' to walk lesions"
        )

    def _roles_changed(self) -> None:
        """The user edited the organ/lesion labels: the lesion list is recomputed on demand."""
        try:
            self.lesion_labels()
            self.organ_labels()
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        self.lesions = []
        self.current = 0
        self.lesion_label.setText("lesions: press Next" if self.lesion_labels() else "no lesion class chosen")

    def organ_labels(self) -> list[int]:
        """Label values the user says are the organ (default from the class names)."""
        return parse_label_list(self.organ_edit.text(), "Organ labels")

    def lesion_labels(self) -> list[int]:
        """Label values the user says are lesions; empty: no lesions."""
        return parse_label_list(self.lesion_edit.text(), "Lesion labels")

    def set_label_roles(self, organ=None, lesion=None) -> None:
        """Set the organ and/or lesion label values (as if typed)."""
        if organ is not None:
            self.organ_edit.setText(format_label_list(organ))
        if lesion is not None:
            self.lesion_edit.setText(format_label_list(lesion))
        self._roles_changed()

    def shown_labels(self) -> list[int]:
        """Label values ticked in the list (drawn in 3D)."""
        out = []
        for i in range(self.show_list.count()):
            item = self.show_list.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(int(item.data(Qt.ItemDataRole.UserRole)))
        return out

    def set_shown_labels(self, values) -> None:
        """Tick exactly ``values`` (None: all) in the list of labels to draw."""
        keep = None if values is None else {int(v) for v in values}
        for i in range(self.show_list.count()):
            item = self.show_list.item(i)
            on = keep is None or int(item.data(Qt.ItemDataRole.UserRole)) in keep
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def _layer(self, combo):
        name = combo.currentText()
        if not name or name not in self.viewer.layers:
            return None
        # the layer itself, not napari's per-access proxy: its id keys the mesh cache
        return unwrap(self.viewer.layers[name])

    @property
    def image_layer(self):
        return self._layer(self.image_combo)

    @property
    def labels_layer(self):
        return self._layer(self.labels_combo)

    # -- 3D view --------------------------------------------------------------------
    def _factor(self) -> int:
        choice = self.resolution.currentText()
        if choice == "auto":
            src = self.image_layer or self.labels_layer
            return scene.auto_downsample(src.data.shape[-3:]) if src is not None else 1
        return {"full": 1, "1/2": 2, "1/4": 4}[choice]

    def _mode(self) -> str:
        mode = _MODES[self.render_mode.currentText()]
        if mode is None:
            src = self.labels_layer or self.image_layer
            if self._software is None:
                self._software = scene.software_gl(self.viewer)
            mode = scene.auto_render_mode(src.data.shape[-3:], self._software) if src is not None else "volume"
        return mode

    def _mesh_key(self, lab, shown=None):
        shown = self.shown_labels() if shown is None else shown
        return (id(lab), id(lab.data), tuple(shown))

    def show_3d(self, blocking: bool = False):
        """Switch to the 3D view of the chosen image and labels.

        In surfaces mode the meshes are built once per labels layer (in a worker
        thread unless ``blocking``; returned) and reused until the labels change.
        """
        if self.image_layer is None and self.labels_layer is None:
            self.status.setText("open an image or labels first")
            return None
        lab, mode = self.labels_layer, self._mode()
        try:
            lesion_labels = self.lesion_labels()
        except ValueError as exc:
            self.status.setText(str(exc))
            return None
        shown = self.shown_labels()
        if mode == "surfaces" and lab is not None and self._mesh_key(lab, shown) not in self._view_meshes:
            self._watch(lab)
            key = self._mesh_key(lab, shown)
            if blocking:
                self._view_meshes[key] = scene.view_surfaces(lab, label_values=shown)
            else:
                from napari.qt.threading import thread_worker

                from ._common import preload_worker_imports

                preload_worker_imports()
                worker = thread_worker(scene.view_surfaces, progress={"desc": "Building 3D surfaces"})(
                    lab, label_values=shown
                )

                def done(meshes):
                    if self.workers.closed:
                        return
                    self._view_meshes[key] = meshes
                    self.show_3d(blocking=True)

                worker.returned.connect(done)
                worker.errored.connect(lambda e: self.status.setText(f"3D surfaces failed: {e}"))
                self.status.setText("building the 3D surfaces…")
                self._worker = self.workers.track(worker)
                worker.start()
                return worker
        self.show_2d()
        meshes = self._view_meshes.get(self._mesh_key(lab, shown)) if lab is not None else None
        image_factor = None
        if mode == "surfaces" and self.resolution.currentText() == "auto":
            image_factor = max(SURFACES_CT_FACTOR, self._factor())
        self.view = scene.setup_3d_view(
            self.viewer,
            self.image_layer,
            lab,
            factor=self._factor(),
            liver_opacity=self.opacity.value() / 100.0,
            tumours_only=self.tumours_only.isChecked(),
            mode=mode,
            meshes=meshes,
            image_factor=image_factor,
            lesion_labels=lesion_labels,
            show_labels=shown,
        )
        self._apply_clipping()
        f = self.view.factor
        if mode == "surfaces":
            ct = "" if self.view.image is None else f", CT at 1/{self.view.image_factor}"
            faces = ", ".join(f"{s.metadata['name']} {len(s.data[1])}" for s in self.view.surfaces)
            self.status.setText(f"3D view: surfaces ({faces} faces{ct}); choose 'volume (exact)' for voxels")
        else:
            self.status.setText("3D view: volume" + (f" at 1/{f} resolution" if f > 1 else ""))
        return None

    def _watch(self, lab) -> None:
        """Forget the cached meshes of ``lab`` when its labels are edited or replaced."""
        if id(lab) in self._watched:
            return
        self._watched.add(id(lab))

        lab_id = id(lab)

        def forget(event=None, lid=lab_id):
            for key in [k for k in self._view_meshes if k[0] == lid]:
                del self._view_meshes[key]

        for name in ("data", "paint", "labels_update"):
            ev = getattr(lab.events, name, None)
            if ev is not None:
                ev.connect(forget)

    def show_2d(self, ndisplay: int = 2) -> None:
        """Remove the 3D view layers and go back to the 2D slices."""
        self._idle.stop()
        self._ct_hidden_moving = False
        scene.teardown_3d_view(self.viewer, self.view, ndisplay=ndisplay)
        self.view = None

    # -- fast while moving ------------------------------------------------------------
    def _camera_moved(self, event=None) -> None:
        """Surfaces mode: hide the (slow) CT while the camera moves, see :meth:`_camera_idle`."""
        v = self.view
        if v is None or v.mode != "surfaces" or v.image is None or not self.hide_ct_moving.isChecked():
            return
        if v.image.visible and not self._ct_hidden_moving:
            self._ct_hidden_moving = True
            v.image.visible = False
        if self._ct_hidden_moving:
            self._idle.start()  # restarts the single shot: fires MOVING_IDLE_MS after the last move

    def _camera_idle(self) -> None:
        if self._ct_hidden_moving and self.view is not None and self.view.image is not None:
            self.view.image.visible = True
        self._ct_hidden_moving = False

    def set_liver_opacity(self, value: float) -> None:
        self.opacity.blockSignals(True)
        self.opacity.setValue(int(round(value * 100)))
        self.opacity.blockSignals(False)
        if self.view is not None:
            self.view.set_liver_opacity(float(value))

    def set_tumours_only(self, flag: bool) -> None:
        """Hide (True) or show the liver and other non-tumour labels in 3D."""
        if self.tumours_only.isChecked() != bool(flag):
            self.tumours_only.setChecked(bool(flag))  # re-enters through the signal
            return
        if self.view is not None:
            self.view.set_tumours_only(bool(flag))

    def set_clipping(self, axis: int | None, fraction: float = 0.5, keep_above: bool = True) -> None:
        """Clip the 3D view along world axis (0 S, 1 P, 2 L) at ``fraction`` of the volume extent."""
        key = next(k for k, v in _AXES.items() if v == axis)
        for w in (self.clip_axis, self.clip_pos, self.clip_flip):
            w.blockSignals(True)
        self.clip_axis.setCurrentText(key)
        self.clip_pos.setValue(int(round(fraction * 100)))
        self.clip_flip.setChecked(not keep_above)
        for w in (self.clip_axis, self.clip_pos, self.clip_flip):
            w.blockSignals(False)
        self._apply_clipping()

    def _apply_clipping(self, *args) -> None:
        if self.view is None or not self.view.layers:
            return
        axis = _AXES[self.clip_axis.currentText()]
        exts = np.array([np.asarray(lay.extent.world, float)[:, -3:] for lay in self.view.layers])
        ext = np.array([exts[:, 0].min(0), exts[:, 1].max(0)])
        pos = 0.0 if axis is None else ext[0, axis] + (ext[1, axis] - ext[0, axis]) * self.clip_pos.value() / 100
        scene.set_clipping(self.view.layers, axis, pos, keep_above=not self.clip_flip.isChecked())

    # -- lesions --------------------------------------------------------------------
    def refresh_lesions(self) -> list[dict]:
        """Recompute the lesion list (``stats.lesion_stats``) of the chosen labels."""
        lab = self.labels_layer
        values = self.lesion_labels() if lab is not None else []
        self.lesions = scene.lesion_list(lab, self.image_layer, lesion_labels=values) if values else []
        self.current = 0
        if lab is None:
            self.lesion_label.setText("choose a labels layer")
        elif not values:
            self.lesion_label.setText("no lesion class: name one in 'Lesion labels' to walk lesions")
        elif not self.lesions:
            self.lesion_label.setText(f"no lesions (no voxel of label {format_label_list(values)})")
        return self.lesions

    def go_to_lesion(self, n: int) -> dict:
        """Centre and zoom the camera on lesion ``n`` (1 = largest), 2D or 3D."""
        if not self.lesions:
            self.refresh_lesions()
        if not 1 <= n <= len(self.lesions):
            raise ValueError(
                f"{self.labels_layer.name if self.labels_layer else 'labels'}: "
                f"lesion {n} does not exist ({len(self.lesions)} lesions)"
            )
        self.current = n
        les = self.lesions[n - 1]
        scene.go_to_lesion(self.viewer, les)
        self.lesion_label.setText(
            f"lesion {n}/{len(self.lesions)}: {les['volume_ml']:.2f} mL, max diameter "
            f"{les['max_diameter_mm']:.1f} mm, slices {les['slice_range'][0]}-{les['slice_range'][1]}"
        )
        return les

    def next_lesion(self) -> None:
        if not self.lesions:
            self.refresh_lesions()
        if self.lesions:
            self.go_to_lesion(self.current % len(self.lesions) + 1)

    def previous_lesion(self) -> None:
        if not self.lesions:
            self.refresh_lesions()
        if self.lesions:
            self.go_to_lesion((self.current - 2) % len(self.lesions) + 1)

    # -- surfaces -------------------------------------------------------------------
    def build_surfaces(self, blocking: bool = False):
        """Marching-cubes meshes of the chosen labels as Surface layers (in a worker thread)."""
        lab = self.labels_layer
        if lab is None:
            self.status.setText("choose a labels layer")
            return None
        shown = self.shown_labels()
        if not shown:
            self.status.setText("tick at least one label to build its surface")
            return None
        try:
            lesion_labels = self.lesion_labels()
        except ValueError as exc:
            self.status.setText(str(exc))
            return None
        opts = dict(
            step_size=self.step.value(),
            smooth_iterations=self.smooth.value(),
            decimate=self.decimate.value(),
            label_values=shown,
        )
        residual = (lab.metadata or {}).get("residual")
        colors = {v: label_color(lab, v) for v in shown}

        def done(meshes):
            if self.workers.closed:
                return
            self.meshes = meshes
            scene.add_surface_layers(self.viewer, meshes, residual, tumour_labels=lesion_labels, colors=colors)
            self.status.setText(", ".join(f"{m.name}: {len(m.faces)} faces" for m in meshes) or "no labels")

        if blocking:
            done(scene.build_surfaces(lab, **opts))
            return None
        from napari.qt.threading import thread_worker

        from ._common import preload_worker_imports

        preload_worker_imports()
        worker = thread_worker(scene.build_surfaces, progress={"desc": "Building surfaces"})(lab, **opts)
        worker.returned.connect(done)
        worker.errored.connect(lambda e: self.status.setText(f"surfaces failed: {e}"))
        self.status.setText("building surfaces…")
        self._worker = self.workers.track(worker)
        worker.start()
        return worker

    def export_surfaces(self, path, coordinate_system: str | None = None):
        """Write the last built surfaces to .obj/.ply/.stl (default coordinates from the combo box)."""
        if not self.meshes:
            raise ValueError("build the surfaces first")
        out = export_meshes(path, self.meshes, coordinate_system or self.coords.currentText())
        self.status.setText(f"wrote {out}")
        return out

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export surfaces", "surfaces.stl", "Meshes (*.stl *.obj *.ply)")
        if path:
            try:
                self.export_surfaces(path)
            except (ValueError, OSError) as exc:
                self.status.setText(str(exc))


def _disconnect_all(connections) -> None:
    """Disconnect (emitter, callback) pairs from napari's event emitters (widget destroyed)."""
    for emitter, cb in connections:
        try:
            emitter.disconnect(cb)
        except Exception:  # noqa: BLE001 - the viewer may be gone already
            pass
