"""Tests of :mod:`napari_liverct.volumes.nifti` against nibabel and hand-written NIfTI bytes.

Every file here is written either by nibabel or byte by byte from a nibabel header
(``_raw_nifti``), so the expected values come from the array that was written or
from nibabel's own reading of the same file, never from the code under test.
No napari import; all arrays are tiny.
"""

from __future__ import annotations

import gzip
import hashlib
import time
import tracemalloc

import nibabel as nib
import numpy as np
import pytest

from napari_liverct.volumes.nifti import (
    NiftiReadError,
    is_nifti_path,
    nifti_stem,
    read_header,
    read_nifti,
    write_nifti,
)

AFFINE = np.array([[-0.8, 0.0, 0.0, 120.0], [0.0, -0.8, 0.0, 95.5], [0.0, 0.0, 2.5, -310.0], [0, 0, 0, 1]])
DTYPES = [np.uint8, np.int8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.float32, np.float64]


def _volume(dtype, shape=(6, 5, 4), seed=0) -> np.ndarray:
    """Small array with distinct values spanning the dtype's sign (no constant axis)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.normal(0, 300, shape).astype(dtype)
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -3000), min(info.max, 3000)
    return rng.integers(lo, hi, shape, endpoint=True).astype(dtype)


def _raw_nifti(
    path,
    data: np.ndarray,
    affine: np.ndarray | None = AFFINE,
    *,
    version: int = 1,
    endian: str = "<",
    slope: float | None = None,
    inter: float | None = None,
    dim: list[int] | None = None,
    gz: bool = False,
    with_data: bool = True,
):
    """Write a single-file NIfTI byte by byte: header, padding to vox_offset, F-order data.

    ``slope``/``inter`` go into the header untouched (nibabel's writer would reset
    them); ``dim`` overrides the header's dimensions after the fact.
    """
    klass = nib.Nifti1Header if version == 1 else nib.Nifti2Header
    hdr = klass(endianness=endian)
    arr = np.asarray(data)
    hdr.set_data_dtype(arr.dtype)
    hdr.set_data_shape(arr.shape)
    if affine is not None:
        hdr.set_sform(affine, code=1)
        hdr.set_qform(affine, code=1)
    if slope is not None:
        hdr["scl_slope"] = slope
    if inter is not None:
        hdr["scl_inter"] = inter
    if dim is not None:
        hdr["dim"] = dim
    offset = 352 if version == 1 else 544
    hdr.set_data_offset(offset)
    block = hdr.binaryblock
    payload = block + b"\0" * (offset - len(block))
    if with_data:
        payload += arr.astype(arr.dtype.newbyteorder(endian)).tobytes(order="F")
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def _nib_save(path, data, affine=AFFINE):
    data = np.asarray(data)
    nib.save(nib.Nifti1Image(data, affine, dtype=data.dtype), path)
    return path


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------- happy paths
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_dtypes_match_nibabel_and_keep_stored_dtype(tmp_path, dtype, suffix):
    data = _volume(dtype)
    path = _nib_save(tmp_path / f"v{suffix}", data)
    vol = read_nifti(path)
    ref = nib.load(path)
    assert vol.data.dtype == np.dtype(dtype)
    assert vol.data.shape == data.shape
    np.testing.assert_array_equal(vol.data, data)
    np.testing.assert_array_equal(vol.data, np.asanyarray(ref.dataobj))
    np.testing.assert_allclose(vol.affine, ref.affine)
    assert not vol.scaled


def test_uppercase_name_and_path_helpers(tmp_path):
    data = _volume(np.int16)
    path = _nib_save(tmp_path / "CASE.NII.GZ", data)
    np.testing.assert_array_equal(read_nifti(str(path)).data, data)
    assert is_nifti_path(path) and is_nifti_path("a.Nii") and not is_nifti_path("a.nrrd")
    assert nifti_stem(path) == "CASE" and nifti_stem("x/liver_3.nii") == "liver_3"


def test_spacing_and_spatial_shape(tmp_path):
    path = _nib_save(tmp_path / "s.nii.gz", _volume(np.int16))
    vol = read_nifti(path)
    assert vol.spatial_shape == (6, 5, 4)
    np.testing.assert_allclose(vol.spacing, [0.8, 0.8, 2.5])


def test_affine_from_qform_only_and_from_pixdim(tmp_path):
    data = _volume(np.int16)
    # qform only: sform_code 0
    img = nib.Nifti1Image(data, AFFINE)
    img.set_sform(None, code=0)
    img.set_qform(AFFINE, code=1)
    q_path = tmp_path / "q.nii"
    nib.save(img, q_path)
    np.testing.assert_allclose(read_nifti(q_path).affine, nib.load(q_path).affine, atol=1e-5)
    # neither sform nor qform: nibabel's pixdim fallback
    p_path = _raw_nifti(tmp_path / "p.nii", data, affine=None)
    hdr_ref = nib.load(p_path).header
    np.testing.assert_allclose(read_nifti(p_path).affine, hdr_ref.get_best_affine())


# ------------------------------------------------------------------------- scaling
@pytest.mark.parametrize("gz", [False, True])
def test_integral_scaling_applied_exactly(tmp_path, gz):
    raw = _volume(np.int16)
    path = _raw_nifti(tmp_path / ("s.nii.gz" if gz else "s.nii"), raw, slope=2.0, inter=-1024.0, gz=gz)
    vol = read_nifti(path)
    expected = raw.astype(np.int64) * 2 - 1024
    assert vol.scaled
    assert vol.data.dtype.kind == "i"
    np.testing.assert_array_equal(vol.data, expected)
    np.testing.assert_array_equal(vol.data, np.asanyarray(nib.load(path).dataobj))


def test_uint16_with_hu_intercept_becomes_signed(tmp_path):
    raw = np.arange(0, 2400, 20, dtype=np.uint16).reshape(4, 5, 6)
    path = _raw_nifti(tmp_path / "u.nii.gz", raw, slope=1.0, inter=-1024.0, gz=True)
    vol = read_nifti(path)
    assert vol.data.dtype.kind == "i"
    np.testing.assert_array_equal(vol.data, raw.astype(np.int64) - 1024)


def test_fractional_scaling_gives_float(tmp_path):
    raw = _volume(np.int16)
    path = _raw_nifti(tmp_path / "f.nii", raw, slope=0.5, inter=0.25)
    vol = read_nifti(path)
    assert vol.data.dtype.kind == "f"
    np.testing.assert_allclose(vol.data, raw * 0.5 + 0.25, rtol=1e-6)
    np.testing.assert_allclose(vol.data, np.asanyarray(nib.load(path).dataobj), rtol=1e-6)


@pytest.mark.parametrize("slope, inter", [(1.0, 0.0), (0.0, 0.0), (np.nan, np.nan)])
def test_identity_or_unset_scaling_keeps_stored_dtype(tmp_path, slope, inter):
    raw = _volume(np.int16)
    path = _raw_nifti(tmp_path / "i.nii", raw, slope=slope, inter=inter)
    vol = read_nifti(path)
    assert not vol.scaled
    assert vol.data.dtype == np.int16
    np.testing.assert_array_equal(vol.data, raw)


# ------------------------------------------------------------------ shapes & formats
def test_4d_is_kept_and_trailing_singleton_dropped(tmp_path):
    data4 = _volume(np.int16, shape=(4, 5, 6, 3))
    vol = read_nifti(_nib_save(tmp_path / "t.nii.gz", data4))
    assert vol.data.shape == (4, 5, 6, 3)
    np.testing.assert_array_equal(vol.data, data4)
    data1 = _volume(np.int16, shape=(4, 5, 6, 1))
    vol1 = read_nifti(_nib_save(tmp_path / "t1.nii.gz", data1))
    assert vol1.data.shape == (4, 5, 6)
    np.testing.assert_array_equal(vol1.data, data1[..., 0])


def test_2d_gets_a_third_axis(tmp_path):
    data = _volume(np.uint8, shape=(7, 9))
    vol = read_nifti(_nib_save(tmp_path / "flat.nii", data))
    assert vol.data.shape == (7, 9, 1)
    np.testing.assert_array_equal(vol.data[..., 0], data)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti2(tmp_path, suffix):
    data = _volume(np.float32)
    path = tmp_path / f"two{suffix}"
    nib.save(nib.Nifti2Image(data, AFFINE), path)
    vol = read_nifti(path)
    assert isinstance(vol.header, nib.Nifti2Header)
    np.testing.assert_array_equal(vol.data, data)
    np.testing.assert_allclose(vol.affine, nib.load(path).affine)


@pytest.mark.parametrize("gz", [False, True])
def test_big_endian(tmp_path, gz):
    data = _volume(np.int16)
    path = _raw_nifti(tmp_path / ("be.nii.gz" if gz else "be.nii"), data, endian=">", gz=gz)
    ref = nib.load(path)
    assert ref.header.endianness == ">"  # the file really is big-endian
    vol = read_nifti(path)
    assert vol.data.dtype.kind == "i" and vol.data.dtype.itemsize == 2
    np.testing.assert_array_equal(vol.data, data)
    np.testing.assert_allclose(vol.affine, ref.affine)


def test_hand_written_bytes_match_nibabel(tmp_path):
    """Sanity check of the test writer itself: nibabel reads what _raw_nifti wrote."""
    data = _volume(np.int32)
    path = _raw_nifti(tmp_path / "raw.nii", data)
    np.testing.assert_array_equal(np.asanyarray(nib.load(path).dataobj), data)
    np.testing.assert_allclose(nib.load(path).affine, AFFINE, atol=1e-6)


# ------------------------------------------------------------------- memory mapping
def test_nii_is_memory_mapped_and_file_never_modified(tmp_path):
    data = _volume(np.int16, shape=(16, 12, 8))
    path = _nib_save(tmp_path / "m.nii", data)
    before = _digest(path)
    vol = read_nifti(path)
    arr, chain = vol.data, []
    while arr is not None:
        chain.append(arr)
        arr = getattr(arr, "base", None)
    assert any(isinstance(a, np.memmap) or type(a).__name__ == "mmap" for a in chain)
    vol.data[0, 0, 0] = 1234  # copy-on-write: allowed, but must not reach the file
    vol.data[:, :, -1] = -5
    del vol
    assert _digest(path) == before
    np.testing.assert_array_equal(read_nifti(path).data, data)


def test_mmap_false_reads_into_memory(tmp_path):
    data = _volume(np.float32)
    path = _nib_save(tmp_path / "nm.nii", data)
    vol = read_nifti(path, mmap=False)
    assert not isinstance(vol.data, np.memmap)
    np.testing.assert_array_equal(vol.data, data)


# ------------------------------------------------------------------------- failures
def _assert_names_file(excinfo, path):
    msg = str(excinfo.value)
    assert str(path) in msg or path.name in msg, msg
    assert isinstance(excinfo.value, ValueError)


def test_missing_file_and_folder(tmp_path):
    missing = tmp_path / "nope.nii.gz"
    with pytest.raises(NiftiReadError, match="no such file") as exc:
        read_nifti(missing)
    _assert_names_file(exc, missing)
    folder = tmp_path / "dir.nii"
    folder.mkdir()
    with pytest.raises(NiftiReadError) as exc:
        read_nifti(folder)
    _assert_names_file(exc, folder)


@pytest.mark.parametrize("name", ["empty.nii", "empty.nii.gz"])
def test_empty_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(NiftiReadError, match="empty") as exc:
        read_nifti(path)
    _assert_names_file(exc, path)


def test_truncated_nii(tmp_path):
    path = _nib_save(tmp_path / "cut.nii", _volume(np.int16, shape=(16, 12, 8)))
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) - 500])
    with pytest.raises(NiftiReadError, match="truncated") as exc:
        read_nifti(path)
    _assert_names_file(exc, path)


def test_truncated_nii_gz(tmp_path):
    path = _nib_save(tmp_path / "cut.nii.gz", _volume(np.float32, shape=(16, 12, 8)))
    blob = path.read_bytes()
    path.write_bytes(blob[: int(len(blob) * 0.7)])
    with pytest.raises(NiftiReadError, match="truncated|corrupt") as exc:
        read_nifti(path)
    _assert_names_file(exc, path)


def test_gzip_of_whole_header_but_no_data(tmp_path):
    """A complete, valid gzip stream that simply holds too few bytes for the header's shape."""
    path = _raw_nifti(tmp_path / "short.nii.gz", _volume(np.int16), gz=True, with_data=False)
    with pytest.raises(NiftiReadError, match="truncated") as exc:
        read_nifti(path)
    _assert_names_file(exc, path)


def test_corrupt_gzip_body(tmp_path):
    path = _nib_save(tmp_path / "bad.nii.gz", _volume(np.float32, shape=(16, 12, 8)))
    blob = bytearray(path.read_bytes())
    mid = len(blob) // 2
    blob[mid : mid + 64] = bytes(64)  # zero a run in the middle of the deflate stream
    path.write_bytes(bytes(blob))
    with pytest.raises(NiftiReadError) as exc:
        read_nifti(path)
    _assert_names_file(exc, path)


@pytest.mark.parametrize("name", ["junk.nii", "junk.nii.gz"])
def test_garbage_file(tmp_path, name):
    junk = np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    junk = b"\x00\x00\x00\x07" + junk  # make sure the header size field is wrong
    path = tmp_path / name
    path.write_bytes(gzip.compress(junk) if name.endswith(".gz") else junk)
    with pytest.raises(NiftiReadError, match="not a NIfTI") as exc:
        read_nifti(path)
    _assert_names_file(exc, path)


def test_text_file_named_nii(tmp_path):
    path = tmp_path / "notes.nii"
    path.write_text("this is not an image\n" * 40)
    with pytest.raises(NiftiReadError) as exc:
        read_nifti(path)
    _assert_names_file(exc, path)


def test_gz_name_that_is_not_gzip(tmp_path):
    path = tmp_path / "plain.nii.gz"
    path.write_bytes(_nib_save(tmp_path / "plain.nii", _volume(np.int16)).read_bytes())
    with pytest.raises(NiftiReadError, match="gzip") as exc:
        read_nifti(path)
    _assert_names_file(exc, path)


def test_hdr_img_pair_header_is_explained(tmp_path):
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((2, 2, 2))
    hdr["magic"] = b"ni1"
    path = tmp_path / "pair.nii"
    path.write_bytes(hdr.binaryblock + bytes(16))
    with pytest.raises(NiftiReadError, match=r"\.hdr") as exc:
        read_nifti(path)
    _assert_names_file(exc, path)


def test_file_shorter_than_header(tmp_path):
    path = tmp_path / "tiny.nii"
    path.write_bytes(b"\x5c\x01\x00\x00" + bytes(100))  # sizeof_hdr 348, then nothing
    with pytest.raises(NiftiReadError, match="too short") as exc:
        read_nifti(path)
    _assert_names_file(exc, path)


@pytest.mark.parametrize(
    "version, dim, gz",
    [
        (2, [3, 100000, 100000, 100000, 1, 1, 1, 1], False),
        (2, [3, 100000, 100000, 100000, 1, 1, 1, 1], True),
        (1, [3, 32767, 32767, 32767, 1, 1, 1, 1], False),
        (1, [3, 32767, 32767, 32767, 1, 1, 1, 1], True),
    ],
)
def test_absurd_dims_refused_fast_without_allocation(tmp_path, version, dim, gz):
    path = _raw_nifti(
        tmp_path / ("absurd.nii.gz" if gz else "absurd.nii"),
        np.zeros((2, 2, 2), np.int16),
        version=version,
        dim=dim,
        gz=gz,
    )
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(NiftiReadError) as exc:
            read_nifti(path)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _assert_names_file(exc, path)
    assert "shape" in str(exc.value) or "dim" in str(exc.value)
    assert elapsed < 1.0
    assert peak < 5 * 1024**2, f"{peak / 1024**2:.1f} MB allocated before refusing"


@pytest.mark.parametrize("gz", [False, True])
def test_plausible_header_but_tiny_file_does_not_allocate_the_claim(tmp_path, gz):
    """A 2 GB claim in a tiny file is refused as truncated without allocating 2 GB."""
    path = _raw_nifti(
        tmp_path / ("big.nii.gz" if gz else "big.nii"),
        np.zeros((2, 2, 2), np.int16),
        dim=[3, 1024, 1024, 1024, 1, 1, 1, 1],
        gz=gz,
    )
    tracemalloc.start()
    try:
        with pytest.raises(NiftiReadError, match="truncated") as exc:
            read_nifti(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _assert_names_file(exc, path)
    assert peak < 5 * 1024**2


@pytest.mark.parametrize("dim", [[0, 4, 4, 4, 1, 1, 1, 1], [3, 4, 0, 4, 1, 1, 1, 1], [9, 4, 4, 4, 1, 1, 1, 1]])
def test_bad_dim_counts(tmp_path, dim):
    path = _raw_nifti(tmp_path / "dims.nii", np.zeros((4, 4, 4), np.int16), dim=dim)
    with pytest.raises(NiftiReadError) as exc:
        read_nifti(path)
    _assert_names_file(exc, path)


# -------------------------------------------------------------------------- header
def test_read_header_only(tmp_path):
    path = _nib_save(tmp_path / "h.nii.gz", _volume(np.int16, shape=(9, 8, 7)))
    hdr = read_header(path)
    assert hdr.get_data_shape() == (9, 8, 7)
    assert hdr.get_data_dtype() == np.int16
    np.testing.assert_allclose(hdr.get_best_affine(), nib.load(path).affine)


# --------------------------------------------------------------------------- write
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_write_round_trip_with_nibabel(tmp_path, suffix):
    data = _volume(np.int16)
    out = write_nifti(tmp_path / f"w{suffix}", data, AFFINE)
    ref = nib.load(out)
    np.testing.assert_array_equal(np.asanyarray(ref.dataobj), data)
    assert ref.get_data_dtype() == np.int16
    np.testing.assert_allclose(ref.affine, AFFINE, atol=1e-5)
    assert not list(tmp_path.glob(".liverct-*"))  # no temporary left behind


def test_write_refuses_to_overwrite_source(tmp_path):
    src = _nib_save(tmp_path / "src.nii.gz", _volume(np.int16))
    before = _digest(src)
    with pytest.raises(ValueError, match="src.nii.gz"):
        write_nifti(src, np.zeros((2, 2, 2), np.int16), AFFINE, protected=(src,))
    assert _digest(src) == before
