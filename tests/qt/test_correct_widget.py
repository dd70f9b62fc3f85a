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
from nibabel.orientations import io_orientation
from painting import click_world
from qtpy.QtCore import Qt
from scipy import ndimage

from napari_liverct._napari.layer_utils import layer_disk_view
from napari_liverct._qt.compare_widget import STALE
from napari_liverct._qt.correct_widget import FILL_AXES
from napari_liverct.compare import compare_volumes
from napari_liverct.geometry.grids import ras_to_world
from napari_liverct.refine import interpolate, read_log, replay
from napari_liverct.segment.files import label_header
from napari_liverct.stats import stats_on_grid
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


def _live_times(qtbot, w, stats, stats_before, cmp, cmp_before) -> tuple[float, float]:
    """Seconds from the edit being in the layer to the Statistics and the Compare figures shown."""
    qtbot.waitUntil(lambda: stats.result is not stats_before, timeout=30_000)
    t_stats = time.perf_counter() - w.followers.since
    qtbot.waitUntil(lambda: cmp.result is not cmp_before, timeout=30_000)
    return t_stats, time.perf_counter() - w.followers.since


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
    errors_layer, surface_layer = cmp.errors_layer, cmp.surface_layer
    assert surface_layer is not None and not surface_layer.name.endswith(STALE)

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
    assert "deleted a lesion" in w.status.value, w.status.value
    assert _n_lesions(draft.data) == 1
    t_stats, t_cmp = _live_times(qtbot, w, stats, stats_before, cmp, before_cmp)
    assert len(stats.result.lesions) == 1 == stats.lesion_table.rowCount()
    print(f"\nafter a delete: Statistics updated in {t_stats:.2f} s, Compare in {t_cmp:.2f} s")
    # live: the errors layer is updated in place; the distance surface (not recomputed) says it is out of date
    assert cmp.errors_layer is errors_layer and cmp.surface_layer is surface_layer
    assert surface_layer.name.endswith(STALE) and errors_layer in viewer.layers
    live_times = [t_stats, t_cmp]

    # split the merged lesion by two clicks and the button
    w.mode.value = "split lesion"
    stats_before, cmp_before = stats.result, cmp.result
    # the clicked points show in one Points layer while they are collected; Cancel clears them
    _canvas_click(viewer, qtbot, ras(files["c1"]))
    markers = w.points
    assert markers.name == "draft clicked points (split/merge)" and len(markers.data) == 1
    np.testing.assert_allclose(markers.data[0], ras_to_world(ras(files["c1"])), atol=1.6)  # half a 3 mm voxel
    qtbot.mouseClick(w.cancel_button.native, Qt.MouseButton.LeftButton)
    assert len(markers.data) == 0 and not w._pending and not w.apply_button.enabled
    for c in (files["c1"], files["c2"]):
        _canvas_click(viewer, qtbot, ras(c))
    assert len(markers.data) == 2
    np.testing.assert_allclose(markers.data, [ras_to_world(ras(c)) for c in (files["c1"], files["c2"])], atol=1.6)
    assert w.apply_button.enabled
    qtbot.mouseClick(w.apply_button.native, Qt.MouseButton.LeftButton)
    _wait_edit(qtbot, w)
    assert "split a lesion" in w.status.value, w.status.value
    assert _n_lesions(draft.data) == 2
    assert len(markers.data) == 0 and w.points is markers  # applied: cleared, the same layer kept
    t_stats, t_cmp = _live_times(qtbot, w, stats, stats_before, cmp, cmp_before)
    assert len(stats.result.lesions) == 2 and cmp.result.lesions.n_pred == 2
    live_times += [t_stats, t_cmp]
    # the seconds are printed, not asserted: on this shared 2-core machine they range from 0.6 s
    # to 10 s with the load (benchmarks/bench_correct_scenario.py measures them)
    print(f"live figures after the two edits: {np.round(live_times, 2).tolist()} s")

    # one merged map: no layer was added per object (the strokes and points layers were added at Start)
    assert len(viewer.layers) == layers_before
    assert [ly.name for ly in viewer.layers if type(ly).__name__ == "Labels"].count("draft") == 1
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
    qtbot.waitUntil(
        lambda: not w.followers.pending and not stats.work.running and not cmp.work.running, timeout=180_000
    )
    # the live figures equal the core's full statistics and comparison on the final labels
    final = layer_disk_view(draft)[0]
    full = stats_on_grid(
        np.asarray(read_nifti(files["ct"]).data),
        final,
        files["aff"],
        {1: "liver", 2: "liver tumour"},
        organ_labels=[1],
        lesion_labels=[2],
    )
    assert [r.to_json() for r in stats.result.lesions] == [r.to_json() for r in full.lesions]
    assert [r.to_json() for r in stats.result.labels] == [r.to_json() for r in full.labels]
    ref, _ = compare_volumes(
        layer_disk_view(truth)[0],
        files["aff"],
        final,
        files["aff"],
        names={1: "liver", 2: "liver tumour"},
        lesion_labels=[2],
    )
    assert cmp.result.lesions.to_json() == ref.lesions.to_json()
    assert [c.to_json() for c in cmp.result.classes] == [c.to_json() for c in ref.classes]

    # the log replays on the files to the labels on screen (in the file's order)
    ct_data = np.asarray(read_nifti(files["ct"]).data)
    got, _, notes = replay(ct_data, files["aff"], files["draft"], read_log(log_path))
    assert not notes
    np.testing.assert_array_equal(layer_disk_view(draft)[0], got)

    # fill between coronal slices: painted in the strokes layer, the axis chosen in the widget
    before = np.array(layer_disk_view(draft)[0])
    strokes = layer_disk_view(w.strokes)[0]
    sp = np.sqrt((files["aff"][:3, :3] ** 2).sum(0))
    ball = planted_ball(before.shape, files["fp"], sp, 9.0)  # where the false positive was deleted: liver now
    a_axis = int(np.flatnonzero(io_orientation(files["aff"])[:, 0] == 1)[0])  # the stored axis of A-P
    ks = sorted(set(np.argwhere(ball)[:, a_axis]))
    on = np.isin(np.indices(before.shape)[a_axis], [ks[1], ks[-2]]) & ball
    strokes[on] = 1
    w.strokes.refresh()
    w.fill_axis.native.setCurrentIndex(list(FILL_AXES).index("A-P (coronal slices)"))
    assert w.fill_axis.value == "A-P (coronal slices)"
    qtbot.mouseClick(w.fill_button.native, Qt.MouseButton.LeftButton)
    _wait_edit(qtbot, w)
    assert "along A" in w.status.value, w.status.value
    entry = read_log(log_path)["edits"][-1]
    assert (entry["op"], entry["axis"]) == ("interpolate", "A")
    drawn = [ras(v) for v in np.argwhere(on)]
    expect = interpolate(None, files["aff"], before, 2, drawn, axis="A").labels
    np.testing.assert_array_equal(layer_disk_view(draft)[0], expect)
    assert (before[on] == 1).all() and (
        expect != before
    ).sum() > on.sum()  # filled between the two slices, not only the drawn ones
    assert not np.asarray(w.strokes.data).any()  # the strokes are cleared after use


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


@pytest.fixture(scope="module")
def planted_ct(files):
    """The example CT with a low-density sphere PLANTED in its real liver (-50 HU, radius
    10 mm, not a real lesion), as the lesion network test plants it, and a draft that is the
    liver alone (the sphere missed)."""
    from planted import example_liver

    data, aff, liver, deep, sp = example_liver()
    centre = deep + np.array([0, 0, -4])
    sphere = planted_ball(data.shape, centre, sp, 10.0)
    img = nib.load(str(files["ct"]))
    planted = np.asarray(img.dataobj).astype(np.int16)
    planted[sphere] -= 50
    path = files["tmp"] / "planted_ct.nii.gz"
    nib.save(nib.Nifti1Image(planted, img.affine, img.header), path)
    _save(files["tmp"] / "liver_only.nii.gz", liver.astype(np.uint8), aff)
    return {"ct": path, "draft": files["tmp"] / "liver_only.nii.gz", "centre": centre, "sphere": sphere}


def test_sensitivity_rethresholds_the_same_tile_as_one_edit(make_napari_viewer, qtbot, files, planted_ct, monkeypatch):
    """Add a lesion by a click, then lower the sensitivity with the spin box's arrow key: the
    lesion is re-extracted from the tile probability the session kept (no second network run),
    replacing the add (one undoable edit, one log entry with the final threshold)."""
    from napari_liverct.segment import pipeline
    from napari_liverct.segment.weights import weights_path

    if not weights_path("lesion").exists():
        pytest.skip("lesion weights missing: run python scripts/fetch_data.py")
    runs, seen = [], []
    real_run = pipeline.run_network

    def counted(kind, tile, *a, **k):
        runs.append(kind)
        out = real_run(kind, tile, *a, **k)
        seen.append((np.array(tile), np.array(out)))
        return out

    monkeypatch.setattr(pipeline, "run_network", counted)
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    viewer.open([str(planted_ct["ct"]), str(planted_ct["draft"])], plugin=PLUGIN)
    ct, draft = viewer.layers
    original = np.array(layer_disk_view(draft)[0])
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Correct draft")
    w.ct_combo.value, w.labels_combo.value = ct, draft
    qtbot.mouseClick(w.start_button.native, Qt.MouseButton.LeftButton)
    w.mode.value = "add lesion"
    centre = planted_ct["centre"]
    _canvas_click(viewer, qtbot, files["ras"](centre))
    _wait_edit(qtbot, w)
    assert runs == ["lesion"] and "added a lesion" in w.status.value, w.status.value
    at_half = int((layer_disk_view(draft)[0] == 2).sum())
    for _ in range(4):  # 0.50 -> 0.30, four steps of the spin box (each one re-thresholds; the latest wins)
        qtbot.keyClick(w.threshold.native, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: not w.work.running and w._retune is None, timeout=30_000)
    qtbot.waitUntil(lambda: "threshold 0.3" in w.status.value, timeout=10_000)
    assert runs == ["lesion"]  # no second network pass
    assert "re-thresholded the same tile in" in w.status.value
    labels = np.asarray(layer_disk_view(draft)[0])
    # the component under the click of (kept probability > 0.3), by scipy
    (prob,) = w.session.tiles.values()
    full = np.zeros(labels.shape, np.float32)
    full[prob.box] = prob.probability
    lab, _ = ndimage.label(full > 0.3, structure=S26)
    expect = lab == lab[tuple(centre)]
    assert lab[tuple(centre)] > 0
    np.testing.assert_array_equal(labels == 2, expect)
    assert expect.sum() > at_half  # a lower threshold takes more
    sphere = planted_ct["sphere"]
    dice = 2 * (expect & sphere).sum() / (expect.sum() + sphere.sum())
    print(f"\nPLANTED sphere: {at_half} voxels at 0.5, {int(expect.sum())} at 0.3 (Dice vs the ball {dice:.3f})")
    # one undoable edit, one log entry, with the final threshold; the log replays to the same bytes
    assert len(w.session.undo_stack) == 1
    saved = read_log(planted_ct["draft"].with_name("liver_only.edits.json"))
    assert [(e["op"], e["threshold"]) for e in saved["edits"]] == [("add_lesion", 0.3)]
    # the replay feeds the network the very tile the widget fed it (the network is deterministic:
    # its recorded answer stands in for a second 4 s run)
    ((tile_in, tile_out),) = seen

    def same_tile(kind, tile, *a, **k):
        np.testing.assert_array_equal(tile, tile_in)
        return tile_out

    monkeypatch.setattr(pipeline, "run_network", same_tile)
    ct_data = np.asarray(read_nifti(planted_ct["ct"]).data)
    got, _, notes = replay(ct_data, files["aff"], original, saved)
    assert not notes
    np.testing.assert_array_equal(got, labels)
    qtbot.mouseClick(w.undo_button.native, Qt.MouseButton.LeftButton)
    np.testing.assert_array_equal(layer_disk_view(draft)[0], original)


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

    ct_data = np.asarray(read_nifti(files["ct"]).data)
    expect, _, _ = replay(ct_data, files["aff"], files["draft"], saved)
    np.testing.assert_array_equal(layer_disk_view(viewer.layers[1])[0], expect)
    assert len(w.session.undo_stack) == 2  # each replayed edit is an undoable step
