"""The reader reads every file exactly as nibabel does, on files other tools wrote.

Oracle: ``np.asanyarray(nib.load(f).dataobj)`` and ``nib.load(f).affine``.  The corpus
is nibabel's own test data plus files written by nibabel (NIfTI-1/2, big-endian,
qform/sform/no form, extensions up to 64 kB, scaled integers), SimpleITK, MONAI's
SaveImage, dcm2niix (from a pydicom CT series), pigz, bgzip, a multi-member gzip and a
TotalSegmentator-shaped segmentation; see tests/_nifti_oracle.py.
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import struct
import warnings

import nibabel as nib
import numpy as np
import pytest

import _nifti_oracle as oracle
from napari_liverct.io.reader import read_nifti_layers
from napari_liverct.volumes.nifti import NiftiReadError, read_nifti, write_nifti


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return oracle.build_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.mark.slow
def test_corpus_has_files_from_other_tools(corpus):
    names = {p.name for p in corpus}
    assert len(oracle.nibabel_test_data()) >= 5
    for expected in (
        "sitk.nii.gz",
        "multi_member.nii.gz",
        "total.nii.gz",
        "ext_65536.nii.gz",
        "bigendian.nii",
        "nifti2.nii.gz",
        "monai_int16_saved.nii.gz",
    ):
        assert expected in names
    for tool, name in (("pigz", "pigz.nii.gz"), ("bgzip", "bgzip.nii.gz")):
        assert shutil.which(tool) is None or name in names
    assert shutil.which("dcm2niix") is None or any(n.startswith("ct_") for n in names)


@pytest.mark.slow
def test_every_corpus_file_reads_as_nibabel_reads_it(corpus):
    verdicts = [oracle.compare_with_nibabel(p) for p in corpus]
    bad = [f"{v.path.name}: {v.why}" for v in verdicts if not v.ok]
    assert not bad, "\n".join(bad)
    equal = sum(v.why == "equal" for v in verdicts)
    assert equal >= len(corpus) - 1  # only the CIFTI-2 dconn is refused (nibabel gives no affine)


@pytest.mark.slow
def test_layer_affine_and_voxels_match_nibabel(corpus):
    """Through the napari reader: metadata['affine'] is nibabel's, and every voxel of the
    display array sits where nibabel's affine puts it (checked on a few voxels)."""
    from napari_liverct.geometry.grids import display_geometry

    for p in corpus:
        if p.name in ("row_major.dconn.nii",):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layers = read_nifti_layers(p, pair=False)
            ref = nib.load(str(p))
        data, kw, _ = layers[0]
        np.testing.assert_allclose(kw["metadata"]["affine"], ref.affine, atol=1e-6, err_msg=p.name)
        if data.ndim != 3 or kw["metadata"].get("residual") is not None:
            continue
        stored = np.asanyarray(ref.dataobj)
        while stored.ndim < 3:
            stored = stored[..., None]
        geom = display_geometry(ref.affine, stored.shape)
        rng = np.random.default_rng(0)
        for _ in range(5):
            ijk = tuple(int(rng.integers(s)) for s in stored.shape[:3])
            ras = nib.affines.apply_affine(ref.affine, ijk)
            world = np.array([ras[2], -ras[1], -ras[0]])  # (S, P, L)
            idx = np.rint((world - np.array(geom.translate)) / np.array(geom.scale)).astype(int)
            assert data[tuple(idx)] == stored[ijk], (p.name, ijk)


@pytest.mark.slow
def test_header_fuzz_only_niftireaderror_and_equal_to_nibabel(tmp_path):
    seeds = oracle.seed_files(tmp_path / "seeds")
    verdicts = oracle.fuzz(seeds, 400, tmp_path / "mutants", seed=2026)
    bad = [f"{v.path.name}: {v.why}" for v in verdicts if not v.ok]
    assert not bad, "\n".join(bad[:20])
    assert sum(v.why == "equal" for v in verdicts) > 150  # the fuzz exercises real reads


def test_corrupt_header_claims_allocate_nothing(tmp_path):
    seeds = oracle.seed_files(tmp_path / "seeds")
    raw = bytearray(seeds[0].read_bytes())
    struct.pack_into("<8h", raw, 40, 3, 30000, 30000, 3000, 1, 1, 1, 1)  # a 5 TB claim
    for name, blob in (("huge.nii", bytes(raw)), ("huge.nii.gz", gzip.compress(bytes(raw)))):
        path = tmp_path / name
        path.write_bytes(blob)
        peak, _ = oracle.peak_alloc_of_read(path)
        assert peak < 2 * 1024**2, (name, peak)
        with pytest.raises(NiftiReadError, match=name.replace(".", r"\.")):
            read_nifti(path)


# ----------------------------------------------------------------- specific defects


def _ct_image(dtype=np.int16):
    rng = np.random.default_rng(0)
    aff = np.array([[-0.8, 0, 0, 120.0], [0, -0.8, 0, 95.5], [0, 0, 2.5, -300.0], [0, 0, 0, 1]])
    return rng.integers(-1024, 2000, size=(9, 8, 7)).astype(dtype), aff


def _raw_nii(path, hdr, data):
    hdr = hdr.copy()
    hdr["vox_offset"] = 352
    path.write_bytes(hdr.binaryblock + b"\0" * 4 + np.asarray(data).tobytes(order="F"))
    return path


@pytest.mark.parametrize("ext_bytes", [700, 12_800, 65_536])
def test_large_extensions_like_totalsegmentator_open(tmp_path, ext_bytes):
    data, aff = _ct_image()
    img = nib.Nifti1Image(data, aff)
    img.header.extensions.append(nib.nifti1.Nifti1Extension(0, b"<x>" + b"a" * ext_bytes + b"</x>"))
    path = tmp_path / "ext.nii.gz"
    nib.save(img, path)
    vol = read_nifti(path)
    np.testing.assert_array_equal(vol.data, np.asanyarray(nib.load(path).dataobj))
    assert len(vol.header.extensions) == 1


@pytest.mark.parametrize(
    "dtype,slope,inter",
    [
        (np.int16, 1e6, 0.0),
        (np.uint32, 1.0, 5.0),
        (np.int64, 3.0, 0.0),
        (np.int16, 2.0**31, 0.0),
        (np.uint16, 1.0, -1024.0),
        (np.int16, 0.1, 0.0),
    ],
)
def test_integer_scaling_never_wraps(tmp_path, dtype, slope, inter):
    data, aff = _ct_image()
    if dtype == np.uint32:
        data = (data.astype(np.int64) + 2**31 + 100).astype(np.uint32)
    else:
        data = data.astype(dtype) if np.dtype(dtype).kind != "u" else np.abs(data).astype(dtype)
    img = nib.Nifti1Image(data, aff, dtype=dtype)
    img.header.set_slope_inter(slope, inter)
    path = _raw_nii(tmp_path / "s.nii", img.header, data)
    vol = read_nifti(path)
    ref = np.asanyarray(nib.load(path).dataobj)
    np.testing.assert_array_equal(vol.data.astype(np.float64), ref.astype(np.float64))
    exact = data.astype(np.float64) * np.float64(np.float32(slope)) + np.float64(np.float32(inter))
    np.testing.assert_allclose(vol.data.astype(np.float64), exact, rtol=1e-12)


@pytest.mark.parametrize("field,value", [("scl_inter", np.nan), ("vox_offset", -16.0), ("vox_offset", np.inf)])
def test_bad_scaling_or_offset_is_a_niftireaderror(tmp_path, field, value):
    data, aff = _ct_image()
    img = nib.Nifti1Image(data, aff)
    img.header.set_slope_inter(2.0, 0.0)
    path = _raw_nii(tmp_path / "bad.nii", img.header, data)
    raw = bytearray(path.read_bytes())
    off = nib.Nifti1Header.template_dtype.fields[field][1]
    raw[off : off + 4] = struct.pack("<f", value)
    path.write_bytes(bytes(raw))
    with pytest.raises(NiftiReadError, match=r"bad\.nii"):
        read_nifti(path)


def test_broken_sform_falls_back_to_valid_qform_with_warning(tmp_path):
    data, aff = _ct_image()
    img = nib.Nifti1Image(data, aff)
    img.set_qform(aff, code=1)
    img.set_sform(aff, code=2)
    hdr = img.header.copy()
    hdr["srow_x"] = [np.nan, 0, 0, 0]
    path = tmp_path / "brokensform.nii"
    _raw_nii(path, hdr, data)
    assert not np.all(np.isfinite(nib.load(path).affine))  # nibabel returns the broken sform
    with pytest.warns(UserWarning, match="qform"):
        vol = read_nifti(path)
    np.testing.assert_allclose(vol.affine, nib.load(path).header.get_qform(), atol=1e-6)
    np.testing.assert_allclose(vol.affine, aff, atol=1e-4)
    hdr["qform_code"] = 0
    _raw_nii(tmp_path / "noform.nii", hdr, data)
    with pytest.raises(NiftiReadError, match=r"noform\.nii.*affine"):
        read_nifti(tmp_path / "noform.nii")


def test_qform_only_files_nibabel_reads(tmp_path):
    data, aff = _ct_image()
    img = nib.Nifti1Image(data, aff)
    img.set_sform(None, code=0)
    img.set_qform(aff, code=1)
    hdr = img.header.copy()
    hdr["pixdim"][0] = 0  # qfac 0 is read as 1, by nibabel and the standard alike
    v = oracle.compare_with_nibabel(_raw_nii(tmp_path / "qfac0.nii", hdr, data))
    assert v.ok and v.why == "equal", v.why
    # a negative voxel size: nibabel takes its absolute value (an Analyze-era flip is lost);
    # the reader refuses it, naming the file and the value (issue 23)
    hdr = img.header.copy()
    hdr["pixdim"][1] = -0.8
    path = _raw_nii(tmp_path / "negpix.nii", hdr, data)
    v = oracle.compare_with_nibabel(path)
    assert v.ok and v.why.startswith("stricter on purpose"), v.why
    with pytest.raises(NiftiReadError, match=r"negpix\.nii.*pixdim\[1\] = -0\.8\) is negative"):
        read_nifti(path)


@pytest.mark.parametrize("code", [0, 1, 1536, 2048, 128])
def test_unsupported_datatypes_name_the_file(tmp_path, code):
    data, aff = _ct_image()
    img = nib.Nifti1Image(data, aff)
    path = _raw_nii(tmp_path / f"dt{code}.nii", img.header, data)
    raw = bytearray(path.read_bytes())
    struct.pack_into("<h", raw, 70, code)
    path.write_bytes(bytes(raw))
    with pytest.raises(NiftiReadError, match=rf"dt{code}\.nii.*(type|not supported)"):
        read_nifti(path)
    with pytest.raises(ValueError, match=rf"dt{code}\.nii"):
        read_nifti_layers(path)


@pytest.mark.parametrize("vox", [1, 100, 351])
def test_small_vox_offset_is_refused_like_nibabel(tmp_path, vox):
    data, aff = _ct_image()
    path = _raw_nii(tmp_path / "v.nii", nib.Nifti1Image(data, aff).header, data)
    raw = bytearray(path.read_bytes())
    struct.pack_into("<f", raw, 108, float(vox))
    path.write_bytes(bytes(raw))
    with pytest.raises(Exception):
        oracle.nib_reference(path)
    with pytest.raises(NiftiReadError, match=r"v\.nii.*vox offset"):  # never header bytes as voxels
        read_nifti(path)


def test_multi_member_gzip_first_member_shorter_than_header(tmp_path):
    data, aff = _ct_image()
    src = tmp_path / "src.nii"
    nib.save(nib.Nifti1Image(data, aff), src)
    for first in (10, 100, 347, 351):
        dst = oracle.multi_member_gzip(src, tmp_path / f"mm{first}.nii.gz", first=first, block=333)
        np.testing.assert_array_equal(read_nifti(dst).data, data)


def test_degenerate_affine_error_names_the_file(tmp_path):
    data, aff = _ct_image()
    aff = aff.copy()
    aff[:3, 0] = aff[:3, 1]  # two equal columns: singular
    img = nib.Nifti1Image(data, aff)
    nib.save(img, tmp_path / "degen.nii.gz")
    with pytest.raises(ValueError, match=r"degen\.nii\.gz"):
        read_nifti_layers(tmp_path / "degen.nii.gz")


# ----------------------------------------------------------------- writer


def test_writer_keeps_permissions_fsyncs_and_leaves_no_temporaries(tmp_path):
    data, aff = _ct_image()
    out = tmp_path / "out.nii.gz"
    old = os.umask(0o022)
    try:
        write_nifti(out, data, aff)
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
        out.chmod(0o664)
        write_nifti(out, data, aff)
        assert stat.S_IMODE(out.stat().st_mode) == 0o664
    finally:
        os.umask(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nii.gz"]
    np.testing.assert_array_equal(np.asanyarray(nib.load(out).dataobj), data)


def test_writer_cleans_up_on_failure(tmp_path):
    data, aff = _ct_image()
    with pytest.raises(Exception):
        write_nifti(tmp_path / "x.nii.gz", data.astype(object), aff)
    assert list(tmp_path.iterdir()) == []


def test_both_inflaters_agree_with_nibabel(tmp_path, monkeypatch):
    """Mostly-air volumes take the one-shot libdeflate path, noisy ones ISA-L streaming;
    multi-member files always stream.  Each equals nibabel."""
    import napari_liverct.volumes.nifti as nifti

    calls = []
    real = nifti._inflate_rest
    monkeypatch.setattr(nifti, "_inflate_rest", lambda *a: calls.append("stream") or real(*a))
    air = np.full((64, 64, 40), -1024, np.int16)
    air[20:40, 20:44, 10:30] = np.random.default_rng(0).integers(-100, 200, (20, 24, 20))
    noisy = np.random.default_rng(1).integers(-1024, 2000, (64, 64, 40)).astype(np.int16)
    for name, data, expect in (("air.nii.gz", air, []), ("noisy.nii.gz", noisy, ["stream"])):
        calls.clear()
        nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / name)
        np.testing.assert_array_equal(read_nifti(tmp_path / name).data, data)
        assert calls == expect, name
    calls.clear()
    mm = oracle.multi_member_gzip(tmp_path / "air.nii.gz", tmp_path / "air_mm.nii.gz", first=200, block=1 << 16)
    np.testing.assert_array_equal(read_nifti(mm).data, air)
    assert calls == ["stream"]
