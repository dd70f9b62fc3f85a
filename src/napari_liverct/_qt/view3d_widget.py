"""3D tumour view dock widget: 3D rendering, tumours only, clipping, lesion navigator, surfaces.

Thin Qt layer: the state (view layers, mesh cache, lesion cursor, the CT hidden while
the camera moves) lives in :class:`~napari_liverct._napari.view3d_model.View3DModel`,
the napari work in :mod:`~napari_liverct._napari.scene3d`, the meshes in :mod:`napari_liverct.display.mesh`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
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
from .._napari.pick import layer_choices
from .._napari.surfaces import AUTO_SURFACE_VOXELS
from .._napari.view3d_model import View3DModel, ct_factor
from . import _controls as ui
from .surfaces_panel import SurfacesPanel

if TYPE_CHECKING:
    import napari

_AXES = {"off": None, "S (axial)": 0, "P (coronal)": 1, "L (sagittal)": 2}
#: "3D rendering" choices -> view3d_scene mode (None: by volume size).
_MODES = {"auto": None, "volume (exact)": "volume", "surfaces (fast)": "surfaces"}
#: Idle time (ms) after the last camera move before the CT is shown again.
MOVING_IDLE_MS = 300


class View3DWidget(ui.ScrollDock):
    """Dock widget for inspecting tumours in 3D (see the module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer, parent=None):
        super().__init__("3D tumour view", parent)
        self.viewer = viewer
        self.model = View3DModel(viewer)
        self._worker = None
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.setInterval(MOVING_IDLE_MS)
        self._idle.timeout.connect(self.model.camera_idle)
        self._software: bool | None = None  # software OpenGL? (asked once)
        lay = self.content_layout
        self.image_combo = ComboBox(choices=layer_choices(viewer, "image"))
        self.labels_combo = ComboBox(choices=layer_choices(viewer, "labels"))
        self.resolution = ui.combo(["auto", "full", "1/2", "1/4"], "downsampled 3D rendering stays interactive")
        self.render_mode = ui.combo(
            list(_MODES),
            "volume: labels ray cast voxel by voxel (exact, slow without a GPU); surfaces: "
            "smoothed meshes of the labels (fast, built once); auto: surfaces above "
            f"{AUTO_SURFACE_VOXELS[0] / 1e6:g} M voxels with software OpenGL "
            f"(no GPU), above {AUTO_SURFACE_VOXELS[1] / 1e6:g} M with a GPU",
        )
        self.hide_ct_moving = QCheckBox("Hide the CT while the camera moves")
        self.hide_ct_moving.setChecked(True)
        self.hide_ct_moving.setToolTip(
            "surfaces mode: the CT is ray cast in software (~0.4 s per frame on a large volume); "
            f"it is hidden while rotating/zooming and shown again {MOVING_IDLE_MS} ms after the last move"
        )
        form = ui.form(
            lay,
            ("Image", self.image_combo.native),
            ("Labels", self.labels_combo.native),
            ("3D resolution", self.resolution),
            ("3D rendering", self.render_mode),
            (None, self.hide_ct_moving),
        )
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        lay.addWidget(QLabel("<b>Labels</b> (default from the class names)"))
        self.organ_edit, self.lesion_edit = QLineEdit(), QLineEdit()
        self.organ_edit.setPlaceholderText("none, e.g. 1")
        self.lesion_edit.setPlaceholderText("none, e.g. 2")
        self.organ_edit.setToolTip("label numbers of the organ (comma separated)")
        self.lesion_edit.setToolTip(
            "label numbers drawn as opaque lesions and walked by the navigator; empty: no lesions "
            "(a label is never a tumour because of its number)"
        )
        ui.form(lay, ("Organ labels", self.organ_edit), ("Lesion labels", self.lesion_edit))
        self.show_list = ui.LabelChecklist()
        self.show_list.setToolTip("the labels drawn in 3D, each in its labels-layer colour")
        self.show_list.setMinimumHeight(70)
        self.show_list.setMaximumHeight(130)
        lay.addWidget(self.show_list)
        self.btn_show_all, self.btn_show_roles, self.btn_show_none = ui.buttons(lay, "All", "Organ + lesions", "None")
        self.btn_3d, self.btn_2d = ui.buttons(lay, "Show in 3D", "Back to 2D")
        self.opacity = ui.slider(35)
        self.tumours_only = QCheckBox("Lesions only")
        self.clip_axis = ui.combo(list(_AXES))
        self.clip_pos = ui.slider(50)
        self.clip_flip = QCheckBox("keep the other side")
        ui.form(
            lay,
            ("Other labels opacity", self.opacity),
            (None, self.tumours_only),
            ("Clip along", self.clip_axis),
            ("Clip position", self.clip_pos),
            (None, self.clip_flip),
        )
        lay.addWidget(QLabel("<b>Lesions</b> (1 = largest)"))
        self.btn_prev, self.btn_next = ui.buttons(lay, "◀ Previous", "Next ▶")
        self.lesion_label = QLabel(self.model.cursor.text)
        self.lesion_label.setWordWrap(True)
        lay.addWidget(self.lesion_label)
        self.surfaces = SurfacesPanel(self)
        lay.addWidget(self.surfaces)
        sp = self.surfaces
        self.decimate, self.smooth, self.step, self.btn_surf = sp.decimate, sp.smooth, sp.step, sp.btn_surf
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.finish_layout()

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
        self.btn_show_all.clicked.connect(lambda _checked=False: self.set_shown_labels(None))
        self.btn_show_none.clicked.connect(lambda _checked=False: self.set_shown_labels([]))
        self.btn_show_roles.clicked.connect(
            lambda _checked=False: self.set_shown_labels(self.organ_labels() + self.lesion_labels())
        )
        self.labels_combo.changed.connect(lambda *_: self._labels_changed())
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
        from .work import WidgetWork

        self.work = WidgetWork(self, "3D tumour view", status=self.status.setText)
        self.workers = self.work.guard
        self.destroyed.connect(lambda *_, c=list(self._connections): ui.disconnect_all(c))
        self._refresh_layers()
        self._labels_changed()

    # -- layer choice ---------------------------------------------------------------
    def _refresh_layers(self, event=None) -> None:
        for box in (self.image_combo, self.labels_combo):
            with box.changed.blocked():
                box.reset_choices()
        self._labels_changed()

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
        shown = labels_present(lab)
        self.show_list.fill(shown, layer_label_names(lab), {v: label_color(lab, v) for v in shown})
        self.model.cursor.reset(lesion)
        self.lesion_label.setText(self.model.cursor.text)

    def _roles_changed(self) -> None:
        """The user edited the organ/lesion labels: the lesion list is recomputed on demand."""
        try:
            self.lesion_labels(), self.organ_labels()
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        self.model.cursor.reset(self.lesion_labels())
        self.lesion_label.setText("lesions: press Next" if self.lesion_labels() else "no lesion class chosen")

    def organ_labels(self) -> list[int]:
        """Label values the user says are the organ (default from the class names)."""
        return parse_label_list(self.organ_edit.text(), "Organ labels")

    def lesion_labels(self) -> list[int]:
        """Label values the user says are lesions; empty: no lesions."""
        return parse_label_list(self.lesion_edit.text(), "Lesion labels")

    def shown_labels(self) -> list[int]:
        """Label values ticked in the list (drawn in 3D)."""
        return self.show_list.checked()

    def set_shown_labels(self, values) -> None:
        """Tick exactly ``values`` (None: all) in the list of labels to draw."""
        self.show_list.check_only(values)

    def _layer(self, combo):
        layer = combo.value
        if layer is None or layer not in self.viewer.layers:
            return None
        # the layer itself, not napari's per-access proxy: its id keys the mesh cache
        return unwrap(layer)

    @property
    def image_layer(self):
        return self._layer(self.image_combo)

    @property
    def labels_layer(self):
        return self._layer(self.labels_combo)

    # -- 3D view --------------------------------------------------------------------
    def _factor(self) -> int:
        return self.model.downsampling(self.resolution.currentText(), self.image_layer or self.labels_layer)

    def _mode(self) -> str:
        if self._software is None and _MODES[self.render_mode.currentText()] is None:
            self._software = scene.software_gl(self.viewer)
        return self.model.render_mode(
            _MODES[self.render_mode.currentText()], self.labels_layer or self.image_layer, self._software
        )

    def show_3d(self, blocking: bool = False):
        """Switch to the 3D view of the chosen image and labels (framed on the labels shown).

        In surfaces mode the meshes are built once per labels layer (in a worker
        thread unless ``blocking``; returned) and reused until the labels change.
        """
        if self.image_layer is None and self.labels_layer is None:
            self.work.refuse("open an image or labels first")
            return None
        lab, mode = self.labels_layer, self._mode()
        try:
            lesion_labels = self.lesion_labels()
        except ValueError as exc:
            self.work.refuse(exc)
            return None
        shown = self.shown_labels()
        cache = self.model.meshes
        if mode == "surfaces" and lab is not None and cache.get(lab, shown) is None:
            if blocking:
                cache.put(lab, shown, scene.view_surfaces(lab, label_values=shown))
            else:

                def done(meshes):
                    cache.put(lab, shown, meshes)
                    self.show_3d(blocking=True)

                return self.start_worker(scene.view_surfaces, (lab,), {"label_values": shown}, done, "3D surfaces")
        image_factor = None
        if mode == "surfaces" and self.resolution.currentText() == "auto" and self.image_layer is not None:
            image_factor = ct_factor(self.image_layer.data.shape, self._factor())
        view = self.model.show(
            self.image_layer,
            lab,
            mode=mode,
            shown=shown,
            lesion_labels=lesion_labels,
            factor=self._factor(),
            liver_opacity=self.opacity.value() / 100.0,
            tumours_only=self.tumours_only.isChecked(),
            image_factor=image_factor,
        )
        self.lesion_label.setText(self.model.cursor.text)
        self._apply_clipping()
        if mode == "surfaces":
            ct = "" if view.image is None else f", CT at 1/{view.image_factor}"
            faces = ", ".join(f"{s.metadata['name']} {len(s.data[1])}" for s in view.surfaces)
            self.status.setText(f"3D view: surfaces ({faces} faces{ct}); choose 'volume (exact)' for voxels")
        else:
            self.status.setText("3D view: volume" + (f" at 1/{view.factor} resolution" if view.factor > 1 else ""))
        return None

    view = property(lambda self: self.model.view)

    def show_2d(self, ndisplay: int = 2) -> None:
        """Remove the 3D view layers and the lesion ring and go back to the 2D slices."""
        self._idle.stop()
        self.model.hide(ndisplay=ndisplay)

    def _camera_moved(self, event=None) -> None:
        """Surfaces mode: the model hides the CT while the camera moves; shown again when idle."""
        self.model.hide_ct_while_moving = self.hide_ct_moving.isChecked()
        if self.model.camera_moved():
            self._idle.start()  # restarts the single shot: fires MOVING_IDLE_MS after the last move

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
        if self.view is not None and self.view.layers:
            axis = _AXES[self.clip_axis.currentText()]
            scene.clip_view(self.view, axis, self.clip_pos.value() / 100, keep_above=not self.clip_flip.isChecked())

    # -- lesions --------------------------------------------------------------------
    lesions = property(lambda self: self.model.cursor.lesions)
    current = property(lambda self: self.model.cursor.current)

    def refresh_lesions(self) -> list[dict]:
        """Recompute the lesion list (``stats.lesion_stats``) of the chosen labels."""
        cur = self.model.cursor
        cur.refresh(self.labels_layer, self.image_layer, self.lesion_labels() if self.labels_layer else [])
        self.lesion_label.setText(cur.text)
        return cur.lesions

    def go_to_lesion(self, n: int) -> dict:
        """Centre and zoom the camera on lesion ``n`` (1 = largest), 2D or 3D; the selection is kept."""
        try:
            return self.model.go_to_lesion(n, self.labels_layer, self.image_layer, self.lesion_labels())
        finally:
            self.lesion_label.setText(self.model.cursor.text)

    def _step(self, delta: int) -> None:
        try:
            self.model.step(delta, self.labels_layer, self.image_layer, self.lesion_labels())
        except ValueError as exc:
            self.work.refuse(exc)
        self.lesion_label.setText(self.model.cursor.text)

    def next_lesion(self) -> None:
        self._step(+1)

    def previous_lesion(self) -> None:
        self._step(-1)

    # -- workers and surfaces -------------------------------------------------------------------
    def start_worker(self, fn, args, kwargs, done, what: str):
        """Run ``fn(*args, **kwargs)`` in a napari thread worker (:class:`WidgetWork`); ``done(result)``
        unless the widget closed."""
        self._worker = self.work.start(
            fn, *args, **kwargs, on_done=done, busy=f"building {what}…", activity=f"Building {what}"
        )
        return self._worker

    @property
    def meshes(self) -> list:
        return self.surfaces.meshes

    def build_surfaces(self, blocking: bool = False):
        """Marching-cubes meshes of the labels ticked as Surface layers (see :class:`SurfacesPanel`)."""
        return self.surfaces.build_surfaces(blocking)

    def export_surfaces(self, path, coordinate_system: str | None = None):
        return self.surfaces.export_surfaces(path, coordinate_system)
