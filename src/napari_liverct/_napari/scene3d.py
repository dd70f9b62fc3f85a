"""napari side of the 3D tumour view: view layers, clipping, lesion navigation, surfaces.

Shared by :class:`~napari_liverct._qt.view3d_widget.View3DWidget` and the
``snapshot`` command.  The user's own layers are never changed: the 3D view adds
*view layers* built from them (same array, no copy, unless downsampled) and hides
the sources while it is shown.

Which labels mean what is never guessed from their values: the lesion classes are
those whose *name* says tumour/lesion (:func:`napari_liverct.labels.tables.lesion_label_ids`,
possibly none) unless the caller passes ``lesion_labels``; every other shown class
is context (the organ and the rest), each in the colour the labels layer gives it.

Context semi-transparent with opaque lesions: napari's ``iso_categorical`` rendering
stops each ray at the first labelled voxel, so a per-label alpha on one layer would
hide the lesions inside the organ.  The volume view therefore uses two Labels layers
over the same array: a *lesions* layer (only lesion values coloured, opaque) and
above it a *context* layer (lesion values transparent, i.e. background for the
ray) drawn with ``translucent`` blending at ``liver_opacity``.  The surfaces view
likewise has at most two Surface layers (lesions, context), whatever the number
of classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..constants import OUTPUT_KEY
from ..display.downsample import downsample_affine
from ..display.layers import array_to_layer_data
from ..display.mesh import SurfaceMesh
from ..labels.tables import lesion_label_ids
from .compat import camera_of  # noqa: F401 - re-exported
from .layer_utils import label_color, labels_present, layer_disk_view
from .navigate import frame_labels, go_to_lesion, lesion_ids, lesion_list, remove_marker  # noqa: F401 - re-exported
from .surfaces import (  # noqa: F401 - re-exported, used by the widget and tests
    add_surface_layers,
    auto_render_mode,
    build_surfaces,
    fix_surface_visual,
    software_gl,
    surface_downsample,
    surface_layers,
    view_surfaces,
)

if TYPE_CHECKING:
    import napari
    import napari.layers

__all__ = [
    "CT_3D_WINDOW",
    "View3DLayers",
    "setup_3d_view",
    "teardown_3d_view",
    "set_clipping",
    "lesion_list",
    "go_to_lesion",
    "add_surface_layers",
    "build_surfaces",
    "tumour_values",
    "auto_downsample",
    "auto_render_mode",
    "software_gl",
    "surface_layers",
    "fix_surface_visual",
    "view_surfaces",
    "surface_downsample",
    "RENDER_MODES",
    "camera_of",
    "anterior_view",
    "set_patient_handedness",
    "frame_labels",
    "clip_view",
]

#: Contrast limits of the 3D CT rendering (HU): contrast-filled vessels and bone
#: stand out, soft tissue stays dark so the labels are visible through it.
CT_3D_WINDOW = (100.0, 600.0)
#: Voxel counts above which the 3D view is downsampled by 2 and by 4 by default.
#: Ray casting under Mesa llvmpipe is slow (benchmarks/bench_render3d.py: seconds
#: per frame at 256 x 256 x 300 on 2 shared cores), so large volumes start coarse.
AUTO_DOWNSAMPLE_VOXELS = (16_000_000, 64_000_000)


#: 3D rendering modes: ray-cast label volumes (exact voxels) or triangle meshes.
RENDER_MODES = ("volume", "surfaces")


def tumour_values(label_names: dict[int, str]) -> list[int]:
    """Label values whose name says tumour/lesion; empty when none does (never ``[2]`` by default)."""
    return lesion_label_ids({int(k): str(v) for k, v in dict(label_names or {}).items()})


def auto_downsample(shape: tuple[int, ...]) -> int:
    """Default 3D downsampling factor for a volume of ``shape`` (1, 2 or 4)."""
    n = int(np.prod(shape[:3]))
    return 4 if n > AUTO_DOWNSAMPLE_VOXELS[1] else 2 if n > AUTO_DOWNSAMPLE_VOXELS[0] else 1


@dataclass
class View3DLayers:
    """The layers of one 3D view and the source layers they stand for."""

    image: "napari.layers.Image | None" = None
    tumours: "napari.layers.Labels | None" = None
    liver: "napari.layers.Labels | None" = None
    hidden: list = field(default_factory=list)
    factor: int = 1
    image_factor: int = 1
    mode: str = "volume"
    #: Surface layers (``mode == "surfaces"``), lesions first.
    surfaces: list = field(default_factory=list)
    #: Label values drawn as lesions, and all label values drawn.
    lesion_labels: list = field(default_factory=list)
    shown_labels: list = field(default_factory=list)

    @property
    def layers(self) -> list:
        return [lay for lay in (self.image, self.tumours, self.liver) if lay is not None] + list(self.surfaces)

    @property
    def context_layers(self) -> list:
        """The non-tumour label layers (liver...): hidden by "tumours only", translucent."""
        if self.mode == "surfaces":
            return [s for s in self.surfaces if not (s.metadata or {}).get("tumour")]
        return [self.liver] if self.liver is not None else []

    def set_tumours_only(self, flag: bool) -> None:
        """Hide (True) or show the liver and other non-tumour labels."""
        for lay in self.context_layers:
            lay.visible = not flag

    def set_liver_opacity(self, value: float) -> None:
        """Opacity (0-1) of the non-tumour labels."""
        for lay in self.context_layers:
            lay.opacity = float(value)


def _view_layer(layer, kind: str, factor: int, suffix: str, **overrides):
    """A new napari layer showing ``layer`` (downsampled by ``factor``) with the same geometry."""
    from napari.layers import Layer

    disk, affine = layer_disk_view(layer)
    if factor > 1:
        disk = np.ascontiguousarray(disk[::factor, ::factor, ::factor])
        affine = downsample_affine(affine, factor)
    md = layer.metadata or {}
    data, kwargs, ltype = array_to_layer_data(
        disk,
        affine,
        kind=kind,
        name=f"{layer.name} {suffix}",
        header=md.get("header"),
        source_path=md.get("source_path"),
        label_names=md.get("label_names"),
        extra_metadata={OUTPUT_KEY: "view3d"},
    )
    kwargs.update(overrides)
    return Layer.create(data, kwargs, ltype)


def setup_3d_view(
    viewer: napari.viewer.Viewer,
    image_layer: "napari.layers.Image | None",
    labels_layer: "napari.layers.Labels | None",
    *,
    factor: int = 1,
    liver_opacity: float = 0.35,
    tumours_only: bool = False,
    window: tuple[float, float] = CT_3D_WINDOW,
    rendering: str = "attenuated_mip",
    mode: str = "volume",
    image_factor: int | None = None,
    show_image: bool = True,
    meshes: list[SurfaceMesh] | None = None,
    lesion_labels=None,
    show_labels=None,
) -> View3DLayers:
    """Add the 3D view layers, hide their sources and switch the viewer to 3D.

    Parameters
    ----------
    factor
        Downsampling factor of the label view layers (1 = full resolution).
    mode
        ``"volume"``: labels ray cast as two iso_categorical Labels layers (exact
        voxels); ``"surfaces"``: labels drawn as Surface layers built from
        ``meshes`` (default :func:`view_surfaces`), much faster in software GL.
    image_factor
        Downsampling factor of the CT layer (default ``factor``; in surfaces mode
        default ``max(factor, 2)``).
    show_image
        False leaves the CT out of the view (labels only).
    meshes
        Surfaces to show in ``"surfaces"`` mode (RAS mm, e.g. cached ones);
        only those of ``show_labels`` are shown.
    lesion_labels
        Label values drawn as opaque lesions (the navigator's lesions); None:
        the classes whose name says tumour/lesion, possibly none.
    show_labels
        Label values to draw; None: every class of the layer (named, or seen in
        a strided sample).
    liver_opacity
        Opacity of the non-lesion labels (0-1).
    window
        Contrast limits of the CT in HU.
    rendering
        Image rendering: ``"attenuated_mip"``, ``"mip"`` or ``"translucent"``.
    """
    from napari.utils.colormaps import DirectLabelColormap

    if mode not in RENDER_MODES:
        raise ValueError(f"3D rendering mode must be one of {RENDER_MODES}, not {mode!r}")
    out = View3DLayers(factor=int(factor), mode=mode)
    if image_factor is None:
        image_factor = max(out.factor, 2) if mode == "surfaces" else out.factor
    out.image_factor = int(image_factor)
    if image_layer is not None and show_image:
        out.image = _view_layer(
            image_layer,
            "image",
            int(image_factor),
            "(3D)",
            rendering=rendering,
            contrast_limits=tuple(window),
            colormap="gray",
            blending="additive",
        )
        if rendering == "attenuated_mip":
            out.image.attenuation = 0.3
    if labels_layer is not None:
        lesions = lesion_ids(labels_layer, lesion_labels)
        shown = labels_present(labels_layer) if show_labels is None else sorted({int(v) for v in show_labels})
        out.lesion_labels, out.shown_labels = lesions, shown
    if labels_layer is not None and mode == "surfaces":
        if meshes is None:
            meshes = view_surfaces(labels_layer, label_values=shown)
        colors = {v: label_color(labels_layer, v) for v in shown}
        out.surfaces = surface_layers(
            [m for m in meshes if m.label in colors],
            (labels_layer.metadata or {}).get("residual"),
            liver_opacity=liver_opacity,
            tumour_labels=lesions,
            prefix=f"{labels_layer.name} ",
            colors=colors,
            merge=True,
        )
        out.set_tumours_only(tumours_only)
    elif labels_layer is not None:
        clear = (0.0, 0.0, 0.0, 0.0)
        colors = {v: label_color(labels_layer, v)[:3] + (1.0,) for v in shown}
        tum_colors = {v: c for v, c in colors.items() if v in lesions}
        liv_colors = {v: c for v, c in colors.items() if v not in lesions}
        if tum_colors:
            tum_colors.update({0: clear, None: clear})
            out.tumours = _view_layer(labels_layer, "labels", out.factor, "lesions (3D)", opacity=1.0)
            out.tumours.colormap = DirectLabelColormap(color_dict=tum_colors)
        if liv_colors:
            liv_colors.update({0: clear, None: clear})
            out.liver = _view_layer(
                labels_layer,
                "labels",
                out.factor,
                "labels (3D)",
                opacity=float(liver_opacity),
                blending="translucent",
            )
            out.liver.colormap = DirectLabelColormap(color_dict=liv_colors)
        for lay in (out.tumours, out.liver):
            if lay is not None:
                lay.rendering = "iso_categorical"
        if out.liver is not None:
            out.liver.visible = not tumours_only
    for src in (image_layer, labels_layer):
        if src is not None and src.visible:
            src.visible = False
            out.hidden.append(src)
    # napari 0.9 fails computing the cursor status of a Labels layer added while in
    # 3D before the mouse has moved (position None), so add the layers in 2D
    viewer.dims.ndisplay = 2
    for lay in out.layers:
        viewer.layers.append(lay)
    viewer.dims.ndisplay = 3
    anterior_view(viewer)
    for lay in out.surfaces:
        fix_surface_visual(viewer, lay, cull=not lay.metadata.get("tumour"))
    return out


def anterior_view(viewer: napari.viewer.Viewer, reset: bool = True) -> None:
    """Orthographic 3D camera looking from the front, head up (patient's left on the right)."""
    if reset:
        viewer.reset_view()  # napari 0.9 also resets the angles here, so set them after
    cam = camera_of(viewer)
    cam.perspective = 0
    set_patient_handedness(viewer)
    cam.set_view_direction((0.0, 1.0, 0.0), (1.0, 0.0, 0.0))


#: 3D camera orientation that shows world (S, P, L) = LPS without mirroring.  World
#: axes (S, P, L) taken in napari's axis order form a left-handed frame
#: (S x P = -L), while napari >= 0.6 renders axis order right-handed by default
#: ("towards", "down", "right"), which shows the patient mirrored in 3D.  Flipping
#: the depth axis fixes 3D and leaves 2D (the last two entries) unchanged.
PATIENT_ORIENTATION_3D = ("away", "down", "right")


def set_patient_handedness(viewer: napari.viewer.Viewer) -> None:
    """Make the 3D view a true (non-mirrored) image of the patient; 2D is unaffected."""
    cam = camera_of(viewer)
    if hasattr(cam, "orientation"):
        cam.orientation = (PATIENT_ORIENTATION_3D[0],) + tuple(str(o) for o in cam.orientation[1:])


def teardown_3d_view(viewer: napari.viewer.Viewer, view: View3DLayers | None, ndisplay: int = 2) -> None:
    """Remove the view layers and the lesion ring, show the hidden sources again and go back to 2D."""
    remove_marker(viewer)
    if view is not None:
        for lay in view.layers:
            if lay in viewer.layers:
                viewer.layers.remove(lay)
        view.image = view.tumours = view.liver = None
        view.surfaces = []
    # leave 3D before showing the sources again: a full-resolution volume shown in
    # 3D is sliced and uploaded as a 3D texture (seconds for a 512 x 512 x 600 CT)
    viewer.dims.ndisplay = ndisplay
    if view is not None:
        for src in view.hidden:
            if src in viewer.layers:
                src.visible = True
        view.hidden = []


def set_clipping(layers: list, axis: int | None, position_mm: float = 0.0, keep_above: bool = True) -> None:
    """Clip layers with a plane normal to world axis ``axis`` (0 = S, 1 = P, 2 = L).

    Keeps the part where the world coordinate is ``>= position_mm`` (or ``<=`` when
    ``keep_above`` is False).  ``axis=None`` removes the clipping planes.

    Notes
    -----
    napari documents clipping planes in data coordinates, but for Image/Labels
    volumes napari 0.9 hands them to vispy's Volume visual, which applies them in
    *scene* (= world) coordinates; the plane is therefore given in world mm for
    those layers, and in data coordinates for the others (the GUI test checks the
    cut visually).
    """
    for lay in layers:
        if lay is None:
            continue
        if axis is None:
            lay.experimental_clipping_planes = []
            continue
        world = np.asarray(lay.data_to_world(np.zeros(lay.ndim)), float)[-3:]
        world[axis] = position_mm
        normal = np.zeros(3)
        normal[axis] = 1.0 if keep_above else -1.0
        if type(lay).__name__ in ("Image", "Labels"):
            pos = world
        else:
            full = np.asarray(lay.data_to_world(np.zeros(lay.ndim)), float)
            full[-3:] = world
            pos = np.asarray(lay.world_to_data(full), float)[-3:]
            normal = normal * np.sign(np.asarray(lay.scale, float)[-3:])
        lay.experimental_clipping_planes = [{"position": tuple(pos), "normal": tuple(normal), "enabled": True}]


def clip_view(view: View3DLayers, axis: int | None, fraction: float = 0.5, keep_above: bool = True) -> None:
    """Clip a 3D view along world axis ``axis`` at ``fraction`` (0-1) of its layers' joint extent."""
    if not view.layers:
        return
    exts = np.array([np.asarray(lay.extent.world, float)[:, -3:] for lay in view.layers])
    lo, hi = exts[:, 0].min(0), exts[:, 1].max(0)
    pos = 0.0 if axis is None else lo[axis] + (hi[axis] - lo[axis]) * float(fraction)
    set_clipping(view.layers, axis, pos, keep_above=keep_above)
