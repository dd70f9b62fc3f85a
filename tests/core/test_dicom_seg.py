"""DICOM-SEG out and back in on the TotalSegmentator sdist's real JPEG 2000 series: written with
highdicom from labels on the series, read back by highdicom (our reader) and by dcmqi's
``segimage2itkimage`` (another implementation), voxel for voxel in world space; the object is
checked with pydicom and Debian's ``dciodvfy``; statistics on the series equal those on
dcm2niix's NIfTI of it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from dicomseries import real_series
from napari_liverct.geometry.grids import reorient_onto
from napari_liverct.volumes.dispatch import read_volume
from napari_liverct.volumes.seg import ALGORITHM_NAME, SegWriteError, write_seg
from realdata import real

NAMES = {1: "liver", 2: "liver tumour"}


@pytest.fixture(scope="module")
def series_and_labels():
    """The series, and labels on its grid: TotalSegmentator's liver (its label 5, its own model's
    output for this series) as 1, and a ball inside it marked 2 as a stand-in lesion."""
    folder, vol = real_series()
    ts = nib.load(real("totalsegmentator/example_seg_dicom.nii.gz"))
    on = reorient_onto(np.asarray(ts.dataobj), ts.affine, vol.data.shape, vol.affine, tol_mm=1e-3)
    assert on is not None, "TotalSegmentator's labels are on this series' grid up to axis order"
    labels = (on[0] == 5).astype(np.uint8)
    x, y, z = np.nonzero(labels)
    c = np.array([int(np.median(x)), int(np.median(y)), int(np.median(z))])
    ii, jj, kk = np.ogrid[: labels.shape[0], : labels.shape[1], : labels.shape[2]]
    ball = ((ii - c[0]) ** 2 + (jj - c[1]) ** 2 + ((kk - c[2]) * 2) ** 2 <= 12**2) & (labels == 1)
    labels[ball] = 2
    assert (labels == 1).sum() > 10000 and (labels == 2).sum() > 500
    return folder, vol, labels


@pytest.fixture(scope="module")
def seg_file(series_and_labels, tmp_path_factory):
    _, vol, labels = series_and_labels
    out = tmp_path_factory.mktemp("seg") / "draft.dcm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the anonymised series lacks its UIDs: said in a warning
        write_seg(out, labels, NAMES, vol.sources, origin="draft")
    return out


def test_seg_reads_back_on_the_series_grid_with_its_names(series_and_labels, seg_file):
    _, vol, labels = series_and_labels
    back = read_volume(seg_file)
    assert back.format == "DICOM-SEG"
    assert np.allclose(back.affine, vol.affine, atol=1e-4)
    assert np.array_equal(back.data, labels)
    assert back.header.label_names == NAMES and back.header.labels


def test_seg_object_as_pydicom_sees_it(series_and_labels, seg_file):
    _, vol, _ = series_and_labels
    ds = pydicom.dcmread(seg_file)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and ds.SegmentationType == "BINARY"
    segs = {int(s.SegmentNumber): s for s in ds.SegmentSequence}
    assert {k: str(s.SegmentLabel) for k, s in segs.items()} == NAMES
    liver, lesion = segs[1], segs[2]
    assert (
        liver.SegmentedPropertyTypeCodeSequence[0].CodeValue,
        liver.SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator,
    ) == ("10200004", "SCT")
    assert liver.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "91723000"
    assert lesion.SegmentedPropertyTypeCodeSequence[0].CodeValue == "108369006"  # Neoplasm
    assert lesion.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"
    for s in segs.values():
        assert s.SegmentAlgorithmType == "AUTOMATIC" and s.SegmentAlgorithmName == ALGORITHM_NAME
    # every source instance is referenced (the anonymised files keep their UIDs in the file meta)
    refs = {str(i.ReferencedSOPInstanceUID) for i in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    want = {str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.MediaStorageSOPInstanceUID) for p in vol.sources}
    assert refs == want and len(want) == 20
    assert int(ds.NumberOfFrames) == 2 * 20


def test_dciodvfy_finds_no_error(seg_file):
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (Debian dicom3tools) not installed; scripts/setup.sh installs it")
    out = subprocess.run(["dciodvfy", str(seg_file)], capture_output=True, text=True)
    errors = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")]
    assert not errors, errors


def test_dcmqi_reads_the_same_voxels_in_world(series_and_labels, seg_file, tmp_path):
    exe = shutil.which("segimage2itkimage") or str(Path(sys.executable).with_name("segimage2itkimage"))
    if not Path(exe).exists():
        pytest.skip("dcmqi not installed (pip install dcmqi: the testing extra)")
    _, vol, labels = series_and_labels
    subprocess.run(
        [exe, "--inputDICOM", str(seg_file), "--outputDirectory", str(tmp_path), "-t", "nifti"],
        check=True,
        capture_output=True,
    )
    meta = json.loads((tmp_path / "meta.json").read_text())
    seen = {}
    for group, attrs in enumerate(meta["segmentAttributes"], start=1):
        for a in attrs:
            img = nib.load(tmp_path / f"{group}.nii.gz")
            on = reorient_onto(np.asarray(img.dataobj), img.affine, vol.data.shape, vol.affine, tol_mm=1e-3)
            assert on is not None, "dcmqi's grid is the series' grid up to axis order"
            seen[a["SegmentLabel"]] = on[0] == a["labelID"]
    assert set(seen) == set(NAMES.values())
    for value, name in NAMES.items():
        assert np.array_equal(seen[name], labels == value), name


def test_edited_is_semiautomatic_and_bad_requests_are_refused(series_and_labels, tmp_path):
    _, vol, labels = series_and_labels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_seg(tmp_path / "e.dcm", labels, NAMES, vol.sources, origin="edited")
    ds = pydicom.dcmread(tmp_path / "e.dcm", stop_before_pixels=True)
    assert {s.SegmentAlgorithmType for s in ds.SegmentSequence} == {"SEMIAUTOMATIC"}
    with pytest.raises(SegWriteError, match="do not match the series"):
        write_seg(tmp_path / "x.dcm", labels[:, :, :5], NAMES, vol.sources)
    with pytest.raises(SegWriteError, match="did not come from a DICOM series"):
        write_seg(tmp_path / "x.dcm", labels, NAMES, ())
    with pytest.raises(SegWriteError, match="empty"):
        write_seg(tmp_path / "x.dcm", np.zeros_like(labels), NAMES, vol.sources)
    assert not (tmp_path / "x.dcm").exists()


def test_same_statistics_on_dicom_and_on_dcm2niix_nifti(series_and_labels, tmp_path):
    if shutil.which("dcm2niix") is None:
        pytest.skip("dcm2niix not installed")
    from napari_liverct.stats.files import stats_for_files

    folder, _, _ = series_and_labels
    subprocess.run(
        ["dcm2niix", "-z", "y", "-f", "ct", "-o", str(tmp_path), str(folder)], check=True, capture_output=True
    )
    labels = real("totalsegmentator/example_seg_dicom.nii.gz")
    on_dicom = stats_for_files(folder, labels).to_json()
    on_nifti = stats_for_files(tmp_path / "ct.nii.gz", labels).to_json()
    voxel_index_keys = {"bbox_min", "bbox_max", "centroid_voxel"}  # storage order differs (dcm2niix flips y)
    assert len(on_dicom["labels"]) == len(on_nifti["labels"]) > 20
    for a, b in zip(on_dicom["labels"], on_nifti["labels"]):
        assert {k: v for k, v in a.items() if k not in voxel_index_keys | {"centroid_mm"}} == {
            k: v for k, v in b.items() if k not in voxel_index_keys | {"centroid_mm"}
        }
        assert np.allclose(a["centroid_mm"], b["centroid_mm"], atol=1e-3)
    # dcm2niix stores int16 with scl_inter -1024, which the NIfTI reader widens to int32
    assert {**on_dicom["image"], "dtype": None} == {**on_nifti["image"], "dtype": None}
