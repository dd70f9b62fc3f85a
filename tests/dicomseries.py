"""Write a CT series with pydicom from a volume (stored (x, y, z) array and RAS affine), as a
scanner would: one uncompressed CT Image Storage file per slice, uint16 pixels with
RescaleIntercept -1024, LPS geometry in ImagePositionPatient / ImageOrientationPatient.

Tests then break it the way real exports are broken (shuffled names, a scout, a gap,
a copy, a tilt) and check what the reader makes of it against the volume it came from.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def slice_dataset(pixels_hu: np.ndarray, ipp, iop, pixel_spacing, *, series_uid, study_uid, frame_uid, number=1):
    """One CT slice (``pixels_hu``: rows x columns, HU) as a pydicom Dataset."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
    ds.Modality = "CT"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Test^Phantom", "LIVERCT1", "", "O"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = (
        "20240101",
        "120000",
        "1",
        "",
        "",
    )
    ds.SeriesNumber, ds.InstanceNumber = 2, number
    ds.SeriesDescription = "test series"
    ds.Manufacturer = "pydicom test writer"
    ds.PatientPosition = "HFS"
    ds.KVP, ds.ConvolutionKernel, ds.SliceThickness = "120", "B30f", "3"
    ds.ImagePositionPatient = [f"{v:.6f}" for v in ipp]
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in iop]
    ds.PixelSpacing = [f"{v:.6f}" for v in pixel_spacing]
    ds.Rows, ds.Columns = pixels_hu.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
    stored = np.clip(np.asarray(pixels_hu, np.int32) + 1024, 0, 4095).astype(np.uint16)
    ds.PixelData = stored.tobytes()
    return ds


def write_series(folder: Path, data: np.ndarray, affine: np.ndarray, *, names=None, tilt_rows: int = 0, seed=0):
    """Write ``data`` (x, y, z; HU) with RAS ``affine`` as one series in ``folder``.

    ``names``: file names in slice order (default: random names, so neither name nor
    InstanceNumber order tells the slice order).  ``tilt_rows``: shift slice k by
    ``k * tilt_rows`` rows along the column direction, both its position and its
    content, as a gantry-tilted scan is sheared.  Returns the file paths in slice order.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lps = LPS @ np.asarray(affine, float)
    sx, sy = np.linalg.norm(lps[:3, 0]), np.linalg.norm(lps[:3, 1])
    r, c = lps[:3, 0] / sx, lps[:3, 1] / sy
    uids = dict(series_uid=generate_uid(), study_uid=generate_uid(), frame_uid=generate_uid())
    numbers = rng.permutation(data.shape[2]) + 1
    paths = []
    for k in range(data.shape[2]):
        sl = np.asarray(data[:, :, k]).T  # rows x columns
        ipp = (lps @ [0, 0, k, 1])[:3]
        if tilt_rows:
            shift = k * tilt_rows
            ipp = ipp + shift * sy * c
            moved = np.full_like(sl, -1024)
            moved[: sl.shape[0] - shift] = sl[shift:]
            sl = moved
        ds = slice_dataset(sl, ipp, [*r, *c], [sy, sx], number=int(numbers[k]), **uids)
        name = names[k] if names is not None else f"IM{rng.integers(1e9):09d}"
        path = folder / name
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


@functools.lru_cache(maxsize=1)
def real_series():
    """``(folder, Volume)`` of the TotalSegmentator sdist's JPEG 2000 series, read once per session."""
    from napari_liverct.volumes.dispatch import read_volume
    from realdata import real

    folder = real("totalsegmentator/example_ct_dicom")
    return folder, read_volume(folder)
