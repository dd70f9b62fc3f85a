"""``napari-liverct view``: napari with the plugin's widgets and files (or the phantom).

The main job (``scripts/run.sh``, ``napari-liverct view --example --draft``) opens
TotalSegmentator's example abdominal CT, clicks Segment in the docked "Segment liver
(offline)" widget (its progress bar shows the run), then computes the Statistics of the
draft and shows it in 2D and, through the docked 3D tumour view, in 3D.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

#: Widgets docked by ``view``, in the manifest's display names.
DOCKED_WIDGETS = ("CT window and layer type", "Statistics", "Crop foreground", "3D tumour view")

DEFAULT_SCREENSHOT_DIR = "liverct-screenshots"

#: The Segment widget's display name (docked by ``view --draft``).
SEGMENT_WIDGET = "Segment liver (offline)"

#: TotalSegmentator 2.18.0's example abdominal CT, in the cache ``scripts/fetch_data.py`` fills.
EXAMPLE_CT = "totalsegmentator/example_ct.nii.gz"


def example_ct() -> Path:
    """Path of :data:`EXAMPLE_CT`; ValueError naming the command that fetches it when missing."""
    from ..segment.weights import FETCH_COMMAND, data_dir

    path = data_dir() / EXAMPLE_CT
    if not path.exists():
        raise ValueError(f"{path}: the example CT is not there yet; run {FETCH_COMMAND}")
    return path


#: Tab titles of the docked widgets.  napari titles a dock "<display name> (napari-liverct)";
#: four such tabs in one dock area of a 1600 x 1000 window were cut to "Stati…" and
#: "Crop foregro…" (Qt elides tab text that does not fit the tab bar).
TAB_TITLES = {
    "CT window and layer type": "CT window",
    "Statistics": "Statistics",
    "Crop foreground": "Crop foreground",
    "3D tumour view": "3D view",
    SEGMENT_WIDGET: "Segment",
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
    (:func:`napari_liverct.labels.tables.lesion_label_ids`); a map without one (a heart
    mask, a 61-class organ map) goes to the slice with most labelled voxels,
    never to "label 2".
    """
    from napari.layers import Labels

    from ..labels.tables import lesion_label_ids

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
        raise_dock(view3d)
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

    from ..outputs.units import atomic_write

    atomic_write(path, lambda tmp: Image.fromarray(pixels).save(tmp, format="PNG"))


def raise_dock(widget) -> None:
    """Bring the dock tab holding ``widget`` (a docked magicgui or Qt widget) to the front."""
    from qtpy.QtWidgets import QDockWidget

    w = getattr(widget, "native", widget)
    while w is not None and not isinstance(w, QDockWidget):
        w = w.parentWidget()
    if w is not None:
        w.raise_()


def _wait(condition, seconds: float | None = None) -> None:
    """Run Qt's events until ``condition()`` is false (or ``seconds`` have passed)."""
    import time

    from qtpy.QtWidgets import QApplication

    end = None if seconds is None else time.monotonic() + seconds
    while condition() and (end is None or time.monotonic() < end):
        QApplication.processEvents()
        time.sleep(0.05)


def start_draft(viewer, docked: dict, *, lesions: bool = True, threads: int | None = None):
    """Click Segment in the docked Segment widget on the first CT image layer; return the widget.

    Raises ValueError with the widget's reason when it refused to start (no CT, no weights).
    """
    from napari.layers import Image

    seg = docked[SEGMENT_WIDGET]
    image = next((ly for ly in viewer.layers if isinstance(ly, Image) and ly.ndim == 3 and not ly.rgb), None)
    if image is None:
        raise ValueError("--draft needs a 3D CT image; none of the files opened as one")
    seg.image_layer.value = image
    seg.with_lesions.value = bool(lesions)
    if threads:
        seg.threads.value = int(threads)
    raise_dock(seg)
    seg.run_button.native.click()
    if not seg.running:
        raise ValueError(f"the draft did not start: {seg.status.value}")
    return seg


def draft_layer(viewer, image_name: str):
    """The Labels layer the Segment widget made for the CT layer ``image_name`` (or None)."""
    from napari.layers import Labels

    drafts = [
        ly for ly in viewer.layers if isinstance(ly, Labels) and (ly.metadata or {}).get("draft_of") == image_name
    ]
    return drafts[-1] if drafts else None


def show_draft(viewer, docked: dict, *, blocking: bool = True):
    """After the draft: Statistics of the CT and its draft (docked tab in front), the viewer on
    the slice with most draft voxels; returns the draft layer (None when there is none)."""
    seg = docked.get(SEGMENT_WIDGET)
    image = seg.image_layer.value if seg is not None else None
    draft = draft_layer(viewer, image.name) if image is not None else None
    if draft is None:
        return None
    viewer.layers.selection.active = draft
    stats = docked.get("Statistics")
    if stats is not None:
        stats.image_combo.value = image
        stats.labels_combo.value = draft
        stats.run_button.native.click()
        raise_dock(stats)
        if blocking:
            _wait(lambda: not stats.run_button.enabled, 600)
    view3d = docked.get("3D tumour view")
    if view3d is not None:
        view3d.image_combo.value = image
        view3d.labels_combo.value = draft
    focus_slice(viewer)
    return draft
