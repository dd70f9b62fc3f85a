"""Correct draft (issue 24) in a real viewer, on TotalSegmentator's example CT with its liver
and spheres planted as lesions (the test files have no manual tumour labels): two touching
spheres drawn as one lesion (a merged draft), a false positive, and a truth with the two
spheres apart.  Real controls are clicked (``qtbot.mouseClick`` on buttons, mouse press and
release on the canvas); the Statistics table and Compare must follow each edit; the log is
saved after each edit and survives a SIGKILL of a viewer process, and reopening the files
offers to replay it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from painting import click_world
from qtpy.QtCore import Qt
from scipy import ndimage

from napari_liverct.geometry.grids import ras_to_world
from napari_liverct.refine import read_log, replay
from napari_liverct.segment.files import label_header
from napari_liverct.volumes.nifti import read_nifti
from planted import ball as planted_ball
from planted import example_liver
from realdata import EXAMPLE_CT, real

PLUGIN = "napari-liverct"
S26 = np.ones((3, 3, 3), bool)


def _save(path, data, aff):
    img = nib.Nifti1Image(data.astype(np.uint8), aff, header=label_header({1: "liver", 2: "liver tumour"}))
    img.set_data_dtype(np.uint8)
    nib.save(img, path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("correct")
    _, aff, liver, deep, sp = example_liver()

    def ball(c, r):
        return planted_ball(liver.shape, c, sp, r)

    c1, c2, fp = deep + [-3, 0, 0], deep + [3, 0, 0], deep + [0, 0, -6]
    draft = liver.astype(np.uint8)
    draft[ball(c1, 10) | ball(c2, 10)] = 2  # two tumours drawn as one
    draft[ball(fp, 6)] = 2  # a false positive
    truth = liver.astype(np.uint8)
    truth[ball(c1, 8)] = 2
    truth[ball(c2, 8)] = 2
    _save(tmp / "draft.nii.gz", draft, aff)
    _save(tmp / "truth.nii.gz", truth, aff)
    ras = lambda v: (aff @ np.r_[np.asarray(v, float), 1.0])[:3]  # noqa: E731
    return {"tmp": tmp, "ct": real(EXAMPLE_CT), "aff": aff, "draft": draft, "c1": c1, "c2": c2, "fp": fp, "ras": ras}


def _canvas_click(viewer, qtbot, ras) -> None:
    """Move the slider to the point's axial slice and click where the canvas shows it."""
    world = ras_to_world(np.asarray(ras, float))
    viewer.dims.set_point(0, float(world[0]))
    qtbot.wait(20)
    click_world(viewer, qtbot, world)


def _n_lesions(arr) -> int:
    return int(ndimage.label(np.asarray(arr) == 2, structure=S26)[1])


def _wait_edit(qtbot, w):
    qtbot.waitUntil(lambda: not w.work.running, timeout=120_000)


@pytest.fixture
def opened(make_napari_viewer, qtbot, files):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    viewer.open(
        [str(files["ct"]), str(files["tmp"] / "truth.nii.gz"), str(files["tmp"] / "draft.nii.gz")], plugin=PLUGIN
    )
    names = [ly.name for ly in viewer.layers]
    ct, truth, draft = (viewer.layers[n] for n in names)
    return viewer, ct, truth, draft


def test_click_edits_undo_redo_and_live_figures(opened, qtbot, files):
    viewer, ct, truth, draft = opened
    ras = files["ras"]
    _, stats = viewer.window.add_plugin_dock_widget(PLUGIN, "Statistics")
    _, cmp = viewer.window.add_plugin_dock_widget(PLUGIN, "Compare segmentations")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Correct draft")
    stats.image_combo.value, stats.labels_combo.value = ct, draft
    stats.lesion_text.value = "2"
    qtbot.mouseClick(stats.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: stats.result is not None, timeout=60_000)
    assert len(stats.result.lesions) == 2 == stats.lesion_table.rowCount()
    cmp.gt_combo.value, cmp.pred_combo.value = truth, draft
    qtbot.mouseClick(cmp.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: cmp.result is not None, timeout=120_000)
    before_cmp = cmp.result

    w.ct_combo.value, w.labels_combo.value = ct, draft
    assert (w.liver_spin.value, w.lesion_spin.value) == (1, 2)  # from the file's class names
    qtbot.mouseClick(w.start_button.native, Qt.MouseButton.LeftButton)
    assert w.session is not None and w.strokes is not None
    layers_before = len(viewer.layers)
    original = np.array(draft.data)

    # delete the false positive by a click on the canvas
    w.mode.value = "delete lesion"
    stats_before = stats.result
    _canvas_click(viewer, qtbot, ras(files["fp"]))
    _wait_edit(qtbot, w)
    t_commit = time.perf_counter()
    assert "deleted a lesion" in w.status.value, w.status.value
    assert _n_lesions(draft.data) == 1
    qtbot.waitUntil(lambda: stats.result is not stats_before, timeout=30_000)
    t_stats = time.perf_counter() - t_commit
    assert len(stats.result.lesions) == 1 == stats.lesion_table.rowCount()
    qtbot.waitUntil(lambda: cmp.result is not before_cmp, timeout=60_000)
    t_cmp = time.perf_counter() - t_commit
    print(f"\nafter an edit: Statistics updated in {t_stats:.2f} s, Compare in {t_cmp:.2f} s")

    # split the merged lesion by two clicks and the button
    w.mode.value = "split lesion"
    stats_before = stats.result
    for c in (files["c1"], files["c2"]):
        _canvas_click(viewer, qtbot, ras(c))
    assert w.apply_button.enabled
    qtbot.mouseClick(w.apply_button.native, Qt.MouseButton.LeftButton)
    _wait_edit(qtbot, w)
    assert "split a lesion" in w.status.value, w.status.value
    assert _n_lesions(draft.data) == 2
    qtbot.waitUntil(lambda: stats.result is not stats_before and len(stats.result.lesions) == 2, timeout=30_000)
    cmp_split = cmp.result
    qtbot.waitUntil(lambda: cmp.result is not cmp_split or cmp.work.running is False, timeout=60_000)

    # one merged map: no layer was added per object (the strokes layer was added at Start)
    assert len(viewer.layers) == layers_before
    log_path = files["tmp"] / "draft.edits.json"
    saved = read_log(log_path)
    assert [e["op"] for e in saved["edits"]] == ["delete_lesion", "split_lesion"]
    after_two = np.array(draft.data)

    # undo and redo whole operations
    qtbot.mouseClick(w.undo_button.native, Qt.MouseButton.LeftButton)
    assert _n_lesions(draft.data) == 1
    assert [e["op"] for e in read_log(log_path)["edits"]] == ["delete_lesion"]
    qtbot.mouseClick(w.undo_button.native, Qt.MouseButton.LeftButton)
    np.testing.assert_array_equal(np.asarray(draft.data), original)
    assert not w.undo_button.enabled and w.redo_button.enabled
    qtbot.mouseClick(w.redo_button.native, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(w.redo_button.native, Qt.MouseButton.LeftButton)
    np.testing.assert_array_equal(np.asarray(draft.data), after_two)
    assert [e["op"] for e in read_log(log_path)["edits"]] == ["delete_lesion", "split_lesion"]
    qtbot.waitUntil(lambda: not w._live_pending and not stats.work.running and not cmp.work.running, timeout=180_000)
    assert len(stats.result.lesions) == 2

    # the log replays on the files to the labels on screen (in the file's order)
    ct_data = np.asarray(read_nifti(files["ct"]).data)
    got, _, notes = replay(ct_data, files["aff"], files["draft"], read_log(log_path))
    assert not notes
    from napari_liverct._napari.layer_utils import layer_disk_view

    np.testing.assert_array_equal(layer_disk_view(draft)[0], got)


_VIEWER_SCRIPT = r"""
import sys, time
import napari
from napari_liverct.geometry.grids import ras_to_world
import numpy as np
ct, draft, points = sys.argv[1], sys.argv[2], sys.argv[3]
import json
pts = json.loads(points)
viewer = napari.Viewer(show=False)
viewer.open([ct, draft], plugin="napari-liverct")
_, w = viewer.window.add_plugin_dock_widget("napari-liverct", "Correct draft")
w.ct_combo.value, w.labels_combo.value = viewer.layers[0], viewer.layers[1]
w.start_button.native.click()
from qtpy.QtWidgets import QApplication
app = QApplication.instance()
w.mode.value = "delete lesion"
w.click(ras_to_world(np.array(pts[0])))
while w.work.running:
    app.processEvents(); time.sleep(0.02)
w.mode.value = "split lesion"
w.click(ras_to_world(np.array(pts[1]))); w.click(ras_to_world(np.array(pts[2])))
w.apply_button.native.click()
while w.work.running:
    app.processEvents(); time.sleep(0.02)
print("EDITS", len(w.session.log["edits"]), flush=True)
while True:
    app.processEvents(); time.sleep(0.05)
"""


def test_autosave_survives_sigkill_and_reopening_offers_replay(make_napari_viewer, qtbot, files, tmp_path):
    import shutil

    work = tmp_path / "case"
    work.mkdir()
    shutil.copy(files["tmp"] / "draft.nii.gz", work / "draft.nii.gz")
    ras = files["ras"]
    pts = json.dumps([ras(files["fp"]).tolist(), ras(files["c1"]).tolist(), ras(files["c2"]).tolist()])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[2] / "src"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", _VIEWER_SCRIPT, str(files["ct"]), str(work / "draft.nii.gz"), pts],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        line = ""
        deadline = time.monotonic() + 400
        while not line.startswith("EDITS") and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert line.strip() == "EDITS 2", line
        os.kill(proc.pid, signal.SIGKILL)  # the viewer dies with its edits only in the log
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    log_path = work / "draft.edits.json"
    saved = read_log(log_path)
    assert [e["op"] for e in saved["edits"]] == ["delete_lesion", "split_lesion"]
    # reopen the CT and the (unchanged) labels: the widget offers the saved edits
    viewer = make_napari_viewer(show=False)
    viewer.open([str(files["ct"]), str(work / "draft.nii.gz")], plugin=PLUGIN)
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Correct draft")
    w.ct_combo.value, w.labels_combo.value = viewer.layers[0], viewer.layers[1]
    qtbot.mouseClick(w.start_button.native, Qt.MouseButton.LeftButton)
    assert w.replay_button.enabled and "Found 2 saved edits" in w.status.value
    qtbot.mouseClick(w.replay_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.work.running and "replayed" in w.status.value, timeout=120_000)
    from napari_liverct._napari.layer_utils import layer_disk_view

    ct_data = np.asarray(read_nifti(files["ct"]).data)
    expect, _, _ = replay(ct_data, files["aff"], files["draft"], saved)
    np.testing.assert_array_equal(layer_disk_view(viewer.layers[1])[0], expect)
    assert len(w.session.undo_stack) == 2  # each replayed edit is an undoable step
