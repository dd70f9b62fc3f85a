"""NRRD and MetaImage in, through the one dispatcher, against SimpleITK and nibabel.

The sdist's real CT (NIfTI) is written as NRRD by pynrrd (its own writer, LPS space
directions) and as MetaImage by SimpleITK; the volume read back must be the NIfTI's
voxels at the NIfTI's world positions (nibabel), and land where SimpleITK puts them.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from napari_liverct.geometry.grids import reorient_onto
from napari_liverct.volumes.dispatch import read_volume
from napari_liverct.volumes.volume import VolumeReadError
from realdata import EXAMPLE_CT, EXAMPLE_SEG_FAST, real

sitk = pytest.importorskip("SimpleITK")


@pytest.fixture(scope="module")
def ct():
    img = nib.load(real(EXAMPLE_CT))
    return np.asarray(img.dataobj), img.affine


def test_nrrd_written_by_pynrrd(ct, tmp_path):
    nrrd = pytest.importorskip("nrrd")
    data, affine = ct
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
    path = tmp_path / "ct.nrrd"
    nrrd.write(
        str(path),
        data,
        {
            "space": "left-posterior-superior",
            "space directions": lps[:3, :3].T,
            "space origin": lps[:3, 3],
            "encoding": "raw",
        },
    )
    vol = read_volume(path)
    assert vol.format == "NRRD" and vol.data.dtype == data.dtype
    assert np.allclose(vol.affine, affine, atol=1e-5)
    assert np.array_equal(vol.data, data)
    img = sitk.ReadImage(str(path))
    for idx in [(0, 0, 0), (121, 100, 111), (17, 55, 80)]:
        lps_pt = np.array(img.TransformIndexToPhysicalPoint(idx))
        assert np.allclose((vol.affine @ [*idx, 1])[:3], lps_pt * [-1, -1, 1], atol=1e-4)


def test_mha_and_mhd_written_by_simpleitk_match_nibabel_in_world(tmp_path):
    src = real(EXAMPLE_SEG_FAST)  # labels: the reader keeps the stored dtype and values
    ref = nib.load(src)
    ref_data = np.asarray(ref.dataobj)
    img = sitk.ReadImage(str(src))
    for name in ("seg.mha", "seg.mhd"):
        sitk.WriteImage(img, str(tmp_path / name), True)
        vol = read_volume(tmp_path / name)
        assert vol.format == "MetaImage"
        got = reorient_onto(vol.data, vol.affine, ref.shape, ref.affine, tol_mm=1e-3)
        assert got is not None and np.array_equal(got[0], ref_data)


@pytest.mark.parametrize("name", ["lung1_image.nrrd", "lung1_label.nrrd", "brain1_image.nrrd", "breast1_label.nrrd"])
def test_pyradiomics_nrrds_match_pynrrd_and_simpleitk(name):
    """The pyradiomics sdist's NRRDs (written by 3D Slicer): voxels as pynrrd reads them, the
    affine built by hand from pynrrd's space directions and origin, world points as SimpleITK's."""
    nrrd = pytest.importorskip("nrrd")
    path = real(f"pyradiomics/{name}")
    vol = read_volume(path)
    ref, hdr = nrrd.read(str(path))
    assert vol.format == "NRRD" and np.array_equal(vol.data, ref)
    to_lps = {"left-posterior-superior": 1.0, "right-anterior-superior": -1.0}[hdr["space"]]
    lps = np.eye(4)
    lps[:3, :3] = np.asarray(hdr["space directions"], float).T * [[to_lps], [to_lps], [1.0]]
    lps[:3, 3] = np.asarray(hdr["space origin"], float) * [to_lps, to_lps, 1.0]
    assert np.allclose(vol.affine, np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps, atol=1e-6)
    img = sitk.ReadImage(str(path))
    corner = [s - 1 for s in img.GetSize()]
    for idx in ([0, 0, 0], corner, [s // 3 for s in img.GetSize()]):
        lps_pt = np.array(img.TransformIndexToPhysicalPoint([int(v) for v in idx]))
        assert np.allclose((vol.affine @ [*idx, 1])[:3], lps_pt * [-1, -1, 1], atol=1e-4)
    if name.endswith("_label.nrrd"):  # found a label by its name, as the NIfTI rule does
        from napari_liverct.labels.kind import looks_like_labels

        assert looks_like_labels(path, vol.header)


def test_broken_itk_files_are_refused_naming_the_file(tmp_path):
    bad = tmp_path / "bad.nrrd"
    bad.write_text("NRRD0004\ntype: short\ndimension: 3\nsizes: 4 4 4\nencoding: raw\n\n" + "x" * 10)
    with pytest.raises(VolumeReadError, match="bad.nrrd"):
        read_volume(bad)
    with pytest.raises(VolumeReadError, match="missing.mha"):
        read_volume(tmp_path / "missing.mha")
    with pytest.raises(VolumeReadError, match="not a supported volume format"):
        (tmp_path / "x.txt").write_text("hi")
        read_volume(tmp_path / "x.txt")


def test_evaluate_pairs_and_compares_mha_truth_with_nrrd_predictions(tmp_path):
    """A folder of MetaImage ground truth and one of NRRD predictions (another tool's writer):
    paired by name, and the Dice equals numpy's on the arrays nibabel reads from the source."""
    nrrd = pytest.importorskip("nrrd")
    from napari_liverct.compare.evaluate import evaluate

    src = real(EXAMPLE_SEG_FAST)
    ref = nib.load(src)
    gt = (np.asarray(ref.dataobj) == 5).astype(np.uint8)  # TotalSegmentator's liver
    pred = gt.copy()
    pred[:, :, : gt.shape[2] // 2] = 0  # half of it missed
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    img = sitk.GetImageFromArray(gt.T)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ ref.affine
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    img.SetSpacing(spacing.tolist())
    img.SetDirection((lps[:3, :3] / spacing).ravel().tolist())
    img.SetOrigin(lps[:3, 3].tolist())
    sitk.WriteImage(img, str(tmp_path / "gt" / "case1.mha"))
    nrrd.write(
        str(tmp_path / "pred" / "case1.nrrd"),
        pred,
        {
            "space": "left-posterior-superior",
            "space directions": lps[:3, :3].T,
            "space origin": lps[:3, 3],
            "encoding": "raw",
        },
    )
    report = evaluate(tmp_path / "gt", tmp_path / "pred", processes=False, progress=False, workers=1)
    assert len(report["cases"]) == 1
    want = 2 * (gt & pred).sum() / (gt.sum() + pred.sum())
    assert abs(report["metric_per_case"][0]["metrics"]["1"]["Dice"] - want) < 1e-9
