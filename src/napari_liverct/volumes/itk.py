"""NRRD (``.nrrd``, ``.nhdr``) and MetaImage (``.mha``, ``.mhd``) through SimpleITK.

SimpleITK keeps geometry in LPS (origin, spacing, direction cosines) and its arrays
in (z, y, x) order; the volume here is the (x, y, z) transpose of that array (a view,
no copy) with the RAS affine ``diag(-1, -1, 1) @ [direction @ diag(spacing) | origin]``,
the convention nibabel and the NIfTI reader use.  The header is read first, so a
file claiming an absurd size is refused before anything is allocated.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .volume import HeaderSummary, Volume, fail

__all__ = ["ITK_SUFFIXES", "is_itk_path", "read_itk", "lps_to_ras", "itk_affine"]

ITK_SUFFIXES = {".nrrd": "NRRD", ".nhdr": "NRRD", ".mha": "MetaImage", ".mhd": "MetaImage"}

#: LPS <-> RAS (its own inverse)
lps_to_ras = np.diag([-1.0, -1.0, 1.0, 1.0])


def is_itk_path(path: str | os.PathLike) -> bool:
    """True for .nrrd / .nhdr / .mha / .mhd names in any letter case (no file access)."""
    return Path(path).suffix.lower() in ITK_SUFFIXES


def itk_affine(origin, spacing, direction) -> np.ndarray:
    """Voxel (x, y, z) to RAS mm affine of an ITK image's origin, spacing and direction (LPS)."""
    n = len(origin)
    d = np.eye(3)
    d[:n, :n] = np.asarray(direction, float).reshape(n, n)
    lps = np.eye(4)
    lps[:3, :3] = d @ np.diag(list(spacing) + [1.0] * (3 - n))
    lps[:n, 3] = origin
    return lps_to_ras @ lps


def read_itk(path: str | os.PathLike) -> Volume:
    """Read an NRRD or MetaImage file into a :class:`Volume` (stored dtype, RAS affine).

    Raises
    ------
    VolumeReadError
        With the file name and the problem (missing, unreadable by SimpleITK, a
        multi-component image, a size beyond the reader's limit, unusable geometry).
    """
    import SimpleITK as sitk

    from .nifti import MAX_BYTES

    path = Path(path)
    if not path.is_file():
        raise fail(path, "no such file" if not path.exists() else "not a regular file")
    fmt = ITK_SUFFIXES.get(path.suffix.lower(), "ITK image")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise fail(path, f"SimpleITK cannot read it as {fmt} ({str(exc).strip().splitlines()[-1]})") from exc
    size = tuple(int(v) for v in reader.GetSize())
    ncomp = int(reader.GetNumberOfComponents())
    if ncomp != 1:
        raise fail(path, f"it holds {ncomp} components per voxel (vector/RGB image); only scalar volumes are read")
    if len(size) > 3:
        raise fail(path, f"it has {len(size)} dimensions {size}; only 2D and 3D images are read")
    itemsize = np.dtype(sitk.GetArrayFromImage(sitk.Image([1] * len(size), reader.GetPixelID())).dtype).itemsize
    nbytes = int(np.prod(size, dtype=object)) * itemsize
    if nbytes > MAX_BYTES:
        raise fail(path, f"the header claims an image of size {size} ({nbytes / 1024**3:.1f} GiB), beyond the limit")
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise fail(path, f"the data cannot be read ({str(exc).strip().splitlines()[-1]})") from exc
    affine = itk_affine(img.GetOrigin(), img.GetSpacing(), img.GetDirection())
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise fail(path, "its origin, spacing or direction is not usable (non-finite or singular)")
    data = sitk.GetArrayFromImage(img).T  # (x, y, z): a transposed view of SimpleITK's (z, y, x) copy
    while data.ndim < 3:
        data = data[..., np.newaxis]
    keys = {k: img.GetMetaData(k) for k in img.GetMetaDataKeys()}
    fields = {
        "format": fmt,
        "dimensions": list(data.shape),
        "spacing (mm)": [round(float(v), 6) for v in img.GetSpacing()],
        "origin (LPS mm)": [round(float(v), 4) for v in img.GetOrigin()],
        "direction (LPS)": [round(float(v), 6) for v in img.GetDirection()],
        "pixel type": img.GetPixelIDTypeAsString(),
    }
    for key in ("NRRD_space", "NRRD_type", "NRRD_encoding", "ElementType", "CompressedData", "AnatomicalOrientation"):
        if key in keys:
            fields[key] = keys[key]
    return Volume(data=data, affine=affine, header=HeaderSummary(fmt, fields), path=path)
