"""Issue 24's "done when", in a real napari viewer: click each missed lesion, delete a false
one, split a merged pair, watch the lesion count and Dice follow, close, reopen, get the work back.

Usage::

    nice python benchmarks/bench_correct_scenario.py       # about 1 min on a quiet machine, 2 threads
    python benchmarks/bench_correct_scenario.py --screenshot docs/screenshots/correct_widget.png

Data: TotalSegmentator's example CT (the test data; it has no tumour and no manual labels) with
its liver (label 5 of its 'fast' output) as the draft's liver.  Into that real liver this script
PLANTS lesions: low-density spheres (-50 HU below the CT's own values; radii 10, 9, 8 mm) that
the draft misses, two touching spheres the draft holds as one merged lesion, and a false
positive ball in the draft only.  They are planted, not real lesions.  The ground truth is the
liver with the five planted spheres apart.

Every edit is a mouse click on the canvas (press and release where the 2D view shows the
point) or on a button; printed per step: the edit's seconds (click to labels changed), what it
did, the Dice of an added lesion against its planted ball, the seconds from the edit being in
the layer to the Statistics and Compare figures shown, and those figures (lesions in the
Statistics table; lesions found and lesion-class Dice in Compare).  Then the viewer is closed,
a new one opens the same files, and the saved edit log is replayed (compared voxel for voxel
with the labels before closing).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

PLUGIN = "napari-liverct"


def _case(tmp: Path) -> dict:
    import nibabel as nib
    from scipy import ndimage

    from napari_liverct.segment.files import label_header
    from napari_liverct.segment.weights import data_dir

    root = data_dir() / "totalsegmentator"
    img = nib.load(str(root / "example_ct.nii.gz"))
    ct = np.asarray(img.dataobj).astype(np.int16)
    aff = img.affine
    liver = np.asarray(nib.load(str(root / "example_seg_fast_force_split.nii.gz")).dataobj) == 5
    sp = np.sqrt((aff[:3, :3] ** 2).sum(0))
    grid = np.ogrid[tuple(slice(0, n) for n in liver.shape)]

    def ball(c, r):
        return np.sqrt(sum(((g - cc) * s) ** 2 for g, cc, s in zip(grid, c, sp))) <= r

    # centres deep in the liver, 40 mm apart: the deepest voxel, then the deepest far from those taken
    inner = ndimage.distance_transform_edt(np.pad(liver, 1), sampling=sp)[1:-1, 1:-1, 1:-1]
    centres, free = [], inner.copy()
    for _ in range(5):
        c = np.array(np.unravel_index(np.argmax(free), free.shape))
        if free[tuple(c)] < 12.0:
            raise SystemExit("the liver has no room for five planted spheres")
        centres.append(c)
        free[ball(c, 40.0)] = 0
    planted = [(centres[0], 10.0), (centres[1], 9.0), (centres[2], 8.0)]
    pair_c = centres[3]
    ax = int(np.argmax(sp))  # the pair apart along the thickest axis: 18 mm between centres
    step = np.zeros(3, int)
    step[ax] = max(1, int(round(9.0 / sp[ax])))
    pair = [pair_c - step, pair_c + step]
    fp = centres[4]
    dark = np.zeros(liver.shape, bool)
    truth = liver.astype(np.uint8)
    for c, r in planted:
        dark |= ball(c, r)
        truth[ball(c, r)] = 2
    for c in pair:
        dark |= ball(c, 8.0)
        truth[ball(c, 8.0)] = 2
    ct[dark] -= 50
    draft = liver.astype(np.uint8)
    draft[ball(pair[0], 10.0) | ball(pair[1], 10.0)] = 2  # the pair drawn as one lesion
    draft[ball(fp, 6.0)] = 2  # a false positive
    header = label_header({1: "liver", 2: "liver tumour"})
    nib.save(nib.Nifti1Image(ct, aff, img.header), tmp / "ct_planted.nii.gz")
    for name, arr in (("truth", truth), ("draft", draft)):
        out = nib.Nifti1Image(arr, aff, header=header)
        out.set_data_dtype(np.uint8)
        nib.save(out, tmp / f"{name}.nii.gz")
    ras = lambda v: (aff @ np.r_[np.asarray(v, float), 1.0])[:3]  # noqa: E731
    return {"aff": aff, "planted": planted, "pair": pair, "fp": fp, "ball": ball, "ras": ras, "draft": draft}


def _wait(app, cond, timeout: float = 600.0) -> None:
    t0 = time.perf_counter()
    while not cond():
        app.processEvents()
        time.sleep(0.005)
        if time.perf_counter() - t0 > timeout:
            raise SystemExit("timed out waiting for the viewer")


def _click(viewer, app, ras) -> None:
    """Put the slider on the point's axial slice and press/release the mouse where it shows."""
    from qtpy.QtCore import QPoint, Qt
    from qtpy.QtTest import QTest

    from napari_liverct.geometry.grids import ras_to_world

    world = ras_to_world(np.asarray(ras, float))
    viewer.dims.set_point(0, float(world[0]))
    app.processEvents()
    cam = viewer.scene.camera
    canvas = viewer.window._qt_viewer.canvas.native
    row = canvas.height() / 2 + cam.zoom * (world[1] - cam.center[1])
    col = canvas.width() / 2 + cam.zoom * (world[2] - cam.center[2])
    pos = QPoint(int(round(col)), int(round(row)))
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, pos=pos)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=pos)
    app.processEvents()


def _press(app, button) -> None:
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    QTest.mouseClick(button.native, Qt.MouseButton.LeftButton)
    app.processEvents()


def main(screenshot: str | None = None) -> None:
    from napari_liverct.cli.xvfb import ensure_display

    os.environ.pop("QT_QPA_PLATFORM", None)
    ensure_display()
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_liverct._napari.layer_utils import layer_disk_view
    from napari_liverct.geometry.grids import ras_to_world
    from napari_liverct.segment.weights import weights_path

    if not weights_path("lesion").exists():
        raise SystemExit("lesion weights missing: run python scripts/fetch_data.py")
    tmp = Path(tempfile.mkdtemp(prefix="liverct-scenario-"))
    case = _case(tmp)
    ras = case["ras"]
    print(f"example CT with PLANTED lesions in its real liver; {tmp}; load average {os.getloadavg()[0]:.1f}")
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    app = QApplication.instance()
    t_open = time.perf_counter()
    viewer.open([str(tmp / "ct_planted.nii.gz"), str(tmp / "truth.nii.gz"), str(tmp / "draft.nii.gz")], plugin=PLUGIN)
    ct, truth, draft = (viewer.layers[i] for i in range(3))
    _, stats = viewer.window.add_plugin_dock_widget(PLUGIN, "Statistics")
    _, cmp = viewer.window.add_plugin_dock_widget(PLUGIN, "Compare segmentations")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Correct draft")
    stats.image_combo.value, stats.labels_combo.value = ct, draft
    stats.lesion_text.value = "2"
    _press(app, stats.run_button)
    cmp.gt_combo.value, cmp.pred_combo.value = truth, draft
    _wait(app, lambda: stats.result is not None and not stats.work.running)
    _press(app, cmp.run_button)
    _wait(app, lambda: cmp.result is not None and not cmp.work.running)
    w.ct_combo.value, w.labels_combo.value = ct, draft
    _press(app, w.start_button)
    print(f"opened, Statistics and Compare computed, Start pressed: {time.perf_counter() - t_open:.1f} s")

    def figures() -> str:
        les = cmp.result.lesions
        dice = next(c.dice for c in cmp.result.classes if c.label == 2)
        return (
            f"Statistics: {len(stats.result.lesions)} lesions | Compare: {les.tp}/{les.n_gt} lesions found, "
            f"{les.fp} false, lesion Dice {dice:.3f}"
        )

    print(f"start: {figures()}")
    rows = []

    def edit(what: str, act) -> None:
        s0, c0 = stats.result, cmp.result
        t0 = time.perf_counter()
        act()
        _wait(app, lambda: not w.work.running)
        t_edit = time.perf_counter() - t0
        _wait(app, lambda: stats.result is not s0)
        t_stats = time.perf_counter() - w.followers.since
        _wait(app, lambda: cmp.result is not c0)
        t_cmp = time.perf_counter() - w.followers.since
        _wait(app, lambda: not stats.work.running and not cmp.work.running and not w.followers.pending)
        rows.append((what, t_edit, t_stats, t_cmp))
        print(
            f"{what}: {w.status.value}\n    edit {t_edit:.2f} s; figures after {t_stats:.2f} s (Statistics), "
            f"{t_cmp:.2f} s (Compare); {figures()}"
        )

    w.mode.value = "add lesion"
    dices = []
    for k, (c, r) in enumerate(case["planted"], start=1):
        edit(f"click planted sphere {k} (r {r:g} mm)", lambda c=c: _click(viewer, app, ras(c)))
        labels = layer_disk_view(draft)[0]
        from scipy import ndimage

        lab, _ = ndimage.label(labels == 2, structure=np.ones((3, 3, 3)))
        got = lab == lab[tuple(c)] if lab[tuple(c)] else np.zeros(labels.shape, bool)
        ball = case["ball"](c, r)
        d = 2 * (got & ball).sum() / max(1, got.sum() + ball.sum())
        dices.append(d)
        print(f"    sphere {k}: {int(ball.sum())} voxels planted, {int(got.sum())} labelled; Dice {d:.3f}")
    found = sum(d > 0.5 for d in dices)
    print(
        f"clicks on {len(dices)} planted spheres: {found} came back with Dice > 0.5 (Dice {np.round(dices, 3).tolist()})"
    )
    w.mode.value = "delete lesion"
    edit("delete the false positive", lambda: _click(viewer, app, ras(case["fp"])))
    w.mode.value = "split lesion"

    def split():
        for c in case["pair"]:
            _click(viewer, app, ras(c))
        if screenshot:  # the two clicked points shown, before the button
            viewer.dims.set_point(0, float(ras_to_world(ras(case["pair"][0]))[0]))
            viewer.layers.selection.active = draft
            for _ in range(20):
                app.processEvents()
                time.sleep(0.02)
            viewer.screenshot(screenshot, canvas_only=False)
            print(f"    screenshot with the clicked points: {screenshot}")
        _press(app, w.apply_button)

    edit("split the merged pair (2 clicks + button)", split)
    before_close = np.array(layer_disk_view(draft)[0])
    n_edits = len(w.session.log["edits"])
    viewer.close()
    app.processEvents()

    t0 = time.perf_counter()
    viewer = napari.Viewer(show=True)
    viewer.open([str(tmp / "ct_planted.nii.gz"), str(tmp / "draft.nii.gz")], plugin=PLUGIN)
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Correct draft")
    w.ct_combo.value, w.labels_combo.value = viewer.layers[0], viewer.layers[1]
    _press(app, w.start_button)
    offered = w.replay_button.enabled
    print(f"reopened: {w.status.value}")
    _press(app, w.replay_button)
    _wait(app, lambda: not w.work.running and "replayed" in w.status.value)
    back = layer_disk_view(viewer.layers[1])[0]
    same = np.array_equal(back, before_close)
    print(
        f"close + reopen + Replay saved edits ({n_edits} edits, offered: {offered}): {time.perf_counter() - t0:.1f} s; "
        f"labels identical to before closing: {same}"
    )
    print("\nstep | edit s | Statistics after s | Compare after s")
    for what, te, ts, tc in rows:
        print(f"{what} | {te:.2f} | {ts:.2f} | {tc:.2f}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    viewer.close()
    if not same or not offered:
        raise SystemExit(1)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--screenshot", help="save the viewer (with the split's clicked points) to this PNG")
    main(ap.parse_args().screenshot)
