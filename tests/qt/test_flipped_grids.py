"""Widgets treat a segmentation stored with flipped/permuted axes as on its CT's grid
(issue 10): same statistics as the CLI, cropped together, and a real grid difference is
said, with resampling offered.  Buttons are clicked, not their slots called."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from napari_liverct import cli
from napari_liverct._napari.layer_utils import layer_disk_view
from napari_liverct.io.reader import read_nifti_layers

pytestmark = pytest.mark.gui

AFF = np.array([[-0.9, 0, 0, 100.0], [0, -0.9, 0, 80.0], [0, 0, 2.0, -60.0], [0, 0, 0, 1]])


@pytest.fixture
def flipped_files(tmp_path):
    rng = np.random.default_rng(4)
    ct = rng.normal(40, 20, size=(40, 36, 16)).astype(np.int16)
    ct[:4] = -1000
    mask = np.zeros(ct.shape, np.uint8)
    mask[10:25, 8:20, 3:10] = 1
    mask[28:34, 22:30, 5:12] = 2
    img = tmp_path / "liver_5.nii.gz"
    nib.save(nib.Nifti1Image(ct, AFF), img)
    ornt = np.array([[1, -1], [0, 1], [2, 1]])
    flip = np.ascontiguousarray(nib.orientations.apply_orientation(mask, ornt))
    lab = tmp_path / "liver_5_label.nii.gz"
    nib.save(nib.Nifti1Image(flip, AFF @ nib.orientations.inv_ornt_aff(ornt, mask.shape)), lab)
    other = tmp_path / "liver_5_coarse_seg.nii.gz"
    coarse = AFF.copy()
    coarse[:3, :3] *= 1.5
    nib.save(nib.Nifti1Image(mask, coarse), other)
    return img, lab, other, mask


def _add(viewer, path):
    out = []
    for data, kwargs, kind in read_nifti_layers(str(path), pair=False):
        out.append(getattr(viewer, f"add_{kind}")(data, **kwargs))
    return out[0]


def test_stats_widget_on_flipped_labels_equals_cli(make_napari_viewer, flipped_files, qtbot, capsys):
    from napari_liverct._qt.stats_widget import StatsWidget

    img_p, lab_p, other_p, _ = flipped_files
    viewer = make_napari_viewer()
    image, labels = _add(viewer, img_p), _add(viewer, lab_p)
    widget = StatsWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.image_combo.value, widget.labels_combo.value = image, labels
    widget.run_button.native.click()
    qtbot.waitUntil(lambda: widget.result is not None, timeout=30000)
    assert cli.main(["stats", str(img_p), "--labels", str(lab_p), "--format", "json"]) == 0
    ref = json.loads(capsys.readouterr().out)
    assert [r.voxels for r in widget.result.labels] == [r["voxels"] for r in ref["labels"]]
    assert [r.mean for r in widget.result.labels] == pytest.approx([r["mean"] for r in ref["labels"]])
    assert widget.result.tumour_burden == pytest.approx(ref["tumour_burden"])
    assert "flipped" in widget.summary.text() or "permuted" in widget.summary.text()

    # a really different grid: said, naming both layers; resampling on request
    coarse = _add(viewer, other_p)
    widget.labels_combo.value = coarse
    widget.result = None
    widget.run_button.native.click()
    assert widget.result is None
    assert "not on the same grid" in widget.summary.text() and coarse.name in widget.summary.text()
    widget.resample_check.native.click()
    widget.run_button.native.click()
    qtbot.waitUntil(lambda: widget.result is not None, timeout=30000)
    assert "resampled" in widget.summary.text()


def test_crop_widget_crops_flipped_labels_too(make_napari_viewer, flipped_files, qtbot):
    from napari_liverct._qt.crop_widget import RULE_LABELS, CropWidget

    img_p, lab_p, other_p, mask = flipped_files
    viewer = make_napari_viewer()
    image, labels = _add(viewer, img_p), _add(viewer, lab_p)
    coarse = _add(viewer, other_p)
    widget = CropWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.source_layer.value = image
    assert {id(x) for x in widget.target_layers.value} == {id(image), id(labels)}
    widget.rule.value = RULE_LABELS
    widget.rule_labels_layer.value = labels
    widget.apply_button.native.click()
    info = widget.box_info.value
    assert "cropped 2 layer(s)" in info
    assert coarse.name in info and "not cropped" in info  # never silently left out
    # the crop is the labels' box, and image and labels still coincide voxel for voxel
    assert image.data.shape == labels.data.shape
    np.testing.assert_allclose(image.scale, labels.scale)
    np.testing.assert_allclose(image.translate, labels.translate)
    lab_disk, _ = layer_disk_view(labels)
    assert int((np.asarray(lab_disk) > 0).sum()) == int((mask > 0).sum())
    idx = np.argwhere(mask > 0)
    assert np.asarray(lab_disk).shape == tuple(int(v) for v in idx.max(0) - idx.min(0) + 1)
