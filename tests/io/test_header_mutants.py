"""Issue 23's header mutants as regression files, and the labels-conversion fuzzer.

tests/data/header_mutants/ holds mutants that seeds 101 and 202 of benchmarks/fuzz_nifti.py
produce (``seed<S>_m<index>``: the mutant's index in that run): a voxel size that is zero,
negative or NaN under the pixdim geometry, which nibabel silently turns into 1 mm or its
absolute value, and an scl_slope / scl_inter of about 1e30 on integer data, which the
napari reader's labels conversion wrapped to int64's minimum.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import _label_fuzz
from napari_liverct.io.reader import read_nifti_layers
from napari_liverct.volumes.nifti import NiftiReadError, read_header, read_nifti

MUTANTS = Path(__file__).resolve().parents[1] / "data" / "header_mutants"
SPACING = [
    "seed101_m00197.nii",
    "seed101_m02323.nii",
    "seed202_m00947.nii",
    "seed202_m03747.nii.gz",
    "seed202_m05143.nii",
]
SCALING = ["seed101_m00340.nii.gz", "seed101_m00966.nii", "seed202_m00135.nii.gz"]


def _nib(path):
    logging.getLogger("nibabel").setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = nib.load(path)
        return img, np.asanyarray(img.dataobj)


@pytest.mark.parametrize("name", SPACING)
def test_spacing_the_header_does_not_state_is_refused_in_every_reader_path(name):
    path = MUTANTS / name
    img, _ = _nib(path)
    raw = nib.Nifti1Header(nib.openers.Opener(path).read(348), check=False)
    axis = next(k for k in (1, 2, 3) if not float(raw["pixdim"][k]) > 0)  # 0, negative or NaN as stored
    stored = float(raw["pixdim"][axis])
    if stored == 0:
        assert img.header.get_zooms()[axis - 1] == 1.0  # the hole: nibabel invents 1 mm
    pattern = rf"{re.escape(str(path))}: the voxel size of axis {axis} \(pixdim\[{axis}\] = {stored:g}\)"
    for read in (read_nifti, read_header, read_nifti_layers):  # core, header only, napari reader
        with pytest.raises(NiftiReadError, match=pattern):
            read(path)


@pytest.mark.parametrize("name", SCALING)
def test_huge_scaling_reads_as_nibabel_but_is_refused_as_labels(name):
    path = MUTANTS / name
    _, ref = _nib(path)
    vol = read_nifti(path)  # as an image: exactly nibabel's values
    np.testing.assert_array_equal(np.asarray(vol.data, np.float64), np.asarray(ref, np.float64))
    ref = np.asarray(ref, np.float64)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: the label volume holds the value ") as exc:
        read_nifti_layers(path, kind="labels")
    named = re.search(r"holds the value (\S+), beyond", str(exc.value)).group(1)
    assert named in {f"{v:g}" for v in ref[np.abs(ref) > 2**53]}  # one of the file's own values


def test_sform_states_its_own_spacing_whatever_pixdim_says(tmp_path):
    """A zero pixdim with a usable sform invents nothing: the sform's spacing is used."""
    aff = np.diag([0.7, 0.8, 2.5, 1.0])
    img = nib.Nifti1Image(np.zeros((4, 5, 6), np.int16), aff)
    img.header["pixdim"][1] = 0.0
    path = tmp_path / "sform.nii"
    hdr = img.header.copy()
    hdr["vox_offset"] = 352
    path.write_bytes(hdr.binaryblock + b"\0" * 4 + np.zeros((4, 5, 6), np.int16).tobytes(order="F"))
    np.testing.assert_allclose(read_nifti(path).affine, aff)


def test_qform_with_zero_voxel_size_is_refused(tmp_path):
    """The issue's case: a liver mask with a qform and pixdim[1] = 0 (nibabel reads 1 mm)."""
    mask = np.zeros((30, 30, 10), np.uint8)
    mask[5:25, 5:25, 2:8] = 1
    img = nib.Nifti1Image(mask, np.diag([0.8, 0.8, 2.5, 1.0]))
    img.set_sform(None, code=0)
    img.set_qform(np.diag([0.8, 0.8, 2.5, 1.0]), code=1)
    hdr = img.header.copy()
    hdr["pixdim"][1] = 0.0
    hdr["vox_offset"] = 352
    path = tmp_path / "liver_mask.nii"
    path.write_bytes(hdr.binaryblock + b"\0" * 4 + mask.tobytes(order="F"))
    assert _nib(path)[0].header.get_zooms()[0] == 1.0
    with pytest.raises(NiftiReadError, match=r"liver_mask.nii: the voxel size of axis 1 \(pixdim\[1\] = 0\) is zero"):
        read_nifti(path)


def test_label_conversion_fuzz_fixed_seed(tmp_path):
    """The fuzzer of tests/_label_fuzz.py, short and seeded: every case read equal to nibabel
    or refused naming the file and a value; both outcomes occur."""
    verdicts = _label_fuzz.fuzz(120, seed=23, folder=tmp_path)
    bad = [f"{v.name}: {v.why}" for v in verdicts if not v.ok]
    assert not bad, "\n".join(bad[:10])
    assert {v.why for v in verdicts} >= {"equal", "refused"}


@pytest.mark.parametrize("edit", ["one slice, no thickness", "NaN pixel spacing"])
def test_dicom_spacing_is_stated_or_refused(tmp_path, edit):
    """The DICOM reader path: a one-slice series states its thickness (it was assumed 1 mm),
    and a PixelSpacing of NaN is refused like a zero one."""
    import pydicom

    from dicomseries import write_series
    from napari_liverct.volumes.dispatch import read_volume

    data = np.random.default_rng(0).integers(-1000, 400, size=(12, 10, 1 if edit.startswith("one") else 3))
    paths = write_series(tmp_path / "s", data.astype(np.int16), np.diag([-0.7, -0.7, 3.0, 1.0]))
    for p in paths:
        ds = pydicom.dcmread(p)
        if edit.startswith("one"):
            del ds.SliceThickness
        else:
            ds.PixelSpacing = ["NaN", "0.7"]
        ds.save_as(p)
    said = (
        "without SliceThickness or SpacingBetweenSlices"
        if edit.startswith("one")
        else "PixelSpacing holds a non-finite value"
    )
    with pytest.raises(ValueError, match=said):
        read_volume(tmp_path / "s")
