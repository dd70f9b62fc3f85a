"""One error, once (issues 22 item 5 and 25 item 3): every widget that runs work refuses a bad
input with exactly one notification and no traceback, clicked through its real control.

Oracle: napari's own notification manager (``notification_manager.records``, which every
pop-up and console line goes through) and the process's stderr.  A refusal is one plain
``Notification`` of severity ERROR naming the problem; a real bug is one
``ErrorNotification`` carrying the exception (napari shows its traceback once).  The last
tests run the Segment widget in a plain Python process without napari's exception hooks
(``napari.run()`` installs them): the process must end normally (it aborted with
"Segment on labels opened as an image": PyQt6 aborts on an exception escaping a slot).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import nibabel as nib
import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_liverct.display.layers import array_to_layer_data
from napari_liverct.segment import pipeline as pl
from standin import lesion_constant, liver_box

pytestmark = pytest.mark.gui

PLUGIN = "napari-liverct"


class Notes:
    """The notifications dispatched since it was made (napari's own records)."""

    def __init__(self):
        from napari.utils.notifications import notification_manager

        self._manager = notification_manager
        self._start = len(notification_manager.records)

    @property
    def new(self) -> list:
        return self._manager.records[self._start :]

    def one_refusal(self, *words) -> str:
        from napari.utils.notifications import ErrorNotification, NotificationSeverity

        notes = self.new
        assert len(notes) == 1, [n.message for n in notes]
        note = notes[0]
        assert note.severity == NotificationSeverity.ERROR and not isinstance(note, ErrorNotification)
        for word in words:
            assert word.lower() in note.message.lower(), note.message
        return note.message


def _click(qtbot, button) -> None:
    qtbot.mouseClick(getattr(button, "native", button), Qt.MouseButton.LeftButton)


def _settle(qtbot, ms: int = 200) -> None:
    qtbot.wait(ms)  # queued signals (a worker's errored/finished) are delivered


def _ct(ph):
    return array_to_layer_data(ph.image, ph.affine, kind="image", name="ct")


def _no_traceback(capfd) -> None:
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, out + err


# ---------------------------------------------------------------------------- Segment
def test_segment_refuses_labels_opened_as_an_image_once_and_speaks_of_labels(make_napari_viewer, qtbot, capfd):
    viewer = make_napari_viewer()
    seg = np.zeros((40, 60, 60), np.uint8)
    seg[10:30, 20:40, 20:40] = 1
    seg[15:20, 25:30, 25:30] = 2
    viewer.add_image(seg, name="liver_seg")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment liver (offline)")
    notes = Notes()
    _click(qtbot, widget.run_button)
    _settle(qtbot)
    msg = notes.one_refusal("liver_seg", "label values (0, 1, 2)", "open it as labels")
    assert "MR" not in msg and "Hounsfield" not in msg
    assert not widget.running and widget.run_button.enabled
    assert widget.status.value.startswith("⚠") and "label values" in widget.status.value
    assert [ly.name for ly in viewer.layers] == ["liver_seg"]  # nothing half-added
    _no_traceback(capfd)


def test_segment_refuses_an_mr_once(make_napari_viewer, qtbot, capfd):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(3)
    viewer.add_image(rng.gamma(2.0, 200.0, (30, 40, 40)).astype(np.float32), name="t1")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment liver (offline)")
    notes = Notes()
    _click(qtbot, widget.run_button)
    _settle(qtbot)
    msg = notes.one_refusal("t1", "Hounsfield", "MR")
    assert f"lowest value is {float(viewer.layers['t1'].data[::2, ::2, ::2].min()):g}" in msg
    _no_traceback(capfd)


@pytest.mark.parametrize("kind", ["refusal", "bug"])
def test_segment_error_in_the_worker_is_one_notification(
    make_napari_viewer, qtbot, capfd, tiny_phantom, monkeypatch, kind
):
    """An error raised inside the worker thread: once, without traceback for a refusal."""
    error = ValueError if kind == "refusal" else ZeroDivisionError

    def network(model, patch, monitor=None):
        raise error("the stand-in network fails on purpose")

    monkeypatch.setattr(pl, "run_network", network)
    viewer = make_napari_viewer()
    data, kwargs, _ = _ct(tiny_phantom)
    viewer.add_image(data, **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment liver (offline)")
    widget.with_lesions.native.setChecked(False)
    notes = Notes()
    _click(qtbot, widget.run_button)
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    _settle(qtbot)
    assert widget.run_button.enabled and not widget.cancel_button.enabled
    assert "fails on purpose" in widget.status.value
    if kind == "refusal":
        notes.one_refusal("Segment liver", "fails on purpose")
        _no_traceback(capfd)
    else:
        from napari.utils.notifications import ErrorNotification

        assert len(notes.new) == 1 and isinstance(notes.new[0], ErrorNotification)
        assert isinstance(notes.new[0].exception, ZeroDivisionError)  # shown with its traceback
        out, err = capfd.readouterr()
        assert (out + err).count("Traceback") <= 1


# ---------------------------------------------------------------------------- the other widgets
def test_statistics_refuses_a_bad_label_list_once(make_napari_viewer, qtbot, capfd, small_phantom):
    viewer = make_napari_viewer()
    ph = small_phantom
    data, kwargs, _ = _ct(ph)
    viewer.add_image(data, **kwargs)
    data, kwargs, _ = array_to_layer_data(ph.labels, ph.affine, kind="labels", name="seg")
    viewer.add_labels(data, **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Statistics")
    widget.organ_text.value = "liver"
    notes = Notes()
    _click(qtbot, widget.run_button)
    _settle(qtbot)
    notes.one_refusal("Statistics", "organ labels")
    assert widget.result is None and widget.run_button.enabled
    _no_traceback(capfd)


def test_compare_refuses_two_grids_once(make_napari_viewer, qtbot, capfd):
    viewer = make_napari_viewer()
    for shape, aff, name in (((20, 20, 10), np.diag([2.0, 2.0, 3.0, 1.0]), "truth"), ((40, 40, 10), np.eye(4), "fine")):
        lab = np.zeros(shape, np.uint8)
        lab[5:15, 5:15, 2:8] = 1
        d, kw, _ = array_to_layer_data(lab, aff, kind="labels", name=name, label_names={1: "liver"})
        viewer.add_labels(d, **kw)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Compare segmentations")
    widget.gt_combo.value, widget.pred_combo.value = viewer.layers["truth"], viewer.layers["fine"]
    notes = Notes()
    _click(qtbot, widget.run_button)
    _settle(qtbot)
    notes.one_refusal("Compare", "not on the same grid", "'fine' (prediction)")
    assert widget.outcome is None and widget.run_button.enabled
    _no_traceback(capfd)


def test_monai_refuses_a_bad_pixdim_once(make_napari_viewer, qtbot, capfd, phantom_files):
    viewer = make_napari_viewer()
    viewer.open(str(phantom_files[0]), plugin=PLUGIN)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "MONAI pipeline")
    widget.pixdim.value = "three"
    notes = Notes()
    _click(qtbot, widget.run_button)
    _settle(qtbot)
    notes.one_refusal("MONAI pipeline", "pixdim")
    assert widget.run_button.enabled
    _no_traceback(capfd)


def test_monai_error_in_the_worker_is_one_notification(make_napari_viewer, qtbot, capfd, phantom_files, monkeypatch):
    """run_pipeline refusing in the worker (a crop that keeps nothing): one notification."""
    from napari_liverct.crop import monai_pipeline

    def refuse(**_kwargs):
        raise ValueError("the stand-in pipeline refuses on purpose")

    monkeypatch.setattr(monai_pipeline, "run_pipeline", refuse)
    viewer = make_napari_viewer()
    viewer.open(str(phantom_files[0]), plugin=PLUGIN)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "MONAI pipeline")
    notes = Notes()
    _click(qtbot, widget.run_button)
    qtbot.waitUntil(lambda: widget.run_button.enabled and not widget.work.running, timeout=30_000)
    _settle(qtbot)
    notes.one_refusal("MONAI pipeline", "on purpose")
    _no_traceback(capfd)


def test_dataset_browser_refuses_a_folder_that_is_no_dataset_once(make_napari_viewer, qtbot, capfd, tmp_path):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Dataset browser")
    (tmp_path / "dataset.json").write_text("{not json")
    notes = Notes()
    widget.path_edit.setText(str(tmp_path))
    qtbot.keyClick(widget.path_edit, Qt.Key.Key_Return)
    _settle(qtbot)
    notes.one_refusal("Dataset browser", str(tmp_path / "dataset.json"), "cannot read")
    assert "Cannot open dataset" in widget.info.text()
    _no_traceback(capfd)


def test_dataset_browser_unreadable_case_and_survey_without_dataset(make_napari_viewer, qtbot, capfd, tmp_path):
    from napari_liverct.volumes.phantom import make_phantom

    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Dataset browser")
    notes = Notes()
    _click(qtbot, widget.run_btn)  # the Survey tab's Run survey, nothing loaded
    _settle(qtbot)
    notes.one_refusal("Survey", "open a dataset first")

    root = tmp_path / "Task03_Liver"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    ph = make_phantom(shape=(32, 32, 8), spacing=(3.0, 3.0, 6.0), seed=0)
    nib.save(nib.Nifti1Image(ph.image, ph.affine), root / "imagesTr" / "liver_0.nii.gz")
    (root / "labelsTr" / "liver_0.nii.gz").write_bytes(b"not a nifti file")
    widget.radius_spin.setValue(0)  # no read-ahead: the click reads the case
    widget.load(root)
    notes = Notes()
    widget.case_list.setCurrentRow(0)
    _click(qtbot, widget.open_btn)
    qtbot.waitUntil(lambda: "Cannot open liver_0" in widget.status.text(), timeout=20_000)
    _settle(qtbot)
    notes.one_refusal("Dataset browser", "liver_0.nii.gz")
    assert [ly.name for ly in viewer.layers] == []  # nothing half-added
    _no_traceback(capfd)


def test_3d_view_refuses_a_bad_lesion_list_once(make_napari_viewer, qtbot, capfd, small_phantom):
    viewer = make_napari_viewer()
    ph = small_phantom
    data, kwargs, _ = array_to_layer_data(ph.labels, ph.affine, kind="labels", name="seg")
    viewer.add_labels(data, **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "3D tumour view")
    widget.lesion_edit.setText("two")
    notes = Notes()
    _click(qtbot, widget.btn_3d)
    _settle(qtbot)
    notes.one_refusal("3D tumour view", "lesion labels")
    assert viewer.dims.ndisplay == 2
    _no_traceback(capfd)


def test_crop_refuses_an_empty_foreground_once(make_napari_viewer, qtbot, capfd, small_phantom):
    from napari_liverct._qt.crop_widget import RULE_LABELS

    viewer = make_napari_viewer()
    ph = small_phantom
    data, kwargs, _ = _ct(ph)
    image = viewer.add_image(data, **kwargs)
    data, kwargs, _ = array_to_layer_data(np.zeros_like(ph.labels), ph.affine, kind="labels", name="empty")
    empty = viewer.add_labels(data, **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Crop foreground")
    widget.source_layer.value = image
    widget.rule.value = RULE_LABELS
    widget.rule_labels_layer.value = empty
    before = np.array(image.data, copy=True)
    notes = Notes()
    _click(qtbot, widget.apply_button)
    _settle(qtbot)
    notes.one_refusal("Crop")
    np.testing.assert_array_equal(image.data, before)
    _no_traceback(capfd)


def test_open_as_labels_refuses_a_ct_once(make_napari_viewer, qtbot, capfd):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(2)
    viewer.add_image(rng.normal(40.0, 300.0, (10, 20, 20)).astype(np.float32), name="ct")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "CT window and layer type")
    widget._any.value = viewer.layers["ct"]
    notes = Notes()
    _click(qtbot, widget._to_labels)
    _settle(qtbot)
    notes.one_refusal("Open as labels")
    assert type(viewer.layers["ct"]).__name__ == "Image"
    _no_traceback(capfd)


# ---------------------------------------------------------------------------- closing while it runs
def test_closing_the_viewer_while_segment_runs(make_napari_viewer, qtbot, tiny_phantom, monkeypatch):
    """The viewer closes in the middle of the lesion tiles: the worker stops, nothing is shown late."""
    tiles = []

    def slow(model, patch, monitor=None):
        if model == "liver":
            return liver_box()
        tiles.append(time.monotonic())
        time.sleep(0.4)
        return lesion_constant(0.0)

    monkeypatch.setattr(pl, "run_network", slow)
    viewer = make_napari_viewer()
    data, kwargs, _ = _ct(tiny_phantom)
    viewer.add_image(data, **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment liver (offline)")
    _click(qtbot, widget.run_button)
    qtbot.waitUntil(lambda: len(tiles) >= 1, timeout=60_000)
    worker = widget._worker
    viewer.close()
    assert not worker.is_running, "the segment worker outlived the viewer"


# ---------------------------------------------------------------------------- plain Python
_PLAIN = textwrap.dedent(
    """
    import time
    import numpy as np
    import napari
    from napari.utils.notifications import notification_manager, ErrorNotification
    from qtpy.QtWidgets import QApplication
    from napari_liverct._qt.segment_widget import SegmentWidget
    from napari_liverct.segment import pipeline as pl
    from napari_liverct.volumes.phantom import make_phantom

    ph = make_phantom(shape=(96, 96, 24), spacing=(3.0, 3.0, 6.0), seed=1)
    for case in ("labels", "refusal", "bug"):
        viewer = napari.Viewer(show=False)
        if case == "labels":
            seg = np.zeros((40, 60, 60), np.uint8)
            seg[10:30, 20:40, 20:40] = 1
            viewer.add_image(seg, name="liver_seg")
        else:
            viewer.add_image(ph.image, name="ct", scale=(3.0, 3.0, 6.0))  # in mm: big enough to hold a liver

            def network(model, patch, monitor=None, case=case):
                raise (ValueError if case == "refusal" else ZeroDivisionError)("stand-in network fails on purpose")

            pl.run_network = network
        widget = SegmentWidget(viewer)
        viewer.window.add_dock_widget(widget)
        widget.with_lesions.value = False
        start = len(notification_manager.records)
        widget.run_button.native.click()
        deadline = time.monotonic() + 60
        while widget.running and time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.02)
        for _ in range(20):
            QApplication.processEvents()
            time.sleep(0.01)
        notes = notification_manager.records[start:]
        print("CASE", case, len(notes), sum(isinstance(n, ErrorNotification) for n in notes), flush=True)
        for n in notes:
            print("MESSAGE", case, n.message, flush=True)
        viewer.close()
    print("CLOSED")
    """
)


def test_segment_from_plain_python_does_not_abort(tmp_path):
    """Labels opened as an image, a refusal in the worker, a bug in the worker: one
    notification each (only the bug's with its traceback), and the process ends normally."""
    from clirun import CLI_ENV

    script = tmp_path / "plain.py"
    script.write_text(_PLAIN)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=CLI_ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CLOSED" in proc.stdout
    for line in ("CASE labels 1 0", "CASE refusal 1 0", "CASE bug 1 1"):
        assert line in proc.stdout, proc.stdout + proc.stderr[-2000:]
    labels = [m for m in proc.stdout.splitlines() if m.startswith("MESSAGE labels")]
    assert "label values" in labels[0] and "MR" not in labels[0]
    assert (proc.stdout + proc.stderr).count("Traceback") == 1, proc.stderr[-3000:]  # the bug's, once
