"""DICOM folders: which files are images of which series, and which series to read.

Headers only (pixel data deferred): files are grouped by SeriesInstanceUID; non-DICOM
files, files without an image and DICOM-SEG objects are set aside with the reason; the
default series is the largest single-frame CT series.  Used by
:func:`napari_liverct.volumes.dicom.read_dicom`, the CLI's ``dicom-series`` listing and
the napari series dialog.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .volume import VolumeReadError, VolumeWarning

__all__ = [
    "DicomSeriesError",
    "DicomWarning",
    "SeriesInfo",
    "list_series",
    "default_series",
    "scan_dicom",
    "choose_series",
    "SEG_SOP_CLASS",
]

CT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.2.1"
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
_MAX_FILES = 20_000


class DicomSeriesError(VolumeReadError):
    """A DICOM series cannot be read as one correct volume; the message says which file and why."""


class DicomWarning(VolumeWarning):
    """What the DICOM reader chose or did (series picked, files skipped, tilt resampled)."""


def _fail(path, problem: str) -> DicomSeriesError:
    return DicomSeriesError(f"Cannot open {path}: {problem}")


@dataclass
class _Instance:
    path: Path
    ds: object  # pydicom Dataset, pixel data deferred

    def get(self, key, default=None):
        return self.ds.get(key, default)


@dataclass
class SeriesInfo:
    """One series of a folder: its UID, what it is, and its image files."""

    uid: str
    modality: str
    description: str
    number: str
    instances: list = field(default_factory=list)
    multiframe: bool = False

    @property
    def n_files(self) -> int:
        return len(self.instances)

    def line(self) -> str:
        """One line of the listing: UID, modality, files, description."""
        kind = " (multi-frame)" if self.multiframe else ""
        uid = self.uid or "(no SeriesInstanceUID)"
        return f"{uid}  {self.modality or '?'}  {self.n_files} files{kind}  {self.description!r}  series {self.number}"


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    out = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [Path(root) / n for n in sorted(names) if not n.startswith(".") and n.upper() != "DICOMDIR"]
        if len(out) > _MAX_FILES:
            raise _fail(path, f"more than {_MAX_FILES} files below this folder; point at one series' folder")
    return out


def scan_dicom(path: str | os.PathLike) -> tuple[list[SeriesInfo], list[tuple[Path, str]], list[Path]]:
    """``(image series, skipped files with the reason, DICOM-SEG files)`` below ``path``.

    Headers only: pixel data is deferred (read later, from the file, for the chosen series).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    if not path.exists():
        raise _fail(path, "no such file or folder")
    series: dict[str, SeriesInfo] = {}
    skipped: list[tuple[Path, str]] = []
    segs: list[Path] = []
    for f in _files(path):
        try:
            ds = pydicom.dcmread(f, defer_size=256)
        except (InvalidDicomError, EOFError, OSError, ValueError, TypeError, KeyError) as exc:
            skipped.append((f, f"not a DICOM file ({type(exc).__name__})"))
            continue
        sop = str(ds.get("SOPClassUID", "") or getattr(ds.get("file_meta", None), "MediaStorageSOPClassUID", ""))
        if sop == SEG_SOP_CLASS:
            segs.append(f)
            continue
        if "PixelData" not in ds and "FloatPixelData" not in ds:
            skipped.append((f, f"no image in it (SOP class {sop or 'unknown'})"))
            continue
        uid = str(ds.get("SeriesInstanceUID", "") or "")
        info = series.get(uid)
        if info is None:
            info = series[uid] = SeriesInfo(
                uid,
                str(ds.get("Modality", "") or ""),
                str(ds.get("SeriesDescription", "") or ""),
                str(ds.get("SeriesNumber", "") or ""),
            )
        frames = ds.get("NumberOfFrames", 1)
        if sop == ENHANCED_CT_SOP_CLASS or (frames is not None and int(frames or 1) > 1):
            info.multiframe = True
        info.instances.append(_Instance(f, ds))
    return sorted(series.values(), key=lambda s: -s.n_files), skipped, segs


def list_series(path: str | os.PathLike) -> list[SeriesInfo]:
    """The image series below ``path``, largest first."""
    return scan_dicom(path)[0]


def default_series(found: list[SeriesInfo]) -> SeriesInfo:
    """The series read when none is asked for: the largest single-frame CT series (else the largest)."""
    ct = [s for s in found if s.modality.upper() == "CT" and not s.multiframe]
    pool = ct or [s for s in found if not s.multiframe] or found
    return max(pool, key=lambda s: s.n_files)


def choose_series(path: Path, found: list[SeriesInfo], series_uid: str | None, file_uid: str | None) -> SeriesInfo:
    if not found:
        raise _fail(path, "no DICOM image series in it")
    if series_uid is not None:
        for s in found:
            if s.uid == series_uid:
                return s
        listing = "; ".join(s.line() for s in found)
        raise _fail(path, f"no series with SeriesInstanceUID {series_uid!r}; the series here: {listing}")
    if file_uid is not None:
        return next(s for s in found if s.uid == file_uid)
    chosen = default_series(found)
    if len(found) > 1:
        others = ", ".join(f"{s.uid or '(no UID)'} ({s.modality}, {s.n_files} files)" for s in found if s is not chosen)
        _warn(
            f"{path} holds {len(found)} image series; reading {chosen.uid or '(no SeriesInstanceUID)'} "
            f"({chosen.description!r}, {chosen.n_files} files), the largest CT series. Others: {others}. "
            "Choose with --series-uid UID (CLI; 'napari-liverct dicom-series FOLDER' lists them) or the "
            "DICOM series widget (napari)."
        )
    return chosen


def _warn(msg: str, notes: list | None = None) -> None:
    if notes is not None:
        notes.append(msg)
    warnings.warn(msg, DicomWarning, stacklevel=3)


def _as_list(val) -> list:
    """A DICOM value as a list (pydicom gives a MultiValue for several values, a scalar for one)."""
    if val is None or isinstance(val, (str, bytes)):
        return [] if val in (None, "", b"") else [val]
    return list(val) if hasattr(val, "__iter__") else [val]
