"""One volume type for every format: the stored array, its RAS affine and what the file said.

NIfTI volumes carry nibabel's header (:class:`napari_liverct.volumes.nifti.NiftiVolume` is a
:class:`Volume`); the other formats carry a :class:`HeaderSummary`: the format, the
fields the File information panel shows, and, for a segmentation, its label names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

__all__ = ["Volume", "HeaderSummary", "VolumeReadError", "VolumeWarning", "volume_stem", "fail"]

_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm", ".dicom")


class VolumeReadError(ValueError):
    """A file or folder could not be read as a volume; the message names it and the problem."""


class VolumeWarning(UserWarning):
    """What a reader or writer chose or did that the user must know (series picked, slices
    resampled, UIDs filled in); the CLI prints it as one plain line."""


def fail(path, problem: str) -> VolumeReadError:
    """The readers' error for ``path``: ``Cannot open PATH: PROBLEM``."""
    return VolumeReadError(f"Cannot open {path}: {problem}")


def volume_stem(path: str | os.PathLike) -> str:
    """A layer name for ``path``: the file name without its volume suffix, or the folder name."""
    name = Path(path).name
    low = name.lower()
    for suf in _SUFFIXES:
        if low.endswith(suf) and len(name) > len(suf):
            return name[: -len(suf)]
    return name


@dataclass(frozen=True)
class HeaderSummary:
    """What a non-NIfTI file says about itself, as a person reads it.

    ``fields`` are shown in order by the File information panel; ``label_names`` is
    the file's own label table (a DICOM-SEG's segment labels), ``labels`` says the file
    holds a segmentation, ``notes`` what the reader chose or did (series picked, tilt
    resampled), shown as such.
    """

    format: str
    fields: dict = field(default_factory=dict)
    label_names: dict | None = None
    label_source: str = ""
    labels: bool = False
    notes: tuple[str, ...] = ()

    def get(self, key, default=None):
        return self.fields.get(key, default)


@dataclass
class Volume:
    """A volume as stored: array in file axis order (at least 3 axes) and its voxel-to-RAS affine.

    ``header`` is nibabel's header for NIfTI and a :class:`HeaderSummary` otherwise;
    ``sources`` are the files the array came from, in array order along the last
    spatial axis for a DICOM series (what a DICOM-SEG references).
    """

    data: np.ndarray
    affine: np.ndarray
    header: object
    path: Path
    scaled: bool = False
    sources: tuple = ()

    @property
    def spatial_shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape[:3])  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in nib.affines.voxel_sizes(self.affine))  # type: ignore[return-value]

    @property
    def format(self) -> str:
        """``"NIfTI-1"``, ``"NIfTI-2"``, ``"DICOM"``, ``"DICOM-SEG"``, ``"NRRD"``, ``"MetaImage"``."""
        if isinstance(self.header, HeaderSummary):
            return self.header.format
        return "NIfTI-2" if isinstance(self.header, nib.Nifti2Header) else "NIfTI-1"

    @property
    def name(self) -> str:
        """A layer name: the series description of a DICOM series, else the file's stem."""
        if isinstance(self.header, HeaderSummary) and self.header.get("series description"):
            return str(self.header.get("series description"))
        return volume_stem(self.path)
