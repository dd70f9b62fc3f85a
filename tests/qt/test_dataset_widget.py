"""Dataset browser widget in a real napari viewer: cases, open/next/previous, survey tab."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel import orientations as nio

from napari_liverct.volumes.phantom import make_phantom

pytestmark = pytest.mark.gui


@pytest.fixture
def msd(tmp_path):
    root = tmp_path / "Task03_Liver"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    training = []
    for i, (spacing, ras) in enumerate([((2.2, 2.2, 5.0), False), ((2.0, 2.0, 4.0), True), ((2.4, 2.4, 5.0), False)]):
        ph = make_phantom(shape=(48, 48, 12), spacing=spacing, seed=i)
        img, lab = nib.Nifti1Image(ph.image, ph.affine), nib.Nifti1Image(ph.labels, ph.affine)
        if ras:
            ornt = nio.ornt_transform(nio.io_orientation(ph.affine), nio.axcodes2ornt("RAS"))
            img, lab = img.as_reoriented(ornt), lab.as_reoriented(ornt)
        nib.save(img, root / "imagesTr" / f"liver_{i}.nii.gz")
        nib.save(lab, root / "labelsTr" / f"liver_{i}.nii.gz")
        training.append({"image": f"./imagesTr/liver_{i}.nii.gz", "label": f"./labelsTr/liver_{i}.nii.gz"})
    (root / "imagesTr" / "._liver_0.nii.gz").write_bytes(b"junk")
    (root / "dataset.json").write_text(
        json.dumps(
            {
                "name": "Liver",
                "labels": {"0": "background", "1": "liver", "2": "cancer"},
                "training": training,
                "test": [],
            }
        )
    )
    return root


def _check_world_position(layer, path):
    """Stored voxel (3, 5, 2) of the file is where nibabel's affine puts it (world = S, P, L)."""
    img = nib.load(path)
    ijk = np.array([3, 5, 2])
    x, y, z = (img.affine @ np.r_[ijk, 1])[:3]
    data_idx = np.round(np.asarray(layer.world_to_data([z, -y, -x]))).astype(int)
    assert layer.data[tuple(data_idx)] == np.asanyarray(img.dataobj)[tuple(ijk)]


def test_browse_open_next_keeps_settings(make_napari_viewer, msd, qtbot):
    from napari_liverct._qt.dataset_widget import DatasetWidget

    viewer = make_napari_viewer()
    w = DatasetWidget(viewer)
    assert w.load(msd) is not None
    assert w.case_list.count() == 3 and "3 cases" in w.info.text()
    w.filter_edit.setText("liver_1")
    assert [c.id for c in w.visible_cases()] == ["liver_1"] and w.case_list.count() == 1
    w.filter_edit.setText("")

    case0 = w.dataset.cases[0]
    worker = w.open_case(case0)  # in a thread_worker, as the GUI does
    qtbot.waitUntil(lambda: w.current == case0, timeout=20_000)
    assert worker is not None
    assert [ly.name for ly in viewer.layers] == ["liver_0", "liver_0_label"]
    image, labels = viewer.layers
    assert labels._type_string == "labels" and image._type_string == "image"
    _check_world_position(image, case0.image)
    _check_world_position(labels, case0.label)

    image.contrast_limits = (-60.0, 190.0)
    image.colormap = "viridis"
    labels.opacity = 0.25
    labels.visible = False
    w.next_case()
    qtbot.waitUntil(lambda: w.current is not None and w.current.id == "liver_1", timeout=20_000)
    assert [ly.name for ly in viewer.layers] == ["liver_1", "liver_1_label"]
    image, labels = viewer.layers
    assert tuple(image.contrast_limits) == (-60.0, 190.0) and image.colormap.name == "viridis"
    assert labels.opacity == 0.25 and labels.visible is False
    _check_world_position(image, w.current.image)  # RAS file, reoriented for display
    _check_world_position(labels, w.current.label)
    assert w.case_list.currentRow() == 1

    w.previous_case()
    qtbot.waitUntil(lambda: w.current.id == "liver_0", timeout=20_000)
    assert [ly.name for ly in viewer.layers] == ["liver_0", "liver_0_label"]
    # a layer the user added stays; the case layers keep their place below it
    viewer.add_points([[0, 0, 0]], name="marks")
    w.open_case(w.dataset.cases[2], background=False)
    assert [ly.name for ly in viewer.layers] == ["liver_2", "liver_2_label", "marks"]


def test_data_dicts_match_monai(make_napari_viewer, msd):
    from monai.data import load_decathlon_datalist

    from napari_liverct._qt.dataset_widget import DatasetWidget

    w = DatasetWidget(make_napari_viewer())
    assert w.data_dicts() == []
    w.load(msd / "dataset.json")
    assert w.data_dicts() == load_decathlon_datalist(str(msd / "dataset.json"), True, "training")


def test_survey_tab(make_napari_viewer, msd, qtbot, tmp_path):
    from distributed import LocalCluster

    from napari_liverct._qt.dataset_widget import DatasetWidget
    from napari_liverct.survey import survey

    viewer = make_napari_viewer()
    w = DatasetWidget(viewer)
    w.load(msd)
    w.tabs.setCurrentIndex(1)
    w.show()
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0", "dashboard": False},
    ) as cluster:
        w.scheduler_edit.setText(cluster.scheduler_address)
        worker = w.run_survey()
        assert w.run_btn.text() == "Cancel"
        with qtbot.waitSignal(worker.finished, timeout=60_000):
            pass
    assert w.report is not None and w.run_btn.text() == "Run survey"
    assert w.progress.value() == 3
    ref = survey(w.dataset.cases, scheduler="synchronous", progress=False, label_names=w.dataset.label_names)
    assert w.report["anomalies"] == ref["anomalies"]
    summary = dict(w.report["summary"])
    block = summary.pop("dataset")  # the dataset block the CLI and the HTML report carry too
    assert block["name"] == "Liver" and Path(block["json"]).resolve() == (msd / "dataset.json").resolve()
    assert summary == ref["summary"]
    assert w.table.rowCount() == 3
    ids = {w.table.item(i, 0).text() for i in range(3)}
    assert ids == {"liver_0", "liver_1", "liver_2"}
    row1 = next(i for i in range(3) if w.table.item(i, 0).text() == "liver_1")
    assert w.table.item(row1, 2).text() == "RAS" and "orientation" in w.table.item(row1, 7).text()
    axes = w.figure.axes
    assert len(axes) == 2 and len(axes[0].patches) > 0 and len(axes[1].lines) > 0
    assert [t.get_text() for t in axes[1].get_xticklabels()] == ["liver", "cancer"]
    w.grab().save(str(tmp_path / "survey_tab.png"))

    out_csv = w.export_report(tmp_path / "s.csv")
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert [r["id"] for r in rows] == ["liver_0", "liver_1", "liver_2"]
    data = json.loads(w.export_report(tmp_path / "s.json").read_text())
    assert data["summary"]["n_cases"] == 3
    # the widget's export is the CLI's report: same summary (dataset block included) and anomalies
    from napari_liverct.cli import main

    assert main(["survey", str(msd), "--workers", "1", "--out", str(tmp_path / "cli.json")]) == 0
    cli = json.loads((tmp_path / "cli.json").read_text())
    assert data["summary"] == cli["summary"] and data["anomalies"] == cli["anomalies"]

    w._open_from_table(row1, 0)
    qtbot.waitUntil(lambda: w.current is not None and w.current.id == "liver_1", timeout=20_000)


def test_rapid_next_and_unreadable_case(make_napari_viewer, msd, qtbot):
    from napari_liverct._qt.dataset_widget import DatasetWidget

    (msd / "labelsTr" / "liver_2.nii.gz").write_bytes(b"not a nifti file")
    viewer = make_napari_viewer()
    w = DatasetWidget(viewer)
    w.load(msd)
    w.next_case()
    w.next_case()  # clicked again before liver_0 finished loading
    qtbot.waitUntil(lambda: w.current is not None and w._pending is None, timeout=20_000)
    assert w.current.id == "liver_1"
    assert [ly.name for ly in viewer.layers] == ["liver_1", "liver_1_label"]
    w.next_case()
    qtbot.waitUntil(lambda: "Cannot open liver_2" in w.status.text(), timeout=20_000)
    assert "liver_2.nii.gz" in w.status.text()
    assert [ly.name for ly in viewer.layers] == ["liver_1", "liver_1_label"]  # nothing half-replaced
    assert w.current.id == "liver_1"


@pytest.mark.gui
def test_write_report_button_writes_the_cli_report(make_napari_viewer, msd, qtbot, tmp_path, monkeypatch):
    """Clicking "Write report…" (folder dialog answered) writes the same site as the CLI."""
    from qtpy.QtWidgets import QFileDialog

    from napari_liverct._qt.dataset_widget import DatasetWidget

    viewer = make_napari_viewer()
    widget = DatasetWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.load(msd)
    out = tmp_path / "site"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(out)))
    widget.scheduler_edit.setText("synchronous")
    widget.report_btn.click()
    qtbot.waitUntil(lambda: "report written" in widget.summary_label.text(), timeout=60000)
    assert (out / "index.html").is_file() and (out / "survey.json").is_file()
    survey = json.loads((out / "survey.json").read_text())
    assert len(survey["cases"]) == len(widget.dataset.cases)
    assert widget.report_btn.isEnabled()


def test_a_warning_raised_while_reading_ahead_is_shown_when_the_case_opens(make_napari_viewer, tmp_path, qtbot):
    """An oblique case read in the background warns in the main thread when it is shown."""
    from qtpy.QtCore import Qt

    from napari_liverct._qt.dataset_widget import DatasetWidget
    from napari_liverct.geometry.grids import ObliqueAffineWarning

    rng = np.random.default_rng(0)
    oblique = np.diag([1.0, 1.0, 2.0, 1.0])
    c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
    oblique[:2, :2] = [[c, -s], [s, c]]
    for i, aff in enumerate([np.diag([1.0, 1.0, 2.0, 1.0]), oblique]):
        data = rng.integers(-1000, 1000, (20, 20, 8)).astype(np.int16)
        nib.save(nib.Nifti1Image(data, aff), tmp_path / f"case_{i}.nii.gz")
    w = DatasetWidget(make_napari_viewer())
    w.load(tmp_path)
    w.open_case(w.dataset.cases[0], background=False)
    qtbot.waitUntil(lambda: w.cache.get(w.dataset.cases[1]) is not None, timeout=20_000)
    with pytest.warns(ObliqueAffineWarning, match="oblique"):
        qtbot.mouseClick(w.next_btn, Qt.MouseButton.LeftButton)
    assert w.current.id == "case_1"
