"""One reader for every supported format: :func:`read_volume`.

A new format is one reader module and one entry in :data:`_READERS`.  NIfTI goes to
:func:`napari_liverct.volumes.nifti.read_nifti` untouched (its speed and its conformance to
nibabel are its own); NRRD and MetaImage to :mod:`.itk`; a DICOM folder or file to
:mod:`.dicom` (a Segmentation object to :mod:`.seg`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from .volume import Volume, VolumeReadError, fail

__all__ = ["read_volume", "is_volume_path", "volume_kind", "series_choice", "VolumeReadError", "SUPPORTED"]

SUPPORTED = (
    "NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), MetaImage (.mha, .mhd), a DICOM series (folder or file), DICOM-SEG"
)


_SERIES: ContextVar[str | None] = ContextVar("liverct_series_uid", default=None)


@contextmanager
def series_choice(series_uid: str | None) -> Iterator[None]:
    """Within the block, DICOM folders are read as the series ``series_uid`` (the CLI's
    ``--series-uid``), so every command that reads an image honours it without a new argument."""
    token = _SERIES.set(series_uid)
    try:
        yield
    finally:
        _SERIES.reset(token)


def _dicom_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _folder_has_dicom(folder: Path, look: int = 64) -> bool:
    """A DICOM file among the first ``look`` files below ``folder`` (names, then 132 bytes each)."""
    seen = 0
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for n in sorted(names):
            if n.startswith("."):
                continue
            p = Path(root) / n
            if p.suffix.lower() in (".dcm", ".dicom") or _dicom_magic(p):
                return True
            seen += 1
            if seen >= look:
                return False
    return False


def volume_kind(path: str | os.PathLike, peek: bool = True) -> str | None:
    """``"nifti"``, ``"itk"``, ``"dicom"`` (a ``.dcm`` file, a file with the DICOM preamble, a
    folder with such a file among its first 64) or None.  Names decide; with ``peek``, 132
    bytes of a file without a volume suffix, or of a folder's first files, too."""
    from .itk import is_itk_path
    from .nifti import is_nifti_path

    p = Path(path)
    if is_nifti_path(p):
        return "nifti"
    if is_itk_path(p):
        return "itk"
    if p.suffix.lower() in (".dcm", ".dicom"):
        return "dicom"
    if peek and p.is_dir() and _folder_has_dicom(p):
        return "dicom"
    if peek and p.is_file() and _dicom_magic(p):
        return "dicom"
    return None


def is_volume_path(path: str | os.PathLike, peek: bool = True) -> bool:
    """True for a path :func:`read_volume` handles (see :func:`volume_kind`)."""
    return volume_kind(path, peek) is not None


def read_volume(path: str | os.PathLike, series_uid: str | None = None) -> Volume:
    """Read any supported volume: its stored array, RAS affine, format and header.

    Parameters
    ----------
    path
        A NIfTI, NRRD or MetaImage file, a DICOM file or a folder of DICOM files.
    series_uid
        The SeriesInstanceUID to read from a folder holding several series (default:
        the one chosen with :func:`series_choice`, else the largest CT series, named in
        a warning).

    Raises
    ------
    VolumeReadError
        (a ValueError) naming the path and the problem; NIfTI files raise
        :class:`napari_liverct.volumes.nifti.NiftiReadError`, also a ValueError.
    """
    kind = volume_kind(path)
    if kind == "nifti":
        from .nifti import read_nifti

        return read_nifti(path)
    if kind == "itk":
        from .itk import read_itk

        return read_itk(path)
    if kind == "dicom":
        from .dicom import read_dicom

        return read_dicom(path, series_uid=series_uid if series_uid is not None else _SERIES.get())
    if not Path(path).exists():
        raise fail(path, "no such file or folder")
    if Path(path).is_dir():
        raise fail(path, "a folder without DICOM files (none among its first 64 files)")
    raise fail(path, f"not a supported volume format (supported: {SUPPORTED})")
