"""RECIST diameters on screen and 2D overlays hidden in 3D, in a real napari viewer (Xvfb).

Clicks the real buttons: Statistics' Compute, the navigator's Next, Show in 3D, Back to 2D.
The lines are found in the screenshots where their RAS end points project (camera centre
and zoom), in their colours; screenshots go to ``$LIVERCT_TEST_SHOTS`` (else tmp_path).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import QPoint, Qt

pytestmark = pytest.mark.gui


def _colour(img, rgb, tol=90):
    px = np.asarray(img)[..., :3].astype(int)
    return np.abs(px - np.asarray(rgb)).sum(axis=-1) <= tol


def _line_seen(shot, viewer, a_ras, b_ras, rgb) -> float:
    """Share of points along the projected segment with the line's colour within 3 px."""
    from napari_liverct._napari.compat import camera_of
    from napari_liverct.geometry.grids import ras_to_world

    cam = camera_of(viewer)
    h, w = shot.shape[:2]
    mask = _colour(shot, rgb)
    disp = list(viewer.dims.displayed)
    centre = np.asarray(cam.center)[-2:]
    seen = []
    for t in np.linspace(0.1, 0.9, 17):
        p = ras_to_world(np.asarray(a_ras) + t * (np.asarray(b_ras) - np.asarray(a_ras)))
        r = int(round(h / 2 + cam.zoom * (p[disp[0]] - centre[0])))
        c = int(round(w / 2 + cam.zoom * (p[disp[1]] - centre[1])))
        seen.append(bool(mask[max(r - 3, 0) : r + 4, max(c - 3, 0) : c + 4].any()))
    return float(np.mean(seen))


def _click(qtbot, button):
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_next_draws_diameters_and_3d_hides_every_2d_overlay(make_napari_viewer, phantom_files, qtbot, tmp_path):
    from napari_liverct._napari.overlays import DIAMETERS_NAME, LONG_COLOR, SHORT_COLOR
    from napari_liverct._napari.pick import output_kind
    from napari_liverct._qt.stats_widget import StatsWidget
    from napari_liverct._qt.view3d_widget import View3DWidget
    from napari_liverct.stats import stats_for_files

    shots = Path(os.environ.get("LIVERCT_TEST_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1100, 800)
    viewer.open(str(phantom_files[0]), plugin="napari-liverct")
    stats = StatsWidget(viewer)
    view = View3DWidget(viewer)
    viewer.window.add_dock_widget(stats)
    viewer.window.add_dock_widget(view)
    stats.run_button.native.click()
    qtbot.waitUntil(lambda: stats.result is not None, timeout=60000)
    expected = stats_for_files(*phantom_files).lesions  # the CLI's numbers on the files
    assert [(r.long_axis_mm, r.short_axis_mm, r.target) for r in stats.result.lesions] == [
        (r.long_axis_mm, r.short_axis_mm, r.target) for r in expected
    ]
    rings = next(lay for lay in viewer.layers if output_kind(lay) == "lesion_rings")

    _click(qtbot, view.btn_next)
    les = view.model.cursor.lesions[0]
    assert view.model.cursor.current == 1 and "RECIST long" in view.lesion_label.text()
    lines = viewer.layers[DIAMETERS_NAME]
    assert list(lines.features["length_mm"]) == pytest.approx([les.long_axis_mm, les.short_axis_mm])
    # the slider is on the lesion's RECIST slice (stored index along the slice axis; the
    # phantom is stored with S last)
    from napari_liverct._napari.layer_utils import layer_disk_view

    _disk, affine = layer_disk_view(view.labels_layer)
    s_ras = les.long_axis_start_mm[2]
    assert float(viewer.dims.point[0]) == pytest.approx(s_ras, abs=1e-6)  # world S = RAS S
    assert affine[2, 3] + affine[2, 2] * les.recist_slice == pytest.approx(s_ras)
    shot2d = viewer.screenshot(canvas_only=True)
    from PIL import Image

    Image.fromarray(shot2d).save(shots / "recist_2d_next.png")
    assert _line_seen(shot2d, viewer, les.long_axis_start_mm, les.long_axis_end_mm, LONG_COLOR[:3] * 255) >= 0.8
    assert _line_seen(shot2d, viewer, les.short_axis_start_mm, les.short_axis_end_mm, SHORT_COLOR[:3] * 255) >= 0.8
    assert rings.visible and lines.visible

    _click(qtbot, view.btn_3d)
    qtbot.waitUntil(lambda: view.view is not None and viewer.dims.ndisplay == 3, timeout=120000)  # meshes
    overlays = [lay for lay in viewer.layers if output_kind(lay) in ("lesion_rings", "recist_lines")]
    assert {output_kind(lay) for lay in overlays} == {"lesion_rings", "recist_lines"}
    assert viewer.dims.ndisplay == 3
    assert not any(lay.visible for lay in overlays)
    shot3d = viewer.screenshot(canvas_only=True)
    Image.fromarray(shot3d).save(shots / "recist_3d.png")
    assert _colour(shot3d, LONG_COLOR[:3] * 255, 40).sum() == 0  # no line drawn in 3D
    assert _colour(shot3d, (0, 230, 255), 40).sum() == 0  # no cyan ring
    # Next in 3D: the navigator moves, the lines stay hidden
    _click(qtbot, view.btn_next)
    assert view.model.cursor.current == 1 and not viewer.layers[DIAMETERS_NAME].visible  # Show in 3D relists

    _click(qtbot, view.btn_2d)
    assert viewer.dims.ndisplay == 2
    assert rings.visible and viewer.layers[DIAMETERS_NAME].visible
    back = viewer.screenshot(canvas_only=True)
    Image.fromarray(back).save(shots / "recist_2d_back.png")
    les = view.model.cursor.lesions[0]  # walked in 3D: back in 2D its lines are on the slice shown
    assert float(viewer.dims.point[0]) == pytest.approx(les.long_axis_start_mm[2], abs=1e-6)
    assert _line_seen(back, viewer, les.long_axis_start_mm, les.long_axis_end_mm, LONG_COLOR[:3] * 255) >= 0.8

    # lesion 2's target box unticked by a click: the sum of diameters and the CSV follow
    from napari_liverct._qt.stats_widget import _TARGET_COLUMN

    assert [r.target for r in stats.result.lesions][:2] == [True, True]
    table = stats.lesion_table
    item = table.item(1, _TARGET_COLUMN)
    table.scrollToItem(item)
    rect = table.visualItemRect(item)
    box = QPoint(rect.left() + 10, rect.center().y())  # the check box is at the cell's left
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=box)
    assert [r.target for r in stats.result.lesions][:2] == [True, False]
    assert f"sum of diameters {stats.result.lesions[0].long_axis_mm:.1f} mm" in stats.summary.text()
    import csv

    rows = list(csv.DictReader(open(stats.export_csv(str(tmp_path / "s.csv")))))
    assert [r["target"] for r in rows if r["kind"] == "lesion"][:2] == ["True", "False"]
    assert float(rows[-1]["value"]) == pytest.approx(stats.result.lesions[0].long_axis_mm)
