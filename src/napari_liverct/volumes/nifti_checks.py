"""The NIfTI reader's checks on a path and on a header's affine, and its error type.

Split from :mod:`napari_liverct.volumes.nifti` (which re-exports :class:`NiftiReadError`):

* :func:`checked_path`: the file exists and is a non-empty regular file; a symlink loop,
  a broken symlink, a folder, an unreadable file and one half of an image/labels pair
  whose write was interrupted (:func:`napari_liverct.outputs.group.incomplete_group`) are
  each refused with their own message naming the file;
* :func:`affine_from_header`: nibabel's affine when it is usable, else the qform with a
  warning, else a refusal (:func:`affine_problem` says what "usable" means).
"""

from __future__ import annotations

import errno
import os
import stat
import warnings
from pathlib import Path

import numpy as np

__all__ = [
    "NiftiReadError",
    "fail",
    "checked_path",
    "affine_problem",
    "affine_from_header",
    "spacing_problem",
    "MAX_AFFINE_MM",
]

#: Largest magnitude (mm) of any entry of a usable affine: 1 km per voxel or 1 km from
#: the scanner's origin is far beyond any medical image; a header with 1e30 holds garbage.
MAX_AFFINE_MM = 1e6


class NiftiReadError(ValueError):
    """A file could not be read as NIfTI; the message names the file and the problem."""


def fail(path, problem: str) -> NiftiReadError:
    """The reader's error for ``path``: ``Cannot open PATH: PROBLEM``."""
    return NiftiReadError(f"Cannot open {path}: {problem}")


def checked_path(path: str | os.PathLike) -> tuple[Path, int]:
    """``(path, size in bytes)`` of a readable, non-empty NIfTI candidate, or :class:`NiftiReadError`."""
    from ..outputs.group import incomplete_group

    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise fail(
                path, "symlink loop (following its symbolic links leads back to a link already followed)"
            ) from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR) and os.path.islink(path):
            raise fail(path, f"broken symlink (it points to {os.readlink(path)}, which does not exist)") from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise fail(path, "no such file") from None
        if exc.errno == errno.ENAMETOOLONG:
            raise fail(path, "the file name is too long for the file system") from None
        raise fail(path, exc.strerror or str(exc)) from None
    if stat.S_ISDIR(st.st_mode):
        raise fail(path, "this is a folder, not a NIfTI file")
    if not stat.S_ISREG(st.st_mode):
        raise fail(path, "not a regular file (a device, pipe or socket)")
    if st.st_size == 0:
        raise fail(path, "the file is empty (0 bytes)")
    why = incomplete_group(path)
    if why:
        raise fail(path, why)
    return path, st.st_size


def affine_problem(affine) -> str | None:
    """Why a voxel-to-world affine is not usable, or None.

    Usable: finite; no entry beyond :data:`MAX_AFFINE_MM`; non-singular; and the voxel
    axes point in clearly different directions (the 3x3 with unit columns has
    ``|det| > 1e-6``; a 30 degree gantry tilt gives 0.87).  Nearly parallel axes (a shear
    of 1e30) are "non-singular" in floating point, but no orientation can be read from
    them: nibabel's ``io_orientation`` fails, and volumes come out absurd.
    """
    a = np.asarray(affine, dtype=float)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        return "non-finite"
    if np.abs(a[:3]).max() > MAX_AFFINE_MM:
        return f"absurd (an entry of {np.abs(a[:3]).max():.3g} mm; at most {MAX_AFFINE_MM:.0e})"
    m = a[:3, :3]
    norms = np.linalg.norm(m, axis=0)
    if abs(np.linalg.det(m)) <= 1e-12 or np.any(norms == 0):
        return "singular"
    if abs(np.linalg.det(m / norms)) < 1e-6:
        return "degenerate (its voxel axes are nearly parallel)"
    return None


def spacing_problem(pixdim, ndim: int) -> str | None:
    """Why the stored voxel sizes ``pixdim[1..3]`` (of the spatial axes the file has) cannot
    be used, or None: each must be a finite number above 0."""
    for axis in range(1, min(3, max(1, int(ndim))) + 1):
        v = float(pixdim[axis])
        if not np.isfinite(v) or v <= 0:
            what, nib_says = (
                ("zero", " (nibabel would assume 1 mm)")
                if v == 0
                else ("negative", " (nibabel would drop the sign)")
                if v < 0
                else ("not a finite number", "")
            )
            return (
                f"the voxel size of axis {axis} (pixdim[{axis}] = {v:g}) is {what}: the header states no "
                f"usable spacing for its qform/pixdim geometry, so no volume in mL or distance in mm can be "
                f"given{nib_says}"
            )
    return None


def affine_from_header(path: Path, hdr, pixdim=None) -> np.ndarray:
    """``nib.load(f).affine`` (sform, else qform, else pixdim), or the valid qform.

    When nibabel's choice is not usable (:func:`affine_problem`: a broken sform in a file
    with a valid qform, 246 mutants of the header fuzz, or a 1e30 shear) the qform is
    used with a warning; with no usable form at all the file is refused.  The qform and
    the pixdim geometry take their voxel sizes from ``pixdim`` (as stored; default the
    header's): a zero, negative or non-finite one is refused (:func:`spacing_problem`),
    never replaced by 1 mm as nibabel's header check does.  A usable sform states its own.
    """
    pixdim = np.asarray(hdr["pixdim"], float) if pixdim is None else np.asarray(pixdim, float)
    try:
        affine = hdr.get_best_affine()
        why = affine_problem(affine)
    except Exception:  # noqa: BLE001 - a broken sform; the qform may still be fine
        affine, why = None, "unreadable"
    if why is None and int(hdr["sform_code"]) > 0:
        return np.asarray(affine, dtype=float)
    spacing = spacing_problem(pixdim, int(hdr["dim"][0]))
    if spacing is not None:
        raise fail(path, spacing)
    if why is None:
        return np.asarray(affine, dtype=float)
    qform, qwhy = None, "absent (qform_code 0)"
    if int(hdr["qform_code"]) > 0:
        try:
            qform = hdr.get_qform()
            qwhy = affine_problem(qform)
        except Exception:  # noqa: BLE001
            qwhy = "unreadable"
    form = "sform" if int(hdr["sform_code"]) > 0 else "qform" if int(hdr["qform_code"]) > 0 else "pixdim affine"
    if qform is not None and qwhy is None:
        warnings.warn(
            f"{path}: the {form} is {why}, not usable; using the qform instead",
            UserWarning,
            stacklevel=3,
        )
        return np.asarray(qform, dtype=float)
    raise fail(
        path,
        f"the header holds no usable voxel-to-world affine (the {form} is {why}"
        + (f"; the qform is {qwhy})" if form != "qform" else ")"),
    )
