"""``napari-liverct snapshot``: axial, coronal, sagittal and 3D PNGs through a lesion.

Runs a real napari viewer; when there is no screen it starts a virtual X display
(Xvfb) first (:func:`napari_liverct._display.ensure_display`).  The viewer window
is shown (on the virtual display when headless) because napari 0.9 renders an
empty canvas for ``Viewer(show=False)`` in 3D.

Views (napari world is ``(S, P, L)`` mm, see :mod:`napari_liverct.geometry`):

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
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["VIEWS", "render_snapshots", "cli_snapshot"]

#: name -> (dims.order, camera orientation2d (vertical, horizontal)).
VIEWS: dict[str, tuple[tuple[int, int, int], tuple[str, str]]] = {
    "axial": ((0, 1, 2), ("down", "right")),
    "coronal": ((1, 0, 2), ("up", "right")),
    "sagittal": ((2, 0, 1), ("up", "right")),
}
_AXIS_NAMES = ("S", "P", "L")


def _load_layers(image_path, labels_path):
    from napari.layers import Layer

    from ._reader import read_nifti_layers

    if labels_path is not None:
        lds = read_nifti_layers(image_path, kind="image", pair=False)
        lds += read_nifti_layers(labels_path, kind="labels", pair=False)
    else:
        lds = read_nifti_layers(image_path)
    images = [Layer.create(d, k, t) for d, k, t in lds if t == "image"]
    labels = [Layer.create(d, k, t) for d, k, t in lds if t == "labels"]
    if not images:
        raise ValueError(f"{image_path}: opened as labels, not as an image; pass the CT as IMAGE")
    return images[0], (labels[0] if labels else None)


def _focus(image_layer, labels_layer, lesion: int | None) -> tuple[np.ndarray, dict | None, str]:
    """World point the slices go through, the lesion dict (or None) and a caption."""
    from ._widgets.view3d_scene import lesion_list

    if labels_layer is None:
        if lesion is not None:
            raise ValueError("--lesion needs a label file (--labels, or a *_label.nii.gz beside the image)")
        shape = np.asarray(image_layer.data.shape[-3:], float)
        centre = image_layer.data_to_world((shape - 1) / 2.0)
        return np.asarray(centre, float)[-3:], None, "volume centre (no labels)"
    lesions = lesion_list(labels_layer, image_layer)
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
    cap = (f"lesion {les['id']}/{len(lesions)}: {les['volume_ml']:.1f} mL, "
           f"max diameter {les['max_diameter_mm']:.0f} mm")
    return np.asarray(les["centroid_world"], float), les, cap


def _settle(viewer=None) -> None:
    """Let Qt finish resizes and re-slice the layers (napari slices only the visible region)."""
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()
    if viewer is not None:
        for lay in viewer.layers:
            lay.refresh()
    QApplication.processEvents()


def render_snapshots(
    image_path: str | os.PathLike,
    labels_path: str | os.PathLike | None = None,
    out_dir: str | os.PathLike = "snapshots",
    lesion: int | None = None,
    *,
    size: tuple[int, int] = (700, 700),
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
    from ._display import ensure_display

    ensure_display()
    import napari

    from ._widgets.view3d_scene import auto_downsample, camera_of, frame_labels, go_to_lesion, setup_3d_view

    image_layer, labels_layer = _load_layers(image_path, labels_path)
    centre, les, caption = _focus(image_layer, labels_layer, lesion)
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
        viewer.text_overlay.visible = True
        viewer.text_overlay.font_size = 11
        viewer.text_overlay.color = "yellow"
        cam = camera_of(viewer)
        _settle()
        viewer.screenshot(canvas_only=True)  # warm-up: the first frame can predate the resize
        fake = {"centroid_world": list(centre), "max_diameter_mm": les["max_diameter_mm"] if les else 0.0}
        for name, (order, orient) in VIEWS.items():
            viewer.dims.ndisplay = 2
            viewer.dims.order = order
            cam.orientation2d = orient
            viewer.reset_view()
            go_to_lesion(viewer, fake, marker=les is not None, fill=0.15)
            if les is None or "lesion marker" not in viewer.layers:
                viewer.reset_view()
            ax = order[0]
            viewer.text_overlay.text = f"{name}  {_AXIS_NAMES[ax]} = {centre[ax]:.1f} mm   {caption}"
            p = out / f"{name}.png"
            _settle(viewer)
            viewer.screenshot(str(p), canvas_only=True)
            paths.append(p)
        viewer.dims.order = (0, 1, 2)
        cam.orientation2d = VIEWS["axial"][1]
        if "lesion marker" in viewer.layers:
            viewer.layers.remove("lesion marker")
        # one frame only: at most halve the resolution of very large volumes
        setup_3d_view(viewer, image_layer, labels_layer, factor=min(2, auto_downsample(image_layer.data.shape[-3:])))
        if les is not None:
            go_to_lesion(viewer, les, marker=True)
        if labels_layer is not None:
            frame_labels(viewer, labels_layer)
        viewer.text_overlay.text = f"3D, anterior view   {caption}"
        p = out / "3d.png"
        _settle(viewer)
        viewer.screenshot(str(p), canvas_only=True)
        paths.append(p)
    finally:
        viewer.close()
    return paths


def cli_snapshot(args) -> int:
    """Run the ``snapshot`` subcommand: print the paths of the PNG files written."""
    for p in render_snapshots(args.image, args.labels, args.out, args.lesion):
        print(p)
    return 0
