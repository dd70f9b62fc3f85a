"""Issue 19.1: the window suits the anatomy of real CTs written by other tools.

What each file shows was looked at on slice pictures (axial, coronal, sagittal):

* ``example_ct.nii.gz``, ``example_ct_sm.nii.gz``: abdomen and pelvis (bowel, kidneys,
  spine, pelvis; lung bases in the top slices) -> abdomen window;
* ``example_ct_dicom/`` (converted by dcm2niix and by SimpleITK): upper abdomen at
  liver, spleen and kidney level, arms beside the body, the table under it -> abdomen
  window (it opened in the lung window: 26 % of its voxels above -950 HU, mostly the
  noisy air around the patient, fell in -950..-500 HU);
* ``aorta_report/.../ct.nii.gz``: a CT angiogram from the neck to the upper abdomen
  (contrast in the aorta); the lungs are in 72 % of its axial slices: a chest CT by what
  it shows -> lung window (issue 22: it opened in the soft-tissue window; what tells a
  CTA apart, the contrast, is not used; the soft-tissue window is one click away);
* ``pulmonary_report/models/ct_cropped.nii.gz``: a crop around the heart and the
  pulmonary arteries -> soft-tissue window;
* pyradiomics 3.1.0's ``lung1_image.nrrd`` and ``lung2_image.nrrd`` (chest CTs with a
  lung tumour, NRRD read with SimpleITK and written as NIfTI): thorax with some neck and
  upper abdomen -> lung window (issue 22.6: lung1 holds lung in 24.8 % of its body's
  volume, lung2 18 %, and both opened in the abdomen window under the old volume rule);
* ``example_mr_sm.nii.gz``: MR -> a percentile window, never an HU window.

The oracle for the share of lung is a full-resolution computation with nibabel + scipy
(every axial slice of the RAS-canonical volume, holes filled), not the strided sample the
plugin uses.
"""

from __future__ import annotations

import shutil
import subprocess

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_liverct.display.layers import (
    LUNG_SLICE_SHARE,
    THORAX_SLICES,
    body_lung_share,
    choose_window,
    thorax_slice_share,
    window_limits,
)
from napari_liverct.io.reader import read_nifti_layers
from realdata import EXAMPLE_CT, real

TS = "totalsegmentator/"
ABDOMEN = window_limits("abdomen")
LUNG = window_limits("lung")


def full_res_lung_share(img: nib.Nifti1Image) -> tuple[float, np.ndarray]:
    """Lung-density share of the body over every voxel; and the share per axial slice
    (slices without body: NaN)."""
    data = np.asanyarray(nib.as_closest_canonical(img).dataobj).astype(np.float32)  # RAS: axis 2 = S
    tissue = data > -500
    body = np.stack([ndi.binary_fill_holes(tissue[..., k]) for k in range(data.shape[2])], axis=-1)
    lung = body & (data > -950) & (data <= -500)
    n_body = body.sum(axis=(0, 1))
    per_slice = np.where(n_body > 0, lung.sum(axis=(0, 1)) / np.maximum(1, n_body), np.nan)
    return float(lung.sum()) / max(1, int(body.sum())), per_slice


def full_res_thorax_share(per_slice: np.ndarray) -> float:
    """Share of the slices through the body in which lung fills LUNG_SLICE_SHARE of it."""
    have = per_slice[~np.isnan(per_slice)]
    return float((have >= LUNG_SLICE_SHARE).mean())


def _nrrd_as_nifti(name: str, tmp_path):
    """pyradiomics' NRRD chest CT, read by SimpleITK and written as NIfTI (SimpleITK's geometry)."""
    sitk = pytest.importorskip("SimpleITK")
    out = tmp_path / f"{name}.nii.gz"
    sitk.WriteImage(sitk.ReadImage(str(real(f"pyradiomics/{name}_image.nrrd"))), str(out))
    return out


def _image_window(path):
    [(data, kw, kind)] = read_nifti_layers(path, kind="image", pair=False)
    return kw["metadata"].get("ct_window"), kw["contrast_limits"], data


@pytest.mark.parametrize(
    ("relpath", "expected"),
    [
        (EXAMPLE_CT, "abdomen"),
        (TS + "example_ct_sm.nii.gz", "abdomen"),
        (TS + "aorta_report/test_result/models/ct.nii.gz", "lung"),
        (TS + "pulmonary_report/models/ct_cropped.nii.gz", "abdomen"),
        ("pyradiomics:lung1", "lung"),
        ("pyradiomics:lung2", "lung"),
    ],
)
def test_real_ct_opens_in_the_window_of_its_anatomy(relpath, expected, tmp_path):
    path = _nrrd_as_nifti(relpath.split(":")[1], tmp_path) if relpath.startswith("pyradiomics:") else real(relpath)
    img = nib.load(path)
    share, per_slice = full_res_lung_share(img)
    thorax = full_res_thorax_share(per_slice)
    name, limits, view = _image_window(path)
    print(
        f"{relpath}: lung {share:.3f} of the body, thorax slices {thorax:.2f} (sample {thorax_slice_share(view):.2f})"
    )
    assert (name, limits) == (expected, window_limits(expected))
    # the sampled shares (any storage order) agree with the full-resolution ones
    assert body_lung_share(view) == pytest.approx(share, abs=0.04)
    assert thorax_slice_share(view) == pytest.approx(thorax, abs=0.1)
    # and the full-resolution rule gives the same window, with a margin
    assert (thorax >= THORAX_SLICES) == (expected == "lung")
    assert abs(thorax - THORAX_SLICES) > 0.1


def test_the_old_volume_rule_missed_the_chest_cts(tmp_path):
    """Issue 22.6: lung1 and lung2 hold less than a quarter of lung in the body's volume
    (the old threshold) yet the lungs are in most of their slices."""
    for name in ("lung1", "lung2"):
        share, per_slice = full_res_lung_share(nib.load(_nrrd_as_nifti(name, tmp_path)))
        assert share < 0.25 and full_res_thorax_share(per_slice) > 0.6, (name, share)


def test_the_thorax_of_the_chest_cta_opens_in_the_lung_window(tmp_path):
    path = real(TS + "aorta_report/test_result/models/ct.nii.gz")
    img = nib.as_closest_canonical(nib.load(path))
    _share, per_slice = full_res_lung_share(img)
    chest = np.flatnonzero(per_slice >= 0.25)  # slices where the lungs fill a quarter of the body
    assert chest.size > 20, "the chest CTA holds a thorax"
    k0, k1 = int(chest.min()), int(chest.max()) + 1
    thorax = img.slicer[:, :, k0:k1]
    out = tmp_path / "thorax.nii.gz"
    nib.save(thorax, out)
    _share, per_slice = full_res_lung_share(nib.load(out))
    assert full_res_thorax_share(per_slice) == 1.0
    name, limits, _view = _image_window(out)
    assert (name, limits) == ("lung", LUNG)


def _dcm2niix(tmp_path):
    if shutil.which("dcm2niix") is None:
        pytest.skip("dcm2niix not installed")
    out = tmp_path / "dcm2niix"
    out.mkdir()
    subprocess.run(
        ["dcm2niix", "-z", "y", "-f", "ct", "-o", str(out), str(real(TS + "example_ct_dicom"))],
        check=True,
        capture_output=True,
    )
    return out / "ct.nii.gz"


def _simpleitk(tmp_path):
    sitk = pytest.importorskip("SimpleITK")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(real(TS + "example_ct_dicom"))))
    out = tmp_path / "sitk_ct.nii.gz"
    sitk.WriteImage(reader.Execute(), str(out))
    return out


@pytest.mark.parametrize("convert", [_dcm2niix, _simpleitk], ids=["dcm2niix", "SimpleITK"])
def test_upper_abdomen_dicom_series_opens_in_the_abdomen_window(tmp_path, convert):
    path = convert(tmp_path)
    img = nib.load(path)
    data = np.asanyarray(img.dataobj)
    # what tripped the old rule: over the whole array a quarter of the voxels above
    # -950 HU are at "lung" density (the air around the patient)
    above = data[data > -950]
    assert ((above <= -500).mean()) > 0.25
    share, _ = full_res_lung_share(img)
    assert share < 0.05, "upper abdomen: hardly any lung inside the body"
    name, limits, view = _image_window(path)
    assert (name, limits) == ("abdomen", ABDOMEN)
    assert body_lung_share(view) == pytest.approx(share, abs=0.03)


def test_mr_never_gets_a_ct_window():
    path = real(TS + "example_mr_sm.nii.gz")
    name, (lo, hi), view = _image_window(path)
    assert name == "percentile"
    assert (lo, hi) not in (ABDOMEN, LUNG, window_limits("liver"), window_limits("bone"))
    data = np.asanyarray(nib.load(path).dataobj)
    assert lo >= float(data.min()) and hi <= float(data.max())
    # a strided sample's 0.5-99.5 percentiles: close to the whole volume's
    lo_all, hi_all = np.percentile(data, [0.5, 99.5])
    assert lo == pytest.approx(lo_all, abs=0.02 * (data.max() - data.min()))
    assert hi == pytest.approx(hi_all, abs=0.02 * (data.max() - data.min()))
    assert choose_window(view)[0] == "percentile"


@pytest.mark.parametrize("padding", [-2048, -3024, -32768])
def test_scanner_padding_outside_the_field_of_view_is_not_taken_for_non_hu(tmp_path, padding):
    """GE writes -3024 outside the reconstruction circle, others -2048 or -32768: the
    abdominal CT with such corners (and a metal clip at 20000 HU) is still CT, abdomen."""
    img = nib.load(real(EXAMPLE_CT))
    data = np.asanyarray(img.dataobj).astype(np.int32)
    nx, ny, _ = data.shape
    x, y = np.ogrid[:nx, :ny]
    outside = ((x - nx / 2) / (nx / 2)) ** 2 + ((y - ny / 2) / (ny / 2)) ** 2 > 1.0
    data[outside, :] = padding
    data[nx // 2, ny // 2, :3] = 20000
    path = tmp_path / "padded.nii.gz"
    nib.save(nib.Nifti1Image(data, img.affine), path)
    name, limits, _view = _image_window(path)
    assert (name, limits) == ("abdomen", ABDOMEN)
