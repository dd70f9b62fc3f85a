"""Read and write NIfTI-1/2 volumes fast and safely, keeping the stored dtype.

``read_nifti`` validates the header before anything large is allocated, memory-maps
``.nii`` files and inflates ``.nii.gz`` by streaming it through ISA-L (the ``isal``
package, as fast as libdeflate and about twice as fast as zlib) into one
preallocated buffer that the array then views, so a compressed volume costs one
decompressed copy in memory (libdeflate, then the standard library, are fallbacks).  ``write_nifti`` writes
atomically (temporary file, then rename) and never overwrites an input file unless
asked to.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.imageglobals import LoggingOutputSuppressor

from ..outputs.units import atomic_write
from .nifti_checks import NiftiReadError
from .nifti_checks import affine_from_header as _affine_from_header
from .nifti_checks import checked_path as _checked_path
from .nifti_checks import fail as _fail
from .nifti_inflate import _MAX_DEFLATE_RATIO, ONE_SHOT_MAX_RATIO  # noqa: F401 - re-exported
from .nifti_inflate import inflate_one_shot as _inflate_one_shot
from .nifti_inflate import inflate_rest as _inflate_rest
from .volume import Volume

__all__ = [
    "NiftiReadError",
    "NiftiVolume",
    "is_nifti_path",
    "nifti_stem",
    "read_nifti",
    "read_header",
    "write_nifti",
    "atomic_write",
    "MAX_BYTES",
    "MAX_HEADER_BYTES",
]

#: Largest decompressed volume we agree to allocate (bytes); a header claiming more is
#: refused before any allocation.  64 GiB is far beyond any CT and below absurd.
MAX_BYTES = int(os.environ.get("LIVERCT_MAX_BYTES", 64 * 1024**3))

_NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti_path(path: str | os.PathLike) -> bool:
    """True for ``.nii`` / ``.nii.gz`` names in any letter case (no file access)."""
    name = str(path).lower()
    return name.endswith(_NIFTI_SUFFIXES)


def nifti_stem(path: str | os.PathLike) -> str:
    """File name without ``.nii`` / ``.nii.gz`` (case-insensitive)."""
    name = Path(path).name
    low = name.lower()
    for suf in (".nii.gz", ".nii"):
        if low.endswith(suf):
            return name[: -len(suf)]
    return Path(name).stem


class NiftiVolume(Volume):
    """A NIfTI volume as stored on disk: array in file axis order, its RAS affine and nibabel's header."""

    header: nib.Nifti1Header


#: Most bytes of header + extensions we agree to read before the data (TotalSegmentator
#: writes about 13 kB, Workbench and AFNI a few kB; 64 MiB is far beyond any of them).
MAX_HEADER_BYTES = 64 * 1024**2
_HEADER_KLASS = {348: nib.Nifti1Header, 540: nib.Nifti2Header}


def _open_stream(path: Path):
    """A binary stream of the file's NIfTI bytes: raw, or inflated (any number of gzip members)."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if path.name.lower().endswith(".gz") and not gz:
        raise _fail(path, "named .nii.gz but not gzip-compressed")
    if gz:
        from isal import igzip

        return igzip.open(path, "rb"), True
    return open(path, "rb"), False


def _read_exact(path: Path, fh, n: int, what: str) -> bytes:
    try:
        out = fh.read(n)
    except Exception as exc:  # EOFError, BadGzipFile, zlib.error, IsalError
        raise _fail(path, f"the gzip stream is truncated or corrupt ({exc})") from exc
    if len(out) < n:
        raise _fail(path, f"the file is too short to hold {what} ({len(out)} of {n} bytes)")
    return out


def _header_from_stream(path: Path, fh, file_size: int, gz: bool):
    """Parse header and extensions exactly as ``nib.load`` does (``from_fileobj``, check=True).

    The raw ``vox_offset`` is validated first, so a corrupt header can neither make us
    read gigabytes of "extensions" nor read header bytes as voxels.  Returns the header,
    the number of bytes consumed from the stream and the header's pixdim as stored
    (nibabel's check turns a zero voxel size into 1 and a negative one positive;
    :func:`~napari_liverct.volumes.nifti_checks.affine_from_header` needs the stored values).
    """
    first = _read_exact(path, fh, 348, "a NIfTI header")
    size_le, size_be = struct.unpack("<i", first[:4])[0], struct.unpack(">i", first[:4])[0]
    sizes = (size_le, size_be)
    if first[344:348].rstrip(b"\x00") in (b"n+1", b"ni1"):
        # a NIfTI-1 magic wins over the size field, as in nib.load (which tries
        # Nifti1Image first and fixes a wrong sizeof_hdr, 540 included)
        hsize = 348
    else:
        hsize = 540 if 540 in sizes else 348 if 348 in sizes else None
    if hsize is None:
        raise _fail(path, "not a NIfTI file (the header size field is neither 348 nor 540)")
    klass = _HEADER_KLASS[hsize]
    head = first + (_read_exact(path, fh, hsize - 348, "a NIfTI-2 header") if hsize > 348 else b"")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = klass(head, check=False)
    except Exception as exc:  # nibabel raises several types for garbage headers
        raise _fail(path, f"the NIfTI header is corrupt ({exc})") from exc
    magic = bytes(raw["magic"]).rstrip(b"\x00")
    if magic not in (b"n+1", b"n+2", b"ni1", b"ni2"):
        raise _fail(
            path,
            f"not a NIfTI file: its header size field says {hsize} (NIfTI-{1 if hsize == 348 else 2}) "
            f"but the NIfTI-{1 if hsize == 348 else 2} magic is missing (found {magic!r})",
        )
    vox = float(raw["vox_offset"])
    if not np.isfinite(vox) or vox < 0:
        raise _fail(path, f"the header's vox_offset ({vox:g}) is invalid")
    limit = min(MAX_HEADER_BYTES, file_size * (_MAX_DEFLATE_RATIO if gz else 1) + 1024)
    if vox > limit:
        raise _fail(path, f"the header's vox_offset ({vox:g}) points beyond the data the file can hold")
    # nibabel reads extensions up to vox_offset and moves a too-small offset (1..351) to 352
    rest = _read_exact(path, fh, 4, "the NIfTI extension flag")
    end = hsize + 4
    if rest[:1] != b"\x00":  # extensions follow: read them up to vox_offset, as nibabel does
        end = max(int(vox), end)
        rest += _read_exact(path, fh, end - hsize - 4, "the header extensions")
    try:
        # nibabel's header fixes are logged (pixdim 0 -> 1 ...); the reader says what matters itself
        with warnings.catch_warnings(), LoggingOutputSuppressor():
            warnings.simplefilter("ignore")
            hdr = klass.from_fileobj(io.BytesIO(head + rest))  # check=True, as nib.load
    except Exception as exc:  # HeaderDataError, ValueError, struct.error ...
        raise _fail(path, f"the NIfTI header is corrupt ({exc})") from exc
    if hdr.get_data_offset() < hsize + 4:  # 0: nibabel would read the header as voxels
        if magic in (b"ni1", b"ni2"):
            raise _fail(path, "this is the header of a .hdr/.img pair; open the .hdr/.img files instead")
        raise _fail(
            path,
            f"the header's vox_offset ({vox:g}) is invalid: the data of a single-file NIfTI "
            f"starts at byte {hsize + 4} or later",
        )
    return hdr, end, np.array(raw["pixdim"], dtype=float)


def _check_dims(path: Path, hdr) -> tuple[tuple[int, ...], np.dtype, int, int]:
    """Validate shape and dtype; return (shape, dtype, data offset, data bytes)."""
    dim = hdr["dim"]
    ndim = int(dim[0])
    if not 1 <= ndim <= 7:
        raise _fail(path, f"the header claims {ndim} dimensions (must be 1 to 7)")
    shape = tuple(int(d) for d in dim[1 : ndim + 1])
    if any(d <= 0 for d in shape):
        raise _fail(path, f"the header claims an empty or negative shape {shape}")
    intent = int(hdr["intent_code"])
    if 3000 <= intent < 3100:
        raise _fail(path, f"this is a CIFTI-2 file (intent code {intent}): grayordinate data, not a volume")
    code = int(hdr["datatype"])
    try:
        dtype = hdr.get_data_dtype()
    except Exception as exc:
        raise _fail(path, f"unsupported data type code {code}") from exc
    if dtype.fields is not None or dtype.kind in "cV" or dtype.itemsize == 0:
        raise _fail(path, f"voxels of data type code {code} ({dtype}) are not supported (RGB, complex, bit or unknown)")
    if dtype.kind == "f" and dtype.itemsize > 8:
        raise _fail(path, f"128-bit float voxels (data type code {code}) are not supported")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if nbytes > MAX_BYTES:
        raise _fail(
            path,
            f"the header claims a volume of shape {shape} ({nbytes / 1024**3:.1f} GiB), "
            f"larger than the {MAX_BYTES / 1024**3:.0f} GiB limit; the header is probably corrupt",
        )
    offset = int(hdr.get_data_offset())
    return shape, dtype, offset, nbytes


def read_header(path: str | os.PathLike):
    """Read and validate only the header and its extensions (no voxel data is read)."""
    path, size = _checked_path(path)
    fh, gz = _open_stream(path)
    with fh:
        hdr, _, pixdim = _header_from_stream(path, fh, size, gz)
    _check_dims(path, hdr)
    _affine_from_header(path, hdr, pixdim)  # the same refusals as read_nifti (spacing, affine)
    return hdr


def _integer_target(dtype: np.dtype, slope: float, inter: float) -> np.dtype | None:
    """Smallest integer dtype that provably holds ``x * slope + inter`` for every x of dtype.

    Only for integer data with integer slope and intercept, and only when every result
    is exact in float64 too (|v| <= 2**53), so values equal nibabel's float result.
    """
    if dtype.kind not in "iu" or not (float(slope).is_integer() and float(inter).is_integer()):
        return None
    info = np.iinfo(dtype)
    s, i = int(slope), int(inter)
    cands = [info.min * s, info.max * s, info.min * s + i, info.max * s + i, info.min, info.max]
    lo, hi = min(cands), max(cands)
    if max(abs(lo), abs(hi)) > 2**53:
        return None
    for cand in (np.int16, np.int32, np.int64):
        ci = np.iinfo(cand)
        if ci.min <= lo and hi <= ci.max and np.dtype(cand).itemsize >= dtype.itemsize:
            return np.dtype(cand)
    return None


def _apply_scaling(path: Path, hdr, data: np.ndarray) -> tuple[np.ndarray, bool]:
    """Apply scl_slope/scl_inter exactly as ``np.asanyarray(nib.load(f).dataobj)`` does.

    Integer data with an integer slope and intercept stays integer when the result
    provably fits (same values as nibabel's float64, less memory); everything else goes
    through nibabel's own ``apply_read_scaling``.
    """
    from nibabel.volumeutils import apply_read_scaling

    try:
        slope, inter = hdr.get_slope_inter()
    except Exception as exc:  # HeaderDataError: valid slope but invalid intercept
        raise _fail(path, f"the header's scaling is invalid ({exc})") from exc
    s = 1.0 if slope is None else float(slope)
    i = 0.0 if inter is None else float(inter)
    if (s, i) == (1.0, 0.0):
        return data, False
    target = _integer_target(data.dtype, s, i)
    if target is not None:
        out = data.astype(target)
        if s != 1.0:
            out *= target.type(int(s))
        if i != 0.0:
            out += target.type(int(i))
        return out, True
    with np.errstate(over="ignore", invalid="ignore"):
        out = apply_read_scaling(data, np.asanyarray(slope), np.asanyarray(inter))
    return out, True


def read_nifti(path: str | os.PathLike, *, mmap: bool = True) -> NiftiVolume:
    """Read a NIfTI file into its stored array and RAS affine, as nibabel reads it.

    The header, its extensions, the affine (sform, qform or pixdim) and the scaling
    come from nibabel's own code, so ``data`` equals ``np.asanyarray(nib.load(f).dataobj)``
    and ``affine`` equals ``nib.load(f).affine``; what this adds is validation before
    any large allocation, one preallocated inflate buffer, memory-mapped ``.nii`` and
    errors that name the file.

    Parameters
    ----------
    path
        ``.nii`` or ``.nii.gz`` file.
    mmap
        Memory-map uncompressed ``.nii`` files (default).

    Returns
    -------
    NiftiVolume
        ``data`` in file axis order, at least three axes, native byte order; the
        stored dtype unless scl_slope/scl_inter are set and not identity.

    Raises
    ------
    NiftiReadError
        With the file name and the problem: missing, empty, truncated, corrupt,
        non-NIfTI, a header claiming absurd dimensions, an unusable affine.
    """
    path, size = _checked_path(path)
    fh, gz = _open_stream(path)
    with fh:
        hdr, consumed, pixdim = _header_from_stream(path, fh, size, gz)
        shape, dtype, offset, nbytes = _check_dims(path, hdr)
        affine = _affine_from_header(path, hdr, pixdim)
        if gz:
            if nbytes > size * _MAX_DEFLATE_RATIO + 1024:
                raise _fail(
                    path,
                    f"the data is truncated: {size} compressed bytes cannot hold the "
                    f"{nbytes} bytes the header needs (shape {shape})",
                )
            buf = _inflate_one_shot(path, size, offset, nbytes)
            if buf is None:
                _read_exact(path, fh, offset - consumed, "the bytes before the data")
                buf = _inflate_rest(path, fh, nbytes)
            data = np.frombuffer(buf, dtype=dtype, count=int(np.prod(shape))).reshape(shape, order="F")
        elif size < offset + nbytes:
            raise _fail(path, f"the data is truncated: the file has {size} bytes, the header needs {offset + nbytes}")
        elif mmap:
            data = np.memmap(path, dtype=dtype, mode="c", offset=offset, shape=shape, order="F")
        else:
            fh.seek(offset)
            data = np.fromfile(fh, dtype=dtype, count=int(np.prod(shape))).reshape(shape, order="F")
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    data, scaled = _apply_scaling(path, hdr, data)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    while data.ndim < 3:
        data = data[..., np.newaxis]
    return NiftiVolume(data=data, affine=affine, header=hdr, path=path, scaled=scaled)


def write_nifti(
    path: str | os.PathLike,
    data: np.ndarray,
    affine: np.ndarray,
    *,
    header: nib.Nifti1Header | None = None,
    protected: tuple[str | os.PathLike, ...] = (),
    overwrite_source: bool = False,
    defer: bool = False,
):
    """Write ``data`` with ``affine`` atomically to ``path``.

    Parameters
    ----------
    path
        Destination ``.nii`` or ``.nii.gz``.
    data, affine
        Array in file axis order and its voxel-to-RAS affine.
    header
        Template header (descrip, intent, units are kept; geometry is replaced).
    protected
        Paths that must not be written over (the files the data was read from),
        unless ``overwrite_source`` is true.
    defer
        Check and prepare only; return ``(path, write)`` for
        :func:`napari_liverct.outputs.group.atomic_write_group`.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    if not is_nifti_path(path):
        raise ValueError(f"Cannot save {path}: the name must end in .nii or .nii.gz")
    if not overwrite_source:
        for src in protected:
            if src and path.exists() and Path(src).exists() and os.path.samefile(path, src):
                raise ValueError(
                    f"Refusing to overwrite {path}: it is the file this layer was read from. "
                    "Save under another name (or pass overwrite_source=True)."
                )
    # a template from another format (a DICOM/NRRD header summary) carries nothing NIfTI keeps
    hdr = header.copy() if isinstance(header, nib.Nifti1Header) else None
    if isinstance(hdr, nib.Nifti2Header):
        img = nib.Nifti2Image(data, affine, header=hdr)
    else:
        img = nib.Nifti1Image(data, affine, header=hdr)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    img.header.set_data_dtype(data.dtype)
    img.header.set_slope_inter(1.0, 0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    if defer:  # the caller writes it, e.g. with others as one unit (output_group)
        return path, lambda tmp: nib.save(img, tmp)
    atomic_write(path, lambda tmp: nib.save(img, tmp))
    return path
