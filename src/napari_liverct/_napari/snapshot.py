"""``napari-liverct snapshot``: axial, coronal, sagittal and 3D PNGs through a lesion.

Runs a real napari viewer; when there is no screen it starts a virtual X display
(Xvfb) first (:func:`napari_liverct.cli.xvfb.ensure_display`).  The viewer window
is shown (on the virtual display when headless) because napari 0.9 renders an
empty canvas for ``Viewer(show=False)`` in 3D.

Views (napari world is ``(S, P, L)`` mm, see :mod:`napari_liverct.geometry.grids`):

* ``axial.png``: plane (P, L) at the lesion's S, anterior up, patient's right on
  the left of the image (radiological convention);
* ``coronal.png``: plane (S, L) at the lesion's P, superior up, patient's right on
  the left;
* ``sagittal.png``: plane (S, P) at the lesion's L, superior up, anterior on the left;
* ``3d.png``: anterior 3D view, head up, liver translucent and tumours opaque,
  contrast-filled vessels and bone from the CT.

The slices pass through the centroid of the largest tumour (lesion 1 of
:func:`napari_liverct.stats.lesion_stats`), or of lesion ``N``; without tumours,
through the centroid of all labels; without labels, through the volume centre.

Framing (:func:`frame_box`): with a lesion, each view is zoomed so that the organ
and lesion classes (from the class names; all labels when none is named) fill the
picture, with the lesion at least :data:`MIN_LESION_FILL` of the smaller side and at
most :data:`MAX_LESION_FILL`, and always in view.  Without a lesion the frame holds
every label and the whole body outline, with a margin.  The caption is drawn by the plugin in a band above the
picture (wrapped to its width), not by napari's text overlay, so it is never cut.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..geometry.grids import nonzero_box
from .caption import caption_image
from .navigate import MARKER_LINE_PX, MARKER_NAME

if TYPE_CHECKING:
    from ..stats.results import LesionStats

__all__ = ["VIEWS", "render_snapshots", "guard_snapshot_target"]

#: name -> (dims.order, camera orientation2d (vertical, horizontal)).
VIEWS: dict[str, tuple[tuple[int, int, int], tuple[str, str]]] = {
    "axial": ((0, 1, 2), ("down", "right")),
    "coronal": ((1, 0, 2), ("up", "right")),
    "sagittal": ((2, 0, 1), ("up", "right")),
}
_AXIS_NAMES = ("S", "P", "L")
#: Share of the canvas' smaller side the organ/lesion box fills.
ORGAN_FILL = 0.9
#: The lesion's diameter spans at least / at most this share of the smaller side.
MIN_LESION_FILL, MAX_LESION_FILL = 0.12, 0.85
#: Lesions smaller than this are framed as this size (keeps some context).
MIN_FRAMED_MM = 15.0
#: Voxels above this value are the body (air is about -1000 HU, fat -100).
BODY_HU = -500.0


def focus_values(labels_layer) -> list[int]:
    """Label values to frame: the organ and lesion classes by name, else every label."""
    from ..labels.tables import lesion_label_ids, organ_label_ids

    names = {int(k): str(v) for k, v in dict((labels_layer.metadata or {}).get("label_names") or {}).items()}
    return sorted(set(organ_label_ids(names)) | set(lesion_label_ids(names)))


def world_box(labels_layer, values=None) -> np.ndarray | None:
    """World ``(S, P, L)`` bounding box ``[[lo...], [hi...]]`` (voxel edges) of ``values`` (default > 0)."""
    data = np.asarray(labels_layer.data)
    mask = np.isin(data, list(values)) if values else data > 0
    if mask.ndim > 3:
        mask = mask.any(axis=tuple(range(mask.ndim - 3)))
    return _mask_world_box(labels_layer, mask)


def _mask_world_box(layer, mask: np.ndarray) -> np.ndarray | None:
    box = nonzero_box(mask)
    if box is None:
        return None
    lo = np.array([b.start for b in box], float) - 0.5
    hi = np.array([b.stop - 1 for b in box], float) + 0.5
    pad = [0.0] * (layer.ndim - 3)
    a = np.asarray(layer.data_to_world(pad + list(lo)), float)[-3:]
    b = np.asarray(layer.data_to_world(pad + list(hi)), float)[-3:]
    return np.array([np.minimum(a, b), np.maximum(a, b)])


def frame_2d(box: np.ndarray | None, lesion_c, lesion_d: float, axes, canvas_hw) -> tuple[np.ndarray, float]:
    """Camera centre (on ``axes``, world mm) and zoom (px/mm) framing ``box`` and a lesion.

    Parameters
    ----------
    box
        World box of the organ (+ lesion) or None.
    lesion_c, lesion_d
        Lesion centre (world ``(S, P, L)``) and diameter in mm; ``lesion_c`` None: no lesion.
    axes
        The two world axes shown (rows, columns).
    canvas_hw
        Canvas (height, width) in pixels.
    """
    h, w = (float(v) for v in canvas_hw)
    side = min(h, w)
    axes = list(axes)
    if box is None and lesion_c is None:
        raise ValueError("nothing to frame")
    if box is None:
        c = np.asarray(lesion_c, float)
        box = np.array([c - lesion_d / 2, c + lesion_d / 2])
    ext = np.maximum(box[1] - box[0], 1e-3)[axes]
    centre = ((box[0] + box[1]) / 2)[axes]
    zoom = ORGAN_FILL * min(h / ext[0], w / ext[1])
    if lesion_c is not None:
        d = max(float(lesion_d or 0.0), MIN_FRAMED_MM)
        zoom = min(max(zoom, MIN_LESION_FILL * side / d), MAX_LESION_FILL * side / d)
        lc = np.asarray(lesion_c, float)[axes]
        half = np.array([h, w]) / (2 * zoom)
        room = half - 0.55 * d  # keep the whole lesion (and a margin) in view
        centre = np.where(room > 0, np.clip(centre, lc - room, lc + room), lc)
    return centre, float(zoom)


def _marker_only_if_small(viewer, lesion, zoom: float) -> None:
    """Keep the ring that points at the lesion only where the lesion is small on screen."""
    if lesion is None or MARKER_NAME not in viewer.layers:
        return
    on_screen = float(lesion.max_diameter_mm or 0.0) * float(zoom)
    marker = viewer.layers[MARKER_NAME]
    # hidden, not removed: removing a layer here left the labels drawn under the CT
    marker.visible = on_screen <= 0.15 * min(viewer.canvas.size)
    marker.border_width = MARKER_LINE_PX / float(zoom)  # thin at the picture's zoom


def _load_layers(image_path, labels_path, force_labels: bool = False):
    from napari.layers import Layer

    from ..io.reader import read_nifti_layers

    if labels_path is not None:
        lds = read_nifti_layers(image_path, kind="image", pair=False)
        lds += read_nifti_layers(labels_path, kind="labels", pair=False)
    else:
        lds = read_nifti_layers(image_path)
    images = [Layer.create(d, k, t) for d, k, t in lds if t == "image"]
    labels = [Layer.create(d, k, t) for d, k, t in lds if t == "labels"]
    if not images:
        raise ValueError(f"{image_path}: opened as labels, not as an image; pass the CT as IMAGE")
    if labels:  # the grid rule of stats and crop: flips/permutations are the same grid
        from ..geometry.grids import conform_to_grid
        from ..labels.tables import checked_label_map
        from .layer_utils import layer_disk_view

        (img, iaff), (lab, laff) = layer_disk_view(images[0]), layer_disk_view(labels[0])
        lpath = (labels[0].metadata or {}).get("source_path") or labels_path
        checked_label_map(lab, str(lpath), force_labels)  # the rule compare uses
        conform_to_grid(
            lab,
            laff,
            img.shape[:3],
            iaff,
            names=(str(lpath), str(image_path)),
            hint="labels are drawn only on the image's grid",
        )
    return images[0], (labels[0] if labels else None)


def _focus(
    image_layer, labels_layer, lesion: int | None, lesion_labels=None
) -> tuple[np.ndarray, LesionStats | None, str]:
    """World point the slices go through, the lesion (RAS mm centroid, or None) and a caption."""
    from .layer_utils import world_position
    from .navigate import lesion_list

    if labels_layer is None:
        if lesion is not None:
            raise ValueError("--lesion needs a label file (--labels, or a *_label.nii.gz beside the image)")
        shape = np.asarray(image_layer.data.shape[-3:], float)
        centre = image_layer.data_to_world((shape - 1) / 2.0)
        return np.asarray(centre, float)[-3:], None, "volume centre (no labels)"
    lesions = lesion_list(labels_layer, image_layer, lesion_labels=lesion_labels)
    src = (labels_layer.metadata or {}).get("source_path") or labels_layer.name
    if lesion is not None:
        if not 1 <= lesion <= len(lesions):
            raise ValueError(f"{src}: lesion {lesion} does not exist; the file has {len(lesions)} lesion(s)")
        les = lesions[lesion - 1]
    elif lesions:
        les = lesions[0]
    else:
        data = np.asarray(labels_layer.data)
        idx = np.argwhere(data > 0)
        if len(idx) == 0:
            shape = np.asarray(data.shape[-3:], float)
            return np.asarray(labels_layer.data_to_world((shape - 1) / 2.0))[-3:], None, "volume centre (empty labels)"
        return np.asarray(labels_layer.data_to_world(idx.mean(0)))[-3:], None, "labels centroid (no tumour)"
    cap = f"lesion {les.id}/{len(lesions)}: {les.volume_ml:.1f} mL, max diameter {les.max_diameter_mm:.0f} mm"
    return world_position(les.centroid_mm, labels_layer), les, cap


def frame_box(image_layer, labels_layer, lesion) -> np.ndarray:
    """World box each 2D view frames whole (with the margin of :data:`ORGAN_FILL`).

    With a lesion: the organ and lesion classes (named; all labels when none is),
    so that the lesion is large.  Without one: every label and the body outline
    (CT above :data:`BODY_HU`), so that no part of the patient is cut off.  No
    labels: the body, else the whole volume.
    """
    boxes = []
    if labels_layer is not None:
        box = world_box(labels_layer, focus_values(labels_layer) or None) if lesion is not None else None
        boxes.append(box if box is not None else world_box(labels_layer))
    if lesion is None or not any(b is not None for b in boxes):
        boxes.append(body_box(image_layer))
    boxes = [b for b in boxes if b is not None]
    if not boxes:
        return np.asarray(image_layer.extent.world, float)[:, -3:]
    return np.array([np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)])


def body_box(image_layer) -> np.ndarray | None:
    """World box of the voxels above :data:`BODY_HU` (the body, and the table under it); None when none is."""
    data = np.asarray(image_layer.data)
    if data.ndim > 3:
        data = data[(0,) * (data.ndim - 3)]
    return _mask_world_box(image_layer, data > BODY_HU)


def _settle(viewer=None) -> None:
    """Let Qt finish resizes and re-slice the layers (napari slices only the visible region)."""
    import time

    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()
    if viewer is not None:
        for _ in range(2):  # a camera move re-slices asynchronously: refresh twice, with a pause
            for lay in viewer.layers:
                lay.refresh()
            QApplication.processEvents()
            time.sleep(0.05)
            QApplication.processEvents()


def guard_snapshot_target(image_path, labels_path, out_dir) -> None:
    """The output guard of :func:`render_snapshots` (callable before a display is started):
    ``out_dir`` and its PNG files are none of the inputs, and ``out_dir`` can be written."""
    from ..labels.tables import find_label_sibling
    from ..outputs.guard import guard_output

    paired = find_label_sibling(image_path) if labels_path is None else None
    names = [f"{v}.png" for v in (*VIEWS, "3d")]
    guard_output(out_dir, [image_path, labels_path, paired], folder=True, files=names)


def render_snapshots(
    image_path: str | os.PathLike,
    labels_path: str | os.PathLike | None = None,
    out_dir: str | os.PathLike = "snapshots",
    lesion: int | None = None,
    *,
    size: tuple[int, int] = (700, 700),
    lesion_labels=None,
    force_labels: bool = False,
) -> list[Path]:
    """Write ``axial.png``, ``coronal.png``, ``sagittal.png`` and ``3d.png`` into ``out_dir``.

    Parameters
    ----------
    image_path
        CT NIfTI file.
    labels_path
        Label NIfTI file; None uses the one paired with the image, if any.
    out_dir
        Output folder (created).
    lesion
        Lesion id (1 = largest); None = the largest.
    size
        Canvas ``(height, width)`` in pixels.

    Returns
    -------
    list of Path
        The four PNG files.

    Raises
    ------
    ValueError
        Unreadable file, image given as labels, or a lesion id that does not exist.
    """
    guard_snapshot_target(image_path, labels_path, out_dir)
    import napari

    from .navigate import frame_labels, go_to_lesion, remove_marker
    from .scene3d import auto_downsample, camera_of, setup_3d_view

    image_layer, labels_layer = _load_layers(image_path, labels_path, force_labels)
    centre, les, caption = _focus(image_layer, labels_layer, lesion, lesion_labels)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    viewer = napari.Viewer(title="napari-liverct snapshot", show=True)
    paths: list[Path] = []
    try:
        viewer.window.resize(size[1] + 300, size[0] + 200)
        _settle()
        viewer.layers.append(image_layer)
        if labels_layer is not None:
            viewer.layers.append(labels_layer)
        cam = camera_of(viewer)
        _settle()
        viewer.screenshot(canvas_only=True)  # warm-up: the first frame can predate the resize
        box = frame_box(image_layer, labels_layer, les)
        residual = (labels_layer.metadata or {}).get("residual") if labels_layer is not None else None
        for name, (order, orient) in VIEWS.items():
            viewer.dims.ndisplay = 2
            viewer.dims.order = order
            cam.orientation2d = orient
            viewer.reset_view()
            point = list(viewer.dims.point)
            point[-3:] = [float(v) for v in centre]
            viewer.dims.point = point
            if les is not None:  # the ring, on the slice shown
                go_to_lesion(viewer, les.centroid_mm, les.max_diameter_mm, residual=residual, fill=0.3)
            axes = [d - (viewer.dims.ndim - 3) for d in viewer.dims.displayed]
            c2, zoom = frame_2d(
                box,
                centre if les is not None else None,
                les.max_diameter_mm if les else 0.0,
                axes,
                viewer.canvas.size,
            )
            cam.center = tuple([float(centre[order[0]])] + [float(v) for v in c2])
            cam.zoom = zoom
            _marker_only_if_small(viewer, les, zoom)
            ax = order[0]
            p = out / f"{name}.png"
            _settle(viewer)
            shot = viewer.screenshot(canvas_only=True)
            caption_image(p, [f"{name}   {_AXIS_NAMES[ax]} = {centre[ax]:.1f} mm", caption], pixels=shot)
            paths.append(p)
        viewer.dims.order = (0, 1, 2)
        cam.orientation2d = VIEWS["axial"][1]
        remove_marker(viewer)
        # the labels as smooth surfaces (marching cubes, Taubin smoothing), as the 3D tumour
        # view draws them: ray-cast label voxels were blocky (3 mm steps on the example CT);
        # one frame only: the CT at most halved (very large volumes)
        setup_3d_view(
            viewer,
            image_layer,
            labels_layer,
            mode="surfaces",
            image_factor=min(2, auto_downsample(image_layer.data.shape[-3:])),
        )
        if les is not None:
            go_to_lesion(viewer, les.centroid_mm, les.max_diameter_mm, residual=residual)
        if labels_layer is not None:
            frame_labels(viewer, labels_layer, values=focus_values(labels_layer) or None)
        _marker_only_if_small(viewer, les, cam.zoom)
        p = out / "3d.png"
        _settle(viewer)
        shot = viewer.screenshot(canvas_only=True)
        caption_image(p, ["3D, anterior view (patient's right on the left)", caption], pixels=shot)
        paths.append(p)
    finally:
        viewer.close()
    return paths
