"""Regenerate the README's screenshots with the plugin itself (runs on Xvfb when headless).

.venv/bin/python scripts/make_screenshots.py [OUT_DIR]   # default docs/screenshots
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from napari_liverct.cli.xvfb import ensure_display


def _settle(viewer, seconds: float = 0.5) -> None:
    import time

    from qtpy.QtWidgets import QApplication

    end = time.time() + seconds
    while time.time() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def main(out: str = "docs/screenshots") -> None:
    ensure_display()
    import napari

    from napari_liverct._napari.session import focus_slice
    from napari_liverct._napari.snapshot import render_snapshots
    from napari_liverct._qt.crop_widget import CropWidget
    from napari_liverct._qt.stats_widget import StatsWidget
    from napari_liverct._qt.view3d_widget import View3DWidget
    from napari_liverct.phantom import write_phantom

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    sample = Path(tempfile.mkdtemp(prefix="liverct-sample-"))
    img, lab = write_phantom(sample)

    viewer = napari.Viewer(title="napari-liverct")
    viewer.window.resize(1500, 950)
    viewer.open(str(img), plugin="napari-liverct")
    focus_slice(viewer)
    _settle(viewer)
    viewer.screenshot(str(out_dir / "view_2d.png"), canvas_only=False)

    stats = StatsWidget(viewer)
    dock = viewer.window.add_dock_widget(stats, name="Statistics")
    stats.compute()
    while stats.result is None:
        _settle(viewer, 0.2)
    stats.go_to_lesion(0)
    _settle(viewer)
    viewer.screenshot(str(out_dir / "stats_widget.png"), canvas_only=False)
    viewer.window.remove_dock_widget(dock)

    crop = CropWidget(viewer)
    dock = viewer.window.add_dock_widget(crop, name="Crop foreground")
    crop.update_preview()
    viewer.reset_view()
    _settle(viewer)
    viewer.screenshot(str(out_dir / "crop_preview.png"), canvas_only=False)
    viewer.window.remove_dock_widget(dock)
    for name in [l.name for l in viewer.layers if l.name not in ("liver_phantom", "liver_phantom_label")]:
        viewer.layers.remove(name)

    view3d = View3DWidget(viewer)
    viewer.window.add_dock_widget(view3d, name="3D tumour view")
    view3d.show_3d()
    _settle(viewer, 1.0)
    viewer.screenshot(str(out_dir / "view_3d.png"), canvas_only=False)
    view3d.show_2d()
    viewer.close()

    for p in render_snapshots(img, lab, out_dir / "snapshot"):
        print(p)
    print("written to", out_dir)


if __name__ == "__main__":
    main(*sys.argv[1:2])
