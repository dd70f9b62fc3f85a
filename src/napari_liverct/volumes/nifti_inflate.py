"""Inflating a ``.nii.gz`` into one preallocated buffer (split from :mod:`napari_liverct.volumes.nifti`).

:func:`inflate_rest` streams through ISA-L a few MiB at a time (peak = the volume);
:func:`inflate_one_shot` inflates a highly compressible single-member file in one
libdeflate call.  Both check every gzip member's CRC and length.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from .nifti_checks import fail as _fail

__all__ = ["inflate_rest", "inflate_one_shot", "ONE_SHOT_MAX_RATIO"]


#: deflate cannot expand more than 1032:1, so a header claiming more than this many
#: bytes per compressed byte describes a truncated file (refused before allocating).
_MAX_DEFLATE_RATIO = 1032
_STEP = 4 << 20


def inflate_rest(path: Path, fh, nbytes: int) -> np.ndarray:
    """Inflate the next ``nbytes`` of an open gzip stream into one preallocated buffer.

    ISA-L (``isal``) inflates straight into the buffer a few MiB at a time, so the
    compressed file is never held in memory (peak = the volume).  Reading on to the end
    checks every member's CRC and length, which nibabel does not.
    """
    # A bytearray, not np.empty: numpy asks for transparent huge pages on big
    # buffers, and the kernel's compaction for them made inflating 0.4-1.2 s instead
    # of a steady 0.55 s here.  calloc'd pages are committed only when written, so a
    # corrupt header's claim costs nothing until data actually arrives.
    out = bytearray(nbytes)
    view = memoryview(out)
    pos = 0
    try:
        while pos < nbytes:
            n = fh.readinto(view[pos : pos + _STEP])
            if not n:
                break
            pos += n
        while pos == nbytes and fh.read(_STEP):  # reach the end: checks CRC and length
            pass
    except MemoryError:
        raise
    except Exception as exc:  # EOFError, BadGzipFile, zlib.error, IsalError
        raise _fail(path, f"the gzip stream is truncated or corrupt ({exc})") from exc
    if pos < nbytes:
        raise _fail(path, f"the data is truncated: {pos} bytes inflated, the header needs {nbytes}")
    return np.frombuffer(out, dtype=np.uint8)


#: One-shot libdeflate is used when the compressed file is at most this share of the
#: volume: the compressed bytes and the volume are then both in memory, peak <= 1.25x.
ONE_SHOT_MAX_RATIO = 0.25


def inflate_one_shot(path: Path, size: int, offset: int, nbytes: int) -> np.ndarray | None:
    """Inflate a highly compressible single-member gzip in one libdeflate call.

    On mostly-air CT (gzip ratio >= 4) this is the fastest inflater measured here
    (benchmarks/bench_reader.py --kind air); on noisy CT, ISA-L streaming is as fast
    and needs no copy of the compressed file, so it is used there.  Returns the
    data bytes, or None to stream instead (ratio too low, several gzip members,
    volume over 4 GiB).
    """
    total = offset + nbytes
    if size > ONE_SHOT_MAX_RATIO * nbytes or total >= 2**32:
        return None
    try:
        import deflate
    except ImportError:  # pragma: no cover - deflate is a dependency
        return None
    with open(path, "rb") as fh:
        fh.seek(-4, os.SEEK_END)
        isize = struct.unpack("<I", fh.read(4))[0]
    if isize < total:  # several members (bgzip, pigz -i) or trailing data: stream
        return None
    raw = path.read_bytes()
    try:
        out = deflate.gzip_decompress(raw)
    except Exception:  # noqa: BLE001 - the streaming path gives the precise error
        return None
    finally:
        del raw
    if len(out) < total:
        return None
    return np.frombuffer(out, dtype=np.uint8, count=nbytes, offset=offset)
