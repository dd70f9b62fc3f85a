"""``napari-liverct view``: napari with the plugin's widgets and files (or the phantom)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

#: Widgets docked by ``view``, in the manifest's display names.
DOCKED_WIDGETS = ("CT window and layer type", "Statistics", "Crop foreground", "3D tumour view")

DEFAULT_SCREENSHOT_DIR = "liverct-screenshots"


#: Tab titles of the docked widgets.  napari titles a dock "<display name> (napari-liverct)";
#: four such tabs in one dock area of a 1600 x 1000 window were cut to "Stati…" and
#: "Crop foregro…" (Qt elides tab text that does not fit the tab bar).
TAB_TITLES = {
    "CT window and layer type": "CT window",
    "Statistics": "Statistics",
    "Crop foreground": "Crop foreground",
    "3D tumour view": "3D view",
}


def dock_widgets(viewer, names=DOCKED_WIDGETS, docked: dict | None = None) -> list[str]:
    """Dock the plugin's widgets as tabs (titled :data:`TAB_TITLES`); return the names that could not be docked.

    ``docked``, when given, receives ``{name: widget}`` of the widgets that were docked.
    """
    failed = []
    for name in names:
        try:
            dock, _widget = viewer.window.add_plugin_dock_widget("napari-liverct", name, tabify=True)
        except Exception as exc:  # noqa: BLE001 - a broken widget must not stop the viewer
            warnings.warn(f"could not dock widget {name!r}: {exc}", stacklevel=2)
            failed.append(name)
            continue
        if docked is not None:
            docked[name] = _widget
        title = TAB_TITLES.get(name)
        if title and len(names) > 1:
            dock.setWindowTitle(title)  # the tab's text, and the dock's title bar
    return failed


def focus_slice(viewer, label: int | None = None) -> None:
    """Move the 2D slider to the slice with most lesion voxels (or of ``label``, or any label).

    The lesion classes come from the labels layer's class names
    (:func:`napari_liverct.labels.lesion_label_ids`); a map without one (a heart
    mask, a 61-class organ map) goes to the slice with most labelled voxels,
    never to "label 2".
    """
    from napari.layers import Labels

    from ..labels import lesion_label_ids

    for layer in reversed(list(viewer.layers)):
        if isinstance(layer, Labels) and layer.data.ndim == 3:
            data = np.asarray(layer.data)
            if label is not None:
                values = [int(label)]
            else:
                names = dict((layer.metadata or {}).get("label_names") or {})
                values = lesion_label_ids({int(k): str(v) for k, v in names.items()})
            counts = np.isin(data, values).sum(axis=(1, 2)) if values else np.zeros(data.shape[0], int)
            if counts.max() == 0:
                counts = (data > 0).sum(axis=(1, 2))
            if counts.max() == 0:
                continue
            z = int(np.argmax(counts))
            world = layer.data_to_world((z, 0, 0))
            step = list(viewer.dims.point)
            step[-3] = float(world[0])
            viewer.dims.point = step
            return


def screenshots(viewer, out_dir: str | os.PathLike, view3d=None) -> list[Path]:
    """Write ``view_2d.png`` (whole window) and ``view_3d.png`` of the current viewer.

    The 3D view is the 3D tumour view's rendering (CT attenuated MIP, translucent
    liver, opaque tumours) seen from the front, head up; the viewer returns to 2D.
    ``view3d``, the docked "3D tumour view" widget, makes that view as its "Show in 3D"
    does (so the picture shows the widget as a user sees it: the lesion navigator
    filled in) and goes back with its "Back to 2D".
    """
    from napari.layers import Image, Labels

    from .scene3d import anterior_view, frame_labels, setup_3d_view, teardown_3d_view

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    viewer.dims.ndisplay = 2
    viewer.reset_view()
    focus_slice(viewer)
    p2 = out / "view_2d.png"
    _save_png(p2, viewer.screenshot(canvas_only=False))
    p3 = out / "view_3d.png"
    if view3d is not None:
        view3d.show_3d(blocking=True)  # the meshes first: the picture shows the finished view
        _save_png(p3, viewer.screenshot(canvas_only=False))
        view3d.show_2d()
        return [p2, p3]
    image = next((l for l in viewer.layers if isinstance(l, Image)), None)
    labels = next((l for l in viewer.layers if isinstance(l, Labels)), None)
    view = setup_3d_view(viewer, image, labels)
    anterior_view(viewer)
    if labels is not None:
        frame_labels(viewer, labels)
    _save_png(p3, viewer.screenshot(canvas_only=False))
    teardown_3d_view(viewer, view)
    return [p2, p3]


def _save_png(path: Path, pixels) -> None:
    """Write a screenshot as a unit (napari's ``screenshot(path)`` writes in place)."""
    from PIL import Image

    from ..outputs import atomic_write

    atomic_write(path, lambda tmp: Image.fromarray(pixels).save(tmp, format="PNG"))
