"""A report case reads each of its files once (it read the image twice and the labels three
times), and its numbers still equal those of survey_case and evaluate_case read on their own."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np

import napari_liverct.volumes.nifti as nifti
from napari_liverct.compare.evaluate import evaluate_case
from napari_liverct.report.case import report_case
from napari_liverct.survey import survey_case
from napari_liverct.volumes.phantom import make_phantom


def test_each_file_read_once(tmp_path, monkeypatch):
    ph = make_phantom(shape=(64, 60, 24), spacing=(1.5, 1.5, 3.0), seed=3)
    img, lab, pred = tmp_path / "liver_0.nii.gz", tmp_path / "liver_0_seg.nii.gz", tmp_path / "pred.nii.gz"
    nib.save(nib.Nifti1Image(ph.image, ph.affine), img)
    nib.save(nib.Nifti1Image(ph.labels, ph.affine), lab)
    nib.save(nib.Nifti1Image(np.roll(ph.labels, 1, axis=0), ph.affine), pred)
    opts = {"lesion_labels": [2]}
    row_alone, samples_alone = survey_case(str(img), str(lab), "liver_0", "training", 1000, 7)
    ev_alone = evaluate_case("liver_0", str(lab), str(pred), opts)

    reads = []
    real = nifti.read_nifti

    def counted(path, *a, **k):
        reads.append(Path(path).name)
        return real(path, *a, **k)

    monkeypatch.setattr(nifti, "read_nifti", counted)
    res = report_case(str(img), str(lab), "liver_0", "training", str(pred), opts, 1000, 7, evaluate=True)
    assert sorted(reads) == ["liver_0.nii.gz", "liver_0_seg.nii.gz", "pred.nii.gz"]
    assert res["pictures"] and not res["notes"]
    assert replace(res["row"], seconds=None) == replace(row_alone, seconds=None)
    assert np.array_equal(res["samples"], samples_alone)
    mine, alone = res["evaluation"]["result"], ev_alone["result"]
    assert [c.to_row() for c in mine.classes] == [c.to_row() for c in alone.classes]
    assert mine.lesions.to_row() == alone.lesions.to_row()


def test_unreadable_files_still_give_their_reasons(tmp_path):
    ph = make_phantom(shape=(40, 40, 16), spacing=(1.5, 1.5, 3.0), seed=1)
    img, lab, pred = tmp_path / "liver_1.nii.gz", tmp_path / "liver_1_seg.nii.gz", tmp_path / "pred.nii.gz"
    nib.save(nib.Nifti1Image(ph.image, ph.affine), img)
    nib.save(nib.Nifti1Image(ph.labels, ph.affine), lab)
    pred.write_bytes(b"\x1f\x8b not a NIfTI")
    res = report_case(str(img), str(lab), "liver_1", "training", str(pred), {}, 100, 7, evaluate=True)
    assert res["evaluation"]["error_kind"] == "unreadable" and str(pred) in res["evaluation"]["error"]
    assert res["pictures"]  # the case's own pictures are still drawn
    lab.write_bytes(b"")
    res = report_case(str(img), str(lab), "liver_1", "training", None, {}, 100, 7, evaluate=True)
    assert str(lab) in res["row"].label_error
