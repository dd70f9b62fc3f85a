"""Issue 10: widget thread workers (and a survey's Dask cluster) stop when the viewer closes.

"Segmentation fault" at interpreter exit followed scripted sessions that closed the
viewer while a statistics, 3D-surface or survey worker was still running.
"""

from __future__ import annotations

import json
import multiprocessing
import time

import nibabel as nib
import pytest
from qtpy.QtWidgets import QApplication

pytestmark = pytest.mark.gui


def _dataset(tmp_path, n=3):
    from napari_liverct.volumes.phantom import make_phantom

    root = tmp_path / "Task03_Liver"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    training = []
    for i in range(n):
        ph = make_phantom(shape=(64, 64, 16), spacing=(5.0, 5.0, 10.0), seed=i)
        nib.save(nib.Nifti1Image(ph.image, ph.affine), root / "imagesTr" / f"liver_{i}.nii.gz")
        nib.save(nib.Nifti1Image(ph.labels, ph.affine), root / "labelsTr" / f"liver_{i}.nii.gz")
        training.append({"image": f"./imagesTr/liver_{i}.nii.gz", "label": f"./labelsTr/liver_{i}.nii.gz"})
    (root / "dataset.json").write_text(
        json.dumps(
            {
                "name": "Liver",
                "modality": {"0": "CT"},
                "labels": {"0": "background", "1": "liver", "2": "cancer"},
                "numTraining": n,
                "training": training,
                "test": [],
            }
        )
    )
    return root


def test_closing_the_viewer_stops_the_widgets_workers(make_napari_viewer, phantom_files):
    viewer = make_napari_viewer()
    viewer.open(str(phantom_files[0]), plugin="napari-liverct")
    _d, stats = viewer.window.add_plugin_dock_widget("napari-liverct", "Statistics")
    _d, view3d = viewer.window.add_plugin_dock_widget("napari-liverct", "3D tumour view")
    stats.run_button.native.click()
    view3d.render_mode.setCurrentText("surfaces (fast)")
    view3d.btn_3d.click()
    workers = [stats._worker, view3d._worker]
    assert all(w is not None for w in workers)
    viewer.close()
    assert not any(w.is_running for w in workers), "a widget worker outlived the viewer"


def test_closing_the_viewer_stops_a_running_survey_and_its_dask_cluster(make_napari_viewer, tmp_path):
    root = _dataset(tmp_path)
    viewer = make_napari_viewer()
    _d, widget = viewer.window.add_plugin_dock_widget("napari-liverct", "Dataset browser")
    widget.load(root)
    worker = widget.run_survey(workers=1)
    deadline = time.monotonic() + 60
    while not multiprocessing.active_children() and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.05)
    assert worker.is_running and multiprocessing.active_children(), "the survey's cluster did not start"
    viewer.close()
    assert not worker.is_running
    deadline = time.monotonic() + 20
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert multiprocessing.active_children() == [], "Dask worker processes alive after the viewer closed"
