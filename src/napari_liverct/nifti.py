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
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

__all__ = [
    "NiftiReadError",
    "NiftiVolume",
    "is_nifti_path",
    "nifti_stem",
    "read_nifti",
    "read_header",
    "write_nifti",
    "MAX_BYTES",
]

#: Largest decompressed volume we agree to allocate (bytes); a header claiming more is
#: refused before any allocation.  64 GiB is far beyond any CT and below absurd.
MAX_BYTES = int(os.environ.get("LIVERCT_MAX_BYTES", 64 * 1024**3))

_NIFTI_SUFFIXES = (".nii", ".nii.gz")


class NiftiReadError(ValueError):
    """A file could not be read as NIfTI; the message names the file and the problem."""


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


@dataclass
class NiftiVolume:
    """A volume as stored on disk: array in file axis order, and its RAS affine."""

    data: np.ndarray
    affine: np.ndarray
    header: nib.Nifti1Header
    path: Path
    scaled: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def spatial_shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape[:3])  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]


def _fail(path, problem: str) -> NiftiReadError:
    return NiftiReadError(f"Cannot open {path}: {problem}")


def _parse_header(path: Path, head: bytes):
    """Parse a NIfTI-1 or NIfTI-2 header from its first bytes, with clear errors."""
    if len(head) < 348:
        raise _fail(path, f"file is too short to hold a NIfTI header ({len(head)} bytes)")
    size_le = struct.unpack("<i", head[:4])[0]
    size_be = struct.unpack(">i", head[:4])[0]
    if 348 in (size_le, size_be):
        klass = nib.Nifti1Header
    elif 540 in (size_le, size_be):
        klass = nib.Nifti2Header
        if len(head) < 540:
            raise _fail(path, "file is too short to hold a NIfTI-2 header")
    else:
        raise _fail(path, "not a NIfTI file (the header size field is neither 348 nor 540)")
    try:
        hdr = klass.from_fileobj(io.BytesIO(head), check=False)
    except Exception as exc:  # nibabel raises several types for garbage headers
        raise _fail(path, f"the NIfTI header is corrupt ({exc})") from exc
    magic = bytes(hdr["magic"]).rstrip(b"\x00")
    if magic not in (b"n+1", b"n+2"):
        if magic in (b"ni1", b"ni2"):
            raise _fail(path, "this is the header of a .hdr/.img pair; open the .hdr/.img files instead")
        raise _fail(path, f"not a NIfTI file (magic {magic!r})")
    return hdr


def _check_dims(path: Path, hdr) -> tuple[tuple[int, ...], np.dtype, int, int]:
    """Validate shape and dtype; return (shape, dtype, data offset, data bytes)."""
    dim = hdr["dim"]
    ndim = int(dim[0])
    if not 1 <= ndim <= 7:
        raise _fail(path, f"the header claims {ndim} dimensions (must be 1 to 7)")
    shape = tuple(int(d) for d in dim[1 : ndim + 1])
    if any(d <= 0 for d in shape):
        raise _fail(path, f"the header claims an empty or negative shape {shape}")
    try:
        dtype = hdr.get_data_dtype()
    except Exception as exc:
        raise _fail(path, f"unsupported data type code {int(hdr['datatype'])}") from exc
    if dtype.fields is not None or dtype.kind == "c":
        raise _fail(path, f"RGB/complex voxels ({dtype}) are not supported")
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
    """Read and validate only the header (no data is inflated beyond the header)."""
    path = Path(path)
    with open(path, "rb") as fh:
        raw = fh.read(4)
        fh.seek(0)
        if raw[:2] == b"\x1f\x8b":
            head = zlib.decompressobj(wbits=31).decompress(fh.read(64 * 1024), 1024)
        else:
            head = fh.read(1024)
    return _parse_header(path, head)


#: deflate cannot expand more than 1032:1, so a header claiming more than this many
#: bytes per compressed byte describes a truncated file (refused before allocating).
_MAX_DEFLATE_RATIO = 1032
_STEP = 1 << 20


def _inflate(path: Path, need: int) -> np.ndarray:
    """Inflate the first ``need`` bytes of a gzip file into one preallocated buffer.

    With ISA-L (``isal``) the stream is inflated 1 MiB at a time straight into the
    buffer, as fast as libdeflate but without holding the compressed file in memory
    (peak = the volume).  Without it, libdeflate (whole file in memory, peak = volume
    + compressed size), then the standard library (streaming, about 2x slower).
    """
    try:
        from isal import igzip as gz  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - exercised only without the extra
        gz = None
    if gz is None:
        try:
            import deflate  # type: ignore[import-not-found]
        except ImportError:  # pragma: no cover
            deflate = None
        if deflate is not None:
            raw = path.read_bytes()
            isize = struct.unpack("<I", raw[-4:])[0]
            if need < 2**32 and isize >= need:
                try:
                    out = deflate.gzip_decompress(raw)
                    if len(out) >= need:
                        return np.frombuffer(out, dtype=np.uint8)
                except Exception:  # noqa: BLE001 - the streaming path gives a precise error
                    pass
            del raw
        import gzip as gz
    # A bytearray, not np.empty: numpy asks for transparent huge pages on big
    # buffers, and the kernel's compaction for them made inflating 0.4-1.2 s instead
    # of a steady 0.55 s here.  calloc'd pages are committed only when written, so a
    # corrupt header's claim costs nothing until data actually arrives.
    out = bytearray(need)
    view = memoryview(out)
    pos = 0
    try:
        with gz.open(path, "rb") as fh:
            while pos < need:
                n = fh.readinto(view[pos : pos + _STEP])
                if not n:
                    break
                pos += n
            while pos == need and fh.read(_STEP):  # reach the end: checks CRC and length
                pass
    except MemoryError:
        raise
    except Exception as exc:  # EOFError, BadGzipFile, zlib.error, IsalError
        raise _fail(path, f"the gzip stream is truncated or corrupt ({exc})") from exc
    if pos < need:
        raise _fail(path, f"the data is truncated: {pos} bytes inflated, the header needs {need}")
    return np.frombuffer(out, dtype=np.uint8)


def _apply_scaling(hdr, data: np.ndarray) -> tuple[np.ndarray, bool]:
    """Apply scl_slope/scl_inter only when present and not identity."""
    slope, inter = hdr.get_slope_inter()
    slope = 1.0 if slope is None or not np.isfinite(slope) or slope == 0 else float(slope)
    inter = 0.0 if inter is None or not np.isfinite(inter) else float(inter)
    if slope == 1.0 and inter == 0.0:
        return data, False
    if float(slope).is_integer() and float(inter).is_integer() and data.dtype.kind in "iu":
        out = data.astype(np.int32) * int(slope) + int(inter)
        lo, hi = (out.min(), out.max()) if out.size else (0, 0)
        for cand in (np.int16, np.int32):
            info = np.iinfo(cand)
            if info.min <= lo and hi <= info.max:
                return out.astype(cand, copy=False), True
        return out.astype(np.int64), True
    return (data.astype(np.float32) * np.float32(slope) + np.float32(inter)), True


def read_nifti(path: str | os.PathLike, *, mmap: bool = True) -> NiftiVolume:
    """Read a NIfTI file into its stored array and RAS affine.

    Parameters
    ----------
    path
        ``.nii`` or ``.nii.gz`` file.
    mmap
        Memory-map uncompressed ``.nii`` files (default).

    Returns
    -------
    NiftiVolume
        ``data`` keeps the stored dtype unless scl_slope/scl_inter are set and not
        identity; its axes are in file order, at least three of them.

    Raises
    ------
    NiftiReadError
        With the file name and the problem: missing, empty, truncated, corrupt,
        non-NIfTI, or a header claiming absurd dimensions.
    """
    path = Path(path)
    if not path.exists():
        raise _fail(path, "no such file")
    if path.is_dir():
        raise _fail(path, "this is a folder, not a NIfTI file")
    size = path.stat().st_size
    if size == 0:
        raise _fail(path, "the file is empty (0 bytes)")
    with open(path, "rb") as fh:
        magic = fh.read(2)
    gz = magic == b"\x1f\x8b"
    if path.name.lower().endswith(".gz") and not gz:
        raise _fail(path, "named .nii.gz but not gzip-compressed")

    if gz:
        with open(path, "rb") as fh:
            start = fh.read(64 * 1024)
        try:
            head = zlib.decompressobj(wbits=31).decompress(start, 1024)
        except zlib.error as exc:
            raise _fail(path, f"the gzip stream is corrupt ({exc})") from exc
        hdr = _parse_header(path, head)
        shape, dtype, offset, nbytes = _check_dims(path, hdr)
        need = offset + nbytes
        if need > size * _MAX_DEFLATE_RATIO + 1024:
            raise _fail(
                path, f"the data is truncated: {size} compressed bytes cannot hold the "
                f"{need} bytes the header needs (shape {shape})"
            )
        buf = _inflate(path, need)
        data = np.frombuffer(buf, dtype=dtype, count=int(np.prod(shape)), offset=offset)
        data = data.reshape(shape, order="F")
    else:
        with open(path, "rb") as fh:
            head = fh.read(1024)
        hdr = _parse_header(path, head)
        shape, dtype, offset, nbytes = _check_dims(path, hdr)
        if size < offset + nbytes:
            raise _fail(
                path, f"the data is truncated: the file has {size} bytes, the header needs {offset + nbytes}"
            )
        if mmap:
            data = np.memmap(path, dtype=dtype, mode="c", offset=offset, shape=shape, order="F")
        else:
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = np.fromfile(fh, dtype=dtype, count=int(np.prod(shape))).reshape(shape, order="F")

    data, scaled = _apply_scaling(hdr, data)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    while data.ndim < 3:
        data = data[..., np.newaxis]
    affine = _affine_from_header(path, hdr)
    return NiftiVolume(data=data, affine=affine, header=hdr, path=path, scaled=scaled)


def _affine_from_header(path: Path, hdr) -> np.ndarray:
    """The best voxel-to-RAS affine (sform, else qform, else pixdim), finite or refused."""
    try:
        affine = hdr.get_best_affine()
    except Exception as exc:
        raise _fail(path, f"the header's affine is invalid ({exc})") from exc
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        zooms = np.abs(np.asarray(hdr.get_zooms()[:3], float))
        zooms[~np.isfinite(zooms) | (zooms == 0)] = 1.0
        affine = np.diag([*zooms, 1.0])
    return np.asarray(affine, dtype=float)


def write_nifti(
    path: str | os.PathLike,
    data: np.ndarray,
    affine: np.ndarray,
    *,
    header: nib.Nifti1Header | None = None,
    protected: tuple[str | os.PathLike, ...] = (),
    overwrite_source: bool = False,
) -> Path:
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
    hdr = header.copy() if header is not None else None
    if isinstance(hdr, nib.Nifti2Header):
        img = nib.Nifti2Image(data, affine, header=hdr)
    else:
        img = nib.Nifti1Image(data, affine, header=hdr)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    img.header.set_data_dtype(data.dtype)
    img.header.set_slope_inter(1.0, 0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = ".nii.gz" if path.name.lower().endswith(".gz") else ".nii"
    fd, tmp = tempfile.mkstemp(prefix=".liverct-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        nib.save(img, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
