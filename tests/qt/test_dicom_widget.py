"""DICOM in napari: the sdist's real JPEG 2000 series dropped as a folder (npe2 reader), its
File information, the series chooser on a folder with a scout, and Save as DICOM SEG clicked
for a labels layer (TotalSegmentator's labels of that series; a draft, painted) read back."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pydicom

from dicomseries import write_series
from napari_liverct.display.layers import array_to_layer_data
from napari_liverct.geometry.grids import reorient_onto
from napari_liverct.volumes.dispatch import read_volume
from realdata import EXAMPLE_CT, real

SERIES = "totalsegmentator/example_ct_dicom"
TS_LABELS = "totalsegmentator/example_seg_dicom.nii.gz"


def test_real_series_folder_opens_with_its_dicom_header(make_napari_viewer):
    import npe2

    npe2.PluginManager.instance().discover()
    folder = real(SERIES)
    [(data, kwargs, kind)] = npe2.read([str(folder)], stack=False, plugin_name="napari-liverct")
    assert kind == "image" and kwargs["name"] == "CT Body 3.0" and len(kwargs["metadata"]["dicom_sources"]) == 20
    viewer = make_napari_viewer(show=True)
    [layer] = viewer.open(str(folder), plugin="napari-liverct")
    assert layer.data.shape == (20, 512, 512) and layer.data.min() == -1024  # HU, slices first as napari shows
    _, panel = viewer.window.add_plugin_dock_widget("napari-liverct", "File information")
    viewer.layers.selection.active = layer
    text = panel.text.toPlainText()
    for line in ("format: DICOM", "patient position: HFS", "kVp: 120", "kernel: Br38f\\3", "slice thickness (mm): 3"):
        assert line in text, line
    assert "series UID: (none: the files have no SeriesInstanceUID)" in text  # anonymised: said, not hidden
    assert "series description: CT Body 3.0" in text


def test_series_chooser_and_save_as_dicom_seg(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer(show=True)
    _, w = viewer.window.add_plugin_dock_widget("napari-liverct", "DICOM series and SEG")
    img = nib.load(real(EXAMPLE_CT))
    data = np.clip(np.asarray(img.dataobj)[10:106, 10:90, 40:64], -1024, 3071).astype(np.int16)
    affine = img.affine @ np.array([[1, 0, 0, 10], [0, 1, 0, 10], [0, 0, 1, 40], [0, 0, 0, 1]])
    folder = tmp_path / "study"
    write_series(folder, data, affine)
    write_series(folder, data[:, 40:41, :].transpose(0, 2, 1), affine[:, [0, 2, 1, 3]], names=["scout"])
    w.folder.setText(str(folder))
    w.list_btn.click()
    assert w.series_list.count() == 2 and w.series_list.item(0).text().startswith("* ")
    w.series_list.setCurrentRow(1)
    w.open_btn.click()
    scout_uid = pydicom.dcmread(folder / "scout", stop_before_pixels=True).SeriesInstanceUID
    assert viewer.layers[-1].metadata["dicom_sources"] == [str(folder / "scout")], scout_uid

    # the real series and TotalSegmentator's labels of it (stored with y flipped, as dcm2niix writes)
    [ct] = viewer.open(str(real(SERIES)), plugin="napari-liverct")
    [ts] = viewer.open(str(real(TS_LABELS)), plugin="napari-liverct", layer_type="labels")
    w.labels_combo.setCurrentText(ts.name)
    w.out.setText(str(tmp_path / "ts.dcm"))
    w.save_btn.click()
    assert "MANUAL" in w.status.text(), w.status.text()
    vol = read_volume(real(SERIES))
    ref = nib.load(real(TS_LABELS))
    back = read_volume(tmp_path / "ts.dcm")
    names = back.header.label_names
    on = reorient_onto(np.asarray(ref.dataobj), ref.affine, vol.data.shape, vol.affine)[0]
    for number, name in names.items():  # each segment is the labels' class of that name, voxel for voxel
        value = next(k for k, v in ts.metadata["label_names"].items() if v == name)
        assert np.array_equal(back.data == number, on == value), name
    assert np.allclose(back.affine, vol.affine, atol=1e-4)

    # a draft of the series: AUTOMATIC as made, SEMIAUTOMATIC once painted on
    draft = (on == 5).astype(np.uint8)
    ddata, dkw, _ = array_to_layer_data(
        draft, vol.affine, kind="labels", name="draft", label_names={1: "liver"}, extra_metadata={"draft_of": ct.name}
    )
    layer = viewer.add_labels(ddata, **dkw)
    from napari_liverct._napari.draft_layer import remember

    remember(layer, ("liver",))  # as Segment keeps its draft: "edited" = differs from it
    w.labels_combo.setCurrentText("draft")
    w.out.setText(str(tmp_path / "draft.dcm"))
    w.save_btn.click()
    assert "AUTOMATIC (draft)" in w.status.text(), w.status.text()
    layer.paint((10, 250, 250), 1)  # napari's brush, in data coordinates
    w.out.setText(str(tmp_path / "edited.dcm"))
    w.save_btn.click()
    assert "SEMIAUTOMATIC (edited)" in w.status.text(), w.status.text()
    assert {
        s.SegmentAlgorithmType
        for s in pydicom.dcmread(tmp_path / "edited.dcm", stop_before_pixels=True).SegmentSequence
    } == {"SEMIAUTOMATIC"}
