"""The "Surfaces" part of the 3D tumour view: marching-cubes meshes as layers, and their export."""

from __future__ import annotations

from qtpy.QtWidgets import QDoubleSpinBox, QFileDialog, QLabel, QSpinBox, QVBoxLayout, QWidget

from .._napari import scene3d as scene
from .._napari.layer_utils import label_color
from ..display.mesh import COORDINATE_SYSTEMS, export_meshes
from . import _controls as ui

__all__ = ["SurfacesPanel"]


class SurfacesPanel(QWidget):
    """Smoothing, decimation and step of the meshes; Build surfaces; Export….

    ``owner`` is the 3D view widget: it gives the labels layer, the labels ticked,
    the lesion labels, its status line and its worker runner.
    """

    def __init__(self, owner, parent=None) -> None:
        super().__init__(parent)
        self.owner = owner
        self.meshes: list = []  # the last "Build surfaces" result (exported)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.smooth, self.step = ui.spin(QSpinBox(), 0, 100, 15), ui.spin(QSpinBox(), 1, 4, 1)
        self.decimate = ui.spin(QDoubleSpinBox(), 0.0, 0.95, 0.5)
        self.decimate.setSingleStep(0.1)
        self.coords = ui.combo(list(COORDINATE_SYSTEMS))
        lay.addWidget(QLabel("<b>Surfaces</b>"))
        ui.form(
            lay,
            ("Smoothing passes", self.smooth),
            ("Decimate (fraction removed)", self.decimate),
            ("Marching-cubes step", self.step),
            ("Export coordinates", self.coords),
        )
        self.btn_surf, self.btn_export = ui.buttons(lay, "Build surfaces", "Export…")
        self.btn_surf.clicked.connect(lambda _checked=False: self.build_surfaces())
        self.btn_export.clicked.connect(lambda _checked=False: self._export_dialog())

    def build_surfaces(self, blocking: bool = False):
        """Marching-cubes meshes of the labels ticked as Surface layers (in a worker thread)."""
        owner = self.owner
        lab, status = owner.labels_layer, owner.status
        if lab is None:
            owner.work.refuse("choose a labels layer")
            return None
        shown = owner.shown_labels()
        if not shown:
            owner.work.refuse("tick at least one label to build its surface")
            return None
        try:
            lesion_labels = owner.lesion_labels()
        except ValueError as exc:
            owner.work.refuse(exc)
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
            self.meshes = meshes
            scene.add_surface_layers(owner.viewer, meshes, residual, tumour_labels=lesion_labels, colors=colors)
            status.setText(", ".join(f"{m.name}: {len(m.faces)} faces" for m in meshes) or "no labels")

        if blocking:
            done(scene.build_surfaces(lab, **opts))
            return None
        return owner.start_worker(scene.build_surfaces, (lab,), opts, done, "surfaces")

    def export_surfaces(self, path, coordinate_system: str | None = None):
        """Write the last built surfaces to .obj/.ply/.stl (default coordinates from the combo box)."""
        if not self.meshes:
            raise ValueError("build the surfaces first")
        from .._napari.layer_utils import guard_export

        guard_export(path, self.owner.viewer)
        out = export_meshes(path, self.meshes, coordinate_system or self.coords.currentText())
        self.owner.status.setText(f"wrote {out}")
        return out

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export surfaces", "surfaces.stl", "Meshes (*.stl *.obj *.ply)")
        if path:
            try:
                self.export_surfaces(path)
            except (ValueError, OSError) as exc:
                self.owner.work.refuse(exc)
