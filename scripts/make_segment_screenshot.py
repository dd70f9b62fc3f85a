"""The README's segmentation screenshot, made by the plugin on the real example CT.

.venv/bin/python scripts/make_segment_screenshot.py [OUT.png] [--lesions]

Opens TotalSegmentator's example CT (from the cache ``scripts/fetch_data.py`` fills) in
napari (Xvfb when headless), docks "Segment liver (offline)", clicks Segment, waits for
the worker and saves the window with the draft over the CT on the axial slice through the liver's centre.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from napari_liverct.cli.xvfb import ensure_display
from napari_liverct.segment.weights import data_dir

DATA = data_dir()


def _settle(seconds: float = 0.5) -> None:
    from qtpy.QtWidgets import QApplication

    end = time.time() + seconds
    while time.time() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def main(out: str = "docs/screenshots/segment_widget.png", lesions: bool = False) -> None:
    ensure_display()
    import napari
    import numpy as np

    from napari_liverct._qt.segment_widget import SegmentWidget

    viewer = napari.Viewer(title="napari-liverct")
    viewer.window.resize(1500, 950)
    viewer.open(str(DATA / "totalsegmentator" / "example_ct.nii.gz"), plugin="napari-liverct")
    widget = SegmentWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Segment liver (offline)")
    widget.with_lesions.value = lesions
    widget.threads.value = 2
    widget.run_button.native.click()
    while widget.running:
        _settle(0.5)
    draft = viewer.layers[-1]
    # the axial slice (napari axes S, P, L) through the middle of the liver
    idx = np.argwhere(np.asarray(draft.data) == 1)
    centre = idx.mean(axis=0) if len(idx) else np.array(draft.data.shape) / 2
    world = np.asarray(draft.data_to_world(centre))
    viewer.dims.set_point(0, float(world[0]))
    # the labels layer's long status-bar help widened the window to 3117 px: select the CT
    viewer.layers.selection.active = viewer.layers[0]
    viewer.window.resize(1500, 950)
    viewer.reset_view()
    _settle(1.0)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(out, canvas_only=False)
    print(f"{out}: {widget.status.value}")
    viewer.close()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(*(args[:1] or []), lesions="--lesions" in sys.argv)
