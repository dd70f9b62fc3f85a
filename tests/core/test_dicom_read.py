"""DICOM series in: the TotalSegmentator sdist's JPEG 2000 series against SimpleITK and dcm2niix,
series written here with pydicom from the sdist's real CT and broken as exports are, and a fuzzer."""

from __future__ import annotations

import shutil
import subprocess
import warnings

import nibabel as nib
import numpy as np
import pydicom
import pytest

import dicomseries
from dicomseries import write_series
from napari_liverct.geometry.grids import reorient_onto
from napari_liverct.volumes.dicom import DicomSeriesError, DicomWarning, list_series
from napari_liverct.volumes.dispatch import read_volume
from realdata import EXAMPLE_CT, real


@pytest.fixture(scope="module")
def real_series():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DicomWarning)  # one clean series: nothing to warn about
        return dicomseries.real_series()


def test_real_jpeg2000_series_equals_simpleitk_in_array_and_world(real_series):
    sitk = pytest.importorskip("SimpleITK")
    folder, vol = real_series
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    img = reader.Execute()
    ref = sitk.GetArrayFromImage(img).T  # (x, y, z)
    assert vol.data.shape == ref.shape == (512, 512, 20)
    assert np.array_equal(vol.data, ref)  # HU after RescaleIntercept -1024, voxel for voxel
    rng = np.random.default_rng(0)
    idx = np.c_[rng.integers(0, 512, 50), rng.integers(0, 512, 50), rng.integers(0, 20, 50)]
    for i in idx:
        lps = np.array(img.TransformIndexToPhysicalPoint([int(v) for v in i]))
        ras = (vol.affine @ [*i, 1])[:3]
        assert np.allclose(ras, lps * [-1, -1, 1], atol=1e-4)
    assert vol.format == "DICOM"
    h = vol.header.fields
    assert (h["patient position"], h["kVp"], h["slice thickness (mm)"], h["series description"]) == (
        "HFS",
        "120",
        "3",
        "CT Body 3.0",
    )
    assert h["kernel"].startswith("Br38f") and "JPEG 2000" in h["transfer syntax"]
    # the order is the positions' order, not the names' (these names happen to agree) or InstanceNumber's
    z = [float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]) for p in vol.sources]
    assert z == sorted(z)


def test_real_series_equals_dcm2niix(real_series, tmp_path):
    if shutil.which("dcm2niix") is None:
        pytest.skip("dcm2niix not installed (scripts/setup.sh installs it)")
    folder, vol = real_series
    subprocess.run(
        ["dcm2niix", "-z", "n", "-f", "ct", "-o", str(tmp_path), str(folder)], check=True, capture_output=True
    )
    ref = nib.load(tmp_path / "ct.nii")
    ref_data = np.asarray(ref.dataobj)
    got = reorient_onto(vol.data, vol.affine, ref.shape, ref.affine, tol_mm=1e-3)
    assert got is not None, "the two grids differ beyond an axis flip"
    assert np.array_equal(got[0], ref_data)


@pytest.fixture(scope="module")
def ct_block():
    """A 96 x 80 x 24 block of the sdist's real abdominal CT, its RAS affine and its LPS twin."""
    img = nib.load(real(EXAMPLE_CT))
    data = np.clip(np.asarray(img.dataobj)[10:106, 10:90, 40:64], -1024, 3071).astype(np.int16)  # 12 bits
    affine = img.affine @ np.array([[1, 0, 0, 10], [0, 1, 0, 10], [0, 0, 1, 40], [0, 0, 0, 1]])
    return data, affine


def _same_in_world(vol, data, affine):
    got = reorient_onto(vol.data, vol.affine, data.shape, affine, tol_mm=1e-3)
    assert got is not None, f"grids differ: {vol.affine} vs {affine}"
    return np.array_equal(got[0], data)


@pytest.mark.parametrize("storage", ["ras", "lps"])
def test_shuffled_series_reads_in_world_order(ct_block, tmp_path, storage):
    data, affine = ct_block
    if storage == "lps":  # stored with x and y running the other way (as scanners store)
        flip = np.diag([-1.0, -1.0, 1.0, 1.0])
        flip[:2, 3] = [data.shape[0] - 1, data.shape[1] - 1]
        data, affine = data[::-1, ::-1].copy(), affine @ flip
    write_series(tmp_path / "s", data, affine)  # random names, shuffled InstanceNumber
    vol = read_volume(tmp_path / "s")
    assert _same_in_world(vol, data, affine)
    assert vol.data.dtype == np.int16  # 12-bit pixels + intercept -1024 fit int16


def test_scout_in_folder_is_left_out_and_named(ct_block, tmp_path):
    data, affine = ct_block
    write_series(tmp_path / "s", data, affine)
    # a coronal scout: another series, one file, another orientation
    scout = np.asarray(data[:, 40:41, :])
    write_series(tmp_path / "s", scout.transpose(0, 2, 1), affine[:, [0, 2, 1, 3]], names=["scout"])
    scout_uid = pydicom.dcmread(tmp_path / "s" / "scout").SeriesInstanceUID
    with pytest.warns(DicomWarning, match="holds 2 image series.*largest CT series"):
        vol = read_volume(tmp_path / "s")
    assert _same_in_world(vol, data, affine)
    listing = list_series(tmp_path / "s")
    assert [s.n_files for s in listing] == [24, 1] and listing[1].uid == scout_uid
    only = read_volume(tmp_path / "s", series_uid=scout_uid)
    assert only.data.shape[2] == 1
    with pytest.raises(DicomSeriesError, match="no series with SeriesInstanceUID '1.2.3'"):
        read_volume(tmp_path / "s", series_uid="1.2.3")
    # one file of a series stands for its series
    one = read_volume(next(p for p in (tmp_path / "s").iterdir() if p.name != "scout"))
    assert one.data.shape == data.shape


def test_missing_slice_is_an_error_naming_both_neighbours(ct_block, tmp_path):
    data, affine = ct_block
    paths = write_series(tmp_path / "s", data, affine)
    paths[10].unlink()
    with pytest.raises(DicomSeriesError, match=rf"1 slice\(s\) missing between {paths[9].name} and {paths[11].name}"):
        read_volume(tmp_path / "s")


def test_duplicate_slice(ct_block, tmp_path):
    data, affine = ct_block
    paths = write_series(tmp_path / "s", data, affine)
    shutil.copy(paths[5], tmp_path / "s" / "copy_of_5")
    with pytest.warns(DicomWarning, match="is a copy of"):
        vol = read_volume(tmp_path / "s")
    assert _same_in_world(vol, data, affine)
    ds = pydicom.dcmread(paths[5])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(tmp_path / "s" / "copy_of_5")
    with pytest.raises(DicomSeriesError, match="two different slices at the same position"):
        read_volume(tmp_path / "s")


def test_uneven_spacing_is_refused(ct_block, tmp_path):
    data, affine = ct_block
    paths = write_series(tmp_path / "s", data, affine)
    ds = pydicom.dcmread(paths[7])
    ds.ImagePositionPatient[2] = float(ds.ImagePositionPatient[2]) + 1.0  # 1 mm off in a 3 mm stack
    ds.save_as(paths[7])
    with pytest.raises(DicomSeriesError, match="uneven slice spacing"):
        read_volume(tmp_path / "s")


def test_gantry_tilt_is_resampled_and_said(ct_block, tmp_path):
    data, affine = ct_block
    write_series(tmp_path / "s", data, affine, tilt_rows=1)  # one row of shear per slice: exact
    with pytest.warns(DicomWarning, match="gantry tilt of .* resampled onto the orthogonal grid"):
        vol = read_volume(tmp_path / "s")
    got = reorient_onto(vol.data, vol.affine, data.shape, affine, tol_mm=1e-3)
    assert got is not None
    out, n = got[0], data.shape[1]
    # the rows sheared in from outside the scan hold the fill value; all the others are the CT's
    low = all(np.array_equal(out[:, k:, k], data[:, k:, k]) for k in range(data.shape[2]))
    high = all(np.array_equal(out[:, : n - k, k], data[:, : n - k, k]) for k in range(data.shape[2]))
    assert low or high
    assert vol.sources == ()  # resampled: a DICOM-SEG could not reference these slices


def test_mixed_orientation_non_image_and_multiframe(ct_block, tmp_path):
    data, affine = ct_block
    paths = write_series(tmp_path / "s", data, affine)
    ds = pydicom.dcmread(paths[0])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]  # a coronal slice in the axial series
    ds.save_as(tmp_path / "s" / "coronal")
    (tmp_path / "s" / "notes.txt").write_text("not an image")
    with pytest.warns(DicomWarning) as rec:
        vol = read_volume(tmp_path / "s")
    text = " ".join(str(w.message) for w in rec)
    assert "mixes 2 orientation/size" in text and "notes.txt" in text
    assert _same_in_world(vol, data, affine)
    mf = pydicom.dcmread(paths[0])
    mf.SeriesInstanceUID = pydicom.uid.generate_uid()
    mf.NumberOfFrames = 2
    mf.PixelData = mf.PixelData * 2
    mf.save_as(tmp_path / "mf.dcm")
    with pytest.raises(DicomSeriesError, match="multi-frame"):
        read_volume(tmp_path / "mf.dcm")


def _mutations(ds, rng):
    """One way a real export breaks a file, chosen by ``rng``."""
    kind = rng.integers(6)
    if kind == 0:
        del ds[rng.choice(["ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"])]
    elif kind == 1:
        ds.PixelSpacing = [0, 0.7]
    elif kind == 2:
        ds.ImagePositionPatient = ["NaN", 0, 0]
    elif kind == 3:
        ds.PixelData = ds.PixelData[: len(ds.PixelData) // int(rng.integers(2, 9))]
    elif kind == 4:
        ds.ImageOrientationPatient = [1, 0, 0, 1, 0, 0]  # parallel: no plane
    else:
        del ds.Rows
    return int(kind)


def test_fuzzed_files_give_an_error_naming_the_file(ct_block, tmp_path):
    data, affine = ct_block
    rng = np.random.default_rng(20240607)  # fixed seed: the same cases every run
    clean = write_series(tmp_path / "clean", data[:32, :32, :6], affine)
    seen = set()
    for case in range(18):
        folder = tmp_path / f"case{case}"
        shutil.copytree(tmp_path / "clean", folder)
        victim = folder / clean[int(rng.integers(len(clean)))].name
        ds = pydicom.dcmread(victim)
        seen.add(_mutations(ds, rng))
        ds.save_as(victim)
        with pytest.raises(ValueError) as err:
            read_volume(folder)
        assert victim.name in str(err.value), str(err.value)
    assert seen == set(range(6))
