"""Messages of the reader and the grid check name the right file with the right fact (issue 16)."""

from __future__ import annotations

import re
import struct
import warnings

import nibabel as nib
import numpy as np
import pytest

from napari_liverct import cli
from napari_liverct.volumes.nifti import NiftiReadError, read_nifti


def _save(path, data, affine=None, *, qform=None, qcode=1):
    img = nib.Nifti1Image(data, np.eye(4) if affine is None else affine)
    if qform is not None:
        img.set_qform(qform, code=qcode)
    elif qcode == 0:
        img.set_qform(None, code=0)
    nib.save(img, path)
    return path


def _npe2_read(path):
    import npe2

    npe2.PluginManager.instance().discover()
    return npe2.read([str(path)], stack=False, plugin_name="napari-liverct")


# ------------------------------------------------------------------ grid mismatch
@pytest.mark.parametrize("command", ["stats", "crop", "compare"])
def test_grid_mismatch_names_each_shape_with_its_file(tmp_path, capsys, command):
    rng = np.random.default_rng(0)
    a = _save(tmp_path / "ct_image.nii.gz", rng.integers(-1000, 1000, (10, 12, 14)).astype(np.int16))
    b = _save(tmp_path / "other_seg.nii.gz", (rng.random((5, 6, 7)) > 0.5).astype(np.uint8))
    if command == "stats":
        argv = ["stats", str(a), "--labels", str(b)]
    elif command == "crop":
        argv = ["crop", str(a), "--labels", str(b), "--out-dir", str(tmp_path / "out")]
    else:  # ground truth first, then the prediction
        a = _save(tmp_path / "gt_seg.nii.gz", (rng.random((10, 12, 14)) > 0.5).astype(np.uint8))
        argv = ["compare", str(a), str(b)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    # the oracle: each file's own shape, as nibabel reads its header
    for f in (a, b):
        shape = tuple(int(s) for s in nib.load(f).shape)
        assert f"{shape} in {f.name}" in err, err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


# ------------------------------------------------------------------ symlinks
def test_symlink_loop_and_broken_symlink_are_named(tmp_path, capsys):
    loop_a, loop_b = tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    with pytest.raises(NiftiReadError, match=rf"{re.escape(str(loop_a))}: symlink loop"):
        read_nifti(loop_a)
    assert cli.main(["stats", str(loop_a)]) == 2
    assert "symlink loop" in capsys.readouterr().err
    broken = tmp_path / "gone.nii.gz"
    broken.symlink_to(tmp_path / "never_written.nii.gz")
    with pytest.raises(NiftiReadError, match=r"broken symlink .*never_written\.nii\.gz"):
        read_nifti(broken)
    with pytest.raises(NiftiReadError, match=r"no such file"):
        read_nifti(tmp_path / "absent.nii.gz")


# ------------------------------------------------------------------ sizeof_hdr 540 in a NIfTI-1 file
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti1_with_sizeof_hdr_540_reads_as_nibabel_does(tmp_path, suffix):
    import gzip

    aff = np.diag([0.8, 0.9, 2.5, 1.0])
    aff[:3, 3] = [-100, 20, 7]
    raw = tmp_path / "raw.nii"
    _save(raw, np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4), aff)
    blob = bytearray(raw.read_bytes())
    blob[0:4] = struct.pack("<i", 540)
    path = tmp_path / f"h540{suffix}"
    path.write_bytes(gzip.compress(bytes(blob)) if suffix == ".nii.gz" else bytes(blob))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = nib.load(path)  # nibabel reads it as NIfTI-1 (and fixes the field)
        ref_data, ref_aff = np.asanyarray(ref.dataobj), ref.affine
    assert isinstance(ref, nib.Nifti1Image)
    got = read_nifti(path)
    np.testing.assert_array_equal(got.data, ref_data)
    np.testing.assert_allclose(got.affine, ref_aff)


def test_sizeof_hdr_540_without_any_magic_names_the_contradiction(tmp_path):
    path = tmp_path / "junk.nii"
    blob = bytearray(600)
    blob[0:4] = struct.pack("<i", 540)
    path.write_bytes(bytes(blob))
    with pytest.raises(NiftiReadError) as info:
        read_nifti(path)
    msg = str(info.value)
    assert str(path) in msg and "540" in msg and "NIfTI-2" in msg and "magic is missing" in msg
    with pytest.raises(Exception):  # nibabel refuses it too
        nib.load(path).get_fdata()


# ------------------------------------------------------------------ absurd sform
def _absurd(tmp_path, name, qcode, shear=1e30, thin=1.0):
    sform = np.eye(4)
    sform[0, 1] = shear  # finite, non-singular, but the first two voxel axes are (nearly) parallel
    sform[1, 1] = thin
    img = nib.Nifti1Image(np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6), sform)
    img.set_sform(sform, code=1)
    qform = np.diag([2.0, 3.0, 4.0, 1.0])
    qform[:3, 3] = [10, 20, 30]
    img.set_qform(qform, code=qcode)
    nib.save(img, tmp_path / name)
    return tmp_path / name


def test_absurd_sform_falls_back_to_a_valid_qform(tmp_path):
    path = _absurd(tmp_path, "shear_qform.nii.gz", qcode=1)
    ref_q = nib.load(path).header.get_qform()  # the oracle: nibabel's own qform
    with pytest.warns(UserWarning, match=r"shear_qform\.nii\.gz: the sform is absurd \(an entry of 1e\+30 mm"):
        layers = _npe2_read(path)
    (_, kw, _), *_ = layers
    np.testing.assert_allclose(kw["metadata"]["affine"], ref_q)
    np.testing.assert_allclose(sorted(kw["scale"]), sorted(np.abs(np.diag(ref_q)[:3])))


def test_absurd_sform_without_qform_is_a_named_error_in_reader_and_cli(tmp_path, capsys):
    path = _absurd(tmp_path, "shear_only.nii.gz", qcode=0, shear=1.0, thin=1e-8)  # det 1e-8
    with pytest.raises(NiftiReadError, match=r"shear_only\.nii\.gz: the header holds no usable voxel-to-world"):
        _npe2_read(path)
    assert cli.main(["stats", str(path)]) == 2
    err = capsys.readouterr().err
    assert "shear_only.nii.gz" in err and "degenerate" in err and "Traceback" not in err
    huge = np.eye(4)
    huge[2, 3] = 1e30
    p2 = tmp_path / "far.nii.gz"
    img = nib.Nifti1Image(np.zeros((3, 3, 3), np.int16), huge)
    img.set_qform(None, code=0)
    nib.save(img, p2)
    with pytest.raises(NiftiReadError, match=r"far\.nii\.gz: .*absurd"):
        read_nifti(p2)
