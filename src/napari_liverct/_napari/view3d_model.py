"""State of the 3D tumour view, apart from its Qt widget (as napari-animation keeps ``Animation``).

:class:`View3DModel` holds what the widget used to keep in its own attributes:

* the view layers of the current 3D view (:class:`~napari_liverct._napari.scene3d.View3DLayers`);
* the mesh cache of the surfaces view (:class:`MeshCache`), forgotten when the labels change;
* the lesion cursor (:class:`LesionCursor`): the lesion list, the current lesion, the navigator's text;
* the hide-the-CT-while-the-camera-moves rule (:meth:`View3DModel.camera_moved` /
  :meth:`View3DModel.camera_idle`; the widget only owns the timer).

No Qt here: the tests drive it with a plain napari viewer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import scene3d as scene
from .layer_utils import format_label_list
from .navigate import frame_labels, go_to_lesion, lesion_list
from .overlays import show_diameters

if TYPE_CHECKING:
    import napari

    from ..stats.results import LesionStats

__all__ = ["MeshCache", "LesionCursor", "View3DModel", "SURFACES_CT_FACTOR", "ct_factor", "lesion_focus"]

#: Largest CT downsampling of the surfaces view with "3D resolution: auto"
#: (benchmarks/bench_render3d.py, 512 x 512 x 600, llvmpipe: ~0.4 s/frame at 1/4,
#: ~0.8 s at 1/2, 26 ms for the surfaces alone).
SURFACES_CT_FACTOR = 4
#: The CT backdrop keeps at most this many voxels along its longest axis: ray casting
#: time grows with the voxels along a ray, and 512 x 512 x 600 at 1/4 (150) renders in
#: the README's ~0.4 s per still frame under llvmpipe.  A 128^3 CT is then drawn at full
#: resolution (1/4 gave 32^3 voxels: blocky, the liver washed out).
CT_MAX_VOXELS_PER_AXIS = 160


def ct_factor(shape, label_factor: int = 1) -> int:
    """CT downsampling of the surfaces view: the smallest of 1, 2, 4 whose longest axis
    fits :data:`CT_MAX_VOXELS_PER_AXIS` (never finer than the labels' ``label_factor``)."""
    longest = max(int(n) for n in shape[-3:])
    for f in (1, 2, SURFACES_CT_FACTOR):
        if -(-longest // f) <= CT_MAX_VOXELS_PER_AXIS:
            return max(f, int(label_factor))
    return max(SURFACES_CT_FACTOR, int(label_factor))


class MeshCache:
    """Meshes of the surfaces view per (labels layer, its data, labels shown); forgotten on edits."""

    def __init__(self) -> None:
        self._meshes: dict = {}
        self._watched: set = set()

    @staticmethod
    def key(labels_layer, shown) -> tuple:
        return (id(labels_layer), id(labels_layer.data), tuple(int(v) for v in shown))

    def get(self, labels_layer, shown):
        return self._meshes.get(self.key(labels_layer, shown))

    def __contains__(self, key) -> bool:
        return key in self._meshes

    def put(self, labels_layer, shown, meshes) -> None:
        self.watch(labels_layer)
        self._meshes[self.key(labels_layer, shown)] = meshes

    def forget(self, labels_layer_id: int) -> None:
        for key in [k for k in self._meshes if k[0] == labels_layer_id]:
            del self._meshes[key]

    def watch(self, labels_layer) -> None:
        """Forget the meshes of ``labels_layer`` when its labels are edited or replaced."""
        lid = id(labels_layer)
        if lid in self._watched:
            return
        self._watched.add(lid)
        for name in ("data", "paint", "labels_update"):
            ev = getattr(labels_layer.events, name, None)
            if ev is not None:
                ev.connect(lambda _event=None, lid=lid: self.forget(lid))


@dataclass
class LesionCursor:
    """The lesions of the chosen labels (1 = largest) and the one the navigator is on (0: none yet)."""

    lesions: list = field(default_factory=list)
    current: int = 0
    #: What the navigator says (shown under Previous/Next).
    text: str = "no lesions yet"

    def reset(self, lesion_labels) -> None:
        self.lesions, self.current = [], 0
        self.text = (
            "no lesions yet" if lesion_labels else "no lesion class: name one in 'Lesion labels' to walk lesions"
        )

    def refresh(self, labels_layer, image_layer, lesion_labels) -> list[LesionStats]:
        """Recompute the lesion list (connected components of ``lesion_labels``)."""
        values = list(lesion_labels) if labels_layer is not None else []
        self.lesions = lesion_list(labels_layer, image_layer, lesion_labels=values) if values else []
        self.current = 0
        if labels_layer is None:
            self.text = "choose a labels layer"
        elif not values:
            self.text = "no lesion class: name one in 'Lesion labels' to walk lesions"
        elif not self.lesions:
            self.text = f"no lesions (no voxel of label {format_label_list(values)})"
        else:
            big = self.lesions[0]
            self.text = (
                f"{len(self.lesions)} lesion(s) of label {format_label_list(values)}, largest "
                f"{big.volume_ml:.2f} mL: press Next"
            )
        return self.lesions

    def describe(self, n: int) -> str:
        les = self.lesions[n - 1]
        recist = ""
        if les.long_axis_mm is not None:
            recist = (
                f"; RECIST long {les.long_axis_mm:.1f} mm, short {les.short_axis_mm:.1f} mm on slice "
                f"{les.recist_slice}{' (target)' if les.target else ''}"
            )
        return (
            f"lesion {n}/{len(self.lesions)}: {les.volume_ml:.2f} mL, max diameter "
            f"{les.max_diameter_mm:.1f} mm, slices {les.slice_range[0]}-{les.slice_range[1]}{recist}"
        )


def lesion_focus(les, ndisplay: int):
    """Where the navigator centres (RAS mm): the centroid in 3D; in 2D the middle of the long
    axis, which lies on the RECIST slice, so the slider, the ring and the lines share it."""
    if ndisplay == 3 or les.long_axis_start_mm is None:
        return les.centroid_mm
    return tuple((a + b) / 2 for a, b in zip(les.long_axis_start_mm, les.long_axis_end_mm))


class View3DModel:
    """The 3D tumour view of one viewer: view layers, meshes, lesion cursor, CT-hiding rule."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.view: scene.View3DLayers | None = None
        self.meshes = MeshCache()
        self.cursor = LesionCursor()
        self.hide_ct_while_moving = True
        self._ct_hidden_moving = False
        self._placing = False
        self._lesion_layer = None  # the labels layer of the navigator's current lesion

    # -- the view ----
    @staticmethod
    def downsampling(choice: str, source) -> int:
        """Label view downsampling for the "3D resolution" choice ("auto" by volume size, "full", "1/2", "1/4")."""
        if choice == "auto":
            return scene.auto_downsample(source.data.shape[-3:]) if source is not None else 1
        return {"full": 1, "1/2": 2, "1/4": 4}[choice]

    @staticmethod
    def render_mode(choice: str | None, source, software_gl: bool | None) -> str:
        """``"volume"`` or ``"surfaces"``; ``choice`` None: by volume size and OpenGL (see surfaces.auto_render_mode)."""
        if choice is not None:
            return choice
        return scene.auto_render_mode(source.data.shape[-3:], bool(software_gl)) if source is not None else "volume"

    def show(self, image_layer, labels_layer, *, mode: str, shown, lesion_labels, factor: int, **options):
        """Replace any current view with a 3D view of the layers; frame the labels shown; list the lesions.

        ``options`` go to :func:`~napari_liverct._napari.scene3d.setup_3d_view`
        (opacity, lesions only, CT factor).  Surfaces mode uses the cached meshes
        (:meth:`MeshCache.get`; None builds them here).
        """
        self.hide(to_lesion=False)
        self._placing = True  # the camera moves below are the view's own, not the user's
        meshes = self.meshes.get(labels_layer, shown) if labels_layer is not None and mode == "surfaces" else None
        self.view = scene.setup_3d_view(
            self.viewer,
            image_layer,
            labels_layer,
            factor=factor,
            mode=mode,
            meshes=meshes,
            lesion_labels=lesion_labels,
            show_labels=shown,
            **options,
        )
        if labels_layer is not None:
            frame_labels(self.viewer, labels_layer, values=shown or None)
            self.cursor.refresh(labels_layer, image_layer, lesion_labels)
        self._placing = False
        return self.view

    def hide(self, ndisplay: int = 2, *, to_lesion: bool = True) -> None:
        """Remove the view layers and the lesion ring, show the user's layers again, back to 2D
        (with ``to_lesion``, on the RECIST slice of the lesion the navigator is on)."""
        self._ct_hidden_moving = False
        scene.teardown_3d_view(self.viewer, self.view, ndisplay=ndisplay)
        self.view = None
        cur, lab = self.cursor, self._lesion_layer
        if to_lesion and ndisplay == 2 and cur.current and lab is not None and lab in self.viewer.layers:
            # the lesion walked in 3D: its slider goes to the RECIST slice, where its lines are
            show_diameters(self.viewer, cur.lesions[cur.current - 1], lab, move_slider=True)

    # -- lesions --------------------------------------------------------------------
    def go_to_lesion(self, n: int, labels_layer, image_layer, lesion_labels) -> LesionStats:
        """Centre and zoom the camera on lesion ``n`` (1 = largest) with a ring around it."""
        cur = self.cursor
        if not cur.lesions:
            cur.refresh(labels_layer, image_layer, lesion_labels)
        if not 1 <= n <= len(cur.lesions):
            name = labels_layer.name if labels_layer is not None else "labels"
            raise ValueError(f"{name}: lesion {n} does not exist ({len(cur.lesions)} lesions)")
        cur.current = n
        les = cur.lesions[n - 1]
        residual = (labels_layer.metadata or {}).get("residual")
        go_to_lesion(self.viewer, lesion_focus(les, self.viewer.dims.ndisplay), les.max_diameter_mm, residual=residual)
        show_diameters(self.viewer, les, labels_layer, move_slider=False)  # hidden in 3D, drawn in 2D
        self._lesion_layer = labels_layer
        cur.text = cur.describe(n)
        return les

    def step(self, delta: int, labels_layer, image_layer, lesion_labels) -> LesionStats | None:
        """Next (+1) or previous (-1) lesion, wrapping around; None when there is none."""
        cur = self.cursor
        if not cur.lesions:
            cur.refresh(labels_layer, image_layer, lesion_labels)
        if not cur.lesions:
            return None
        n = (cur.current - 1 + delta) % len(cur.lesions) + 1 if cur.current else (1 if delta > 0 else len(cur.lesions))
        return self.go_to_lesion(n, labels_layer, image_layer, lesion_labels)

    # -- fast while moving --------------------------------------------------------------
    def camera_moved(self) -> bool:
        """Surfaces mode: hide the (slow, ray-cast) CT while the camera moves.

        Returns True when the caller should (re)start its idle timer, after which it
        calls :meth:`camera_idle`.
        """
        v = self.view
        if self._placing or v is None or v.mode != "surfaces" or v.image is None or not self.hide_ct_while_moving:
            return False
        if v.image.visible and not self._ct_hidden_moving:
            self._ct_hidden_moving = True
            v.image.visible = False
        return self._ct_hidden_moving

    def camera_idle(self) -> None:
        """The camera stopped: show the CT again if the move hid it."""
        if self._ct_hidden_moving and self.view is not None and self.view.image is not None:
            self.view.image.visible = True
        self._ct_hidden_moving = False
